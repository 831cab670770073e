// f32 GEMM micro-kernels (runtime/gemm_kernels.h): an MR x NR tile of C in vector
// registers, one broadcast-FMA per (row, vector) per k; alpha (skipped when 1) and the
// accumulation are applied to the registers before the one store. Instantiated per ISA
// inside target pragmas (AVX2: 6x16 with 12 ymm accumulators; AVX-512: 12x32 with 24 zmm;
// generic: 4x8), for every row count up to MR and every layout of A, so one binary runs
// on any x86-64 and an edge tile of r rows costs r rows.
#include "runtime/gemm_kernels.h"

#include <cstring>
#include <string_view>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln::gemm {

namespace {

// The tile's rows of C are prefetched (for writing) before the k loop, so the loads of
// an accumulating K slice and the stores find them in cache: a large C (1024^3: 4 MB,
// rows 4 KB apart) is in L3 or memory by the time a later slice comes back to it, and the
// tile waited on a dozen misses at its end. In-process, interleaved with OpenBLAS's
// sgemm on one thread of the Zen 3 VM (bench/gemm_vs_openblas.sh, least of 20-24 calls):
// 1024^3 0.76-0.77 of OpenBLAS -> 0.91-0.99, 64x4096x4096 0.79-0.83 -> 0.85-0.95; shapes
// whose C stays in cache (256x784x256, 32x768x284, 512^3) unchanged. Not for short K
// slices, where the dozen prefetches would be a sizeable part of the tile's work.
constexpr int64_t kPrefetchMinK = 64;

// NAME<MR, L>: V the vector type, NV vectors per row (NR = NV * lanes), PANEL the height of
// a packed A panel (the ISA's MR).
#define KILN_UNROLL _Pragma("GCC unroll 16")
#define KILN_GEMM_MICRO(NAME, V, BCAST, NV, PANEL)                                          \
  template <int MR, int L>                                                                  \
  void NAME(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b,  \
            int64_t ldb, float* __restrict c, int64_t ldc, const Epi& e) {                  \
    constexpr int W = sizeof(V) / sizeof(float);                                            \
    const int64_t rs = L == kDirectA ? lda : 1;                                             \
    const int64_t ks = L == kPackedA ? PANEL : L == kDirectA ? 1 : lda;                     \
    V acc_[MR][NV];                                                                         \
    if (kc >= kPrefetchMinK)                                                                \
      KILN_UNROLL for (int r = 0; r < MR; ++r) {                                            \
        __builtin_prefetch(c + r * ldc, 1, 3);                                              \
        __builtin_prefetch(c + r * ldc + NV * W - 1, 1, 3);                                 \
      }                                                                                     \
    KILN_UNROLL for (int r = 0; r < MR; ++r)                                                            \
      KILN_UNROLL for (int j = 0; j < NV; ++j) acc_[r][j] = V{};                                        \
    for (int64_t k = 0; k < kc; ++k) {                                                      \
      V bv[NV];                                                                             \
      KILN_UNROLL for (int j = 0; j < NV; ++j) std::memcpy(&bv[j], b + j * W, sizeof(V));               \
      KILN_UNROLL for (int r = 0; r < MR; ++r) {                                                        \
        V av = BCAST(a[r * rs + k * ks]);                                                   \
        KILN_UNROLL for (int j = 0; j < NV; ++j) acc_[r][j] += av * bv[j];                              \
      }                                                                                     \
      b += ldb;                                                                             \
    }                                                                                       \
    if (e.alpha != 1.f) {                                                                   \
      const V alpha = BCAST(e.alpha);                                                       \
      KILN_UNROLL for (int r = 0; r < MR; ++r)                                                          \
        KILN_UNROLL for (int j = 0; j < NV; ++j) acc_[r][j] *= alpha;                                   \
    }                                                                                       \
    if (e.accumulate)                                                                       \
      KILN_UNROLL for (int r = 0; r < MR; ++r)                                                          \
        KILN_UNROLL for (int j = 0; j < NV; ++j) {                                                      \
          V t;                                                                              \
          std::memcpy(&t, c + r * ldc + j * W, sizeof(V));                                  \
          acc_[r][j] += t;                                                                  \
        }                                                                                   \
    KILN_UNROLL for (int r = 0; r < MR; ++r)                                                            \
      KILN_UNROLL for (int j = 0; j < NV; ++j) std::memcpy(c + r * ldc + j * W, &acc_[r][j], sizeof(V)); \
  }

// Tables: rows 1..MR for each layout, in ALayout order.
#define KILN_ROWS4(F, L) F<1, L>, F<2, L>, F<3, L>, F<4, L>
#define KILN_ROWS6(F, L) KILN_ROWS4(F, L), F<5, L>, F<6, L>
#define KILN_ROWS12(F, L) \
  KILN_ROWS6(F, L), F<7, L>, F<8, L>, F<9, L>, F<10, L>, F<11, L>, F<12, L>
#define KILN_TABLE(ROWS, F) ROWS(F, kPackedA), ROWS(F, kDirectA), ROWS(F, kDirectTransA)

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
typedef float v16f __attribute__((vector_size(64)));
inline v16f bcast16(float x) { return (v16f)_mm512_set1_ps(x); }
KILN_GEMM_MICRO(micro_avx512, v16f, bcast16, 2, 12)
constexpr MicroFn kAvx512Kernels[] = {KILN_TABLE(KILN_ROWS12, micro_avx512)};
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef float v8f __attribute__((vector_size(32)));
inline v8f bcast8(float x) { return (v8f)_mm256_set1_ps(x); }
KILN_GEMM_MICRO(micro_avx2, v8f, bcast8, 2, 6)
constexpr MicroFn kAvx2Kernels[] = {KILN_TABLE(KILN_ROWS6, micro_avx2)};
#pragma GCC pop_options
#endif

typedef float v4f __attribute__((vector_size(16)));
inline v4f bcast4(float x) { return v4f{x, x, x, x}; }
KILN_GEMM_MICRO(micro_generic, v4f, bcast4, 2, 4)
constexpr MicroFn kGenericKernels[] = {KILN_TABLE(KILN_ROWS4, micro_generic)};

constexpr Isa kGeneric{"generic", 4, 8, kGenericKernels};
#if defined(__x86_64__)
constexpr Isa kAvx2{"avx2", 6, 16, kAvx2Kernels};
constexpr Isa kAvx512{"avx512", 12, 32, kAvx512Kernels};

bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool has_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"); }
#endif

}  // namespace

// AVX-512 where it has full-width units. AMD family 19h (Zen 3, Zen 4) is left on AVX2:
// Zen 4 runs 512-bit FMAs as two 256-bit halves, and there the 6x16 AVX2 kernel was as
// fast or faster on every shape measured (1024^3 88 vs 87 GFLOP/s on one core; N = 10:
// 61 vs 32; the zoo convolutions up to 1.5x), with a smaller tile that wastes less on
// narrow matrices (LeNet's 6 filters fill one 6-row tile, half of a 12-row one).
Isa detect_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (has_avx512() && !(has_avx2() && __builtin_cpu_is("amdfam19h"))) return kAvx512;
  if (has_avx2()) return kAvx2;
#endif
  return kGeneric;
}

bool isa_by_name(const char* name, Isa* isa) {
  const std::string_view want = name;
  if (want == "generic") {
    *isa = kGeneric;
    return true;
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (want == "avx2" && has_avx2()) {
    *isa = kAvx2;
    return true;
  }
  if (want == "avx512" && has_avx512()) {
    *isa = kAvx512;
    return true;
  }
#endif
  return false;
}

}  // namespace kiln::gemm
