// Trainer implementation.
#include "runtime/train/trainer.h"

#include <algorithm>
#include <chrono>
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

void TableSource::gather(const int64_t* idx, int64_t n, HostBuffer& x, HostBuffer& y) const {
  float* xd = x.as<float>();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(xd + i * width_, x_.data() + idx[i] * width_, width_ * sizeof(float));
  if (!labels_.empty()) {
    int32_t* yd = y.as<int32_t>();
    for (int64_t i = 0; i < n; ++i) yd[i] = labels_[idx[i]];
  } else {
    float* yd = y.as<float>();
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(yd + i * target_width_, targets_.data() + idx[i] * target_width_,
                  target_width_ * sizeof(float));
  }
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Expected<Executable*> executable_for(const ExecutableFactory& factory, int64_t batch) {
  Executable* exe = KILN_TRY(factory(batch));
  if (!exe->input("x") || !exe->input("y") || !exe->output("loss"))
    return Error("executable for batch " + std::to_string(batch) +
                 " lacks inputs x, y or output loss");
  return exe;
}

float read_scalar(const HostBuffer* b) { return b ? *b->as<float>() : 0.0f; }

}  // namespace

Expected<EvalMetrics> Trainer::evaluate(const DataSource& data) {
  int64_t n = data.size();
  if (n == 0) return Error("evaluation data set is empty");
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  double loss_sum = 0, correct = 0;
  for (int64_t start = 0; start < n; start += opts_.batch_size) {
    int64_t b = std::min(opts_.batch_size, n - start);
    Executable* exe = KILN_TRY(executable_for(eval_, b));
    data.gather(idx.data() + start, b, *exe->input("x"), *exe->input("y"));
    exe->run();
    loss_sum += read_scalar(exe->output("loss")) * b;
    if (opts_.has_accuracy) correct += read_scalar(exe->output("correct"));
  }
  EvalMetrics m;
  m.loss = loss_sum / n;
  m.accuracy = opts_.has_accuracy ? correct / n : -1;
  return m;
}

Expected<std::vector<EpochMetrics>> Trainer::fit(const DataSource& train, const DataSource* test) {
  int64_t n = train.size();
  if (n == 0) return Error("training data set is empty");
  if (opts_.batch_size <= 0) return Error("batch size must be positive");
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(opts_.seed);
  // Compile (or fetch) the full-batch and short-last-batch executables up front so
  // compilation is not counted as training time.
  KILN_TRY(executable_for(train_, std::min(opts_.batch_size, n)));
  if (n % opts_.batch_size != 0 && !opts_.drop_last && n > opts_.batch_size)
    KILN_TRY(executable_for(train_, n % opts_.batch_size));
  std::vector<EpochMetrics> history;
  for (int epoch = 0; epoch < opts_.epochs; ++epoch) {
    if (opts_.shuffle) std::shuffle(order.begin(), order.end(), rng);
    if (on_epoch_begin) on_epoch_begin(epoch);
    auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0, correct = 0;
    int64_t done = 0;
    for (int64_t start = 0; start < n; start += opts_.batch_size) {
      int64_t b = std::min(opts_.batch_size, n - start);
      if (b < opts_.batch_size && opts_.drop_last) break;
      Executable* exe = KILN_TRY(executable_for(train_, b));
      train.gather(order.data() + start, b, *exe->input("x"), *exe->input("y"));
      exe->run();
      double batch_loss = read_scalar(exe->output("loss"));
      double batch_correct = opts_.has_accuracy ? read_scalar(exe->output("correct")) : -1;
      loss_sum += batch_loss * b;
      if (opts_.has_accuracy) correct += batch_correct;
      done += b;
      if (on_step) {
        StepInfo s;
        s.epoch = epoch;
        s.examples_done = done;
        s.examples_total = n;
        s.mean_loss = loss_sum / done;
        s.accuracy = opts_.has_accuracy ? correct / done : -1;
        s.seconds = seconds_since(t0);
        s.batch = b;
        s.batch_loss = batch_loss;
        s.batch_correct = batch_correct;
        on_step(s);
      }
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.seconds = seconds_since(t0);
    if (on_epoch_trained) on_epoch_trained(epoch);
    m.train_loss = done ? loss_sum / done : 0;
    m.train_acc = opts_.has_accuracy && done ? correct / done : -1;
    m.examples_per_second = m.seconds > 0 ? done / m.seconds : 0;
    if (test) {
      EvalMetrics e = KILN_TRY(evaluate(*test));
      m.test_loss = e.loss;
      m.test_acc = e.accuracy;
    }
    history.push_back(m);
    if (on_epoch) on_epoch(m);
  }
  return history;
}

}  // namespace kiln
