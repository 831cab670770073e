// The training loop: epochs of shuffled minibatches through a compiled training-step
// executable, then evaluation, with d2l's metrics (mean loss, accuracy) per epoch.
//
// Contract with the executables (built by models/ from the model's graphs):
//   inputs  "x" (the batch's features) and "y" (labels or targets);
//   outputs "loss" (mean over the batch, f32 scalar) and, for classifiers,
//           "correct" (number of correct predictions in the batch, f32 scalar).
// Shapes are static, so the factory returns one executable per batch size (the last,
// short batch of an epoch gets its own).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/executable.h"

namespace kiln {

// Where minibatches come from.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t size() const = 0;
  // Writes examples idx[0..n) into the executable's "x" and "y" input buffers.
  virtual void gather(const int64_t* idx, int64_t n, HostBuffer& x, HostBuffer& y) const = 0;
};

// Rows of a dense f32 table with f32 targets or i32 labels.
class TableSource : public DataSource {
 public:
  // features: [n, width] row-major; exactly one of targets (n * target_width) / labels (n).
  TableSource(std::vector<float> features, int64_t width, std::vector<float> targets,
              int64_t target_width = 1);
  TableSource(std::vector<float> features, int64_t width, std::vector<int32_t> labels);
  int64_t size() const override { return n_; }
  void gather(const int64_t* idx, int64_t n, HostBuffer& x, HostBuffer& y) const override;
  int64_t width() const { return width_; }

 private:
  std::vector<float> x_;
  int64_t width_;
  std::vector<float> targets_;
  int64_t target_width_ = 1;
  std::vector<int32_t> labels_;
  int64_t n_;
};

using ExecutableFactory = std::function<Expected<Executable*>(int64_t batch)>;

struct TrainerOptions {
  int epochs = 1;
  int64_t batch_size = 256;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  bool has_accuracy = true;  // executables output "correct"
};

struct StepInfo {
  int epoch = 0;                 // 0-based
  int64_t examples_done = 0;     // in this epoch
  int64_t examples_total = 0;
  double mean_loss = 0;          // running, this epoch
  double accuracy = -1;          // running, or -1 without accuracy
  double seconds = 0;            // since the epoch started
  int64_t batch = 0;             // this step's batch size
  double batch_loss = 0;         // this step's mean loss
  double batch_correct = -1;     // this step's correct count, or -1 without accuracy
};

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0;
  double train_acc = -1;
  double test_loss = -1;
  double test_acc = -1;
  double seconds = 0;            // training time of this epoch (no evaluation)
  double examples_per_second = 0;
};

struct EvalMetrics {
  double loss = 0;
  double accuracy = -1;
};

class Trainer {
 public:
  Trainer(ExecutableFactory train_step, ExecutableFactory eval, TrainerOptions options)
      : train_(std::move(train_step)), eval_(std::move(eval)), opts_(options) {}

  std::function<void(int epoch)> on_epoch_begin;       // before the first step of an epoch
  std::function<void(const StepInfo&)> on_step;        // called after every step
  std::function<void(int epoch)> on_epoch_trained;     // after training, before evaluation
  std::function<void(const EpochMetrics&)> on_epoch;   // called after every epoch

  // Trains for opts.epochs epochs; evaluates on `test` (may be null) after each epoch.
  Expected<std::vector<EpochMetrics>> fit(const DataSource& train, const DataSource* test);
  // Mean loss (and accuracy) over a whole data set, batch by batch, in order.
  Expected<EvalMetrics> evaluate(const DataSource& data);

 private:
  ExecutableFactory train_, eval_;
  TrainerOptions opts_;
};

}  // namespace kiln
