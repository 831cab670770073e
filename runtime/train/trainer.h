// The training loop: epochs of shuffled minibatches through a compiled training-step
// executable, then evaluation, with d2l's metrics (mean loss, accuracy) per epoch.
//
// Contract with the executables (built by models/ from the model's graphs):
//   inputs  named by the DataSource (by default "x", the batch's features, and "y",
//           labels or targets);
//   outputs TrainerOptions::loss_output (mean over the batch, a float scalar), for
//           classifiers correct_output (number of correct predictions in the batch), and
//           any extra metrics (each a float scalar: a batch mean or a count).
// Shapes are static, so the factory returns one executable per batch size (the last,
// short batch of an epoch gets its own). Metrics accumulate in f64.
//
// Data order: epoch e visits the examples in a permutation drawn from (seed, e) alone,
// so a run resumed at epoch e (fit's `resume`) sees exactly the batches the
// uninterrupted run would have.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "runtime/executable.h"

namespace kiln {

// What one example writes into an input: its element type and count.
struct ExampleLayout {
  DType dtype;
  int64_t numel;
};

// Where minibatches come from.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t size() const = 0;
  // The executable inputs gather() fills, in order.
  virtual std::vector<std::string> input_names() const { return {"x", "y"}; }
  // Per input of input_names(), in order: what one example writes there. The trainer
  // refuses an executable whose input does not hold exactly batch x that, since
  // gather() writes without checking (data of another shape would run past the buffer).
  virtual std::vector<ExampleLayout> example_layouts() const = 0;
  // Writes examples idx[0..n) into the input buffers named by input_names().
  virtual void gather(const int64_t* idx, int64_t n, std::span<HostBuffer* const> inputs) const = 0;
};

// Rows of a dense f32 table with f32 targets or i32 labels.
class TableSource : public DataSource {
 public:
  // features: [n, width] row-major; exactly one of targets (n * target_width) / labels (n).
  TableSource(std::vector<float> features, int64_t width, std::vector<float> targets,
              int64_t target_width = 1);
  TableSource(std::vector<float> features, int64_t width, std::vector<int32_t> labels);
  int64_t size() const override { return n_; }
  std::vector<ExampleLayout> example_layouts() const override;
  void gather(const int64_t* idx, int64_t n, std::span<HostBuffer* const> inputs) const override;
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

// A scalar output reported per epoch as `name`: a batch mean (weighted by batch size) or
// a count (summed, then divided by the number of examples).
struct MetricSpec {
  enum Kind { BatchMean, Count };
  std::string name;
  std::string output;
  Kind kind = BatchMean;
};

struct TrainerOptions {
  int epochs = 1;
  int64_t batch_size = 256;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  bool has_accuracy = true;               // executables output correct_output
  std::string loss_output = "loss";
  std::string correct_output = "correct";
  std::vector<MetricSpec> extra_metrics;  // reported as train_<name> / test_<name>
  // A non-finite training loss stops fit() with an error naming the epoch and step and
  // ending with `divergence_hint`, unless allow_nan.
  bool allow_nan = false;
  std::string divergence_hint = "a smaller learning rate usually helps";
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
  std::vector<std::pair<std::string, double>> extra;  // train_<name>, test_<name>

  // Every metric as (name, value): the fields above that are set, then `extra`.
  std::vector<std::pair<std::string, double>> items() const;
  // The inverse of items(), for epochs read back from a checkpoint.
  static EpochMetrics from_items(int epoch, const std::vector<std::pair<std::string, double>>& items);
};

struct EvalMetrics {
  double loss = 0;
  double accuracy = -1;
  std::vector<std::pair<std::string, double>> extra;  // by MetricSpec::name
};

class Trainer {
 public:
  Trainer(ExecutableFactory train_step, ExecutableFactory eval, TrainerOptions options)
      : train_(std::move(train_step)), eval_(std::move(eval)), opts_(options) {}

  std::function<void(int epoch)> on_epoch_begin;       // before the first step of an epoch
  std::function<void(const StepInfo&)> on_step;        // called after every step
  std::function<void(int epoch)> on_epoch_trained;     // after training, before evaluation
  // After every epoch (e.g. to save a checkpoint); an error stops training.
  std::function<Status(const EpochMetrics&)> on_epoch;

  // Trains up to opts.epochs epochs in all; evaluates on `test` (may be null) after each
  // epoch. `done` holds the epochs a resumed run already completed (their metrics are
  // returned first); training continues at epoch done.size().
  Expected<std::vector<EpochMetrics>> fit(const DataSource& train, const DataSource* test,
                                          std::vector<EpochMetrics> done = {});
  // Mean loss (and accuracy) over a whole data set, batch by batch, in order.
  Expected<EvalMetrics> evaluate(const DataSource& data);

 private:
  Expected<Executable*> executable_for(const ExecutableFactory& factory, int64_t batch,
                                      const DataSource& data);
  Status feed(Executable& exe, const DataSource& data, const int64_t* idx, int64_t n);

  ExecutableFactory train_, eval_;
  TrainerOptions opts_;
};

}  // namespace kiln
