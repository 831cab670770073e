// Google Benchmark: one compiled training step of the chapter 3-4 classifiers and of
// the convolutional zoo's LeNet, LeNet-BN and ResNet-18 at 32x32 (batch 256), i.e. the whole forward + backward + SGD update as one native call. With
// KILN_PROFILE=1 the per-kernel profile of each step is printed once.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "models/registry.h"

namespace kiln {
namespace {

void step_benchmark(benchmark::State& state, const char* model_name, GraphKind kind,
                    int64_t size = 0) {
  const ModelEntry* model = find_model(model_name);
  RunOptions opts;
  opts.size = size;
  Expected<SupervisedSpec> spec = model->spec(opts);
  if (!spec.ok()) {
    state.SkipWithError(spec.error().message().c_str());
    return;
  }
  Graph g = build_graph(*spec, kind, 256).value();
  CompileOptions co;
  co.profile = std::getenv("KILN_PROFILE") != nullptr;
  auto exe = compile(g, std::make_shared<StateStore>(), co).value();
  fill_random_inputs(*exe, 10);
  for (auto _ : state) exe->run();
  state.SetItemsProcessed(state.iterations() * 256);
  state.counters["kernels"] = exe->stats().kernels;
  if (co.profile) std::printf("%s\n", exe->describe().c_str());
}

BENCHMARK_CAPTURE(step_benchmark, softmax_train, "softmax", GraphKind::Train)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(step_benchmark, mlp_train, "mlp", GraphKind::Train)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(step_benchmark, mlp_eval, "mlp", GraphKind::Eval)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(step_benchmark, mlp_dropout_train, "mlp_dropout", GraphKind::Train)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(step_benchmark, lenet_train, "lenet", GraphKind::Train)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(step_benchmark, lenet_bn_train, "lenet_bn", GraphKind::Train)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(step_benchmark, resnet18_32_train, "resnet18", GraphKind::Train, 32)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(step_benchmark, resnet18_32_eval, "resnet18", GraphKind::Eval, 32)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kiln
