// Shared run logic for `kiln train`.
#include "models/run_common.h"

#include <cmath>

#include "runtime/train/curves.h"
#include "runtime/train/progress.h"
#include "runtime/thread_pool.h"

namespace kiln {

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
  if (o.threads < 0) return Error("--threads must be non-negative");
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

Expected<FashionMnist> load_fashion(const RunOptions& opts, int resize) {
  FashionMnist f;
  f.train = KILN_TRY(load_fashion_mnist(opts.data, /*train=*/true, resize));
  f.test = KILN_TRY(load_fashion_mnist(opts.data, /*train=*/false, resize));
  if (opts.limit > 0) {
    f.train = f.train.subset(opts.limit);
    f.test = f.test.subset(std::max<int64_t>(opts.limit / 5, 1));
  }
  return f;
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
  CompiledModel model(std::move(spec), opts.seed);

  TrainerOptions to;
  to.epochs = resolve_epochs(opts, defaults);
  to.batch_size = resolve_batch(opts, defaults);
  to.seed = opts.seed;
  to.has_accuracy = classification;
  Trainer trainer(model.factory(GraphKind::Train), model.factory(GraphKind::Eval), to);

  int64_t steps = (train.size() + to.batch_size - 1) / to.batch_size;
  ProgressOptions po;
  po.mode = opts.progress ? ProgressMode::kAuto : ProgressMode::kOff;
  ProgressBar bar(to.epochs, steps, po);
  Curves curves;
  trainer.on_epoch_begin = [&](int epoch) { bar.begin_epoch(epoch); };
  trainer.on_step = [&](const StepInfo& s) {
    bar.step(s.batch, s.batch_loss,
             s.batch_correct >= 0 ? static_cast<int64_t>(std::llround(s.batch_correct)) : -1);
  };
  trainer.on_epoch_trained = [&](int) { bar.stop_clock(); };
  trainer.on_epoch = [&](const EpochMetrics& m) {
    std::vector<std::pair<std::string, double>> extra;
    curves.add("train_loss", m.epoch + 1, m.train_loss);
    if (classification) {
      curves.add("train_acc", m.epoch + 1, m.train_acc);
      if (m.test_acc >= 0) {
        curves.add("test_acc", m.epoch + 1, m.test_acc);
        extra.push_back({"test_acc", m.test_acc});
      }
    } else if (m.test_loss >= 0) {
      curves.add("test_loss", m.epoch + 1, m.test_loss);
      extra.push_back({"test_loss", m.test_loss});
    }
    bar.end_epoch(extra);
  };
  std::vector<EpochMetrics> history = KILN_TRY(trainer.fit(train, test));

  RunReport r;
  r.model = name;
  const EpochMetrics& last = history.back();
  double secs = 0;
  for (const EpochMetrics& m : history) secs += m.seconds;
  r.set("epochs", static_cast<double>(history.size()));
  r.set("train_loss", last.train_loss);
  if (classification) r.set("train_acc", last.train_acc);
  if (test) {
    if (classification) r.set("test_acc", last.test_acc);
    r.set("test_loss", last.test_loss);
  }
  r.set("seconds_per_epoch", secs / history.size());
  r.set("examples_per_second", secs > 0 ? train.size() * history.size() / secs : 0);
  r.set("compile_seconds", model.compile_seconds());
  if (finish) KILN_RETURN_IF_ERROR(finish(model, r));
  if (!opts.plot.empty()) {
    PlotOptions plot_opts;
    plot_opts.title = name;
    KILN_RETURN_IF_ERROR(curves.write_svg(opts.plot, plot_opts));
    std::string csv = opts.plot;
    if (csv.size() > 4 && csv.substr(csv.size() - 4) == ".svg") csv.resize(csv.size() - 4);
    csv += ".csv";
    KILN_RETURN_IF_ERROR(curves.write_csv(csv));
    r.notes.push_back({"plot", opts.plot});
    r.notes.push_back({"curves_csv", csv});
  }
  return r;
}

}  // namespace kiln
