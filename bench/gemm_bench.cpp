// GEMM throughput (GFLOP/s counter) for the MLP's shapes: forward 256x784 @ 784x256,
// the weight gradient x^T @ dh (784x256 @ 256x256 with transposed A), dh @ W^T, plus
// square 512 and 1024 cases (the peak). The "/1" variants add an epilogue (bias + ReLU,
// a C++ stand-in for a generated one) to measure what the callback costs.
// BM_GemmPlain is plain row-major C = A @ B named by M/N/K, the cases
// bench/gemm_vs_pytorch.py compares with PyTorch's `a @ b` (issue 13).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace {

struct BiasRelu {
  float* c;
  const float* bias;
  int64_t ldc;
};

void bias_relu(void** buffers, int64_t, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const auto* e = static_cast<const BiasRelu*>(buffers[0]);
  for (int64_t r = r0; r < r1; ++r) {
    float* row = e->c + r * e->ldc;
    for (int64_t j = c0; j < c1; ++j) row[j] = std::max(row[j] + e->bias[j], 0.f);
  }
}

void run_gemm(benchmark::State& state, int64_t m, int64_t n, int64_t k, bool trans_a,
              bool trans_b, bool epilogue) {
  kiln::GemmParams p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.lda = p.trans_a ? p.m : p.k;
  p.ldb = p.trans_b ? p.k : p.n;
  p.ldc = p.n;
  std::vector<float> a(p.m * p.k, 0.5f), b(p.k * p.n, 0.25f), c(p.m * p.n), bias(p.n, -1.f);
  BiasRelu ctx{c.data(), bias.data(), p.ldc};
  void* buffers[] = {&ctx};
  kiln::Epilogue epi;
  if (epilogue) epi = kiln::Epilogue{bias_relu, buffers};
  for (auto _ : state) {
    kiln::gemm_f32(p, a.data(), b.data(), c.data(), epi);
    benchmark::DoNotOptimize(c.data());
  }
  double flops = 2.0 * p.m * p.n * p.k;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(kiln::gemm_f32_isa());
}

void BM_GemmF32(benchmark::State& state) {
  run_gemm(state, state.range(0), state.range(1), state.range(2), state.range(3),
           state.range(4), state.range(5));
}

void BM_GemmPlain(benchmark::State& state) {
  run_gemm(state, state.range(0), state.range(1), state.range(2), false, false, false);
}

// Args: M, N, K, transA, transB, epilogue.
BENCHMARK(BM_GemmF32)
    ->Args({256, 256, 784, 0, 0, 0})   // forward x @ W1
    ->Args({256, 256, 784, 0, 0, 1})   // ... + b1, ReLU
    ->Args({256, 784, 256, 0, 0, 0})   // 256x784x256
    ->Args({784, 256, 256, 1, 0, 0})   // dW1 = x^T @ dh
    ->Args({256, 10, 256, 0, 0, 0})    // logits = h @ W2
    ->Args({256, 10, 256, 0, 0, 1})    // ... + b2 (the epilogue)
    ->Args({256, 256, 10, 0, 1, 0})    // dh = dlogits @ W2^T
    ->Args({256, 256, 10, 0, 1, 1})    // ... with the ReLU-backward slot used
    ->Args({256, 10, 256, 1, 0, 0})    // dW2 = h^T @ dlogits
    ->Args({32, 768, 256, 0, 0, 0})    // GRU step h @ W_hh^T (batch 32, 256 hidden)
    ->Args({32, 256, 768, 0, 0, 0})    // GRU step backward dg @ W_hh
    ->Args({32, 1024, 256, 0, 0, 0})   // LSTM step h @ W_hh^T
    ->Args({32, 256, 1024, 0, 0, 0})   // LSTM step backward dg @ W_hh
    ->Args({32, 768, 284, 0, 0, 0})    // d2l's from-scratch GRU gates [x, h] @ W
    ->Args({768, 256, 2240, 1, 0, 0})  // bi_gru: dW_ih = X^T @ dG over 35 steps x batch 64
    ->Args({768, 256, 1120, 1, 0, 0})  // char_gru: dW_hh = dG^T @ H over 35 steps x batch 32
    ->Args({64, 4096, 4096, 0, 0, 0})  // VGG's 4096-wide FC layer, batch 64: h @ W
    ->Args({64, 4096, 4096, 0, 1, 0})  // ... its input gradient dh @ W^T
    ->Args({512, 512, 512, 0, 0, 0})
    ->Args({1024, 1024, 1024, 0, 0, 0})
    ->Args({1024, 1024, 1024, 0, 0, 1})
    ->UseRealTime();

// Issue 13's shapes, M/N/K. 32x284x768 read both ways: M=32 N=284 K=768 as written, and
// M=32 K=284 N=768, the GRU gates [x, h] @ W of the description.
BENCHMARK(BM_GemmPlain)
    ->ArgNames({"M", "N", "K"})
    ->Args({256, 784, 256})
    ->Args({784, 256, 256})
    ->Args({1024, 1024, 1024})
    ->Args({256, 256, 10})
    ->Args({32, 284, 768})
    ->Args({32, 768, 284})
    ->UseRealTime();

// Batched products as attention computes them, [batch] x (M x K) @ (K x N): the
// scores Q @ K^T (B stored [N, K], transposed) and the weighted values P @ V, over
// batch x heads products. Named Batch/M/N/K/TransB.
void BM_GemmBatched(benchmark::State& state) {
  kiln::GemmParams p;
  p.batch = state.range(0);
  p.m = state.range(1);
  p.n = state.range(2);
  p.k = state.range(3);
  p.trans_b = state.range(4);
  p.lda = p.k;
  p.ldb = p.trans_b ? p.k : p.n;
  p.ldc = p.n;
  p.stride_a = p.m * p.k;
  p.stride_b = p.k * p.n;
  p.stride_c = p.m * p.n;
  std::vector<float> a(p.batch * p.stride_a, 0.5f), b(p.batch * p.stride_b, 0.25f),
      c(p.batch * p.stride_c);
  for (auto _ : state) {
    kiln::gemm_f32(p, a.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * p.batch * p.m * p.n * p.k,
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_GemmBatched)
    ->ArgNames({"Batch", "M", "N", "K", "TransB"})
    ->Args({256, 10, 10, 8, 1})    // d2l's Transformer: batch 64 x 4 heads, 10 steps, d 8
    ->Args({256, 10, 8, 10, 0})    // ... attention weights @ values
    ->Args({128, 64, 64, 32, 1})   // a longer sequence: 32 x 4 heads, 64 steps, d 32
    ->Args({128, 64, 32, 64, 0})
    ->UseRealTime();

}  // namespace

namespace {

// A recurrent step's GEMM: h [32, 256] @ W_hh^T with W_hh pre-packed once (the step's
// other GEMMs share it) and a row epilogue (a stand-in for the gate arithmetic), which
// makes the GEMM split its rows over the threads (runtime/gemm.cpp).
void relu_rows(void** buffers, int64_t r0, int64_t r1) {
  const auto* e = static_cast<const BiasRelu*>(buffers[0]);
  for (int64_t r = r0; r < r1; ++r) {
    float* row = e->c + r * e->ldc;
    for (int64_t j = 0; j < e->ldc; ++j) row[j] = std::max(row[j] + e->bias[j], 0.f);
  }
}

void BM_GemmRecurrentStep(benchmark::State& state) {
  kiln::GemmParams p;
  p.m = state.range(0);
  p.n = state.range(1);
  p.k = state.range(2);
  p.trans_b = 1;  // W_hh is [n, k]
  p.lda = p.k;
  p.ldb = p.k;
  p.ldc = p.n;
  std::vector<float> a(p.m * p.k, 0.5f), b(p.k * p.n, 0.25f), c(p.m * p.n), bias(p.n, -1.f);
  std::vector<float> packed(kiln::gemm_packed_b_floats(p.k, p.n));
  BiasRelu ctx{c.data(), bias.data(), p.ldc};
  void* buffers[] = {&ctx};
  p.packed_b = kiln::kPackB;
  kiln::gemm_f32(p, a.data(), b.data(), c.data(), {}, packed.data(), {relu_rows, buffers});
  p.packed_b = kiln::kPackedB;
  for (auto _ : state) {
    kiln::gemm_f32(p, a.data(), b.data(), c.data(), {}, packed.data(), {relu_rows, buffers});
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * p.m * p.n * p.k, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

BENCHMARK(BM_GemmRecurrentStep)
    ->Args({32, 768, 256})   // GRU, 256 hidden
    ->Args({32, 1024, 256})  // LSTM
    ->Args({32, 256, 256})   // RNN
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
