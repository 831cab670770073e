// The f32 GEMM's register-tiled micro-kernels and the run-time choice between them
// (internal to runtime/gemm*.cpp; see runtime/gemm.h).
#pragma once

#include <cstdint>

namespace kiln::gemm {

// How a micro-kernel stores its accumulators: C = alpha*acc (+ C when accumulating).
struct Epi {
  float alpha = 1.f;
  bool accumulate = false;
};

// One micro-kernel: C[rows x NR] (row stride ldc) from kc steps of
//   A packed (MR x kc, k-major: element (r, k) at a[k*MR + r]), or
//   A row-major in place (element (r, k) at a[r*lda + k]), or
//   A transposed in place (element (r, k) at a[k*lda + r]),
// and B as kc rows of NR floats, row k at b + k*ldb (a packed panel: ldb = NR; row-major
// B read in place: its row stride).
using MicroFn = void (*)(int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb,
                         float* c, int64_t ldc, const Epi& e);

enum ALayout { kPackedA = 0, kDirectA = 1, kDirectTransA = 2 };

struct Isa {
  const char* name;
  int64_t mr, nr;  // full tile: mr rows x nr columns
  // kernels[layout * mr + rows - 1]: a tile of 1 <= rows <= mr rows. Edge tiles in M run
  // only their rows (no zero-padded rows computed and thrown away).
  const MicroFn* kernels;
  MicroFn kernel(ALayout layout, int64_t rows) const { return kernels[layout * mr + rows - 1]; }
};

// The fastest kernel set this CPU runs; by_name: "avx512", "avx2" or "generic", false when
// the CPU cannot run it.
Isa detect_isa();
bool isa_by_name(const char* name, Isa* isa);

}  // namespace kiln::gemm
