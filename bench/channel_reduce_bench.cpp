// Google Benchmark: the per-channel reductions of training-mode batch norm (mean and
// variance of an NCHW tensor over N, H and W) at the shapes of ResNet-18 at 32x32, batch
// 256, compiled as a graph of their own. Memory-bound: GB/s of the input read, to set
// against the machine's copy bandwidth.
#include <benchmark/benchmark.h>

#include <random>

#include "codegen/compile.h"
#include "ir/builder.h"
#include "ir/tensor_ops.h"

namespace kiln {
namespace {

void channel_stats(benchmark::State& state) {
  const int64_t n = 256, c = state.range(0), hw = state.range(1);
  Graph g("channel_stats");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{n, c, hw, hw}});
  Tensor m = mean(x, {0, 2, 3}, true);
  Tensor d = sub(x, m);
  b.output("mean", m);
  b.output("var", mean(mul(d, d), {0, 2, 3}, true));
  if (!b.ok()) {
    state.SkipWithError("graph");
    return;
  }
  auto exe = compile(g, std::make_shared<StateStore>()).value();
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  HostBuffer* in = exe->input("x");
  for (int64_t i = 0; i < in->type().shape.numel(); ++i) in->as<float>()[i] = u(rng);
  for (auto _ : state) exe->run();
  // Two passes over x (the mean, then the variance around it).
  state.counters["GB/s"] = benchmark::Counter(double(2 * n * c * hw * hw * sizeof(float)) *
                                                  double(state.iterations()),
                                              benchmark::Counter::kIsRate);
  state.counters["kernels"] = exe->stats().kernels;
}

BENCHMARK(channel_stats)
    ->Args({64, 16})
    ->Args({64, 8})
    ->Args({128, 4})
    ->Args({256, 2})
    ->Args({512, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace kiln
