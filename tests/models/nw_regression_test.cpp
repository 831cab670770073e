// nw_regression (d2l 10.2): the data follows d2l's formula, the compiled attention pooling
// matches a host reference (weights summing to 1, leave-one-out masking, the loss and
// the SGD step at w = 1), and a learned width ends with a lower leave-one-out training
// loss than the non-parametric pooling, on several seeds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "models/nw_regression.h"
#include "models/run_common.h"
#include "temp_dir.h"

using namespace kiln;
using namespace kiln::nw;

namespace {

const ModelEntry& model() {
  const ModelEntry* m = find_model("nw_regression");
  REQUIRE(m != nullptr);
  return *m;
}

RunOptions quiet(uint64_t seed) {
  RunOptions o;
  o.seed = seed;
  o.progress = false;
  return o;
}

std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// A compiled executable of the registered model with its width set to `w`.
Executable* compiled(CompiledModel& m, GraphKind kind, int64_t batch, float w) {
  Expected<Executable*> exe = m.get(kind, batch);
  INFO((exe.ok() ? std::string() : exe.error().message()));
  REQUIRE(exe.ok());
  HostBuffer* width = m.state().find(kWidth);
  REQUIRE(width != nullptr);
  width->as<float>()[0] = w;
  return *exe;
}

CompiledModel compiled_model(uint64_t seed) {
  Expected<SupervisedSpec> spec = model().spec(quiet(seed));
  REQUIRE(spec.ok());
  return CompiledModel(std::move(*spec), seed);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("nw_regression data follows d2l's formula", "[zoo][nw]") {
  // Training inputs: 50 sorted draws in [0, 5); test inputs arange(0, 5, 0.1) with
  // targets f(x) exactly; training targets f(x) + N(0, 0.5^2) (pooled over 10 seeds:
  // 500 residuals, so the mean is within ~4.5 and the std within ~3 standard errors).
  double sum = 0, sum2 = 0;
  int64_t count = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    Data d = make_data(seed);
    REQUIRE(d.x_train.size() == size_t(kTrain));
    REQUIRE(d.y_train.size() == size_t(kTrain));
    REQUIRE(d.x_test.size() == 50);
    for (int64_t i = 0; i < kTrain; ++i) {
      CHECK(d.x_train[i] >= 0.0f);
      CHECK(d.x_train[i] < 5.0f);
      if (i > 0) CHECK(d.x_train[i - 1] <= d.x_train[i]);
      double r = d.y_train[i] - truth(d.x_train[i]);
      sum += r;
      sum2 += r * r;
      ++count;
      CHECK(d.x_test[i] == Approx(0.1 * i));
      CHECK(d.y_truth[i] == Approx(2 * std::sin(d.x_test[i]) + std::pow(d.x_test[i], 0.8)));
    }
  }
  double mean = sum / count, std = std::sqrt(sum2 / count - mean * mean);
  CHECK(std::abs(mean) < 0.1);
  CHECK(std > 0.45);
  CHECK(std < 0.55);
  // The seed decides the draw.
  CHECK(make_data(3).x_train == make_data(3).x_train);
  CHECK(make_data(3).x_train != make_data(4).x_train);
}

TEST_CASE("the compiled non-parametric pooling matches the host reference", "[zoo][nw]") {
  Data d = make_data(7);
  const double query = 1.7f;  // as the model reads it
  // Rows for one query over all 50 keys: values e_j read back attention weight j, values
  // all 1 read back the weights' sum, values y_train the prediction.
  std::vector<float> rows;
  for (int64_t j = 0; j <= kTrain + 1; ++j) {
    std::vector<float> row = query_rows(d, {float(query)});
    for (int64_t k = 0; k < kTrain; ++k)
      row[2 + kTrain + k] = j < kTrain ? float(j == k) : j == kTrain ? 1.0f : d.y_train[k];
    rows.insert(rows.end(), row.begin(), row.end());
  }
  CompiledModel m = compiled_model(0);
  Executable* exe = compiled(m, GraphKind::Predict, kTrain + 2, 1.0f);
  std::copy(rows.begin(), rows.end(), exe->input("x")->as<float>());
  exe->run();
  const float* out = exe->output("pred")->as<float>();
  std::vector<double> ref = pooling_weights(query, as_double(d.x_train), 1.0);
  double ref_sum = 0;
  for (int64_t j = 0; j < kTrain; ++j) {
    CHECK(out[j] == Approx(ref[j]).margin(1e-6));
    ref_sum += ref[j];
  }
  CHECK(ref_sum == Approx(1.0));
  CHECK(out[kTrain] == Approx(1.0).epsilon(1e-5));
  const double pred = pooling_predict(query, as_double(d.x_train), as_double(d.y_train), 1.0);
  CHECK(out[kTrain + 1] == Approx(pred).epsilon(1e-5));
  // The key nearest the query gets the largest weight (a Gaussian kernel).
  int64_t nearest = 0, heaviest = 0;
  for (int64_t j = 1; j < kTrain; ++j) {
    if (std::abs(d.x_train[j] - query) < std::abs(d.x_train[nearest] - query)) nearest = j;
    if (out[j] > out[heaviest]) heaviest = j;
  }
  CHECK(heaviest == nearest);
}

TEST_CASE("leave-one-out rows mask their padding key", "[zoo][nw]") {
  // A training query's row holds the other 49 examples plus a masked padding key at 0:
  // its compiled prediction is the host pooling over exactly those 49, for any width.
  Data d = make_data(11);
  std::vector<float> rows = leave_one_out_rows(d);
  CompiledModel m = compiled_model(0);
  for (float w : {1.0f, 2.5f}) {
    Executable* exe = compiled(m, GraphKind::Predict, kTrain, w);
    std::copy(rows.begin(), rows.end(), exe->input("x")->as<float>());
    exe->run();
    const float* out = exe->output("pred")->as<float>();
    for (int64_t i : {int64_t(0), int64_t(17), kTrain - 1}) {
      std::vector<double> keys, values;
      for (int64_t j = 0; j < kTrain; ++j)
        if (j != i) {
          keys.push_back(d.x_train[j]);
          values.push_back(d.y_train[j]);
        }
      INFO("w " << w << ", query " << i);
      CHECK(out[i] == Approx(pooling_predict(d.x_train[i], keys, values, w)).epsilon(1e-5));
    }
  }
}

TEST_CASE("the compiled loss at w = 1 is the non-parametric loss, and SGD steps as d2l",
          "[zoo][nw]") {
  Data d = make_data(5);
  TableSource train(leave_one_out_rows(d), kRowWidth, d.y_train);
  const double host = leave_one_out_mse(d, 1.0);
  CompiledModel m = compiled_model(0);

  // Evaluation graph: the mean squared error over the 50 leave-one-out queries.
  TrainerOptions to;
  to.batch_size = kTrain;
  to.has_accuracy = false;
  compiled(m, GraphKind::Eval, kTrain, 1.0f);
  Trainer t(m.factory(GraphKind::Train), m.factory(GraphKind::Eval), to);
  Expected<EvalMetrics> e = t.evaluate(train);
  REQUIRE(e.ok());
  CHECK(e->loss == Approx(host).epsilon(1e-5));

  // Training step: d2l's summed loss, then w -= 0.5 * dL/dw (central difference on host).
  Executable* step = compiled(m, GraphKind::Train, kTrain, 1.0f);
  std::vector<int64_t> all(kTrain);
  for (int64_t i = 0; i < kTrain; ++i) all[i] = i;
  std::vector<HostBuffer*> in = {step->input("x"), step->input("y")};
  train.gather(all.data(), kTrain, in);
  step->run();
  CHECK(step->output("loss")->as<float>()[0] == Approx(kTrain * host).epsilon(1e-5));
  const double h = 1e-4;
  const double grad =
      kTrain * (leave_one_out_mse(d, 1 + h) - leave_one_out_mse(d, 1 - h)) / (2 * h);
  CHECK(std::abs(grad) > 1e-3);  // the step below is a real move
  CHECK(m.state().find(kWidth)->as<float>()[0] == Approx(1.0 - 0.5 * grad).epsilon(1e-4));
}

// gather() writes without checking sizes, so the trainer checks each input against the
// data's example layout first: rows one float too wide, or integer labels where the model
// takes float targets, are an error naming the input, not a write past its buffer.
TEST_CASE("the trainer refuses data whose examples do not fit the model's inputs", "[zoo][nw]") {
  Data d = make_data(5);
  CompiledModel m = compiled_model(0);
  TrainerOptions to;
  to.batch_size = kTrain;
  to.has_accuracy = false;
  Trainer t(m.factory(GraphKind::Train), m.factory(GraphKind::Eval), to);
  const TableSource fits(leave_one_out_rows(d), kRowWidth, d.y_train);
  REQUIRE(t.evaluate(fits).ok());

  std::vector<float> wide;
  const std::vector<float> rows = leave_one_out_rows(d);
  for (int64_t i = 0; i < kTrain; ++i) {
    wide.insert(wide.end(), rows.begin() + i * kRowWidth, rows.begin() + (i + 1) * kRowWidth);
    wide.push_back(0.f);
  }
  const TableSource too_wide(wide, kRowWidth + 1, d.y_train);
  Expected<EvalMetrics> e = t.evaluate(too_wide);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.error().message(), Catch::Contains("input 'x'") &&
                                      Catch::Contains(std::to_string(kRowWidth + 1) + " f32 each"));
  Expected<std::vector<EpochMetrics>> f = t.fit(too_wide, nullptr);
  REQUIRE_FALSE(f.ok());
  CHECK_THAT(f.error().message(), Catch::Contains("input 'x'"));

  const TableSource int_labels(rows, kRowWidth, std::vector<int32_t>(kTrain, 1));
  e = t.evaluate(int_labels);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.error().message(), Catch::Contains("input 'y'") && Catch::Contains("i32"));
}

// d2l's recipe does not win on every seed: of --seed 0..49, 45 end below the
// non-parametric loss; seeds 2, 25, 28 and 39 start w on the flat, slightly bumpy part of
// the loss near w = 0 and stay there, and seed 9 overshoots (lr 0.5 on a summed loss) to
// w ~ 17, past the optimum near 4. These seeds are among the 45.
TEST_CASE("a learned width lowers the training loss below the non-parametric one",
          "[zoo][nw]") {
  for (uint64_t seed : {0, 1, 3}) {
    INFO("seed " << seed);
    Expected<RunReport> r = model().run(quiet(seed));
    INFO((r.ok() ? std::string() : r.error().message()));
    REQUIRE(r.ok());
    const double trained = r->get("train_loss"), nonparam = r->get("train_loss_nonparametric");
    CHECK(r->get("epochs") == 5);
    CHECK(trained < r->get("train_loss_initial"));  // training lowers the loss
    CHECK(trained < nonparam);                       // d2l's Done-when, like with like
    // Both losses are the leave-one-out mean squared error of the same data.
    Data d = make_data(seed + 1);
    CHECK(nonparam == Approx(leave_one_out_mse(d, 1.0)).epsilon(1e-4));
    CHECK(trained == Approx(leave_one_out_mse(d, r->get("width"))).epsilon(1e-4));
    CHECK(r->get("train_loss_sum") == Approx(kTrain * trained));
    CHECK(r->get("width_initial") >= 0.0);
    CHECK(r->get("width_initial") < 1.0);
    CHECK(r->get("test_rmse") > 0.0);
    CHECK(r->get("test_rmse_nonparametric") > 0.0);
    CHECK(r->get("test_rmse") < 1.0);
  }
}

TEST_CASE("a width drawn near 0 stays on the plateau of the loss (d2l's recipe)", "[zoo][nw]") {
  // Seed 2 draws w = 0.115: the leave-one-out loss is nearly flat (and slightly rising)
  // there, so 5 SGD steps leave w near 0, where every key gets about the same weight.
  Expected<RunReport> r = model().run(quiet(2));
  REQUIRE(r.ok());
  CHECK(r->get("width_initial") < 0.2);
  CHECK(std::abs(r->get("width")) < 0.2);
  Data d = make_data(3);
  CHECK(r->get("train_loss") == Approx(leave_one_out_mse(d, 0.0)).epsilon(1e-3));
  CHECK(r->get("train_loss") > r->get("train_loss_nonparametric"));
}

TEST_CASE("nw_regression writes its curves and predictions", "[zoo][nw]") {
  testing::TempDir dir;
  RunOptions o = quiet(0);
  o.epochs = 3;
  o.plot = dir.file("nw.svg");
  o.output = dir.file("pred.csv");
  REQUIRE(check_run_options(model(), o).ok());
  Expected<RunReport> r = model().run(o);
  REQUIRE(r.ok());
  CHECK(r->get("epochs") == 3);
  CHECK_THAT(read_all(dir.file("nw.svg")), Catch::Contains("<svg"));
  std::string curves = read_all(dir.file("nw.csv"));
  CHECK_THAT(curves, Catch::StartsWith("epoch,train_loss,train_loss_nonparametric\n"));
  CHECK(std::count(curves.begin(), curves.end(), '\n') == 1 + 4);  // epochs 0..3
  std::string pred = read_all(dir.file("pred.csv"));
  CHECK_THAT(pred, Catch::StartsWith("x,truth,nonparametric,parametric\n0,0,"));
  CHECK(std::count(pred.begin(), pred.end(), '\n') == 1 + 50);
}

TEST_CASE("nw_regression refuses options it does not read", "[zoo][nw][options]") {
  RunOptions limit;
  limit.limit = 10;
  Status st = check_run_options(model(), limit);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("model 'nw_regression' does not use --limit"));
  CHECK_THAT(st.error().message(), Catch::Contains("(it takes --output, --plot)"));
  RunOptions save;
  save.save = "/tmp/kiln-nw.ckpt";
  CHECK_FALSE(check_run_options(model(), save).ok());
  RunOptions adam;
  adam.optimizer = "adam";
  CHECK_FALSE(check_run_options(model(), adam).ok());
  RunOptions data;
  data.data = "/tmp";
  CHECK_FALSE(check_run_options(model(), data).ok());
}
