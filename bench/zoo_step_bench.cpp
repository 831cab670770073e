// Google Benchmark: one compiled training step of each model of the zoo that has no
// step_benchmark case (train_step_bench.cpp) or char_step case (rnn_step_bench.cpp): the
// convolutional models at 32x32 (AlexNet and NiN at 68x68, about their smallest size;
// VGG-11 at a quarter of its channels), the deep and bidirectional language models and
// the three translation models, batch 64, the whole forward + backward + update as one
// native call. Used to check that issue 13's work made every model faster: build an
// older commit, copy this file into its bench/, and run both (README, "Benchmarking
// fused kernels"). So it uses only what that commit has: the registry's spec and
// build_graph (not models/harness.h's fill_random_inputs, which came later).
// KILN_PROFILE=1 prints each step's per-kernel profile (also in that commit's build).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "models/registry.h"

namespace kiln {
namespace {

// Images in [0, 1); integers (labels, token ids, lengths) in [0, 10), valid for every
// model; float-held token ids in [0, 1) read as token 0.
void fill_inputs(Executable& exe) {
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (const std::string& name : exe.input_names()) {
    HostBuffer* b = exe.input(name);
    for (int64_t i = 0; i < b->type().shape.numel(); ++i) {
      if (b->type().dtype == DType::f32) b->as<float>()[i] = u(rng);
      else if (b->type().dtype == DType::i32) b->as<int32_t>()[i] = static_cast<int32_t>(rng() % 10);
    }
  }
}

constexpr int64_t kBatch = 64;  // every case's batch

// The step compiled once per process: Google Benchmark calls the case again for every
// repetition, and many short repetitions are what separate two builds on a noisy host.
Expected<Executable*> compiled_step(const char* model_name, int64_t size, bool profile) {
  static std::map<std::string, std::unique_ptr<Executable>> cache;
  std::string key = std::string(model_name) + "@" + std::to_string(size);
  if (auto it = cache.find(key); it != cache.end()) return it->second.get();
  const ModelEntry* model = find_model(model_name);
  if (!model) return Error("unknown model");
  RunOptions opts;
  opts.size = size;
  Expected<SupervisedSpec> spec = model->spec(opts);
  if (!spec.ok()) return spec.error();
  Expected<Graph> g = build_graph(*spec, GraphKind::Train, kBatch);
  if (!g.ok()) return g.error();
  CompileOptions co;
  co.profile = profile;
  auto exe = compile(*g, std::make_shared<StateStore>(), co);
  if (!exe.ok()) return exe.error();
  fill_inputs(**exe);
  return (cache[key] = std::move(*exe)).get();
}

void zoo_train_step(benchmark::State& state, const char* model_name, int64_t size) {
  bool profile = std::getenv("KILN_PROFILE") != nullptr;
  Expected<Executable*> exe = compiled_step(model_name, size, profile);
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  for (auto _ : state) (*exe)->run();
  state.SetItemsProcessed(state.iterations() * kBatch);
  if (profile) std::printf("%s\n", (*exe)->describe().c_str());
}

BENCHMARK_CAPTURE(zoo_train_step, alexnet_68, "alexnet", 68)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, vgg11_small_32, "vgg11_small", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, nin_68, "nin", 68)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, googlenet_32, "googlenet", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, resnet18_32, "resnet18", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, densenet_32, "densenet", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, deep_lstm, "deep_lstm", 0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, bi_gru, "bi_gru", 0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, seq2seq, "seq2seq", 0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, seq2seq_attention, "seq2seq_attention", 0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, transformer, "transformer", 0)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln
