#include "runtime/machine_peaks.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace kiln {

namespace {

constexpr int64_t kGemmN = 1024;
constexpr int64_t kCopyBytes = int64_t{256} << 20;  // 8x a large L3
// Each rate is the best of at least kMinRuns runs and of about kBudgetSeconds: on a
// noisy virtual machine a handful of runs can all be slowed, and a peak read too low
// would make every fraction of it look better than it is.
constexpr int kMinRuns = 10;
constexpr double kBudgetSeconds = 0.3;

template <typename F>
double best_seconds(F&& f) {
  double best = 1e30, spent = 0;
  for (int r = 0; r <= kMinRuns || spent < kBudgetSeconds; ++r) {  // run 0 warms up
    auto t0 = std::chrono::steady_clock::now();
    f();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::min(best, s);
    spent += s;
  }
  return best;
}

}  // namespace

MachinePeaks measure_machine_peaks() {
  MachinePeaks p;
  p.threads = global_pool().active_threads();
  p.isa = gemm_f32_isa();
  p.gemm_n = kGemmN;
  {
    std::vector<float> a(kGemmN * kGemmN, 0.5f), b(kGemmN * kGemmN, 0.25f), c(kGemmN * kGemmN);
    GemmParams q;
    q.m = q.n = q.k = kGemmN;
    q.lda = q.ldb = q.ldc = kGemmN;
    q.alpha = 1.0;
    double s = best_seconds([&] { gemm_f32(q, a.data(), b.data(), c.data()); });
    p.gemm_flops_per_s = 2.0 * double(kGemmN) * double(kGemmN) * double(kGemmN) / s;
  }
  {
    p.copy_bytes = kCopyBytes;
    std::vector<char> src(kCopyBytes, 1), dst(kCopyBytes);
    constexpr int64_t kChunk = 1 << 20;
    double s = best_seconds([&] {
      parallel_for(kCopyBytes / kChunk, 1, [&](int64_t c0, int64_t c1) {
        std::memcpy(dst.data() + c0 * kChunk, src.data() + c0 * kChunk, (c1 - c0) * kChunk);
      });
    });
    p.copy_bytes_per_s = 2.0 * double(kCopyBytes) / s;
  }
  return p;
}

}  // namespace kiln
