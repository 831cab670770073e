// Google Benchmark: one compiled training step of each convolutional model of the zoo at
// 32x32 (AlexNet and NiN at 68x68, about their smallest size; batch 64; VGG-11 at a
// quarter of its channels), the whole forward + backward +
// SGD update as one native call -- the step_benchmark cases (train_step_bench.cpp) for
// the models that have none there. Used to check that issue 13's work made every model
// faster: build an older commit and run both (README, "Benchmarking fused kernels").
#include <benchmark/benchmark.h>

#include <random>

#include "models/registry.h"

namespace kiln {
namespace {

void zoo_train_step(benchmark::State& state, const char* model_name, int64_t size) {
  const ModelEntry* model = find_model(model_name);
  RunOptions opts;
  opts.size = size;
  Expected<SupervisedSpec> spec = model ? model->spec(opts) : Expected<SupervisedSpec>(Error("unknown model"));
  if (!spec.ok()) {
    state.SkipWithError(spec.error().message().c_str());
    return;
  }
  constexpr int64_t kBatch = 64;
  Expected<Graph> g = build_graph(*spec, GraphKind::Train, kBatch);
  auto exe = g.ok() ? compile(*g, std::make_shared<StateStore>())
                    : Expected<std::unique_ptr<Executable>>(g.error());
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  HostBuffer* x = (*exe)->input("x");
  for (int64_t i = 0; i < x->type().shape.numel(); ++i) x->as<float>()[i] = u(rng);
  HostBuffer* y = (*exe)->input("y");
  for (int64_t i = 0; i < kBatch; ++i) y->as<int32_t>()[i] = static_cast<int32_t>(rng() % 10);
  for (auto _ : state) (*exe)->run();
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK_CAPTURE(zoo_train_step, alexnet_68, "alexnet", 68)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, vgg11_small_32, "vgg11_small", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, nin_68, "nin", 68)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, googlenet_32, "googlenet", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, resnet18_32, "resnet18", 32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(zoo_train_step, densenet_32, "densenet", 32)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln
