// Shared machinery for supervised models: a SupervisedSpec says what the network,
// loss and optimizer are; the harness builds the training-step and evaluation graphs
// for a batch size, runs the pass pipeline, compiles them against one shared
// StateStore (so they see the same weights) and caches one executable per batch size.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "codegen/compile.h"
#include "codegen/cuda/compile_device.h"
#include "frontend/losses.h"
#include "frontend/nn.h"
#include "passes/training.h"
#include "runtime/train/trainer.h"

namespace kiln {

struct SupervisedSpec {
  std::string name;
  Shape example_shape;          // one example of x, e.g. {1, 28, 28}
  bool classification = true;   // y: i32 labels [B]; otherwise f32 targets [B, target_width]
  int64_t target_width = 1;
  std::function<Tensor(nn::Context&, const Tensor& x)> net;
  // Training loss from (prediction, y); default: softmax cross-entropy for classifiers,
  // mean squared error / 2 (d2l's squared_loss) otherwise.
  std::function<Tensor(nn::Context&, const Tensor& pred, const Tensor& y)> loss;
  // Evaluation loss; default: the training loss.
  std::function<Tensor(nn::Context&, const Tensor& pred, const Tensor& y)> eval_loss;
  OptimizerConfig optimizer;
  int64_t seed = 0;
  std::shared_ptr<void> layers;  // keeps the layer objects `net` refers to alive
  // How to feed the model, recorded in exported model files (models/export.h): input
  // preprocessing, class names, ... ("input.scale" -> "0.00392156862745098").
  std::vector<std::pair<std::string, std::string>> metadata;
};

enum class GraphKind { Train, Eval, Predict };

// Builds the graph of one kind for `batch` examples and runs the pass pipeline
// (simplify; training for Train; simplify). `after_pass` sees the graph after each pass.
Expected<Graph> build_graph(const SupervisedSpec& spec, GraphKind kind, int64_t batch,
                            const std::function<void(const std::string&, const Graph&)>&
                                after_pass = nullptr,
                            std::vector<PassTiming>* timings = nullptr);

// A model graph's pass pipeline: simplify, and for a training graph the training step on
// output "loss" with `optimizer`, then simplify again.
PassManager model_passes(bool train, const OptimizerConfig& optimizer);

// Random inputs for benchmarks and `kiln bench`: floats uniform in [0, 1), integers
// (labels, token ids, lengths) uniform in [0, int_range), booleans either way.
void fill_random_inputs(Executable& exe, int64_t int_range, uint64_t seed = 0);

// Executables of one model compiled against one shared StateStore (so they share the
// weights), cached by Key, with the seconds spent building and compiling them.
template <class Key>
class ExecutableCache {
 public:
  // fusion = false: one kernel per op (`--no-fusion`, CompileOptions::fusion).
  explicit ExecutableCache(uint64_t init_seed, bool fusion = true)
      : init_seed_(init_seed), fusion_(fusion), state_(std::make_shared<StateStore>()) {}
  // The executable for `key`; the first request builds its graph with build() and
  // compiles it.
  Expected<Executable*> get(const Key& key, const std::function<Expected<Graph>()>& build) {
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second.get();
    const auto t0 = std::chrono::steady_clock::now();
    Graph g = KILN_TRY(build());
    CompileOptions opts;
    opts.init_seed = init_seed_;
    opts.fusion = fusion_;
    // On the device `--device cuda` selected, if any (codegen/cuda/compile_device.h).
    std::unique_ptr<Executable> exe = KILN_TRY(cudagen::compile_on_default_device(g, state_, opts));
    const auto t1 = std::chrono::steady_clock::now();
    compile_seconds_ += std::chrono::duration<double>(t1 - t0).count();
    Executable* raw = exe.get();
    cache_[key] = std::move(exe);
    return raw;
  }
  StateStore& state() { return *state_; }
  double compile_seconds() const { return compile_seconds_; }

 private:
  uint64_t init_seed_;
  bool fusion_;
  std::shared_ptr<StateStore> state_;
  std::map<Key, std::unique_ptr<Executable>> cache_;
  double compile_seconds_ = 0;
};

class CompiledModel {
 public:
  explicit CompiledModel(SupervisedSpec spec, uint64_t init_seed = 0, bool fusion = true);
  Expected<Executable*> get(GraphKind kind, int64_t batch);
  ExecutableFactory factory(GraphKind kind) {
    return [this, kind](int64_t b) { return get(kind, b); };
  }
  StateStore& state() { return cache_.state(); }
  const SupervisedSpec& spec() const { return spec_; }
  double compile_seconds() const { return cache_.compile_seconds(); }

 private:
  SupervisedSpec spec_;
  ExecutableCache<std::pair<int, int64_t>> cache_;
};

}  // namespace kiln
