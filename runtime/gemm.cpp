// GEMM implementation (see gemm.h). Structure, GotoBLAS/BLIS style, per task (a block of
// rows x a block of NR-wide column panels of C, one task per thread):
//   for each K slice (equal slices of at most kKC, so a B micro-panel stays in L1):
//     pack the task's columns of op(B) for this slice into k-major NR-wide panels;
//     for each block of kMC rows: pack those rows of op(A) into MR-tall k-major panels
//       (only when A is transposed; row-major A is read in place: the micro-kernel
//       broadcasts from MR row pointers, which saves a transposing copy of A);
//       for each B panel, for each MR-row tile: micro-kernel.
// The micro-kernel keeps an MR x NR tile of C in vector registers and does one
// broadcast-FMA per (row, vector) per k; it applies alpha and accumulation to the
// registers before the one store. Edge tiles (M % MR, N % NR) run the same kernel on
// zero-padded panels into a stack tile and scale while copying. On the last K slice the
// epilogue runs on each finished strip of a row block (kMC rows x about 64 columns) right
// after its tiles are stored, so it finds them in L1/L2 and one indirect call covers
// thousands of elements. Each task packs its own B columns, so there is one
// fork/join per GEMM and no shared packed buffer; the (rows x columns) task grid is
// chosen by a small cost model (compute of the padded block + packing) so that, e.g., the
// MLP forward x@W1 splits N (each thread packs half of W1, A read in place) while the
// weight gradient x^T@dh splits M (B is small, A must be packed).
#include "runtime/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ir/status.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln {

namespace {

constexpr int64_t kKC = 320;  // max K slice (784 -> 3 x 262): B micro-panel kc*NR stays in L1
constexpr int64_t kMC = 144;  // rows of A per block (L2 resident)
constexpr int64_t kEpiCols = 64;  // columns per epilogue call (a few NR panels)

// How the micro-kernel stores its accumulators: C = alpha*acc (+ C when accumulating).
struct Epi {
  float alpha = 1.f;
  bool accumulate = false;
};

// a: packed (MR x kc, k-major) when RS=1, KS=MR; in place (row r at a + r*lda) when
// RS=lda, KS=1; transposed in place (element (r, k) at a + k*lda + r) when RS=1, KS=lda.
using MicroFn = void (*)(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                         int64_t ldc, const Epi& e);

// Micro-kernel body, instantiated per ISA inside target pragmas with V = the vector type.
#define KILN_GEMM_MICRO(NAME, V, BCAST, MR, NV, RS, KS)                                     \
  void NAME(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b, \
            float* __restrict c, int64_t ldc, const Epi& e) {                             \
    (void)lda;                                                                            \
    constexpr int W = sizeof(V) / sizeof(float);                                          \
    V acc_[MR][NV];                                                                       \
    for (int r = 0; r < MR; ++r)                                                          \
      for (int j = 0; j < NV; ++j) acc_[r][j] = V{};                                      \
    for (int64_t k = 0; k < kc; ++k) {                                                    \
      V bv[NV];                                                                           \
      for (int j = 0; j < NV; ++j) std::memcpy(&bv[j], b + j * W, sizeof(V));             \
      for (int r = 0; r < MR; ++r) {                                                      \
        V av = BCAST(a[r * (RS) + k * (KS)]);                                             \
        for (int j = 0; j < NV; ++j) acc_[r][j] += av * bv[j];                            \
      }                                                                                   \
      b += NV * W;                                                                        \
    }                                                                                     \
    const V alpha = BCAST(e.alpha);                                                       \
    for (int r = 0; r < MR; ++r)                                                          \
      for (int j = 0; j < NV; ++j) {                                                      \
        float* p = c + r * ldc + j * W;                                                   \
        V v = acc_[r][j] * alpha;                                                         \
        if (e.accumulate) {                                                               \
          V t;                                                                            \
          std::memcpy(&t, p, sizeof(V));                                                  \
          v += t;                                                                         \
        }                                                                                 \
        std::memcpy(p, &v, sizeof(V));                                                    \
      }                                                                                   \
  }

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
typedef float v16f __attribute__((vector_size(64)));
inline v16f bcast16(float x) { return (v16f)_mm512_set1_ps(x); }
KILN_GEMM_MICRO(micro_avx512, v16f, bcast16, 12, 2, 1, 12)
KILN_GEMM_MICRO(micro_avx512_direct, v16f, bcast16, 12, 2, lda, 1)
KILN_GEMM_MICRO(micro_avx512_direct_t, v16f, bcast16, 12, 2, 1, lda)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef float v8f __attribute__((vector_size(32)));
inline v8f bcast8(float x) { return (v8f)_mm256_set1_ps(x); }
KILN_GEMM_MICRO(micro_avx2, v8f, bcast8, 6, 2, 1, 6)
KILN_GEMM_MICRO(micro_avx2_direct, v8f, bcast8, 6, 2, lda, 1)
KILN_GEMM_MICRO(micro_avx2_direct_t, v8f, bcast8, 6, 2, 1, lda)
#pragma GCC pop_options
#endif

typedef float v4f __attribute__((vector_size(16)));
inline v4f bcast4(float x) { return v4f{x, x, x, x}; }
KILN_GEMM_MICRO(micro_generic, v4f, bcast4, 4, 2, 1, 4)
KILN_GEMM_MICRO(micro_generic_direct, v4f, bcast4, 4, 2, lda, 1)
KILN_GEMM_MICRO(micro_generic_direct_t, v4f, bcast4, 4, 2, 1, lda)

struct Isa {
  const char* name;
  MicroFn packed, direct, direct_t;  // A packed / row-major in place / transposed in place
  int64_t mr, nr;
};

constexpr Isa kGeneric{"generic", micro_generic, micro_generic_direct, micro_generic_direct_t, 4, 8};
#if defined(__x86_64__)
constexpr Isa kAvx2{"avx2", micro_avx2, micro_avx2_direct, micro_avx2_direct_t, 6, 16};
constexpr Isa kAvx512{"avx512", micro_avx512, micro_avx512_direct, micro_avx512_direct_t, 12, 32};
#endif

// AVX-512 where it has full-width units. AMD family 19h (Zen 3, Zen 4) is left on AVX2:
// Zen 4 runs 512-bit FMAs as two 256-bit halves, and there the 6x16 AVX2 kernel was as
// fast or faster on every shape measured (1024^3 88 vs 87 GFLOP/s on one core; N = 10:
// 61 vs 32; the zoo convolutions up to 1.5x), with a smaller tile that wastes less on
// narrow matrices (LeNet's 6 filters fill one 6-row tile, half of a 12-row one).
Isa detect_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") &&
      !(avx2 && __builtin_cpu_is("amdfam19h")))
    return kAvx512;
  if (avx2) return kAvx2;
#endif
  return kGeneric;
}

Isa& current_isa() {
  static Isa isa = detect_isa();
  return isa;
}

// Scratch buffers grow on demand and are reused, so steady-state calls do not allocate.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      n = std::max(need, n * 2);
      p = static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64));
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};
thread_local Scratch t_packed_b;
thread_local Scratch t_packed_a;

// One full panel of row-major B: kc rows of NR contiguous floats. NR is a template
// parameter so each row is a few inlined vector moves rather than a memcpy call.
template <int NR>
void pack_b_rows(const float* src, int64_t ldb, int64_t kc, float* d) {
  for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * NR, src + k * ldb, NR * sizeof(float));
}

// Writes `valid` rows of a matrix (row i at src + i*ld, contiguous in k) as the first
// columns of a k-major panel `width` wide, dst[k*width + i] for k < kc, and zeros the
// other columns: the packing of a transposed B and of a row-major A. Four rows at a time
// go through 4x4 transposes, since an element at a time costs a load and a scattered
// store each (that made this copy a quarter of a convolution's weight gradient).
void pack_transposed(const float* src, int64_t ld, int64_t valid, int64_t width, int64_t kc,
                     float* dst) {
  typedef float v4 __attribute__((vector_size(16)));
  int64_t i = 0;
  for (; i + 4 <= valid; i += 4) {
    const float* s = src + i * ld;
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      v4 r[4], c[4];
      for (int q = 0; q < 4; ++q) std::memcpy(&r[q], s + q * ld + k, sizeof(v4));
      v4 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5);
      v4 t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
      v4 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5);
      v4 t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
      c[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
      c[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
      c[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
      c[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
      for (int q = 0; q < 4; ++q) std::memcpy(dst + (k + q) * width + i, &c[q], sizeof(v4));
    }
    for (; k < kc; ++k)
      for (int q = 0; q < 4; ++q) dst[k * width + i + q] = s[q * ld + k];
  }
  for (; i < valid; ++i)
    for (int64_t k = 0; k < kc; ++k) dst[k * width + i] = src[i * ld + k];
  for (; i < width; ++i)
    for (int64_t k = 0; k < kc; ++k) dst[k * width + i] = 0.f;
}

// Packs op(B)[k0:k0+kc, j0:j0+nj] (nj <= np*nr) into np panels of nr columns, zero-padded:
// panel q at dst + q*kc*nr, row k at +k*nr.
void pack_b(const float* b, int64_t ldb, bool trans, int64_t k0, int64_t kc, int64_t j0,
            int64_t nj, int64_t nr, float* dst) {
  for (int64_t q = 0; q * nr < nj; ++q) {
    float* d = dst + q * kc * nr;
    int64_t jb = j0 + q * nr, w = std::min(nr, nj - q * nr);
    if (trans) {  // B stored [N, K]: column j of op(B) is row j of b
      pack_transposed(b + jb * ldb + k0, ldb, w, nr, kc, d);
      continue;
    }
    const float* src = b + k0 * ldb + jb;
    if (w == nr && nr == 8) {
      pack_b_rows<8>(src, ldb, kc, d);
    } else if (w == nr && nr == 16) {
      pack_b_rows<16>(src, ldb, kc, d);
    } else if (w == nr && nr == 32) {
      pack_b_rows<32>(src, ldb, kc, d);
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int64_t j = 0;
        for (; j < w; ++j) d[k * nr + j] = src[k * ldb + j];
        for (; j < nr; ++j) d[k * nr + j] = 0.f;
      }
    }
  }
}

// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) (rows >= M are zero) into MR-tall
// k-major panels at ap + ir*kc. MR is a template parameter so the per-k copies unroll.
template <int MR>
void pack_a_mr(const float* a, int64_t lda, bool trans, int64_t M, int64_t i0, int64_t mc,
               int64_t k0, int64_t kc, float* ap) {
  if (!trans) {
    for (int64_t ir = 0; ir < mc; ir += MR) {
      int64_t rows = std::max<int64_t>(0, std::min<int64_t>(MR, M - (i0 + ir)));
      pack_transposed(a + (i0 + ir) * lda + k0, lda, rows, MR, kc, ap + ir * kc);
    }
    return;
  }
  // A stored [K, M]: op(A)(i, k) = a[k*lda + i], contiguous in i. Row k of the source
  // is read once, left to right, and scattered into every panel (reading one panel at a
  // time would walk K rows at stride lda per panel, which thrashes L1 when lda*4 is a
  // multiple of 1 KB).
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = a + (k0 + k) * lda + i0;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      float* d = ap + ir * kc + k * MR;
      int64_t rows = std::min<int64_t>(MR, M - (i0 + ir));
      if (rows == MR) {
        std::memcpy(d, src + ir, MR * sizeof(float));  // one 16+8-byte copy for MR = 6
      } else {
        for (int r = 0; r < MR; ++r) d[r] = r < rows ? src[ir + r] : 0.f;
      }
    }
  }
}

void pack_a(const float* a, int64_t lda, bool trans, int64_t M, int64_t i0, int64_t mc,
            int64_t k0, int64_t kc, int64_t mr, float* ap) {
  switch (mr) {
    case 4: return pack_a_mr<4>(a, lda, trans, M, i0, mc, k0, kc, ap);
    case 6: return pack_a_mr<6>(a, lda, trans, M, i0, mc, k0, kc, ap);
    case 12: return pack_a_mr<12>(a, lda, trans, M, i0, mc, k0, kc, ap);
  }
  KILN_CHECK(false, "unsupported GEMM MR");
}

// Edge tile: tile holds the raw products (ni x nj valid, row stride nr).
void store_edge(const float* tile, int64_t nr, int64_t ni, int64_t nj, float* c, int64_t ldc,
                const Epi& e) {
  for (int64_t r = 0; r < ni; ++r)
    for (int64_t j = 0; j < nj; ++j) {
      float v = e.alpha * tile[r * nr + j];
      float* p = c + r * ldc + j;
      if (e.accumulate) v += *p;
      *p = v;
    }
}

struct F32Job {
  const GemmParams* p;
  const float* a;
  const float* b;
  float* c;
  int64_t batch;  // index of this (a, b, c) in the batch, for the epilogue
  const Epilogue* epi;
  const RowEpilogue* rows;  // null or empty: none
  const Isa* isa;
  const float* packed_b;              // pre-packed op(B) (GemmParams::packed_b), or null
  bool direct_a;                      // read row-major A in place
  int64_t m_tiles, n_panels, mt, nt;  // task grid mt x nt over tiles / panels
  int64_t kstep;                      // K slice
};

void run_f32_task(const F32Job& job, int64_t task) {
  const GemmParams& p = *job.p;
  const Isa& isa = *job.isa;
  const int64_t mr = isa.mr, nr = isa.nr;
  int64_t tm = task / job.nt, tn = task % job.nt;
  int64_t mt0 = job.m_tiles * tm / job.mt, mt1 = job.m_tiles * (tm + 1) / job.mt;
  int64_t jp0 = job.n_panels * tn / job.nt, jp1 = job.n_panels * (tn + 1) / job.nt;
  if (mt0 >= mt1 || jp0 >= jp1) return;
  const int64_t row0 = mt0 * mr, row1 = std::min(p.m, mt1 * mr);
  const int64_t col0 = jp0 * nr, col1 = std::min(p.n, jp1 * nr);
  const float alpha = static_cast<float>(p.alpha);

  const Epilogue& epi = *job.epi;

  if (p.k == 0) {  // C = (accumulate ? C : 0), then the epilogues
    if (!p.accumulate)
      for (int64_t i = row0; i < row1; ++i)
        std::fill(job.c + i * p.ldc + col0, job.c + i * p.ldc + col1, 0.f);
    epi(job.batch, row0, row1, col0, col1);
    if (job.rows) (*job.rows)(row0, row1);
    return;
  }

  const int64_t mc_max = std::max(mr, std::min<int64_t>((kMC / mr) * mr, (mt1 - mt0) * mr));
  const int64_t kstep = job.kstep;
  const int64_t epi_panels = std::max<int64_t>(1, kEpiCols / nr);
  const int64_t padded_n = job.n_panels * nr;
  float* bp = job.packed_b ? nullptr
                           : t_packed_b.get(static_cast<size_t>(kstep * (jp1 - jp0) * nr) + 16);
  // Packed A block, or (direct A) the zero-padded last partial row tile.
  float* ap = t_packed_a.get(static_cast<size_t>((job.direct_a ? mr : mc_max) * kstep) + 16);
  alignas(64) float tile[16 * 64];
  for (int64_t pc = 0; pc < p.k; pc += kstep) {
    const int64_t kc = std::min(kstep, p.k - pc);
    const bool last = pc + kc >= p.k;
    if (job.packed_b) bp = const_cast<float*>(job.packed_b) + pc * padded_n + jp0 * kc * nr;
    else pack_b(job.b, p.ldb, p.trans_b, pc, kc, col0, col1 - col0, nr, bp);
    const Epi e{alpha, p.accumulate || pc > 0};
    for (int64_t ic = row0; ic < row1; ic += mc_max) {
      const int64_t mc = std::min(mc_max, row1 - ic);
      if (!job.direct_a) {
        pack_a(job.a, p.lda, p.trans_a, p.m, ic, mc, pc, kc, mr, ap);
      } else if (mc % mr != 0) {
        int64_t ir = mc - mc % mr;
        pack_a(job.a, p.lda, p.trans_a, p.m, ic + ir, mr, pc, kc, mr, ap);
      }
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const float* bpanel = bp + (jp - jp0) * kc * nr;
        const int64_t j0 = jp * nr, nj = std::min(nr, p.n - j0);
        for (int64_t ir = 0; ir < mc; ir += mr) {
          const int64_t i = ic + ir, ni = std::min(mr, p.m - i);
          MicroFn fn = isa.packed;
          const float* at = ap + ir * kc;
          if (job.direct_a) {
            if (ni == mr) {
              fn = p.trans_a ? isa.direct_t : isa.direct;
              at = p.trans_a ? job.a + pc * p.lda + i : job.a + i * p.lda + pc;
            } else {
              at = ap;
            }
          }
          float* cdst = job.c + i * p.ldc + j0;
          if (ni == mr && nj == nr) {
            fn(kc, at, p.lda, bpanel, cdst, p.ldc, e);
          } else {
            fn(kc, at, p.lda, bpanel, tile, nr, Epi{});
            store_edge(tile, nr, ni, nj, cdst, p.ldc, e);
          }
        }
        // After each group of epi_panels panels (and the task's last panel) the strip of
        // this row block over the group is final: hand it to the epilogue while in cache.
        if (last && ((jp - jp0) % epi_panels == epi_panels - 1 || jp + 1 == jp1)) {
          const int64_t first = jp0 + (jp - jp0) / epi_panels * epi_panels;
          epi(job.batch, ic, ic + mc, first * nr, j0 + nj);
        }
      }
      // Every column of these rows is final (the task owns all columns: nt == 1).
      if (last && job.rows) (*job.rows)(ic, ic + mc);
    }
  }
}

// Rough cost in cycles of one task of an (mt x nt) grid: the padded block's FMAs at
// 16 lanes per cycle plus packing (B: row copies; A: a transposing copy).
double task_cost(const GemmParams& p, const Isa& isa, bool direct_a, int64_t m_tiles,
                 int64_t n_panels, int64_t mt, int64_t nt) {
  double rows = double((m_tiles + mt - 1) / mt * isa.mr);
  double cols = double((n_panels + nt - 1) / nt * isa.nr);
  double k = double(p.k);
  double compute = rows * cols * k / 16.0;
  double pack_b = p.packed_b != kUnpackedB ? 0.0 : cols * k * (p.trans_b ? 1.0 : 0.5);
  double pack_a = direct_a ? 0.0 : rows * k * (p.trans_a ? 0.5 : 1.0);
  return compute + pack_b + pack_a;
}

// The task grid of a GEMM for `threads` threads: one task per thread, the factorization
// with the cheapest task; tiny problems (or one thread) get a single task.
F32Job plan_f32(const GemmParams& p, const Isa& isa, int64_t threads, bool whole_rows) {
  F32Job job{};
  job.p = &p;
  job.isa = &isa;
  job.n_panels = (p.n + isa.nr - 1) / isa.nr;
  job.m_tiles = (p.m + isa.mr - 1) / isa.mr;
  // Equal K slices of at most kKC (784 -> 3 x 262 rather than 2 x 320 + 144).
  int64_t kslices = std::max<int64_t>(1, (p.k + kKC - 1) / kKC);
  job.kstep = std::max<int64_t>(1, (p.k + kslices - 1) / kslices);
  // Row-major A is always read in place. Transposed A is packed (a transposing read of
  // K rows per tile) unless each element is used by at most two B panels, when packing
  // would cost as much as the multiply (N = 10: dW2 = h^T @ dlogits).
  job.direct_a = !p.trans_a || job.n_panels <= 2;
  double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
  if (flops < 2e5 || threads == 1) {
    job.mt = job.nt = 1;
    return job;
  }
  if (whole_rows) {  // a row epilogue needs every column of a row in one task
    job.mt = std::min(job.m_tiles, threads);
    job.nt = 1;
    return job;
  }
  double best = 0;
  for (int64_t mt = 1; mt <= threads; ++mt) {
    if (threads % mt) continue;
    int64_t nt = threads / mt;
    if (mt > job.m_tiles || nt > job.n_panels) continue;
    double cost = task_cost(p, isa, job.direct_a, job.m_tiles, job.n_panels, mt, nt);
    if (job.mt == 0 || cost < best) {
      best = cost;
      job.mt = mt;
      job.nt = nt;
    }
  }
  if (job.mt == 0) {  // fewer tiles than threads: split the longer side only
    job.mt = std::min(job.m_tiles, threads);
    job.nt = 1;
  }
  return job;
}

// Packs all of op(B) into `packed` in the layout run_f32_task reads: K slice by K slice
// (kstep rows each), every slice as n_panels panels of kc x NR, zero-padded on the right.
void pack_all_b(const F32Job& job, const float* b, float* packed, int64_t threads) {
  const GemmParams& p = *job.p;
  const int64_t nr = job.isa->nr, slices = (p.k + job.kstep - 1) / job.kstep;
  auto pack = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t pc = (u / job.n_panels) * job.kstep, q = u % job.n_panels;
      const int64_t kc = std::min(job.kstep, p.k - pc);
      pack_b(b, p.ldb, p.trans_b, pc, kc, q * nr, std::min(nr, p.n - q * nr), nr,
             packed + pc * job.n_panels * nr + q * kc * nr);
    }
  };
  const int64_t units = slices * job.n_panels;
  if (threads == 1 || p.k * p.n < 16384) pack(0, units);
  else parallel_for(units, 4, pack);
}

void run_f32(const GemmParams& p, const float* a, const float* b, float* c,
             const Epilogue& epi, int64_t threads, float* packed, const RowEpilogue& rows) {
  if (p.m <= 0 || p.n <= 0) return;
  const bool row_epilogue = static_cast<bool>(rows) && p.batch == 1;
  F32Job job = plan_f32(p, current_isa(), threads, row_epilogue);
  job.epi = &epi;
  job.rows = row_epilogue ? &rows : nullptr;
  // Pre-packed B: one B for the whole call (batch 1) and a scratch to hold it.
  if (p.packed_b != kUnpackedB && p.batch == 1 && packed && p.k > 0) {
    if (p.packed_b == kPackB) pack_all_b(job, b, packed, threads);
    job.packed_b = packed;
  }
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    job.a = a + bi * p.stride_a;
    job.b = b + bi * p.stride_b;
    job.c = c + bi * p.stride_c;
    job.batch = bi;
    int64_t tasks = job.mt * job.nt;
    if (tasks == 1) {
      run_f32_task(job, 0);
    } else {
      parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) run_f32_task(job, t);
      });
    }
  }
  if (rows && !row_epilogue) rows(0, p.m);  // batched: after every product (not generated)
}

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

const char* gemm_f32_isa() { return current_isa().name; }

bool gemm_force_isa(const char* name) {
  std::string want = name ? name : "";
  if (want.empty()) {
    current_isa() = detect_isa();
    return true;
  }
  if (want == "generic") {
    current_isa() = kGeneric;
    return true;
  }
#if defined(__x86_64__)
  if (want == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    current_isa() = kAvx2;
    return true;
  }
  if (want == "avx512" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
    current_isa() = kAvx512;
    return true;
  }
#endif
  return false;
}

void gemm_f32(const GemmParams& p, const float* a, const float* b, float* c,
              const Epilogue& epi, float* packed_b, const RowEpilogue& rows) {
  run_f32(p, a, b, c, epi, global_pool().active_threads(), packed_b, rows);  // one per CPU
}

void gemm_f32_serial(const GemmParams& p, const float* a, const float* b, float* c,
                     const Epilogue& epi) {
  run_f32(p, a, b, c, epi, 1, nullptr, {});
}

void gemm_f64(const GemmParams& p, const double* a, const double* b, double* c,
              const Epilogue& epi) {
  run_f64(p, a, b, c, epi, true);
}

void gemm_f64_serial(const GemmParams& p, const double* a, const double* b, double* c,
                     const Epilogue& epi) {
  run_f64(p, a, b, c, epi, false);
}

}  // namespace kiln

extern "C" void kiln_gemm_f32(const kiln::GemmParams* p, const float* a, const float* b, float* c,
                              const float* alpha_scale, float* packed,
                              kiln::EpilogueFn epilogue, kiln::RowEpilogueFn rows,
                              void** buffers) {
  kiln::gemm_f32(kiln::with_alpha_scale(*p, alpha_scale), a, b, c,
                 kiln::Epilogue{epilogue, buffers}, packed, kiln::RowEpilogue{rows, buffers});
}
extern "C" void kiln_gemm_f64(const kiln::GemmParams* p, const double* a, const double* b,
                              double* c, const double* alpha_scale, double* /*packed*/,
                              kiln::EpilogueFn epilogue, kiln::RowEpilogueFn /*rows*/,
                              void** buffers) {
  kiln::gemm_f64(kiln::with_alpha_scale(*p, alpha_scale), a, b, c,
                   kiln::Epilogue{epilogue, buffers});
}
