// Trainer implementation: batches, metrics in f64, per-epoch data order from (seed, epoch).
#include "runtime/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

namespace kiln {

TableSource::TableSource(std::vector<float> features, int64_t width, std::vector<float> targets,
                         int64_t target_width)
    : x_(std::move(features)),
      width_(width),
      targets_(std::move(targets)),
      target_width_(target_width),
      n_(width > 0 ? static_cast<int64_t>(x_.size()) / width : 0) {}

TableSource::TableSource(std::vector<float> features, int64_t width, std::vector<int32_t> labels)
    : x_(std::move(features)),
      width_(width),
      labels_(std::move(labels)),
      n_(width > 0 ? static_cast<int64_t>(x_.size()) / width : 0) {}

std::vector<ExampleLayout> TableSource::example_layouts() const {
  if (!labels_.empty()) return {{DType::f32, width_}, {DType::i32, 1}};
  return {{DType::f32, width_}, {DType::f32, target_width_}};
}

void TableSource::gather(const int64_t* idx, int64_t n, std::span<HostBuffer* const> in) const {
  float* xd = in[0]->as<float>();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(xd + i * width_, x_.data() + idx[i] * width_, width_ * sizeof(float));
  if (!labels_.empty()) {
    int32_t* yd = in[1]->as<int32_t>();
    for (int64_t i = 0; i < n; ++i) yd[i] = labels_[idx[i]];
  } else {
    float* yd = in[1]->as<float>();
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(yd + i * target_width_, targets_.data() + idx[i] * target_width_,
                  target_width_ * sizeof(float));
  }
}

std::vector<std::pair<std::string, double>> EpochMetrics::items() const {
  std::vector<std::pair<std::string, double>> out = {{"train_loss", train_loss}};
  if (train_acc >= 0) out.push_back({"train_acc", train_acc});
  if (test_loss >= 0) out.push_back({"test_loss", test_loss});
  if (test_acc >= 0) out.push_back({"test_acc", test_acc});
  out.push_back({"seconds", seconds});
  out.push_back({"examples_per_second", examples_per_second});
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

EpochMetrics EpochMetrics::from_items(int epoch,
                                      const std::vector<std::pair<std::string, double>>& items) {
  EpochMetrics m;
  m.epoch = epoch;
  for (const auto& [k, v] : items) {
    if (k == "train_loss") m.train_loss = v;
    else if (k == "train_acc") m.train_acc = v;
    else if (k == "test_loss") m.test_loss = v;
    else if (k == "test_acc") m.test_acc = v;
    else if (k == "seconds") m.seconds = v;
    else if (k == "examples_per_second") m.examples_per_second = v;
    else m.extra.push_back({k, v});
  }
  return m;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double read_scalar(const HostBuffer* b) {
  if (!b) return 0.0;
  switch (b->type().dtype) {
    case DType::f32: return *b->as<float>();
    case DType::f64: return *b->as<double>();
    case DType::i32: return *b->as<int32_t>();
    case DType::i64: return static_cast<double>(*b->as<int64_t>());
    case DType::boolean: return *b->as<uint8_t>();
  }
  return 0.0;
}

// Per-batch sums of every metric, in f64.
struct Sums {
  double loss = 0, correct = 0;
  std::vector<double> extra;
  int64_t examples = 0;
};

void accumulate(Sums& s, const TrainerOptions& o, Executable& exe, int64_t b, double* batch_loss,
                double* batch_correct) {
  *batch_loss = read_scalar(exe.output(o.loss_output));
  *batch_correct = o.has_accuracy ? read_scalar(exe.output(o.correct_output)) : -1;
  s.loss += *batch_loss * b;
  if (o.has_accuracy) s.correct += *batch_correct;
  s.extra.resize(o.extra_metrics.size(), 0.0);
  for (size_t i = 0; i < o.extra_metrics.size(); ++i) {
    double v = read_scalar(exe.output(o.extra_metrics[i].output));
    s.extra[i] += o.extra_metrics[i].kind == MetricSpec::BatchMean ? v * b : v;
  }
  s.examples += b;
}

// Epoch e's permutation of [0, n): a function of (seed, e) only.
void epoch_order(std::vector<int64_t>& order, uint64_t seed, int epoch, bool shuffle) {
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return;
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(epoch)};
  std::mt19937_64 rng(seq);
  std::shuffle(order.begin(), order.end(), rng);
}

}  // namespace

Expected<Executable*> Trainer::executable_for(const ExecutableFactory& factory, int64_t batch,
                                              const DataSource& data) {
  Executable* exe = KILN_TRY(factory(batch));
  std::string where = "executable for batch " + std::to_string(batch);
  const std::vector<std::string> names = data.input_names();
  const std::vector<ExampleLayout> layouts = data.example_layouts();
  if (layouts.size() != names.size())
    return Error("the data source names " + std::to_string(names.size()) + " inputs but describes " +
                 std::to_string(layouts.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    const HostBuffer* in = exe->input(names[i]);
    if (!in) return Error(where + " has no input '" + names[i] + "'");
    const ExampleLayout& want = layouts[i];
    if (in->type().dtype != want.dtype || in->type().shape.numel() != batch * want.numel)
      return Error(where + ": input '" + names[i] + "' is " + in->type().to_string() +
                   ", but the data gives " + std::to_string(batch) + " examples of " +
                   std::to_string(want.numel) + " " + dtype_name(want.dtype) + " each");
  }
  std::vector<std::string> outs = {opts_.loss_output};
  if (opts_.has_accuracy) outs.push_back(opts_.correct_output);
  for (const MetricSpec& m : opts_.extra_metrics) outs.push_back(m.output);
  for (const std::string& out : outs)
    if (!exe->output(out)) return Error(where + " has no output '" + out + "'");
  return exe;
}

Status Trainer::feed(Executable& exe, const DataSource& data, const int64_t* idx, int64_t n) {
  std::vector<HostBuffer*> inputs;
  for (const std::string& in : data.input_names()) inputs.push_back(exe.input(in));
  data.gather(idx, n, inputs);
  return Status::Ok();
}

Expected<EvalMetrics> Trainer::evaluate(const DataSource& data) {
  int64_t n = data.size();
  if (n == 0) return Error("evaluation data set is empty");
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  Sums s;
  for (int64_t start = 0; start < n; start += opts_.batch_size) {
    int64_t b = std::min(opts_.batch_size, n - start);
    Executable* exe = KILN_TRY(executable_for(eval_, b, data));
    KILN_RETURN_IF_ERROR(feed(*exe, data, idx.data() + start, b));
    KILN_RETURN_IF_ERROR(exe->run_checked());  // a device run can fail
    double bl, bc;
    accumulate(s, opts_, *exe, b, &bl, &bc);
  }
  EvalMetrics m;
  m.loss = s.loss / n;
  m.accuracy = opts_.has_accuracy ? s.correct / n : -1;
  for (size_t i = 0; i < opts_.extra_metrics.size(); ++i)
    m.extra.push_back({opts_.extra_metrics[i].name, s.extra[i] / n});
  return m;
}

Expected<std::vector<EpochMetrics>> Trainer::fit(const DataSource& train, const DataSource* test,
                                                 std::vector<EpochMetrics> done) {
  int64_t n = train.size();
  if (n == 0) return Error("training data set is empty");
  if (opts_.batch_size <= 0) return Error("batch size must be positive");
  std::vector<int64_t> order(n);
  // Compile (or fetch) the full-batch and short-last-batch executables up front so
  // compilation is not counted as training time.
  KILN_TRY(executable_for(train_, std::min(opts_.batch_size, n), train));
  if (n % opts_.batch_size != 0 && !opts_.drop_last && n > opts_.batch_size)
    KILN_TRY(executable_for(train_, n % opts_.batch_size, train));
  std::vector<EpochMetrics> history = std::move(done);
  for (int epoch = static_cast<int>(history.size()); epoch < opts_.epochs; ++epoch) {
    epoch_order(order, opts_.seed, epoch, opts_.shuffle);
    if (on_epoch_begin) on_epoch_begin(epoch);
    auto t0 = std::chrono::steady_clock::now();
    Sums s;
    for (int64_t start = 0; start < n; start += opts_.batch_size) {
      int64_t b = std::min(opts_.batch_size, n - start);
      if (b < opts_.batch_size && opts_.drop_last) break;
      Executable* exe = KILN_TRY(executable_for(train_, b, train));
      KILN_RETURN_IF_ERROR(feed(*exe, train, order.data() + start, b));
      KILN_RETURN_IF_ERROR(exe->run_checked());  // a device run can fail
      StepInfo info;
      accumulate(s, opts_, *exe, b, &info.batch_loss, &info.batch_correct);
      if (!opts_.allow_nan && !std::isfinite(info.batch_loss))
        return Error("training diverged: the loss is " + std::to_string(info.batch_loss) +
                     " at epoch " + std::to_string(epoch + 1) + ", step " +
                     std::to_string(start / opts_.batch_size + 1) + " of " +
                     std::to_string((n + opts_.batch_size - 1) / opts_.batch_size) + " (" +
                     opts_.divergence_hint + ")");
      if (on_step) {
        info.epoch = epoch;
        info.examples_done = s.examples;
        info.examples_total = n;
        info.mean_loss = s.loss / s.examples;
        info.accuracy = opts_.has_accuracy ? s.correct / s.examples : -1;
        info.seconds = seconds_since(t0);
        info.batch = b;
        on_step(info);
      }
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.seconds = seconds_since(t0);
    if (on_epoch_trained) on_epoch_trained(epoch);
    int64_t seen = s.examples;
    m.train_loss = seen ? s.loss / seen : 0;
    m.train_acc = opts_.has_accuracy && seen ? s.correct / seen : -1;
    m.examples_per_second = m.seconds > 0 ? seen / m.seconds : 0;
    for (size_t i = 0; i < opts_.extra_metrics.size(); ++i)
      m.extra.push_back({"train_" + opts_.extra_metrics[i].name, seen ? s.extra[i] / seen : 0});
    if (test) {
      EvalMetrics e = KILN_TRY(evaluate(*test));
      m.test_loss = e.loss;
      m.test_acc = e.accuracy;
      for (const auto& [k, v] : e.extra) m.extra.push_back({"test_" + k, v});
    }
    history.push_back(m);
    if (on_epoch) KILN_RETURN_IF_ERROR(on_epoch(m));
  }
  return history;
}

}  // namespace kiln
