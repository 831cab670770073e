// Google Benchmark: one compiled training step of d2l's character-level language models
// (chapter 9: 28 one-hot characters, 35 time steps, batch 32, 256 hidden units, a linear
// output layer, softmax cross-entropy, SGD lr 1 with gradient clipping at norm 1), built
// straight from the DSL layers, with the hidden state carried between steps. The issue's
// PyTorch 1.13 reference: about 8 steps per epoch of the 10,000-token recipe, 0.10 / 0.23
// / 0.30 s per epoch for RNN / GRU / LSTM. KILN_PROFILE=1 prints the per-kernel profile.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "codegen/compile.h"
#include "frontend/embedding.h"
#include "frontend/losses.h"
#include "frontend/rnn_layers.h"
#include "passes/simplify.h"
#include "passes/training.h"

namespace kiln {
namespace {

constexpr int64_t kVocab = 28, kSteps = 35, kBatch = 32, kHidden = 256;

Graph char_model_step(nn::RecurrentLayer::Cell cell) {
  Graph g("char_model.train");
  Builder b(g);
  nn::Context ctx{b, true, 0, "char"};
  Tensor x = b.input("x", TensorType{DType::i32, Shape{kSteps, kBatch}});
  Tensor y = b.input("y", TensorType{DType::i32, Shape{kSteps * kBatch}});
  std::unique_ptr<nn::RecurrentLayer> rnn;
  if (cell == nn::RecurrentLayer::Tanh) rnn = std::make_unique<nn::RNN>(kVocab, kHidden);
  if (cell == nn::RecurrentLayer::Gru) rnn = std::make_unique<nn::GRU>(kVocab, kHidden);
  if (cell == nn::RecurrentLayer::Lstm) rnn = std::make_unique<nn::LSTM>(kVocab, kHidden);
  nn::OneHot one_hot(kVocab);
  nn::Linear out(kHidden, kVocab);
  Tensor h = (*rnn)(ctx, one_hot(ctx, x));  // [T, B, H]
  Tensor logits = out(ctx, reshape(h, Shape{kSteps * kBatch, kHidden}));
  b.output("loss", softmax_cross_entropy(logits, y));
  PassManager pm;
  pm.add(std::make_unique<SimplifyPass>());
  OptimizerConfig opt;
  opt.lr = 1.0;
  opt.clip_norm = 1.0;
  pm.add(std::make_unique<TrainingStepPass>("loss", opt));
  pm.add(std::make_unique<SimplifyPass>());
  Status st = b.status().ok() ? pm.run(g) : b.status();
  if (!st.ok()) std::fprintf(stderr, "%s\n", st.error().message().c_str());
  return g;
}

void char_step(benchmark::State& state, nn::RecurrentLayer::Cell cell) {
  Graph g = char_model_step(cell);
  CompileOptions co;
  co.profile = std::getenv("KILN_PROFILE") != nullptr;
  auto exe = compile(g, std::make_shared<StateStore>(), co);
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  std::mt19937 rng(0);
  for (const char* name : {"x", "y"}) {
    HostBuffer* in = (*exe)->input(name);
    for (int64_t i = 0; i < in->type().shape.numel(); ++i)
      in->as<int32_t>()[i] = static_cast<int32_t>(rng() % kVocab);
  }
  for (auto _ : state) (*exe)->run();
  state.counters["kernels"] = (*exe)->stats().kernels;
  state.counters["tokens/s"] =
      benchmark::Counter(double(kSteps * kBatch) * state.iterations(), benchmark::Counter::kIsRate);
  if (co.profile) std::printf("%s\n", (*exe)->describe().c_str());
}

BENCHMARK_CAPTURE(char_step, rnn, nn::RecurrentLayer::Tanh)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(char_step, gru, nn::RecurrentLayer::Gru)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(char_step, lstm, nn::RecurrentLayer::Lstm)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln
