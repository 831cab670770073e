// Google Benchmark: the same compiled training steps with and without fusion (issue 13's
// fusion switch; `kiln inspect MODEL --no-fusion` shows the unfused kernels). Each case
// reports the kernel count and the arena bytes; the time ratio of /unfused to /fused is
// what fusion buys on this machine.
#include <benchmark/benchmark.h>

#include <random>

#include "models/language_model.h"
#include "models/registry.h"

namespace kiln {
namespace {

void fill_inputs(Executable& exe, int64_t classes) {
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (const char* name : {"x", "y"}) {
    HostBuffer* in = exe.input(name);
    if (!in) continue;
    for (int64_t i = 0; i < in->type().shape.numel(); ++i) {
      if (in->type().dtype == DType::f32) in->as<float>()[i] = u(rng);
      else in->as<int32_t>()[i] = static_cast<int32_t>(rng() % classes);
    }
  }
}

void run_steps(benchmark::State& state, Expected<Graph> g, bool fused, int64_t classes) {
  if (!g.ok()) {
    state.SkipWithError(g.error().message().c_str());
    return;
  }
  CompileOptions co;
  co.fusion = fused;
  auto exe = compile(*g, std::make_shared<StateStore>(), co);
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  fill_inputs(**exe, classes);
  for (auto _ : state) (*exe)->run();
  state.counters["kernels"] = (*exe)->stats().kernels;
  state.counters["arena_MB"] = double((*exe)->stats().arena_bytes) / 1e6;
}

// A classifier's training step at batch 256 (Fashion-MNIST shapes, 10 classes).
void zoo_step(benchmark::State& state, const char* model, int64_t size, bool fused) {
  const ModelEntry* m = find_model(model);
  RunOptions opts;
  opts.size = size;
  Expected<SupervisedSpec> spec = m->spec(opts);
  run_steps(state, spec.ok() ? build_graph(*spec, GraphKind::Train, 256) : Expected<Graph>(spec.error()),
            fused, 10);
}

// d2l's character model step (batch 32, 35 steps, 28 characters).
void char_step(benchmark::State& state, const char* model, bool fused) {
  const LanguageModelMaker* make = find_language_model(model);
  const LanguageModelDefaults d;
  LanguageModelSpec spec = (*make)(28, d.hidden);
  spec.optimizer.lr = d.lr;
  spec.optimizer.clip_norm = d.clip_norm;
  run_steps(state, build_lm_graph(spec, LmGraphKind::Train, d.batch_size, d.num_steps), fused, 28);
}

#define KILN_FUSION_PAIR(NAME, FN, ...)                                                \
  BENCHMARK_CAPTURE(FN, NAME##_fused, __VA_ARGS__, true)->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(FN, NAME##_unfused, __VA_ARGS__, false)->Unit(benchmark::kMillisecond)->UseRealTime()

KILN_FUSION_PAIR(mlp, zoo_step, "mlp", 0);
KILN_FUSION_PAIR(mlp_dropout, zoo_step, "mlp_dropout", 0);
KILN_FUSION_PAIR(lenet_bn, zoo_step, "lenet_bn", 0);
KILN_FUSION_PAIR(resnet18_32, zoo_step, "resnet18", 32);
KILN_FUSION_PAIR(char_gru, char_step, "char_gru");

}  // namespace
}  // namespace kiln
