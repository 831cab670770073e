// Google Benchmark: one compiled training step of the zoo's character-level language
// models (models/char_models.cpp: 28 one-hot characters, 35 time steps, batch 32, 256
// hidden units, a linear output layer, softmax cross-entropy, SGD lr 1 with gradient
// clipping at norm 1), with the hidden state carried between steps. The PyTorch
// 1.13 reference: about 8 steps per epoch of the 10,000-token recipe, 0.10 / 0.23 / 0.30 s
// per epoch for RNN / GRU / LSTM. KILN_PROFILE=1 prints the per-kernel profile.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "models/language_model.h"

namespace kiln {
namespace {

constexpr int64_t kVocab = 28;

// The step compiled once per process: Google Benchmark calls the case again for every
// repetition, and many short repetitions are what separate two builds on a noisy host
// (bench/ab_interleaved.sh).
Expected<Executable*> compiled_step(const char* model, bool profile) {
  static std::map<std::string, std::unique_ptr<Executable>> cache;
  if (auto it = cache.find(model); it != cache.end()) return it->second.get();
  const LanguageModelMaker* make = find_language_model(model);
  if (!make) return Error("unknown language model");
  const LanguageModelDefaults d;
  LanguageModelSpec spec = (*make)(kVocab, d.hidden);
  spec.optimizer.lr = d.lr;
  spec.optimizer.clip_norm = d.clip_norm;
  Expected<Graph> g = build_lm_graph(spec, LmGraphKind::Train, d.batch_size, d.num_steps);
  if (!g.ok()) return g.error();
  CompileOptions co;
  co.profile = profile;
  auto exe = compile(*g, std::make_shared<StateStore>(), co);
  if (!exe.ok()) return exe.error();
  fill_random_inputs(**exe, kVocab);
  return (cache[model] = std::move(*exe)).get();
}

void char_step(benchmark::State& state, const char* model) {
  const bool profile = std::getenv("KILN_PROFILE") != nullptr;
  Expected<Executable*> exe = compiled_step(model, profile);
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  const LanguageModelDefaults d;
  for (auto _ : state) (*exe)->run();
  state.counters["kernels"] = (*exe)->stats().kernels;
  state.counters["tokens/s"] = benchmark::Counter(
      double(d.batch_size * d.num_steps) * state.iterations(), benchmark::Counter::kIsRate);
  if (profile) std::printf("%s\n", (*exe)->describe().c_str());
}

BENCHMARK_CAPTURE(char_step, rnn, "char_rnn")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(char_step, gru, "char_gru")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(char_step, lstm, "char_lstm")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln
