// The f64 GEMM (runtime/gemm.h): a simple row-at-a-time path that the compiler
// vectorizes; f64 runs only in tests and gradient checks, so it is not blocked or tiled.
#include <algorithm>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace kiln {

namespace {

thread_local std::vector<double> t_row_f64, t_arow_f64;

// Rows [i0, i1) of one f64 GEMM: each row of C is accumulated in a buffer (axpy over
// rows of B, or dot products with rows of a transposed B) and then stored.
void f64_rows(const GemmParams& p, const double* a, const double* b, double* c, int64_t bi,
              int64_t i0, int64_t i1, const Epilogue& epi) {
  std::vector<double>& row = t_row_f64;
  std::vector<double>& arow = t_arow_f64;
  row.resize(static_cast<size_t>(p.n));
  arow.resize(static_cast<size_t>(p.k));
  for (int64_t i = i0; i < i1; ++i) {
    for (int64_t k = 0; k < p.k; ++k) arow[k] = p.trans_a ? a[k * p.lda + i] : a[i * p.lda + k];
    if (!p.trans_b) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t k = 0; k < p.k; ++k) {
        const double av = arow[k];
        const double* brow = b + k * p.ldb;
        for (int64_t j = 0; j < p.n; ++j) row[j] += av * brow[j];
      }
    } else {
      // Dot products with rows of B, four at a time: one running sum is a chain of
      // dependent adds, four independent ones keep the FPU busy.
      int64_t j = 0;
      for (; j + 4 <= p.n; j += 4) {
        const double* b0 = b + j * p.ldb;
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        for (int64_t k = 0; k < p.k; ++k)
          for (int q = 0; q < 4; ++q) s[q] += arow[k] * b0[q * p.ldb + k];
        for (int q = 0; q < 4; ++q) row[j + q] = s[q];
      }
      for (; j < p.n; ++j) {
        double s = 0.0;
        for (int64_t k = 0; k < p.k; ++k) s += arow[k] * b[j * p.ldb + k];
        row[j] = s;
      }
    }
    double* crow = c + i * p.ldc;
    for (int64_t j = 0; j < p.n; ++j) crow[j] = p.alpha * row[j] + (p.accumulate ? crow[j] : 0.0);
  }
  epi(bi, i0, i1, 0, p.n);
}

void run_f64(const GemmParams& p, const double* a, const double* b, double* c,
             const Epilogue& epi, bool parallel) {
  if (p.m <= 0 || p.n <= 0) return;
  // Rows per chunk: about 16K multiply-adds.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.n * p.k));
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const double* ab = a + bi * p.stride_a;
    const double* bb = b + bi * p.stride_b;
    double* cb = c + bi * p.stride_c;
    if (!parallel) {
      f64_rows(p, ab, bb, cb, bi, 0, p.m, epi);
      continue;
    }
    parallel_for(p.m, grain,
                 [&](int64_t i0, int64_t i1) { f64_rows(p, ab, bb, cb, bi, i0, i1, epi); });
  }
}

}  // namespace

void gemm_f64(const GemmParams& p, const double* a, const double* b, double* c,
              const Epilogue& epi) {
  run_f64(p, a, b, c, epi, true);
}

void gemm_f64_serial(const GemmParams& p, const double* a, const double* b, double* c,
                     const Epilogue& epi) {
  run_f64(p, a, b, c, epi, false);
}

}  // namespace kiln

extern "C" void kiln_gemm_f64(const kiln::GemmParams* p, const double* a, const double* b,
                              double* c, const double* alpha_scale, double* /*packed*/,
                              kiln::EpilogueFn epilogue, kiln::RowEpilogueFn /*rows*/,
                              void** buffers) {
  kiln::gemm_f64(kiln::with_alpha_scale(*p, alpha_scale), a, b, c,
                 kiln::Epilogue{epilogue, buffers});
}
