// Google Benchmark: one compiled training step of the zoo's character-level language
// models (models/char_models.cpp: 28 one-hot characters, 35 time steps, batch 32, 256
// hidden units, a linear output layer, softmax cross-entropy, SGD lr 1 with gradient
// clipping at norm 1), with the hidden state carried between steps. The PyTorch
// 1.13 reference: about 8 steps per epoch of the 10,000-token recipe, 0.10 / 0.23 / 0.30 s
// per epoch for RNN / GRU / LSTM. KILN_PROFILE=1 prints the per-kernel profile.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "models/language_model.h"

namespace kiln {
namespace {

constexpr int64_t kVocab = 28;

void char_step(benchmark::State& state, const char* model) {
  const LanguageModelMaker* make = find_language_model(model);
  if (!make) {
    state.SkipWithError("unknown language model");
    return;
  }
  const LanguageModelDefaults d;
  LanguageModelSpec spec = (*make)(kVocab, d.hidden);
  spec.optimizer.lr = d.lr;
  spec.optimizer.clip_norm = d.clip_norm;
  Expected<Graph> g = build_lm_graph(spec, LmGraphKind::Train, d.batch_size, d.num_steps);
  CompileOptions co;
  co.profile = std::getenv("KILN_PROFILE") != nullptr;
  auto exe = g.ok() ? compile(*g, std::make_shared<StateStore>(), co)
                    : Expected<std::unique_ptr<Executable>>(g.error());
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  fill_random_inputs(**exe, kVocab);
  for (auto _ : state) (*exe)->run();
  state.counters["kernels"] = (*exe)->stats().kernels;
  state.counters["tokens/s"] = benchmark::Counter(
      double(d.batch_size * d.num_steps) * state.iterations(), benchmark::Counter::kIsRate);
  if (co.profile) std::printf("%s\n", (*exe)->describe().c_str());
}

BENCHMARK_CAPTURE(char_step, rnn, "char_rnn")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(char_step, gru, "char_gru")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(char_step, lstm, "char_lstm")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln
