// f32 GEMM driver (see gemm.h; micro-kernels in gemm_kernels.cpp, f64 in gemm_f64.cpp).
// Structure, GotoBLAS/BLIS style, per task (a block of rows x a block of NR-wide column
// panels of C of one product of the batch):
//   for each K slice (equal slices of at most kKC, so a B micro-panel stays in L1):
//     pack the task's columns of op(B) for this slice into k-major NR-wide panels;
//     for each block of kMC rows: pack those rows of op(A) into MR-tall k-major panels
//       (only when A is transposed; row-major A is read in place: the micro-kernel
//       broadcasts from MR row pointers, which saves a transposing copy of A; but a
//       large one that several column tasks share is packed once for all of them
//       first, share_packed_a);
//       for each B panel, for each row tile: micro-kernel.
// Row tiles are MR rows, and the last one runs a kernel for just its rows (tile_rows
// splits a small remainder evenly with the tile before it); edge panels (N % NR) go
// through a stack tile and are scaled while copying. On the last K slice the epilogue
// runs on each finished strip of a row block (kMC rows x about 64 columns) right after
// its tiles are stored, so it finds them in L1/L2 and one indirect call covers thousands
// of elements. Each task packs its own B columns, so there is one fork/join per GEMM
// (every product of a batch included; two when A is packed once for several column
// tasks, pack_all_a) and B needs no shared packed buffer; the (rows x columns)
// task grid is chosen by a small cost model (compute of the padded block + packing) so
// that, e.g., the MLP forward x@W1 splits N (each thread packs half of W1, A read in
// place) while the weight gradient x^T@dh splits M (B is small, A must be packed).
//
// Shape-specialised paths (issue 13), each measured on the 2-core Zen 4 VM (AVX2 kernel,
// 2 threads, least of 12 runs, microseconds before -> after; PyTorch 1.13 / OpenBLAS
// `a @ b` at its best for reference):
//  - small M (the recurrent nets' batch 32): the row tail runs only its rows, 32 rows as
//    6+6+6+6+4+4 instead of six 6-row tiles (36 rows, the last 4 of zeros):
//    32x768x284 91 -> 80, 32x256x1024 114 -> 99, 32x1024x256 125 -> 112;
//  - and with at most kDirectBMaxRows rows, row-major B is read in place instead of
//    packed: each element of B serves only M/MR tiles, so the copy costs more than the
//    strided reads (32x256x768 70 -> 63, 32x768x256 71 -> 64, 32x284x768 84 -> 80,
//    32x768x284 82 -> 80). Not when B's rows are a multiple of 2 KB apart: its panel
//    then falls in a few L1 sets (32x1024x256 with ldb 1024: 115 -> 132 read in place);
//    not with more rows (256x784x256 505 -> 540, 784x256x256 485 -> 600);
//  - alpha = 1 skips the scaling multiply, which at small K is a sizeable part of the
//    tile's work: 256x256x10 with transposed B 21.7 -> 13.6;
//  - a batch runs all its products' tasks in one fork/join, so products too small to
//    split (attention's per-head matmuls) run on all threads instead of one.
// The task grid already splits the dimension that balances work (the cost model above):
// M = 32 splits N, the weight gradients split M.
#include "runtime/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "ir/status.h"
#include "runtime/gemm_kernels.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln {

namespace {

constexpr int64_t kKC = 320;  // max K slice (784 -> 3 x 262): B micro-panel kc*NR stays in L1
constexpr int64_t kMC = 144;  // rows of A per block (L2 resident)
constexpr int64_t kGroupBytes = 128 << 10;  // B panels packed at a time with one row block
constexpr int64_t kEpiCols = 64;  // columns per epilogue call (a few NR panels)
constexpr double kMinParallelFlops = 2e5;  // smaller GEMMs (all products) run on one thread
constexpr int64_t kDirectBMaxRows = 48;     // at most this many rows: B read in place
constexpr int64_t kDirectBBadStride = 512;  // ... unless its rows are 2 KB multiples apart
constexpr int64_t kShareAMinRows = 64;    // row-major A is packed once for column tasks
constexpr int64_t kShareAMinPanels = 16;  // ... from this many rows, panels per task
constexpr double kShareAMinFlops = 3e8;   // ... and FLOPs (a second fork/join, a pass on A)

using gemm::Epi;
using gemm::Isa;
using gemm::MicroFn;

Isa& current_isa() {
  static Isa isa = gemm::detect_isa();
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
thread_local Scratch t_shared_a;  // A packed once for all tasks of a call (the caller's)

// One full panel of row-major B: kc rows of NR contiguous floats. NR is a template
// parameter so each row is a few inlined vector moves rather than a memcpy call.
template <int NR>
void pack_b_rows(const float* src, int64_t ldb, int64_t kc, float* d) {
  for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * NR, src + k * ldb, NR * sizeof(float));
}

// `panels` full panels of row-major B, row by row (see pack_b).
template <int NR>
void pack_b_row_major(const float* src, int64_t ldb, int64_t kc, int64_t panels, float* d) {
  constexpr int64_t kAhead = 24;  // rows prefetched ahead: many misses in flight at once
  for (int64_t k = 0; k < kc; ++k) {
    if (k + kAhead < kc)
      for (int64_t q = 0; q < panels * NR; q += 16) __builtin_prefetch(src + (k + kAhead) * ldb + q, 0, 3);
    for (int64_t q = 0; q < panels; ++q)
      std::memcpy(d + (q * kc + k) * NR, src + k * ldb + q * NR, NR * sizeof(float));
  }
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
  // Row-major B, several full panels: row by row, so that each row's stretch is read in
  // one go. Panel by panel, a row's next cache line is needed only kc rows later, and
  // with rows a power of two apart (ldb = 4096) they all fall in a few cache sets and
  // are evicted by then: each line came from memory twice (VGG's 64x4096x4096).
  if (!trans && nj >= 2 * nr && (nr == 8 || nr == 16 || nr == 32)) {
    const int64_t full = nj / nr;
    if (nr == 8) pack_b_row_major<8>(b + k0 * ldb + j0, ldb, kc, full, dst);
    else if (nr == 16) pack_b_row_major<16>(b + k0 * ldb + j0, ldb, kc, full, dst);
    else pack_b_row_major<32>(b + k0 * ldb + j0, ldb, kc, full, dst);
    if (full * nr < nj)
      pack_b(b, ldb, trans, k0, kc, j0 + full * nr, nj - full * nr, nr, dst + full * kc * nr);
    return;
  }
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

// Rows of the tile at offset ir of a block of mc rows: mr, except that a remainder of at
// most mr/2 rows is merged with the tile before it and the two split evenly (M = 32 on
// AVX2: 6+6+6+6+4+4, not 6+6+6+6+6+2), since a tile of r rows keeps 2r FMA chains in
// flight and a 2-row tile leaves half of the FMA units' pipelines empty.
int64_t tile_rows(int64_t ir, int64_t mc, int64_t mr) {
  const int64_t left = mc - ir;
  if (left <= mr) return left;
  if (left - mr <= mr / 2) return (left + 1) / 2;
  return mr;
}

// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) tile by tile (tile_rows), tile t
// into the k-major panel at ap + t*MR*kc (element (r, k) at [k*MR + r]). MR is a template
// parameter so the per-k copies unroll.
template <int MR>
void pack_a_mr(const float* a, int64_t lda, bool trans, int64_t i0, int64_t mc, int64_t k0,
               int64_t kc, float* ap) {
  if (!trans) {
    for (int64_t ir = 0, t = 0, ni; ir < mc; ir += ni, ++t) {
      ni = tile_rows(ir, mc, MR);
      pack_transposed(a + (i0 + ir) * lda + k0, lda, ni, MR, kc, ap + t * MR * kc);
    }
    return;
  }
  // A stored [K, M]: op(A)(i, k) = a[k*lda + i], contiguous in i. Row k of the source
  // is read once, left to right, and scattered into every panel (reading one panel at a
  // time would walk K rows at stride lda per panel, which thrashes L1 when lda*4 is a
  // multiple of 1 KB).
  // The source rows are lda apart (3 KB for a GRU's 768 gates), which the hardware
  // prefetcher follows poorly: rows kAhead ahead are prefetched, as in pack_b_row_major.
  // Only the last two tiles can be short (tile_rows), so the rest copy MR at a time.
  constexpr int64_t kAhead = 8;
  int64_t full = 0;  // leading tiles of MR rows
  while ((full + 1) * MR <= mc && tile_rows(full * MR, mc, MR) == MR) ++full;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = a + (k0 + k) * lda + i0;
    if (k + kAhead < kc)
      for (int64_t q = 0; q < mc; q += 16) __builtin_prefetch(src + kAhead * lda + q, 0, 3);
    float* d = ap + k * MR;
    for (int64_t t = 0; t < full; ++t)  // 16+8 bytes for MR = 6
      std::memcpy(d + t * MR * kc, src + t * MR, MR * sizeof(float));
    for (int64_t ir = full * MR, t = full, ni; ir < mc; ir += ni, ++t) {
      ni = tile_rows(ir, mc, MR);
      std::memcpy(d + t * MR * kc, src + ir, ni * sizeof(float));
    }
  }
}

void pack_a(const float* a, int64_t lda, bool trans, int64_t i0, int64_t mc, int64_t k0,
            int64_t kc, int64_t mr, float* ap) {
  switch (mr) {
    case 4: return pack_a_mr<4>(a, lda, trans, i0, mc, k0, kc, ap);
    case 6: return pack_a_mr<6>(a, lda, trans, i0, mc, k0, kc, ap);
    case 12: return pack_a_mr<12>(a, lda, trans, i0, mc, k0, kc, ap);
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
  const float* a;  // batch 0's operands; product bi at + bi * p->stride_*
  const float* b;
  float* c;
  const Epilogue* epi;
  const RowEpilogue* rows;  // null or empty: none
  const Isa* isa;
  const float* packed_b;              // pre-packed op(B) (GemmParams::packed_b), or null
  const float* packed_a;              // all of op(A) packed once (pack_all_a), or null
  int64_t packed_a_slice;             // floats per K slice in packed_a
  bool direct_a;                      // read A in place
  bool direct_b;                      // read row-major B in place (but a partial last panel)
  int64_t m_tiles, n_panels, mt, nt;  // task grid mt x nt over tiles / panels, per product
  int64_t kstep;                      // K slice
  // Split rows into equal even counts rather than whole tiles: with a few tiles per task
  // (a recurrent step's 32 rows), whole tiles leave one thread a tile more than the other.
  bool even_rows;
};

// Rows [row0, row1) of the tasks in row `tm` of the grid, and the most rows in one of
// their blocks.
struct TaskRows {
  int64_t row0, row1, mc_max;
};
TaskRows task_rows(const F32Job& job, int64_t tm) {
  const GemmParams& p = *job.p;
  const int64_t mr = job.isa->mr;
  const int64_t mt0 = job.m_tiles * tm / job.mt, mt1 = job.m_tiles * (tm + 1) / job.mt;
  TaskRows r{mt0 * mr, std::min(p.m, mt1 * mr),
             std::max(mr, std::min<int64_t>((kMC / mr) * mr, (mt1 - mt0) * mr))};
  if (job.even_rows) {  // equal even row counts: 32 rows on 2 threads = 16 + 16, not 18 + 14
    r.row0 = p.m * tm / job.mt / 2 * 2;
    r.row1 = tm + 1 == job.mt ? p.m : p.m * (tm + 1) / job.mt / 2 * 2;
  }
  return r;
}

// Rows in the block of a task's rows that starts at `ic`: mc_max, except that the last
// block takes a remainder of less than a tile with it.
int64_t block_rows(const TaskRows& r, int64_t ic, int64_t mr) {
  return r.row1 - ic < r.mc_max + mr ? r.row1 - ic : r.mc_max;
}

// Task `task` of product bi (bi = task / (mt*nt)).
void run_f32_task(const F32Job& job, int64_t task) {
  const GemmParams& p = *job.p;
  const Isa& isa = *job.isa;
  const int64_t mr = isa.mr, nr = isa.nr;
  const int64_t bi = task / (job.mt * job.nt);
  task %= job.mt * job.nt;
  const float* a = job.a + bi * p.stride_a;
  const float* b = job.b + bi * p.stride_b;
  float* c = job.c + bi * p.stride_c;
  const int64_t tm = task / job.nt, tn = task % job.nt;
  const int64_t jp0 = job.n_panels * tn / job.nt, jp1 = job.n_panels * (tn + 1) / job.nt;
  const TaskRows rows = task_rows(job, tm);
  const int64_t row0 = rows.row0, row1 = rows.row1, mc_max = rows.mc_max;
  if (row0 >= row1 || jp0 >= jp1) return;
  const int64_t col0 = jp0 * nr, col1 = std::min(p.n, jp1 * nr);
  const float alpha = static_cast<float>(p.alpha);

  const Epilogue& epi = *job.epi;

  if (p.k == 0) {  // C = (accumulate ? C : 0), then the epilogues
    if (!p.accumulate)
      for (int64_t i = row0; i < row1; ++i)
        std::fill(c + i * p.ldc + col0, c + i * p.ldc + col1, 0.f);
    epi(bi, row0, row1, col0, col1);
    if (job.rows) (*job.rows)(row0, row1);
    return;
  }

  const int64_t kstep = job.kstep;
  const int64_t epi_panels = std::max<int64_t>(1, kEpiCols / nr);
  const int64_t padded_n = job.n_panels * nr;
  // With one block of rows per task each packed panel is used once per K slice, so when
  // the task's slice would not stay in L2 a group of panels (kGroupBytes) is packed
  // right before its tiles and read back from L2, instead of the whole slice first
  // (VGG's FC layer, 64x4096x4096: a 2.6 MB slice per thread went out to L3 and back).
  // A group rather than one panel: each row of B is then read several cache lines at a
  // time. BM_GemmF32 64x4096x4096, least of 12 in 3 interleaved rounds: 16.2 -> 14.5 ms,
  // with B transposed (its input gradient) 16.0 -> 14.9 ms.
  const bool one_row_block = row1 - row0 < mc_max + mr;
  const bool big_slice = (jp1 - jp0) * nr * kstep * int64_t(sizeof(float)) > 4 * kGroupBytes;
  const int64_t group = !job.packed_b && !job.direct_b && one_row_block && big_slice
                            ? std::max<int64_t>(1, kGroupBytes / (kstep * nr * 4))
                            : 0;
  const int64_t packed_panels = job.direct_b ? 1 : group ? group : jp1 - jp0;
  float* bp = job.packed_b ? nullptr
                           : t_packed_b.get(static_cast<size_t>(kstep * packed_panels * nr) + 16);
  // Packed A block: at most mc_max + mr - 1 rows (below), in tiles of at most mr.
  float* ap = job.direct_a || job.packed_a
                  ? nullptr
                  : t_packed_a.get(static_cast<size_t>((mc_max + 2 * mr) * kstep) + 16);
  const gemm::ALayout layout =
      !job.direct_a ? gemm::kPackedA : p.trans_a ? gemm::kDirectTransA : gemm::kDirectA;
  alignas(64) float tile[16 * 64];
  for (int64_t pc = 0; pc < p.k; pc += kstep) {
    const int64_t kc = std::min(kstep, p.k - pc);
    const bool last = pc + kc >= p.k;
    if (job.packed_b) bp = const_cast<float*>(job.packed_b) + pc * padded_n + jp0 * kc * nr;
    else if (group) {  // packed a group at a time below
    } else if (!job.direct_b) pack_b(b, p.ldb, p.trans_b, pc, kc, col0, col1 - col0, nr, bp);
    else if (col1 < jp1 * nr)  // B in place: only the partial last panel is packed
      pack_b(b, p.ldb, false, pc, kc, (jp1 - 1) * nr, col1 - (jp1 - 1) * nr, nr, bp);
    const Epi e{alpha, p.accumulate || pc > 0};
    for (int64_t ic = row0, mc; ic < row1; ic += mc) {
      mc = block_rows(rows, ic, mr);
      if (job.packed_a) ap = const_cast<float*>(job.packed_a) + pc / kstep * job.packed_a_slice + ic * kc;
      else if (!job.direct_a) pack_a(a, p.lda, p.trans_a, ic, mc, pc, kc, mr, ap);
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const int64_t j0 = jp * nr, nj = std::min(nr, p.n - j0);
        const bool in_place = job.direct_b && nj == nr;
        if (group && (jp - jp0) % group == 0)
          pack_b(b, p.ldb, p.trans_b, pc, kc, j0, std::min(col1 - j0, group * nr), nr, bp);
        const float* bpanel = in_place       ? b + pc * p.ldb + j0
                              : job.direct_b ? bp
                              : group        ? bp + (jp - jp0) % group * kc * nr
                                             : bp + (jp - jp0) * kc * nr;
        const int64_t ldbk = in_place ? p.ldb : nr;
        for (int64_t ir = 0, t = 0, ni; ir < mc; ir += ni, ++t) {
          ni = tile_rows(ir, mc, mr);
          const int64_t i = ic + ir;
          const float* at = layout == gemm::kPackedA      ? ap + t * mr * kc
                            : layout == gemm::kDirectA    ? a + i * p.lda + pc
                                                          : a + pc * p.lda + i;
          const MicroFn fn = isa.kernel(layout, ni);
          float* cdst = c + i * p.ldc + j0;
          if (nj == nr) {
            fn(kc, at, p.lda, bpanel, ldbk, cdst, p.ldc, e);
          } else {
            fn(kc, at, p.lda, bpanel, ldbk, tile, nr, Epi{});
            store_edge(tile, nr, ni, nj, cdst, p.ldc, e);
          }
        }
        // After each group of epi_panels panels (and the task's last panel) the strip of
        // this row block over the group is final: hand it to the epilogue while in cache.
        if (last && ((jp - jp0) % epi_panels == epi_panels - 1 || jp + 1 == jp1)) {
          const int64_t first = jp0 + (jp - jp0) / epi_panels * epi_panels;
          epi(bi, ic, ic + mc, first * nr, j0 + nj);
        }
      }
      // Every column of these rows is final (the task owns all columns: nt == 1).
      if (last && job.rows) (*job.rows)(ic, ic + mc);
    }
  }
}

// Rough cost in cycles of one task of an (mt x nt) grid: the padded block's FMAs at
// 16 lanes per cycle plus packing (B: row copies; A: a transposing copy).
double task_cost(const GemmParams& p, const Isa& isa, bool direct_a, bool direct_b,
                 int64_t m_tiles, int64_t n_panels, int64_t mt, int64_t nt) {
  double rows = double((m_tiles + mt - 1) / mt * isa.mr);
  double cols = double((n_panels + nt - 1) / nt * isa.nr);
  double k = double(p.k);
  double compute = rows * cols * k / 16.0;
  double pack_b =
      p.packed_b != kUnpackedB || direct_b ? 0.0 : cols * k * (p.trans_b ? 1.0 : 0.5);
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
  // Row-major B is read in place when few rows use it (see the top comment).
  job.direct_b = !p.trans_b && p.packed_b == kUnpackedB && p.m <= kDirectBMaxRows &&
                 p.ldb % kDirectBBadStride != 0;
  double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
  if (flops < kMinParallelFlops || threads == 1) {
    job.mt = job.nt = 1;
    return job;
  }
  if (whole_rows) {  // a row epilogue needs every column of a row in one task
    job.mt = std::min(job.m_tiles, threads);
    job.nt = 1;
    // A ragged last tile and few tiles per task: equal even row counts instead
    // (bench BM_GemmRecurrentStep, GRU 32x768x256: 72.5 -> 63.3 us, least of 12).
    job.even_rows = p.m != job.m_tiles * isa.mr && job.m_tiles <= 4 * job.mt && p.m >= 2 * job.mt;
    return job;
  }
  double best = 0;
  for (int64_t mt = 1; mt <= threads; ++mt) {
    if (threads % mt) continue;
    int64_t nt = threads / mt;
    if (mt > job.m_tiles || nt > job.n_panels) continue;
    double cost =
        task_cost(p, isa, job.direct_a, job.direct_b, job.m_tiles, job.n_panels, mt, nt);
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

// Whether row-major A is packed once for all tasks (pack_all_a) rather than read in
// place: when the grid splits the columns, so that several tasks read the same rows, and
// the GEMM is large. A packed panel is one contiguous stream for the micro-kernel where
// in place it reads MR rows lda apart (4 KB for 1024 columns: all in one L1 set, with the
// B micro-panel's lines). Each task packing for itself would repeat the copy per task.
// Measured in one process against the previous driver and OpenBLAS's sgemm, in turn,
// 2 threads on the Zen 3 VM (least and first quartile of 16-24 calls, four runs): 1024^3,
// 256x1024x1024 and 64x4096x4096 1.01-1.16x faster in all 24 figures (1024^3 least 18.0
// -> 15.6 ms, OpenBLAS 16.0); 256x784x256 (0.1 GFLOP, below kShareAMinFlops) 0.91-1.04x,
// so small GEMMs keep A in place. On one thread (one task) packing A was no faster than
// reading it in place (0.98-1.03x).
bool share_packed_a(const GemmParams& p, const F32Job& job) {
  const double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
  return !p.trans_a && job.nt > 1 && p.batch == 1 &&
         p.k > 0 && !job.even_rows && p.m >= kShareAMinRows &&
         job.n_panels / job.nt >= kShareAMinPanels && flops >= kShareAMinFlops;
}

// Packs all of op(A) into `packed` in the layout run_f32_task reads when job.packed_a is
// set: per K slice (packed_a_slice floats each), row tile t of the grid at t * MR * kc,
// written block by block as each task's rows are split (task_rows, block_rows), so the
// tiles are the ones its micro-kernels take.
void pack_all_a(F32Job& job, const float* a, float* packed) {
  const GemmParams& p = *job.p;
  const int64_t mr = job.isa->mr, slices = (p.k + job.kstep - 1) / job.kstep;
  job.packed_a_slice = job.m_tiles * mr * job.kstep;
  // Units of work: (K slice, row block), over the blocks of every row of tasks.
  std::vector<std::pair<int64_t, int64_t>> blocks;  // first row, rows
  for (int64_t tm = 0; tm < job.mt; ++tm) {
    const TaskRows r = task_rows(job, tm);
    for (int64_t ic = r.row0; ic < r.row1; ic += blocks.back().second)
      blocks.push_back({ic, block_rows(r, ic, mr)});
  }
  const int64_t nb = static_cast<int64_t>(blocks.size());
  parallel_for(slices * nb, 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t pc = u / nb * job.kstep, kc = std::min(job.kstep, p.k - pc);
      const auto [ic, mc] = blocks[u % nb];
      pack_a(a, p.lda, false, ic, mc, pc, kc, mr,
             packed + pc / job.kstep * job.packed_a_slice + ic * kc);
    }
  });
  job.packed_a = packed;
  job.direct_a = false;
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
  if (share_packed_a(p, job)) {
    const size_t slices = static_cast<size_t>((p.k + job.kstep - 1) / job.kstep);
    pack_all_a(job, a, t_shared_a.get(slices * job.m_tiles * job.isa->mr * job.kstep + 16));
  }
  job.a = a;
  job.b = b;
  job.c = c;
  // Every task of every product in one fork/join: a batch of products too small to
  // split (attention's per-head matmuls) runs one product per task across the threads.
  const int64_t tasks = job.mt * job.nt * p.batch;
  const double flops = 2.0 * double(p.m) * double(p.n) * double(p.k) * double(p.batch);
  if (tasks == 1 || threads == 1 || flops < kMinParallelFlops) {
    for (int64_t t = 0; t < tasks; ++t) run_f32_task(job, t);
  } else {
    parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) run_f32_task(job, t);
    });
  }
  if (rows && !row_epilogue) rows(0, p.m);  // batched: after every product (not generated)
}

}  // namespace

const char* gemm_f32_isa() { return current_isa().name; }

bool gemm_force_isa(const char* name) {
  if (!name || !*name) {
    current_isa() = gemm::detect_isa();
    return true;
  }
  return gemm::isa_by_name(name, &current_isa());
}

void gemm_f32(const GemmParams& p, const float* a, const float* b, float* c,
              const Epilogue& epi, float* packed_b, const RowEpilogue& rows) {
  run_f32(p, a, b, c, epi, global_pool().active_threads(), packed_b, rows);  // one per CPU
}

void gemm_f32_serial(const GemmParams& p, const float* a, const float* b, float* c,
                     const Epilogue& epi) {
  run_f32(p, a, b, c, epi, 1, nullptr, {});
}

void gemm_f32_planned_for(int64_t threads, const GemmParams& p, const float* a, const float* b,
                          float* c, const Epilogue& epi) {
  run_f32(p, a, b, c, epi, threads, nullptr, {});
}

}  // namespace kiln

extern "C" void kiln_gemm_f32(const kiln::GemmParams* p, const float* a, const float* b, float* c,
                              const float* alpha_scale, float* packed,
                              kiln::EpilogueFn epilogue, kiln::RowEpilogueFn rows,
                              void** buffers) {
  kiln::gemm_f32(kiln::with_alpha_scale(*p, alpha_scale), a, b, c,
                 kiln::Epilogue{epilogue, buffers}, packed, kiln::RowEpilogue{rows, buffers});
}
