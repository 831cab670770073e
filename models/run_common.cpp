// Shared run logic for `kiln train`.
#include "models/run_common.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstdlib>

#include "runtime/checkpoint.h"
#include "runtime/train/curves.h"
#include "runtime/train/progress.h"
#include "runtime/thread_pool.h"

#ifndef KILN_DEFAULT_DATA_DIR
#define KILN_DEFAULT_DATA_DIR "../shared/data"
#endif

namespace kiln {

std::vector<std::pair<std::string, std::string>> fashion_mnist_metadata(int64_t side) {
  std::string labels;
  for (const std::string& l : fashion_mnist_labels()) labels += (labels.empty() ? "" : ",") + l;
  char scale[32];
  std::snprintf(scale, sizeof scale, "%.17g", double(ImageDataset::byte_value(1)));
  return {{"input", "Fashion-MNIST image: x = pixel * input.scale, f32 [batch, 1, side, side]"},
          {"input.scale", scale},
          {"input.side", std::to_string(side)},
          {"input.resize", side == 28 ? "none" : "bilinear from 28x28, align_corners=False"},
          {"labels", labels}};
}

std::string default_data_dir() {
  if (const char* env = std::getenv("KILN_DATA_DIR"); env && *env) return env;
  return KILN_DEFAULT_DATA_DIR;
}

int resolve_epochs(const RunOptions& o, const TrainDefaults& d) {
  return o.epochs >= 0 ? o.epochs : d.epochs;
}
int64_t resolve_batch(const RunOptions& o, const TrainDefaults& d) {
  return o.batch_size > 0 ? o.batch_size : d.batch_size;
}
double resolve_lr(const RunOptions& o, const TrainDefaults& d) {
  return std::isnan(o.lr) ? d.lr : o.lr;
}

Status check_common_options(const RunOptions& o) {
  if (o.epochs == 0) return Error("--epochs must be at least 1");
  if (!std::isnan(o.lr) && !(o.lr > 0)) return Error("--lr must be positive");
  if (!std::isnan(o.wd) && !(o.wd >= 0)) return Error("--wd must be non-negative");
  if (o.threads < 0 || o.threads > kMaxThreads)
    return Error("--threads must be between 1 and " + std::to_string(kMaxThreads));
  return Status::Ok();
}

Status apply_optimizer_options(const RunOptions& o, OptimizerConfig& c) {
  if (!o.optimizer.empty()) c.kind = KILN_TRY(parse_optimizer(o.optimizer));
  if (!std::isnan(o.momentum)) {
    if (c.kind != OptimizerConfig::SGD) return Error("--momentum applies to sgd only");
    if (!(o.momentum >= 0 && o.momentum < 1)) return Error("--momentum must be in [0, 1)");
    c.momentum = o.momentum;
  }
  return Status::Ok();
}

namespace {

// The Fashion-MNIST models are built for examples of [1, 28, 28] (fashion_mlp.cpp's
// example_shape), or [1, r, r] when the data is resized; ImageSource::gather writes
// example_numel() floats per example into the model's input, so data of any other shape
// is refused here, before training, naming the split and the shapes.
Status check_fashion_examples(const ImageDataset& ds, int resize, const char* split) {
  const int64_t side = resize > 0 ? resize : 28;
  const Shape want{1, side, side};
  const Shape got{ds.channels, ds.height(), ds.width()};
  if (got != want)
    return Error(std::string("Fashion-MNIST ") + split + " examples have shape " + got.to_string() +
                 ", but the model expects " + want.to_string());
  return Status::Ok();
}

// One split, checked against Fashion-MNIST's format (28x28 images, labels 0..9, as many
// labels as images, gzip CRCs; each error names its file), cut to its first `limit`
// examples (all when limit <= 0 or beyond the split's size), then resized: cutting
// first means a quick run at 224x224 resizes and holds only the images it uses.
Expected<ImageDataset> load_split(const RunOptions& opts, bool train, int64_t limit, int resize) {
  ImageDataset ds = KILN_TRY(load_fashion_mnist(opts.data, train, 0, fashion_mnist_expectation()));
  if (limit > 0) ds = ds.subset(limit);
  const char* split = train ? "training" : "test";
  if (resize > 0 && (resize != ds.height() || resize != ds.width()))
    KILN_RETURN_IF_ERROR(resize_images(ds, resize, std::string("Fashion-MNIST ") + split + " images"));
  KILN_RETURN_IF_ERROR(check_fashion_examples(ds, resize, split));
  return ds;
}

}  // namespace

Expected<FashionMnist> load_fashion(const RunOptions& opts, int resize) {
  FashionMnist f;
  f.train = KILN_TRY(load_split(opts, /*train=*/true, opts.limit, resize));
  const int64_t test_limit = opts.limit > 0 ? std::max<int64_t>(opts.limit / 5, 1) : -1;
  f.test = KILN_TRY(load_split(opts, /*train=*/false, test_limit, resize));
  return f;
}

Expected<ImageDataset> load_fashion_test(const RunOptions& opts, int resize) {
  return load_split(opts, /*train=*/false, -1, resize);
}

namespace {

// The trainer's position and the model's state, as saved after every epoch.
Expected<CheckpointData> make_checkpoint(const SupervisedSpec& spec, const RunOptions& opts,
                               const std::vector<EpochMetrics>& history, int64_t steps_per_epoch,
                               int64_t batch, const StateStore& state) {
  CheckpointData ck;
  ck.model = spec.name;
  ck.rng_version = kRandomStreamsVersion;
  ck.epoch = static_cast<int64_t>(history.size());
  ck.step = ck.epoch * steps_per_epoch;
  ck.data_seed = opts.seed;
  ck.data_position = 0;
  for (const EpochMetrics& m : history) ck.epoch_metrics.push_back(m.items());
  ck.metadata = {{"batch_size", std::to_string(batch)},
                 {"example_shape", spec.example_shape.to_string()}};
  ck.tensors = KILN_TRY(snapshot_state(state));
  return ck;
}



}  // namespace

// A checkpoint's weights fit the model only for the example shape they were trained on
// (the conv models' first Linear layer depends on --size). Older checkpoints lack the
// field; their tensors' shapes are still checked when restored.
Status check_example_shape(const CheckpointData& ck, const std::string& path, const Shape& example) {
  for (const auto& [key, value] : ck.metadata)
    if (key == "example_shape" && value != example.to_string())
      return Error(path + ": trained on examples of shape " + value + ", but the model now takes " +
                   example.to_string() + " (give the training run's --size)");
  return Status::Ok();
}

Expected<std::vector<EpochMetrics>> resumable_epochs(const CheckpointData& ck, const std::string& path,
                                              const std::string& model, const RunOptions& opts,
                                              int epochs) {
  if (ck.model != model)
    return Error(path + ": checkpoint of model '" + ck.model + "', not '" + model + "'");
  if (ck.rng_version != kRandomStreamsVersion)
    return Error(path + ": random streams version " + std::to_string(ck.rng_version) +
                 ", this kiln draws version " + std::to_string(kRandomStreamsVersion));
  if (ck.data_seed != opts.seed)
    return Error(path + ": the run used --seed " + std::to_string(ck.data_seed) +
                 "; resume it with the same seed");
  if (ck.data_position != 0)
    return Error(path + ": saved in the middle of an epoch, which this kiln cannot resume");
  if (ck.epoch != static_cast<int64_t>(ck.epoch_metrics.size()))
    return Error(path + ": " + std::to_string(ck.epoch) + " epochs done but metrics for " +
                 std::to_string(ck.epoch_metrics.size()));
  if (ck.epoch >= epochs)
    return Error(path + ": already trained " + std::to_string(ck.epoch) +
                 " epochs; ask for more with --epochs");
  std::vector<EpochMetrics> done;
  for (size_t e = 0; e < ck.epoch_metrics.size(); ++e)
    done.push_back(EpochMetrics::from_items(static_cast<int>(e), ck.epoch_metrics[e]));
  return done;
}

Status check_checkpoint_metadata(const CheckpointData& ck, const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& want) {
  // Long values (vocabularies) are not worth printing.
  auto shown = [](const std::string& v) { return v.size() > 60 ? "(another one)" : v; };
  for (const auto& [key, value] : want) {
    bool found = false;
    for (const auto& [k, v] : ck.metadata) {
      if (k != key) continue;
      found = true;
      if (v != value)
        return Error(path + ": the run used " + key + " " + shown(v) + ", this one " +
                     (value.size() > 60 ? "differs" : value) + "; resume with the same options");
    }
    if (!found) return Error(path + ": no '" + key + "' in the checkpoint's metadata");
  }
  return Status::Ok();
}

TrainerOptions trainer_options(const RunOptions& opts, int epochs, int64_t batch, bool accuracy) {
  TrainerOptions to;
  to.epochs = epochs;
  to.batch_size = batch;
  to.seed = opts.seed;
  to.has_accuracy = accuracy;
  to.allow_nan = opts.allow_nan;
  to.divergence_hint = kDivergenceHint;
  return to;
}

Status write_plot(const Curves& curves, const RunOptions& opts, const PlotOptions& plot,
                  RunReport& report) {
  if (opts.plot.empty()) return Status::Ok();
  KILN_RETURN_IF_ERROR(curves.write_svg(opts.plot, plot));
  const std::string csv = curves_csv_path(opts.plot);
  KILN_RETURN_IF_ERROR(curves.write_csv(csv));
  report.notes.push_back({"plot", opts.plot});
  report.notes.push_back({"curves_csv", csv});
  return Status::Ok();
}

Expected<RunReport> run_supervised(
    SupervisedSpec spec, const DataSource& train, const DataSource* test,
    const RunOptions& opts, const TrainDefaults& defaults,
    const std::function<Status(CompiledModel&, RunReport&)>& finish) {
  KILN_RETURN_IF_ERROR(check_common_options(opts));
  if (opts.threads > 0) set_num_threads(opts.threads);
  KILN_RETURN_IF_ERROR(apply_optimizer_options(opts, spec.optimizer));
  bool classification = spec.classification;
  std::string name = spec.name;
  CompiledModel model(std::move(spec), opts.seed, opts.fusion);

  TrainerOptions to = trainer_options(opts, resolve_epochs(opts, defaults),
                                      resolve_batch(opts, defaults), classification);
  Trainer trainer(model.factory(GraphKind::Train), model.factory(GraphKind::Eval), to);

  std::vector<EpochMetrics> done;
  if (!opts.resume.empty()) {
    CheckpointData ck = KILN_TRY(load_checkpoint(opts.resume));
    done = KILN_TRY(resumable_epochs(ck, opts.resume, name, opts, to.epochs));
    KILN_RETURN_IF_ERROR(check_example_shape(ck, opts.resume, model.spec().example_shape));
    // The training step creates every state buffer; then the checkpoint overwrites them.
    KILN_TRY(model.get(GraphKind::Train, std::min<int64_t>(to.batch_size, train.size())));
    KILN_RETURN_IF_ERROR(restore_state(model.state(), ck, opts.resume, RestoreMode::Exact));
  }

  int64_t steps = (train.size() + to.batch_size - 1) / to.batch_size;
  ProgressOptions po;
  po.mode = opts.progress ? ProgressMode::kAuto : ProgressMode::kOff;
  ProgressBar bar(to.epochs, steps, po);
  Curves curves;
  std::vector<EpochMetrics> history;
  auto record = [&](const EpochMetrics& m) {
    history.push_back(m);
    curves.add("train_loss", m.epoch + 1, m.train_loss);
    if (classification) {
      curves.add("train_acc", m.epoch + 1, m.train_acc);
      if (m.test_acc >= 0) curves.add("test_acc", m.epoch + 1, m.test_acc);
    } else if (m.test_loss >= 0) {
      curves.add("test_loss", m.epoch + 1, m.test_loss);
    }
  };
  for (const EpochMetrics& m : done) record(m);
  trainer.on_epoch_begin = [&](int epoch) { bar.begin_epoch(epoch); };
  trainer.on_step = [&](const StepInfo& s) {
    bar.step(s.batch, s.batch_loss,
             s.batch_correct >= 0 ? static_cast<int64_t>(std::llround(s.batch_correct)) : -1);
  };
  trainer.on_epoch_trained = [&](int) { bar.stop_clock(); };
  trainer.on_epoch = [&](const EpochMetrics& m) -> Status {
    record(m);
    std::vector<std::pair<std::string, double>> extra;
    if (classification && m.test_acc >= 0) extra.push_back({"test_acc", m.test_acc});
    if (!classification && m.test_loss >= 0) extra.push_back({"test_loss", m.test_loss});
    bar.end_epoch(extra);
    if (opts.save.empty()) return Status::Ok();
    return save_checkpoint(opts.save, KILN_TRY(make_checkpoint(model.spec(), opts, history, steps,
                                                               to.batch_size, model.state())));
  };
  KILN_TRY(trainer.fit(train, test, done));  // appends each new epoch through on_epoch

  RunReport r;
  r.model = name;
  const EpochMetrics& last = history.back();
  double secs = 0, fastest = history.front().seconds;
  for (const EpochMetrics& m : history) secs += m.seconds, fastest = std::min(fastest, m.seconds);
  r.set("epochs", static_cast<double>(history.size()));
  r.set("train_loss", last.train_loss);
  if (classification) r.set("train_acc", last.train_acc);
  if (test) {
    if (classification) r.set("test_acc", last.test_acc);
    r.set("test_loss", last.test_loss);
  }
  r.set("seconds_per_epoch", secs / history.size());
  // The fastest epoch: the run at its best, which a noisy machine's mean hides.
  r.set("fastest_epoch_seconds", fastest);
  r.set("examples_per_second", secs > 0 ? train.size() * history.size() / secs : 0);
  r.set("compile_seconds", model.compile_seconds());
  if (finish) KILN_RETURN_IF_ERROR(finish(model, r));
  PlotOptions plot_opts;
  plot_opts.title = name;
  KILN_RETURN_IF_ERROR(write_plot(curves, opts, plot_opts, r));
  return r;
}

Expected<RunReport> evaluate_supervised(SupervisedSpec spec, const DataSource& test,
                                        const RunOptions& opts, const TrainDefaults& defaults) {
  if (opts.checkpoint.empty()) return Error("evaluation needs --checkpoint FILE");
  if (opts.threads > 0) set_num_threads(opts.threads);
  bool classification = spec.classification;
  std::string name = spec.name;
  CheckpointData ck = KILN_TRY(load_checkpoint(opts.checkpoint));
  if (ck.model != name)
    return Error(opts.checkpoint + ": checkpoint of model '" + ck.model + "', not '" + name + "'");
  KILN_RETURN_IF_ERROR(check_example_shape(ck, opts.checkpoint, spec.example_shape));
  CompiledModel model(std::move(spec), opts.seed, opts.fusion);
  TrainerOptions to;
  to.batch_size = resolve_batch(opts, defaults);
  to.has_accuracy = classification;
  KILN_TRY(model.get(GraphKind::Eval, std::min<int64_t>(to.batch_size, test.size())));
  KILN_RETURN_IF_ERROR(restore_state(model.state(), ck, opts.checkpoint, RestoreMode::Subset));
  Trainer trainer(model.factory(GraphKind::Train), model.factory(GraphKind::Eval), to);
  EvalMetrics m = KILN_TRY(trainer.evaluate(test));
  RunReport r;
  r.model = name;
  r.set("epochs", static_cast<double>(ck.epoch));
  if (classification) r.set("test_acc", m.accuracy);
  r.set("test_loss", m.loss);
  r.set("examples", static_cast<double>(test.size()));
  return r;
}

}  // namespace kiln
