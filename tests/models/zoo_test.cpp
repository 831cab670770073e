// Every model of the chapter 3-4 zoo trains on a small budget and gets better.
#include <catch2/catch.hpp>

#include <filesystem>

#include "models/run_common.h"
#include "runtime/train/tabular.h"
#include "shared_data.h"

using namespace kiln;

namespace {

RunOptions quiet(int epochs, int64_t limit = -1) {
  RunOptions o;
  o.epochs = epochs;
  o.limit = limit;
  o.progress = false;
  return o;
}

const ModelEntry& model(const std::string& name) {
  const ModelEntry* m = find_model(name);
  REQUIRE(m != nullptr);
  return *m;
}

// Trains a Fashion-MNIST classifier on 2,000 images and returns the epoch history.
std::vector<EpochMetrics> train_fashion_subset(const std::string& name, int epochs) {
  RunOptions o = quiet(epochs, 2000);
  Expected<SupervisedSpec> spec = model(name).spec(o);
  REQUIRE(spec.ok());
  Expected<FashionMnist> data = load_fashion(o);
  REQUIRE(data.ok());
  CompiledModel m(std::move(*spec), 0);
  TrainerOptions to;
  to.epochs = epochs;
  to.batch_size = 256;
  Trainer t(m.factory(GraphKind::Train), m.factory(GraphKind::Eval), to);
  ImageSource train(data->train), test(data->test);
  Expected<std::vector<EpochMetrics>> h = t.fit(train, &test);
  REQUIRE(h.ok());
  return *h;
}

}  // namespace

TEST_CASE("the zoo lists the chapter 3-4 models", "[zoo]") {
  for (const char* n : {"linreg", "softmax", "mlp", "mlp_dropout", "weight_decay", "polyfit",
                        "house_prices"})
    CHECK(find_model(n) != nullptr);
  CHECK(find_model("no_such_model") == nullptr);
}

TEST_CASE("softmax regression on 2,000 images lowers the loss", "[zoo][fashion]") {
  auto h = train_fashion_subset("softmax", 3);
  CHECK(h.back().train_loss < h.front().train_loss);
  CHECK(h.back().test_acc > 0.55);
}

TEST_CASE("the MLP on 2,000 images lowers the loss", "[zoo][fashion]") {
  auto h = train_fashion_subset("mlp", 10);
  CHECK(h.back().train_loss < 0.8 * h.front().train_loss);
  CHECK(h.back().test_acc > 0.55);
}

TEST_CASE("the MLP with dropout on 2,000 images lowers the loss", "[zoo][fashion]") {
  auto h = train_fashion_subset("mlp_dropout", 10);
  CHECK(h.back().train_loss < 0.8 * h.front().train_loss);
  CHECK(h.back().test_acc > 0.55);
}

TEST_CASE("linreg recovers w=[2,-3.4], b=4.2", "[zoo]") {
  Expected<RunReport> r = model("linreg").run(quiet(3));
  REQUIRE(r.ok());
  CHECK(r->get("w_error") < 0.05);
  CHECK(r->get("b_error") < 0.05);
  CHECK(r->get("train_loss") < 0.01);
}

TEST_CASE("polyfit: the cubic fits, the line underfits", "[zoo]") {
  Expected<RunReport> r = model("polyfit").run(quiet(200));
  REQUIRE(r.ok());
  CHECK(r->get("cubic_test_loss") < 0.1);
  CHECK(r->get("linear_test_loss") > 3 * r->get("cubic_test_loss"));
  CHECK(r->get("high_degree_train_loss") < r->get("linear_train_loss"));
}

TEST_CASE("weight decay shrinks the weights and the test loss", "[zoo]") {
  RunOptions none = quiet(50), decay = quiet(50);
  none.wd = 0.0;
  decay.wd = 3.0;
  Expected<RunReport> a = model("weight_decay").run(none);
  Expected<RunReport> b = model("weight_decay").run(decay);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->get("w_l2_norm") < 0.5 * a->get("w_l2_norm"));
  CHECK(b->get("test_loss") < a->get("test_loss"));
  CHECK(a->get("train_loss") < b->get("train_loss"));  // no penalty: overfits the 20 points
}

TEST_CASE("house prices: 331 features, 5-fold CV and a submission", "[zoo][house]") {
  RunOptions o = quiet(100);  // d2l's budget; each step is microseconds
  o.data = testing::shared_data_dir();
  std::string out = (std::filesystem::temp_directory_path() / "kiln_zoo_submission.csv").string();
  o.output = out;
  Expected<RunReport> r = model("house_prices").run(o);
  REQUIRE(r.ok());
  CHECK(r->get("features") == 331);
  CHECK(r->get("valid_log_rmse") < 0.2);
  CHECK(r->get("train_log_rmse") > 0);
  REQUIRE(std::filesystem::exists(out));
  CHECK(std::filesystem::file_size(out) > 1459 * 5);
  std::filesystem::remove(out);
}

TEST_CASE("house prices with a missing data directory gives a clear error", "[zoo][house]") {
  RunOptions o = quiet(1);
  o.data = "/nonexistent/kiln-data";
  Expected<RunReport> r = model("house_prices").run(o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("/nonexistent/kiln-data"));
}
