// GEMM throughput (GFLOP/s counter) for the MLP's shapes: forward 256x784 @ 784x256,
// the weight gradient x^T @ dh (784x256 @ 256x256 with transposed A), dh @ W^T, plus
// a square 512 case. Compare with bench/gemm_torch.py-style numbers from PyTorch.
#include <benchmark/benchmark.h>

#include <vector>

#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace {

void BM_GemmF32(benchmark::State& state) {
  kiln::GemmParams p;
  p.m = state.range(0);
  p.n = state.range(1);
  p.k = state.range(2);
  p.trans_a = state.range(3);
  p.trans_b = state.range(4);
  p.lda = p.trans_a ? p.m : p.k;
  p.ldb = p.trans_b ? p.k : p.n;
  p.ldc = p.n;
  std::vector<float> a(p.m * p.k, 0.5f), b(p.k * p.n, 0.25f), c(p.m * p.n);
  for (auto _ : state) {
    kiln::gemm_f32(p, a.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
  }
  double flops = 2.0 * p.m * p.n * p.k;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(kiln::gemm_f32_isa());
}

// Args: M, N, K, transA, transB.
BENCHMARK(BM_GemmF32)
    ->Args({256, 256, 784, 0, 0})   // forward x @ W1
    ->Args({256, 784, 256, 0, 0})   // 256x784x256
    ->Args({784, 256, 256, 1, 0})   // dW1 = x^T @ dh
    ->Args({256, 256, 10, 0, 1})    // dh = dlogits @ W2^T
    ->Args({256, 10, 256, 1, 0})    // dW2 = h^T @ dlogits
    ->Args({512, 512, 512, 0, 0})
    ->UseRealTime();

}  // namespace
