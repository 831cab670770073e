// d2l 4.10: Kaggle house-price regression. Features from runtime/tabular (331 after
// standardization and one-hot encoding), a linear model trained with Adam (lr 5,
// batch 64) on the squared error of raw prices, evaluated by the RMSE of log prices;
// 5-fold cross-validation, then a fit on all training data that writes submission.csv
// (and, with --save, a checkpoint of that model with its preprocessing, for export).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "models/run_common.h"
#include "runtime/train/tabular.h"
#include "runtime/thread_pool.h"

namespace kiln {
namespace {

const TrainDefaults kHouse{100, 64, 5.0};
constexpr int kFolds = 5;

Tensor log_squared_error(nn::Context&, const Tensor& pred, const Tensor& y) {
  // mean((log(max(pred, 1)) - log(y))^2); its square root over a data set is log-RMSE.
  Tensor d = log(maximum(pred, 1.0)) - log(y);
  return mean(d * d);
}

SupervisedSpec house_spec_for(int64_t features, const RunOptions& o) {
  auto layer = std::make_shared<nn::Linear>(features, 1, nn::Init::normal(0.0, 0.01), true,
                                            "house_prices.out");
  SupervisedSpec s;
  s.name = "house_prices";
  s.example_shape = Shape{features};
  s.classification = false;
  s.net = [layer](nn::Context& ctx, const Tensor& x) { return (*layer)(ctx, x); };
  s.layers = layer;
  s.loss = [](nn::Context&, const Tensor& pred, const Tensor& y) { return mse(pred, y); };
  s.eval_loss = log_squared_error;
  s.optimizer.kind = OptimizerConfig::Adam;
  s.optimizer.lr = resolve_lr(o, kHouse);
  s.optimizer.weight_decay = std::isnan(o.wd) ? 0.0 : o.wd;
  s.seed = static_cast<int64_t>(o.seed);
  (void)apply_optimizer_options(o, s.optimizer);  // validated in run_house
  return s;
}

// --data, else $KILN_DATA_DIR, else ../shared/data next to the source tree.
std::string data_dir(const RunOptions& o) { return o.data.empty() ? default_data_dir() : o.data; }

Expected<SupervisedSpec> house_spec(const RunOptions& o) {
  return house_spec_for(331, o);
}

// Rows of `d` selected by [begin, end) (inside) or outside it.
TableSource rows(const TabularData& d, int64_t begin, int64_t end, bool inside) {
  std::vector<float> x, y;
  int64_t f = d.num_features;
  for (int64_t i = 0; i < d.num_train; ++i) {
    if ((i >= begin && i < end) != inside) continue;
    x.insert(x.end(), d.train_features.begin() + i * f, d.train_features.begin() + (i + 1) * f);
    y.push_back(d.train_labels[i]);
  }
  return TableSource(std::move(x), f, std::move(y));
}

struct FitResult {
  double train_log_rmse = 0, valid_log_rmse = -1, seconds = 0, compile_seconds = 0;
  int64_t examples = 0;
};

Expected<FitResult> fit(CompiledModel& model, const TableSource& train, const TableSource* valid,
                        int epochs, int64_t batch, uint64_t seed, bool allow_nan) {
  TrainerOptions to;
  to.epochs = epochs;
  to.batch_size = batch;
  to.seed = seed;
  to.has_accuracy = false;
  to.allow_nan = allow_nan;
  to.divergence_hint = kDivergenceHint;
  Trainer trainer(model.factory(GraphKind::Train), model.factory(GraphKind::Eval), to);
  std::vector<EpochMetrics> h = KILN_TRY(trainer.fit(train, nullptr));
  FitResult r;
  for (const EpochMetrics& m : h) r.seconds += m.seconds;
  r.examples = train.size() * epochs;
  r.train_log_rmse = std::sqrt(KILN_TRY(trainer.evaluate(train)).loss);
  if (valid) r.valid_log_rmse = std::sqrt(KILN_TRY(trainer.evaluate(*valid)).loss);
  r.compile_seconds = model.compile_seconds();
  return r;
}

// --save: the final model's weights (trained on all the data) and the preprocessing that
// turns a CSV row into its features, for `kiln export house_prices`.
Status save_final_model(CompiledModel& model, const TabularData& data, int epochs,
                        const RunOptions& o) {
  CheckpointData ck;
  ck.model = "house_prices";
  ck.rng_version = kRandomStreamsVersion;
  ck.epoch = epochs;
  ck.data_seed = o.seed;
  ck.metadata = {{"example_shape", Shape{data.num_features}.to_string()}};
  for (auto& kv : tabular_metadata(data)) ck.metadata.push_back(std::move(kv));
  ck.tensors = KILN_TRY(snapshot_state(model.state()));
  return save_checkpoint(o.save, ck);
}

Expected<RunReport> run_house(const RunOptions& o) {
  KILN_RETURN_IF_ERROR(check_common_options(o));
  if (o.threads > 0) set_num_threads(o.threads);
  OptimizerConfig check = house_spec_for(1, o).optimizer;
  KILN_RETURN_IF_ERROR(apply_optimizer_options(o, check));
  Expected<TabularData> loaded = load_kaggle_house(data_dir(o));
  if (!loaded.ok() && o.data.empty())
    return loaded.error().wrap("no --data given and the default data folder failed (pass "
                               "--data DIR with kaggle_house_pred_train.csv and "
                               "kaggle_house_pred_test.csv, or set KILN_DATA_DIR)");
  TabularData data = KILN_TRY(std::move(loaded));
  if (o.limit > 0 && o.limit < data.num_train) {
    data.num_train = std::max<int64_t>(o.limit, kFolds);
    data.train_features.resize(data.num_train * data.num_features);
    data.train_labels.resize(data.num_train);
  }
  int epochs = resolve_epochs(o, kHouse);
  int64_t batch = resolve_batch(o, kHouse);
  int64_t fold = data.num_train / kFolds;
  double train_sum = 0, valid_sum = 0, seconds = 0, compile = 0;
  int64_t examples = 0;
  for (int k = 0; k < kFolds; ++k) {
    TableSource train = rows(data, k * fold, (k + 1) * fold, /*inside=*/false);
    TableSource valid = rows(data, k * fold, (k + 1) * fold, /*inside=*/true);
    CompiledModel model(house_spec_for(data.num_features, o), o.seed + k, o.fusion);
    FitResult r = KILN_TRY(fit(model, train, &valid, epochs, batch, o.seed + k, o.allow_nan));
    if (o.progress)
      std::fprintf(stderr, "fold %d: train log rmse %.6f, valid log rmse %.6f\n", k + 1,
                   r.train_log_rmse, r.valid_log_rmse);
    train_sum += r.train_log_rmse;
    valid_sum += r.valid_log_rmse;
    seconds += r.seconds;
    examples += r.examples;
    compile += r.compile_seconds;
  }
  // Final fit on all training data, then predictions for the test set.
  TableSource all = rows(data, 0, 0, /*inside=*/false);
  CompiledModel final_model(house_spec_for(data.num_features, o), o.seed + kFolds, o.fusion);
  FitResult fr =
      KILN_TRY(fit(final_model, all, nullptr, epochs, batch, o.seed + kFolds, o.allow_nan));
  Executable* predict = KILN_TRY(final_model.get(GraphKind::Predict, data.num_test));
  std::copy(data.test_features.begin(), data.test_features.end(),
            predict->input("x")->as<float>());
  KILN_RETURN_IF_ERROR(predict->run_checked());
  const float* p = predict->output("pred")->as<float>();
  std::vector<float> preds(p, p + data.num_test);
  std::string out = o.output.empty() ? "submission.csv" : o.output;
  KILN_RETURN_IF_ERROR(write_submission(out, data.test_ids, preds));
  if (!o.save.empty()) KILN_RETURN_IF_ERROR(save_final_model(final_model, data, epochs, o));

  RunReport rep;
  rep.model = "house_prices";
  rep.set("epochs", epochs);
  rep.set("folds", kFolds);
  rep.set("features", static_cast<double>(data.num_features));
  rep.set("train_log_rmse", train_sum / kFolds);
  rep.set("valid_log_rmse", valid_sum / kFolds);
  rep.set("final_train_log_rmse", fr.train_log_rmse);
  rep.set("seconds_per_epoch", seconds / (kFolds * epochs));
  rep.set("examples_per_second", seconds > 0 ? examples / seconds : 0);
  rep.set("compile_seconds", compile + final_model.compile_seconds());
  rep.notes.push_back({"submission", out});
  return rep;
}

ModelRegistration house_reg{{"house_prices",
                             "Kaggle house prices: 331 features, 5-fold CV, Adam (d2l 4.10)",
                             kOptData | kOptOutput | kOptLimit | kOptOptimizer | kOptSave,
                             run_house,
                             house_spec}};

}  // namespace
}  // namespace kiln
