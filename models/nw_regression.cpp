// d2l 10.2 (PyTorch edition): Nadaraya-Watson kernel regression as attention pooling,
//   f_hat(x) = sum_i softmax_i(-((x - x_i) w)^2 / 2) y_i,
// non-parametric with w = 1, parametric with one learned width w ~ U[0, 1) (torch.rand).
// As in d2l, each training query x_i attends to the OTHER 49 training examples
// (leave-one-out: with its own key it would just copy y_i), the loss is the squared
// error summed over the batch (MSELoss(reduction='none'), l.sum().backward()) and SGD
// with lr 0.5 runs 5 full-batch epochs. Test queries attend to all 50 examples.
//
// The non-parametric model is the same compiled graph with w set to 1, measured on the
// same leave-one-out queries, so `train_loss` and `train_loss_nonparametric` compare
// like with like.
#include "models/nw_regression.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "frontend/attention.h"
#include "models/run_common.h"
#include "runtime/atomic_file.h"
#include "runtime/thread_pool.h"
#include "runtime/train/curves.h"
#include "runtime/train/progress.h"

namespace kiln::nw {

double truth(double x) { return 2.0 * std::sin(x) + std::pow(x, 0.8); }

Data make_data(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 5.0);
  std::normal_distribution<double> noise(0.0, kNoiseStd);
  Data d;
  for (int64_t i = 0; i < kTrain; ++i) d.x_train.push_back(static_cast<float>(uniform(rng)));
  std::sort(d.x_train.begin(), d.x_train.end());
  for (float x : d.x_train) d.y_train.push_back(static_cast<float>(truth(x) + noise(rng)));
  for (int64_t i = 0; i < kTrain; ++i) {
    d.x_test.push_back(static_cast<float>(0.1 * i));
    d.y_truth.push_back(static_cast<float>(truth(d.x_test.back())));
  }
  return d;
}

std::vector<float> leave_one_out_rows(const Data& d) {
  std::vector<float> rows(kTrain * kRowWidth, 0.0f);  // the padding key/value stay 0
  for (int64_t i = 0; i < kTrain; ++i) {
    float* row = rows.data() + i * kRowWidth;
    row[0] = d.x_train[i];
    row[1] = static_cast<float>(kTrain - 1);
    for (int64_t j = 0, k = 0; j < kTrain; ++j) {
      if (j == i) continue;
      row[2 + k] = d.x_train[j];
      row[2 + kTrain + k] = d.y_train[j];
      ++k;
    }
  }
  return rows;
}

std::vector<float> query_rows(const Data& d, const std::vector<float>& queries) {
  std::vector<float> rows;
  rows.reserve(queries.size() * kRowWidth);
  for (float q : queries) {
    rows.push_back(q);
    rows.push_back(static_cast<float>(kTrain));
    rows.insert(rows.end(), d.x_train.begin(), d.x_train.end());
    rows.insert(rows.end(), d.y_train.begin(), d.y_train.end());
  }
  return rows;
}

std::vector<double> pooling_weights(double query, const std::vector<double>& keys, double w) {
  std::vector<double> s(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    double t = (query - keys[i]) * w;
    s[i] = -t * t / 2;
  }
  double top = *std::max_element(s.begin(), s.end()), total = 0;
  for (double& v : s) total += (v = std::exp(v - top));
  for (double& v : s) v /= total;
  return s;
}

double pooling_predict(double query, const std::vector<double>& keys,
                       const std::vector<double>& values, double w) {
  std::vector<double> a = pooling_weights(query, keys, w);
  double p = 0;
  for (size_t i = 0; i < a.size(); ++i) p += a[i] * values[i];
  return p;
}

double leave_one_out_mse(const Data& d, double w) {
  double total = 0;
  for (int64_t i = 0; i < kTrain; ++i) {
    std::vector<double> keys, values;
    for (int64_t j = 0; j < kTrain; ++j)
      if (j != i) {
        keys.push_back(d.x_train[j]);
        values.push_back(d.y_train[j]);
      }
    double e = pooling_predict(d.x_train[i], keys, values, w) - d.y_train[i];
    total += e * e;
  }
  return total / kTrain;
}

}  // namespace kiln::nw

namespace kiln {
namespace {

using namespace nw;

const TrainDefaults kNw{5, kTrain, 0.5};  // d2l: 5 epochs, full batch, SGD lr 0.5

// The attention pooling over one row per example (see kRowWidth): [B, kRowWidth] -> [B, 1].
Tensor nw_pooling(nn::Context& ctx, const Tensor& x) {
  Tensor query = slice(x, 1, 0, 1);                             // [B, 1]
  Tensor valid_lens = reshape(slice(x, 1, 1, 2), Shape{-1});    // [B]
  Tensor keys = slice(x, 1, 2, 2 + kTrain);                     // [B, n]
  Tensor values = slice(x, 1, 2 + kTrain, 2 + 2 * kTrain);      // [B, n]
  Tensor w = nn::parameter(ctx.b, kWidth, TensorType{DType::f32, Shape{1}},
                           nn::Init::uniform(0.0, 1.0));  // torch.rand((1,))
  Tensor d = (query - keys) * w;
  Tensor weights = nn::masked_softmax(-(d * d) / 2.0, valid_lens);
  return sum(weights * values, {1}, /*keepdims=*/true);
}

Expected<SupervisedSpec> nw_spec(const RunOptions& o) {
  SupervisedSpec s;
  s.name = "nw_regression";
  s.example_shape = Shape{kRowWidth};
  s.classification = false;
  s.net = nw_pooling;
  // d2l's l.sum(): the gradient of the summed (not mean) squared error, for lr 0.5.
  s.loss = [](nn::Context&, const Tensor& pred, const Tensor& y) {
    Tensor e = pred - y;
    return sum(e * e);
  };
  // Evaluation reports the mean squared error (the trainer averages batch means).
  s.eval_loss = [](nn::Context&, const Tensor& pred, const Tensor& y) { return mse(pred, y); };
  s.optimizer.lr = resolve_lr(o, kNw);
  s.seed = static_cast<int64_t>(o.seed);
  return s;
}

// The width the graph reads; it exists once an executable has been compiled.
Expected<float*> width_buffer(CompiledModel& m) {
  HostBuffer* w = m.state().find(kWidth);
  if (!w) return Error("nw_regression: the width parameter is missing");
  return w->as<float>();
}

// Predictions of the compiled model for `rows` (one per query).
Expected<std::vector<float>> predict(CompiledModel& m, const std::vector<float>& rows) {
  const int64_t n = static_cast<int64_t>(rows.size()) / kRowWidth;
  Executable* exe = KILN_TRY(m.get(GraphKind::Predict, n));
  std::copy(rows.begin(), rows.end(), exe->input("x")->as<float>());
  KILN_RETURN_IF_ERROR(exe->run_checked());
  const float* p = exe->output("pred")->as<float>();
  return std::vector<float>(p, p + n);
}

double rmse(const std::vector<float>& pred, const std::vector<float>& truth) {
  double s = 0;
  for (size_t i = 0; i < pred.size(); ++i) s += double(pred[i] - truth[i]) * (pred[i] - truth[i]);
  return std::sqrt(s / pred.size());
}

// x_test, y_truth and both models' predictions: the curves of d2l's plot_kernel_reg.
Status write_predictions(const std::string& path, const Data& d, const std::vector<float>& nonparam,
                         const std::vector<float>& param) {
  std::string csv = "x,truth,nonparametric,parametric\n";
  char line[128];
  for (size_t i = 0; i < d.x_test.size(); ++i) {
    std::snprintf(line, sizeof line, "%.6g,%.6g,%.6g,%.6g\n", d.x_test[i], d.y_truth[i],
                  nonparam[i], param[i]);
    csv += line;
  }
  return write_file_atomic(path, csv);
}

Expected<RunReport> run_nw(const RunOptions& o) {
  KILN_RETURN_IF_ERROR(check_common_options(o));
  if (o.threads > 0) set_num_threads(o.threads);
  Data data = make_data(o.seed + 1);
  const std::vector<float> test_rows = query_rows(data, data.x_test);
  TableSource train(leave_one_out_rows(data), kRowWidth, data.y_train);
  CompiledModel model(KILN_TRY(nw_spec(o)), o.seed, o.fusion);

  TrainerOptions to = trainer_options(o, resolve_epochs(o, kNw), resolve_batch(o, kNw), false);
  Trainer trainer(model.factory(GraphKind::Train), model.factory(GraphKind::Eval), to);
  // Mean squared error of the leave-one-out predictions at the current width.
  auto train_mse = [&]() -> Expected<double> { return KILN_TRY(trainer.evaluate(train)).loss; };

  // The non-parametric model: the same graph with w = 1, before training touches w.
  KILN_TRY(model.get(GraphKind::Eval, std::min<int64_t>(to.batch_size, kTrain)));
  float* w = KILN_TRY(width_buffer(model));
  const float w_init = *w;
  *w = 1.0f;
  const double loss_nonparam = KILN_TRY(train_mse());
  const std::vector<float> pred_nonparam = KILN_TRY(predict(model, test_rows));
  *w = w_init;
  const double loss_init = KILN_TRY(train_mse());

  const int64_t steps = (kTrain + to.batch_size - 1) / to.batch_size;
  ProgressOptions po;
  po.mode = o.progress ? ProgressMode::kAuto : ProgressMode::kOff;
  ProgressBar bar(to.epochs, steps, po);  // its loss is d2l's: summed over each batch
  Curves curves;
  curves.add("train_loss", 0, loss_init);
  curves.add("train_loss_nonparametric", 0, loss_nonparam);
  trainer.on_epoch_begin = [&](int epoch) { bar.begin_epoch(epoch); };
  trainer.on_step = [&](const StepInfo& s) { bar.step(s.batch, s.batch_loss); };
  trainer.on_epoch_trained = [&](int) { bar.stop_clock(); };
  trainer.on_epoch = [&](const EpochMetrics& m) -> Status {
    // The trainer's own train_loss is taken before each update; plot the loss after it.
    const double loss = KILN_TRY(train_mse());
    curves.add("train_loss", m.epoch + 1, loss);
    curves.add("train_loss_nonparametric", m.epoch + 1, loss_nonparam);
    bar.end_epoch({{"mse", loss}, {"w", *w}});
    return Status::Ok();
  };
  std::vector<EpochMetrics> history = KILN_TRY(trainer.fit(train, nullptr));

  const double loss = KILN_TRY(train_mse());
  const std::vector<float> pred = KILN_TRY(predict(model, test_rows));
  double secs = 0;
  for (const EpochMetrics& m : history) secs += m.seconds;

  RunReport r;
  r.model = "nw_regression";
  r.set("epochs", static_cast<double>(history.size()));
  // Losses: mean squared error over the 50 leave-one-out training queries (d2l's plotted
  // loss is 50 times it: train_loss_sum).
  r.set("train_loss", loss);
  r.set("train_loss_nonparametric", loss_nonparam);
  r.set("train_loss_initial", loss_init);
  r.set("train_loss_sum", loss * kTrain);
  r.set("width", *w);
  r.set("width_initial", w_init);
  r.set("test_rmse", rmse(pred, data.y_truth));
  r.set("test_rmse_nonparametric", rmse(pred_nonparam, data.y_truth));
  r.set("seconds_per_epoch", secs / history.size());
  r.set("examples_per_second", secs > 0 ? kTrain * history.size() / secs : 0);
  r.set("compile_seconds", model.compile_seconds());
  if (!o.output.empty()) {
    KILN_RETURN_IF_ERROR(write_predictions(o.output, data, pred_nonparam, pred));
    r.notes.push_back({"predictions", o.output});
  }
  PlotOptions plot;
  plot.title = "nw_regression";
  plot.ylabel = "leave-one-out mean squared error";
  KILN_RETURN_IF_ERROR(write_plot(curves, o, plot, r));
  return r;
}

ModelRegistration nw_reg{{"nw_regression",
                          "Nadaraya-Watson kernel regression, attention pooling with a learned "
                          "width (d2l 10.2)",
                          kOptPlot | kOptOutput, run_nw, nw_spec}};

}  // namespace
}  // namespace kiln
