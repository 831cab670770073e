// GEMM implementation (see gemm.h). Structure, GotoBLAS/BLIS style, per task (a block of
// rows x a block of NR-wide column panels of C, one task per thread):
//   for each K slice (equal slices of at most kKC, so a B micro-panel stays in L1):
//     pack the task's columns of op(B) for this slice into k-major NR-wide panels;
//     for each block of kMC rows: pack those rows of op(A) into MR-tall k-major panels
//       (only when A is transposed; row-major A is read in place: the micro-kernel
//       broadcasts from MR row pointers, which saves a transposing copy of A);
//       for each B panel, for each MR-row tile: micro-kernel.
// The micro-kernel keeps an MR x NR tile of C in vector registers and does one
// broadcast-FMA per (row, vector) per k; it applies alpha, accumulation and, on the last
// K slice, the epilogue (bias, ReLU, mask) to the registers before the one store. Edge
// tiles (M % MR, N % NR) run the same kernel on zero-padded panels into a stack tile and
// apply the epilogue while copying. Each task packs its own B columns, so there is one
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

// What the micro-kernel does with its accumulators: C = alpha*acc (+ C), then, when
// set, + bias[j], ReLU, and C = mask[i,j] > 0 ? C : 0. Pointers are pre-offset to the
// tile's first column (bias) or element (mask, leading dimension = ldc).
struct Epi {
  float alpha = 1.f;
  bool accumulate = false;
  const float* bias = nullptr;
  bool relu = false;
  const float* mask = nullptr;
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
    const V alpha = BCAST(e.alpha), zero = V{};                                           \
    for (int r = 0; r < MR; ++r)                                                          \
      for (int j = 0; j < NV; ++j) {                                                      \
        float* p = c + r * ldc + j * W;                                                   \
        V v = acc_[r][j] * alpha;                                                         \
        V t;                                                                              \
        if (e.accumulate) {                                                               \
          std::memcpy(&t, p, sizeof(V));                                                  \
          v += t;                                                                         \
        }                                                                                 \
        if (e.bias) {                                                                     \
          std::memcpy(&t, e.bias + j * W, sizeof(V));                                     \
          v += t;                                                                         \
        }                                                                                 \
        if (e.relu) v = v > zero ? v : zero;                                              \
        if (e.mask) {                                                                     \
          std::memcpy(&t, e.mask + r * ldc + j * W, sizeof(V));                           \
          v = t > zero ? v : zero;                                                        \
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

Isa detect_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
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

// Packs op(B)[k0:k0+kc, j0:j0+nj] (nj <= np*nr) into np panels of nr columns, zero-padded:
// panel q at dst + q*kc*nr, row k at +k*nr.
void pack_b(const float* b, int64_t ldb, bool trans, int64_t k0, int64_t kc, int64_t j0,
            int64_t nj, int64_t nr, float* dst) {
  for (int64_t q = 0; q * nr < nj; ++q) {
    float* d = dst + q * kc * nr;
    int64_t jb = j0 + q * nr, w = std::min(nr, nj - q * nr);
    if (!trans) {
      const float* src = b + k0 * ldb + jb;
      if (w == nr) {
        for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * nr, src + k * ldb, nr * sizeof(float));
      } else {
        for (int64_t k = 0; k < kc; ++k) {
          int64_t j = 0;
          for (; j < w; ++j) d[k * nr + j] = src[k * ldb + j];
          for (; j < nr; ++j) d[k * nr + j] = 0.f;
        }
      }
    } else {
      // B stored [N, K]: column j of op(B) is row j of b, contiguous in k.
      for (int64_t j = 0; j < nr; ++j) {
        if (j < w) {
          const float* src = b + (jb + j) * ldb + k0;
          for (int64_t k = 0; k < kc; ++k) d[k * nr + j] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) d[k * nr + j] = 0.f;
        }
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
      float* dst = ap + ir * kc;
      int64_t rows = std::max<int64_t>(0, std::min<int64_t>(MR, M - (i0 + ir)));
      for (int64_t r = 0; r < MR; ++r) {
        const float* src = a + (i0 + ir + r) * lda + k0;
        if (r < rows) {
          for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = 0.f;
        }
      }
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
      if (e.bias) v += e.bias[j];
      if (e.relu) v = v > 0.f ? v : 0.f;
      if (e.mask) v = e.mask[r * ldc + j] > 0.f ? v : 0.f;
      *p = v;
    }
}

struct F32Job {
  const GemmParams* p;
  const float* a;
  const float* b;
  float* c;
  const float* bias;
  const float* mask;
  const Isa* isa;
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

  if (p.k == 0) {  // C = (accumulate ? C : 0), then the epilogue
    const float zero = 0.f;
    for (int64_t i = row0; i < row1; ++i) {
      Epi e{1.f, p.accumulate != 0, job.bias ? job.bias + col0 : nullptr, p.relu != 0,
            job.mask ? job.mask + i * p.ldc + col0 : nullptr};
      for (int64_t j = col0; j < col1; ++j) {
        store_edge(&zero, 1, 1, 1, job.c + i * p.ldc + j, p.ldc, e);
        if (e.bias) e.bias++;
        if (e.mask) e.mask++;
      }
    }
    return;
  }

  const int64_t mc_max = std::max(mr, std::min<int64_t>((kMC / mr) * mr, (mt1 - mt0) * mr));
  const int64_t kstep = job.kstep;
  float* bp = t_packed_b.get(static_cast<size_t>(kstep * (jp1 - jp0) * nr) + 16);
  // Packed A block, or (direct A) the zero-padded last partial row tile.
  float* ap = t_packed_a.get(static_cast<size_t>((job.direct_a ? mr : mc_max) * kstep) + 16);
  alignas(64) float tile[16 * 64];
  for (int64_t pc = 0; pc < p.k; pc += kstep) {
    const int64_t kc = std::min(kstep, p.k - pc);
    const bool last = pc + kc >= p.k;
    pack_b(job.b, p.ldb, p.trans_b, pc, kc, col0, col1 - col0, nr, bp);
    Epi e{alpha, p.accumulate || pc > 0, nullptr, last && p.relu, nullptr};
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
          Epi et = e;
          if (last && job.bias) et.bias = job.bias + j0;
          if (last && job.mask) et.mask = job.mask + i * p.ldc + j0;
          if (ni == mr && nj == nr) {
            fn(kc, at, p.lda, bpanel, cdst, p.ldc, et);
          } else {
            fn(kc, at, p.lda, bpanel, tile, nr, Epi{});
            store_edge(tile, nr, ni, nj, cdst, p.ldc, et);
          }
        }
      }
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
  double pack_b = cols * k * (p.trans_b ? 1.0 : 0.5);
  double pack_a = direct_a ? 0.0 : rows * k * (p.trans_a ? 0.5 : 1.0);
  return compute + pack_b + pack_a;
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

void gemm_f32(const GemmParams& p, const float* a, const float* b, float* c, const float* bias,
              const float* mask) {
  if (p.m <= 0 || p.n <= 0) return;
  const Isa& isa = current_isa();
  F32Job job{};
  job.p = &p;
  job.isa = &isa;
  job.bias = bias;
  job.n_panels = (p.n + isa.nr - 1) / isa.nr;
  job.m_tiles = (p.m + isa.mr - 1) / isa.mr;
  // Equal K slices of at most kKC (784 -> 3 x 262 rather than 2 x 320 + 144).
  int64_t kslices = std::max<int64_t>(1, (p.k + kKC - 1) / kKC);
  job.kstep = std::max<int64_t>(1, (p.k + kslices - 1) / kslices);
  // Task grid: one task per thread, the factorization with the cheapest task; tiny
  // problems run on the calling thread.
  int64_t threads = global_pool().active_threads();  // at most one per CPU
  double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
  // Row-major A is always read in place. Transposed A is packed (a transposing read of
  // K rows per tile) unless each element is used by at most two B panels, when packing
  // would cost as much as the multiply (N = 10: dW2 = h^T @ dlogits).
  job.direct_a = !p.trans_a || job.n_panels <= 2;
  if (flops < 2e5 || threads == 1) {
    job.mt = job.nt = 1;
  } else {
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
  }
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    job.a = a + bi * p.stride_a;
    job.b = b + bi * p.stride_b;
    job.c = c + bi * p.stride_c;
    job.mask = mask ? mask + bi * p.stride_c : nullptr;
    int64_t tasks = job.mt * job.nt;
    if (tasks == 1) {
      run_f32_task(job, 0);
    } else {
      parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) run_f32_task(job, t);
      });
    }
  }
}

void gemm_f64(const GemmParams& p, const double* a, const double* b, double* c,
              const double* bias, const double* mask) {
  if (p.m <= 0 || p.n <= 0) return;
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const double* ab = a + bi * p.stride_a;
    const double* bb = b + bi * p.stride_b;
    double* cb = c + bi * p.stride_c;
    const double* mb = mask ? mask + bi * p.stride_c : nullptr;
    parallel_for(p.m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.n * p.k / 64)),
                 [&](int64_t i0, int64_t i1) {
      std::vector<double> row(static_cast<size_t>(p.n));
      for (int64_t i = i0; i < i1; ++i) {
        std::fill(row.begin(), row.end(), 0.0);
        for (int64_t k = 0; k < p.k; ++k) {
          double av = p.trans_a ? ab[k * p.lda + i] : ab[i * p.lda + k];
          if (!p.trans_b) {
            const double* brow = bb + k * p.ldb;
            for (int64_t j = 0; j < p.n; ++j) row[j] += av * brow[j];
          } else {
            for (int64_t j = 0; j < p.n; ++j) row[j] += av * bb[j * p.ldb + k];
          }
        }
        double* crow = cb + i * p.ldc;
        for (int64_t j = 0; j < p.n; ++j) {
          double v = p.alpha * row[j] + (p.accumulate ? crow[j] : 0.0);
          if (bias) v += bias[j];
          if (p.relu) v = v > 0.0 ? v : 0.0;
          if (mb) v = mb[i * p.ldc + j] > 0.0 ? v : 0.0;
          crow[j] = v;
        }
      }
    });
  }
}

}  // namespace kiln

extern "C" void kiln_gemm_f32(const kiln::GemmParams* p, const float* a, const float* b, float* c,
                              const float* bias, const float* mask, const float* alpha_scale) {
  if (!alpha_scale) return kiln::gemm_f32(*p, a, b, c, bias, mask);
  kiln::GemmParams q = *p;
  q.alpha *= static_cast<double>(*alpha_scale);
  kiln::gemm_f32(q, a, b, c, bias, mask);
}
extern "C" void kiln_gemm_f64(const kiln::GemmParams* p, const double* a, const double* b,
                              double* c, const double* bias, const double* mask,
                              const double* alpha_scale) {
  if (!alpha_scale) return kiln::gemm_f64(*p, a, b, c, bias, mask);
  kiln::GemmParams q = *p;
  q.alpha *= *alpha_scale;
  kiln::gemm_f64(q, a, b, c, bias, mask);
}
