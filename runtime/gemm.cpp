// GEMM implementation (see gemm.h). Structure, GotoBLAS/BLIS style:
//   pack all of op(B) into NR-wide column panels, k-major (panel jp holds K x NR floats),
//   split C into (row range x column range) tasks on the thread pool; each task, per
//   KC-deep slice, packs its rows of op(A) into MR-tall k-major panels and runs the
//   register-tiled micro-kernel over (NR panel, MR panel) pairs, accumulating into C.
// The micro-kernel keeps an MR x NR tile of C in vector registers and does one
// broadcast-FMA per (row, vector) per k. Edge tiles (M % MR, N % NR) run the same kernel
// on zero-padded panels into a stack tile that is then added/copied into C. The
// epilogue (bias, ReLU) runs per task after its last K slice while C is in cache.
#include "runtime/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln {

namespace {

constexpr int64_t kKC = 256;  // K slice: A panel MR*KC and B panel KC*NR stay in L1/L2
constexpr int64_t kMC = 96;   // rows of A packed at a time (L2 resident)

using MicroFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                         bool acc);

// Micro-kernel body, instantiated per ISA inside target pragmas with V = the vector type.
#define KILN_GEMM_MICRO(NAME, V, BCAST, MR, NV)                                               \
  void NAME(int64_t kc, const float* __restrict a, const float* __restrict b,           \
            float* __restrict c, int64_t ldc, bool acc) {                              \
    constexpr int W = sizeof(V) / sizeof(float);                                        \
    V acc_[MR][NV];                                                                     \
    for (int r = 0; r < MR; ++r)                                                        \
      for (int j = 0; j < NV; ++j) acc_[r][j] = V{};                                    \
    for (int64_t k = 0; k < kc; ++k) {                                                  \
      V bv[NV];                                                                         \
      for (int j = 0; j < NV; ++j) std::memcpy(&bv[j], b + j * W, sizeof(V));           \
      for (int r = 0; r < MR; ++r) {                                                    \
        V av = BCAST(a[r]);                                                             \
        for (int j = 0; j < NV; ++j) acc_[r][j] += av * bv[j];                          \
      }                                                                                 \
      a += MR;                                                                          \
      b += NV * W;                                                                      \
    }                                                                                   \
    for (int r = 0; r < MR; ++r)                                                        \
      for (int j = 0; j < NV; ++j) {                                                    \
        float* p = c + r * ldc + j * W;                                                 \
        V v = acc_[r][j];                                                               \
        if (acc) {                                                                      \
          V old;                                                                        \
          std::memcpy(&old, p, sizeof(V));                                              \
          v += old;                                                                     \
        }                                                                               \
        std::memcpy(p, &v, sizeof(V));                                                  \
      }                                                                                 \
  }

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
typedef float v16f __attribute__((vector_size(64)));
inline v16f bcast16(float x) { return (v16f)_mm512_set1_ps(x); }
KILN_GEMM_MICRO(micro_avx512, v16f, bcast16, 12, 2)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef float v8f __attribute__((vector_size(32)));
inline v8f bcast8(float x) { return (v8f)_mm256_set1_ps(x); }
KILN_GEMM_MICRO(micro_avx2, v8f, bcast8, 6, 2)
#pragma GCC pop_options
#endif

typedef float v4f __attribute__((vector_size(16)));
inline v4f bcast4(float x) { return v4f{x, x, x, x}; }
KILN_GEMM_MICRO(micro_generic, v4f, bcast4, 4, 2)

struct Isa {
  const char* name;
  MicroFn micro;
  int64_t mr, nr;
};

Isa detect_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
    return {"avx512", micro_avx512, 12, 32};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"avx2", micro_avx2, 6, 16};
#endif
  return {"generic", micro_generic, 4, 8};
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
thread_local Scratch g_packed_b;
thread_local Scratch t_packed_a;

// Packs op(B) (K x N) into panels of NR columns: panel jp at bp + jp*K*NR, row k at +k*NR.
void pack_b(const float* b, int64_t ldb, bool trans, int64_t K, int64_t N, int64_t nr,
            int64_t jp0, int64_t jp1, float* bp) {
  for (int64_t jp = jp0; jp < jp1; ++jp) {
    float* dst = bp + jp * K * nr;
    int64_t j0 = jp * nr, nj = std::min(nr, N - j0);
    if (!trans) {
      for (int64_t k = 0; k < K; ++k) {
        const float* src = b + k * ldb + j0;
        float* d = dst + k * nr;
        int64_t j = 0;
        for (; j < nj; ++j) d[j] = src[j];
        for (; j < nr; ++j) d[j] = 0.f;
      }
    } else {
      // B stored [N, K]: column j of op(B) is row j of b.
      for (int64_t k = 0; k < K; ++k) {
        float* d = dst + k * nr;
        for (int64_t j = 0; j < nr; ++j) d[j] = j < nj ? b[(j0 + j) * ldb + k] : 0.f;
      }
    }
  }
}

// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into MR-tall k-major panels.
void pack_a(const float* a, int64_t lda, bool trans, int64_t M, int64_t i0, int64_t mc,
            int64_t k0, int64_t kc, int64_t mr, float* ap) {
  for (int64_t ir = 0; ir < mc; ir += mr) {
    float* dst = ap + ir * kc;
    int64_t rows = std::min(mr, M - (i0 + ir));
    if (!trans) {
      for (int64_t r = 0; r < mr; ++r) {
        if (r < rows) {
          const float* src = a + (i0 + ir + r) * lda + k0;
          for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = 0.f;
        }
      }
    } else {
      // A stored [K, M]: op(A)(i, k) = a[k*lda + i], contiguous in i.
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = a + (k0 + k) * lda + i0 + ir;
        float* d = dst + k * mr;
        int64_t r = 0;
        for (; r < rows; ++r) d[r] = src[r];
        for (; r < mr; ++r) d[r] = 0.f;
      }
    }
  }
}

struct F32Job {
  const GemmParams* p;
  const float* a;
  const float* bp;  // packed B
  float* c;
  const float* bias;
  const Isa* isa;
  int64_t m_tiles, n_panels, mt, nt;  // task grid mt x nt
};

void run_f32_task(const F32Job& job, int64_t task) {
  const GemmParams& p = *job.p;
  const Isa& isa = *job.isa;
  const int64_t mr = isa.mr, nr = isa.nr;
  int64_t tm = task / job.nt, tn = task % job.nt;
  int64_t mt0 = job.m_tiles * tm / job.mt, mt1 = job.m_tiles * (tm + 1) / job.mt;
  int64_t jp0 = job.n_panels * tn / job.nt, jp1 = job.n_panels * (tn + 1) / job.nt;
  if (mt0 >= mt1 || jp0 >= jp1) return;
  int64_t row0 = mt0 * mr, row1 = std::min(p.m, mt1 * mr);
  int64_t mc_max = std::min<int64_t>((kMC / mr) * mr, (mt1 - mt0) * mr);
  if (mc_max < mr) mc_max = mr;
  // Equal K slices of at most kKC (784 -> 4 x 196 rather than 3 x 256 + 16).
  int64_t kslices = std::max<int64_t>(1, (p.k + kKC - 1) / kKC);
  int64_t kstep = std::max<int64_t>(1, (p.k + kslices - 1) / kslices);
  float* ap = t_packed_a.get(static_cast<size_t>(mc_max * std::min(kstep, p.k)) + 64);
  alignas(64) float tile[16 * 64];
  for (int64_t ic = row0; ic < row1; ic += mc_max) {
    int64_t mc = std::min(mc_max, row1 - ic);
    for (int64_t pc = 0; pc < p.k; pc += kstep) {
      int64_t kc = std::min(kstep, p.k - pc);
      bool acc = p.accumulate || pc > 0;
      pack_a(job.a, p.lda, p.trans_a, p.m, ic, mc, pc, kc, mr, ap);
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const float* bpanel = job.bp + jp * p.k * nr + pc * nr;
        int64_t j0 = jp * nr, nj = std::min(nr, p.n - j0);
        for (int64_t ir = 0; ir < mc; ir += mr) {
          int64_t i = ic + ir, ni = std::min(mr, p.m - i);
          float* cdst = job.c + i * p.ldc + j0;
          if (ni == mr && nj == nr) {
            isa.micro(kc, ap + ir * kc, bpanel, cdst, p.ldc, acc);
          } else {
            isa.micro(kc, ap + ir * kc, bpanel, tile, nr, false);
            for (int64_t r = 0; r < ni; ++r)
              for (int64_t j = 0; j < nj; ++j)
                cdst[r * p.ldc + j] = acc ? cdst[r * p.ldc + j] + tile[r * nr + j] : tile[r * nr + j];
          }
        }
      }
    }
    if (p.k == 0 && !p.accumulate) {
      for (int64_t i = ic; i < ic + mc; ++i)
        for (int64_t j = jp0 * nr; j < std::min(p.n, jp1 * nr); ++j) job.c[i * p.ldc + j] = 0.f;
    }
    if (job.bias || p.relu) {
      int64_t ja = jp0 * nr, jb = std::min(p.n, jp1 * nr);
      for (int64_t i = ic; i < ic + mc; ++i) {
        float* row = job.c + i * p.ldc;
        if (job.bias)
          for (int64_t j = ja; j < jb; ++j) row[j] += job.bias[j];
        if (p.relu)
          for (int64_t j = ja; j < jb; ++j) row[j] = row[j] > 0.f ? row[j] : 0.f;
      }
    }
  }
}

}  // namespace

const char* gemm_f32_isa() { return current_isa().name; }

bool gemm_force_isa(const char* name) {
  Isa detected = detect_isa();
  std::string want = name ? name : "";
  if (want.empty()) {
    current_isa() = detected;
    return true;
  }
  if (want == "generic") {
    current_isa() = {"generic", micro_generic, 4, 8};
    return true;
  }
#if defined(__x86_64__)
  if (want == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    current_isa() = {"avx2", micro_avx2, 6, 16};
    return true;
  }
  if (want == "avx512" && __builtin_cpu_supports("avx512f")) {
    current_isa() = {"avx512", micro_avx512, 12, 32};
    return true;
  }
#endif
  return false;
}

void gemm_f32(const GemmParams& p, const float* a, const float* b, float* c, const float* bias) {
  if (p.m <= 0 || p.n <= 0) return;
  const Isa& isa = current_isa();
  int64_t n_panels = (p.n + isa.nr - 1) / isa.nr;
  int64_t m_tiles = (p.m + isa.mr - 1) / isa.mr;
  int threads = num_threads();
  double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
  // Task grid: enough tasks to balance across threads, split over M first (no redundant
  // packing), then over N when M is short. Tiny problems run on the calling thread.
  int64_t want = flops < 2e5 ? 1 : int64_t(threads) * 2;
  int64_t mt = std::min(m_tiles, want);
  int64_t nt = std::max<int64_t>(1, std::min(n_panels, want / std::max<int64_t>(mt, 1)));
  float* bp = g_packed_b.get(static_cast<size_t>(n_panels * isa.nr * std::max<int64_t>(p.k, 1)) + 64);
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const float* ab = a + bi * p.stride_a;
    const float* bb = b + bi * p.stride_b;
    float* cb = c + bi * p.stride_c;
    // Pack B (in parallel over panels when large).
    if (p.k * p.n > 32768 && threads > 1) {
      parallel_for(n_panels, std::max<int64_t>(1, n_panels / (threads * 2)), [&](int64_t j0, int64_t j1) {
        pack_b(bb, p.ldb, p.trans_b, p.k, p.n, isa.nr, j0, j1, bp);
      });
    } else {
      pack_b(bb, p.ldb, p.trans_b, p.k, p.n, isa.nr, 0, n_panels, bp);
    }
    F32Job job{&p, ab, bp, cb, bias, &isa, m_tiles, n_panels, mt, nt};
    if (mt * nt == 1) {
      run_f32_task(job, 0);
    } else {
      parallel_for(mt * nt, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) run_f32_task(job, t);
      });
    }
  }
}

void gemm_f64(const GemmParams& p, const double* a, const double* b, double* c,
              const double* bias) {
  if (p.m <= 0 || p.n <= 0) return;
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    const double* ab = a + bi * p.stride_a;
    const double* bb = b + bi * p.stride_b;
    double* cb = c + bi * p.stride_c;
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
          double v = (p.accumulate ? crow[j] : 0.0) + row[j];
          if (bias) v += bias[j];
          if (p.relu) v = v > 0.0 ? v : 0.0;
          crow[j] = v;
        }
      }
    });
  }
}

}  // namespace kiln

extern "C" void kiln_gemm_f32(const kiln::GemmParams* p, const float* a, const float* b, float* c,
                              const float* bias) {
  kiln::gemm_f32(*p, a, b, c, bias);
}
extern "C" void kiln_gemm_f64(const kiln::GemmParams* p, const double* a, const double* b,
                              double* c, const double* bias) {
  kiln::gemm_f64(*p, a, b, c, bias);
}
