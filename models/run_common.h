// What every `kiln train MODEL` run shares: adapting loaded data sets to the trainer,
// the progress bar, curves (SVG + CSV) and the report with d2l's metrics.
#pragma once

#include "models/registry.h"
#include "runtime/checkpoint.h"
#include "runtime/train/curves.h"
#include "runtime/train/idx.h"
#include "runtime/train/trainer.h"

namespace kiln {

// Fashion-MNIST (or any ImageDataset) as a trainer data source: x [B, C, H, W], y i32.
class ImageSource : public DataSource {
 public:
  explicit ImageSource(const ImageDataset& data) : data_(data) {}
  int64_t size() const override { return data_.size(); }
  std::vector<ExampleLayout> example_layouts() const override {
    return {{DType::f32, data_.example_numel()}, {DType::i32, 1}};
  }
  void gather(const int64_t* idx, int64_t n, std::span<HostBuffer* const> in) const override {
    data_.gather(idx, n, in[0]->as<float>(), in[1]->as<int32_t>());
  }

 private:
  const ImageDataset& data_;
};

// The metadata of a model that reads Fashion-MNIST images at side x side
// (SupervisedSpec::metadata): the input layout and scaling, the resize, the class names.
std::vector<std::pair<std::string, std::string>> fashion_mnist_metadata(int64_t side);

// What a diverged run's error suggests.
inline constexpr const char* kDivergenceHint =
    "try a smaller --lr, or --allow-nan to keep going";

struct TrainDefaults {
  int epochs = 10;
  int64_t batch_size = 256;
  double lr = 0.1;
};

// Applies --epochs/--batch-size/--lr/--wd/--seed over the defaults.
int resolve_epochs(const RunOptions& opts, const TrainDefaults& d);
int64_t resolve_batch(const RunOptions& opts, const TrainDefaults& d);
double resolve_lr(const RunOptions& opts, const TrainDefaults& d);
Status check_common_options(const RunOptions& opts);
// Applies --optimizer and --momentum over the model's optimizer.
Status apply_optimizer_options(const RunOptions& opts, OptimizerConfig& config);

// Where data files are looked for when no path is given: $KILN_DATA_DIR, else
// ../shared/data next to the source tree.
std::string default_data_dir();

// The trainer's options for a run: its epochs and batch size, --seed, --allow-nan and
// the divergence hint; `accuracy`: the executables output a correct count.
TrainerOptions trainer_options(const RunOptions& opts, int epochs, int64_t batch, bool accuracy);
// --plot FILE.svg: the curves as FILE.svg (titled `plot.title`) and FILE.csv, both noted
// in the report; nothing without --plot.
Status write_plot(const Curves& curves, const RunOptions& opts, const PlotOptions& plot,
                  RunReport& report);

// Trains `spec` on `train`, evaluating on `test` (may be null) after each epoch, with a
// progress bar and optional curves. Fills: epochs, train_loss, [train_acc, test_acc],
// test_loss, seconds_per_epoch, examples_per_second, compile_seconds.
// `finish` (optional) runs after training with the trained model, e.g. to read weights.
Expected<RunReport> run_supervised(
    SupervisedSpec spec, const DataSource& train, const DataSource* test,
    const RunOptions& opts, const TrainDefaults& defaults,
    const std::function<Status(CompiledModel&, RunReport&)>& finish = nullptr);

// Checks that the checkpoint at `path` can continue a run of `model` up to `epochs`
// epochs with opts.seed (same model, random streams and seed, saved at an epoch's end,
// fewer epochs done); returns the epochs it completed.
Expected<std::vector<EpochMetrics>> resumable_epochs(const CheckpointData& ck,
                                                     const std::string& path,
                                                     const std::string& model,
                                                     const RunOptions& opts, int epochs);
// A checkpoint's weights fit the model only for the example shape they were trained on
// (the conv models' first Linear layer depends on --size): an error naming `path` when
// the checkpoint records another.
Status check_example_shape(const CheckpointData& ck, const std::string& path, const Shape& example);

// Checks that the checkpoint's metadata holds each (key, value) of `want`.
Status check_checkpoint_metadata(const CheckpointData& ck, const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& want);

// `kiln eval`: loads the model-scoped state in opts.checkpoint (a training checkpoint of
// the same model) and reports test_loss (and test_acc) on `test`.
Expected<RunReport> evaluate_supervised(SupervisedSpec spec, const DataSource& test,
                                        const RunOptions& opts, const TrainDefaults& defaults);

// Loads Fashion-MNIST train/test from opts.data (or the Debian package's directory),
// honouring opts.limit on the training set (and limit / 5 on the test set), then resizes
// the images it keeps to resize x resize when resize > 0.
struct FashionMnist {
  ImageDataset train, test;
};
Expected<FashionMnist> load_fashion(const RunOptions& opts, int resize = 0);
// The whole test split alone (what `kiln eval` reads), resized likewise.
Expected<ImageDataset> load_fashion_test(const RunOptions& opts, int resize = 0);

}  // namespace kiln
