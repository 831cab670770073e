// Convolution (see conv.h): im2col + the packed GEMM of runtime/gemm.cpp in general,
// register-tiled f32 kernels (AVX2 + FMA, chosen at run time: direct_isa) for unit column
// stride (conv_direct.cpp), for 12-16 filters (conv_filter_lanes.cpp) and for input
// gradients of 32+ images (conv_batch_lanes.cpp), on small maps one GEMM per block of
// images, and on maps of a few pixels one GEMM over the whole batch with the weights
// expanded into a dense matrix (conv_tiny_maps.cpp: 256->256 3x3 on 2x2, one thread,
// forward / input grad / weight grad 14.1 / 16.5 / 14.6 ms folded, 8.0 / 9.9 / 8.5 ms
// dense; the folded path multiplies 5 padding taps of 9 there).
//
// Choice, by measurement (GFLOP/s on one core of the 2-core Zen 4 dev VM, thread CPU
// time, min of 25 runs, zoo shapes of bench/conv_bench.cpp; GEMM 1024^3: 88 GFLOP/s;
// best of 3; the machine is shared, so runs of the same code still differ by ~5%):
//                      im2col + GEMM          final (* = direct kernel)
//                      fwd   dgrad  wgrad      fwd   dgrad  wgrad
//   AlexNet 11x11 s4    68    68     70         74    67     77
//   VGG 64->64 3x3      81    78     75         90*   90*    75
//   3x3 stride 2        71    76     65         71    76     64
//   1x1 256->64         75    85     67         74    84     69
// im2col + GEMM reaches 75-95% of the GEMM peak once channels are many, but LeNet's
// layers are mostly copying: building col and packing it costs more than the multiply
// when only 6 or 16 filters use each element. A direct kernel that keeps 6 filters x 16
// output columns in AVX2 registers reads the (padded) input in place, with no col and no
// packing, and beats the GEMM on VGG's 3x3 too. It needs unit column stride (strided
// columns would need gathers), so AlexNet's stride 4 and ResNet's stride 2 stay on
// im2col, and 1x1 convolutions are plain GEMMs on the image. The input gradient of a
// unit-stride convolution is a forward convolution of dy with the flipped, transposed
// kernel, so it takes the same kernel. The direct weight gradient (6 filters x 2 taps,
// lane-wise sums) wins only with few filters and wide rows (use_direct_wgrad); otherwise
// the GEMM's reuse of col over the filters is worth more. The GEMM micro-kernel is AVX2
// on this CPU, AVX-512 being no faster on Zen 4 (gemm.cpp, detect_isa).
//
// LeNet (2 threads, batch 256, bench/conv_bench.cpp, least of 6 runs with the VM's other
// work paused; a register tile runs at about 110 GFLOP/s a core here):
//                         before                  now
//                         fwd   dgrad  wgrad      fwd    dgrad  wgrad
//   LeNet 1->6 5x5 pad 2   92    43     93        133d    43     119d
//   LeNet 6->16 5x5        95    80     62        186f   166b    198f
// (d direct kernel, f filters in lanes, b images in lanes; 1->6's input gradient, which
// LeNet never needs, stays on im2col.) The old direct kernel left 6 of 16 columns of a
// tile empty on 6->16's 10-wide rows; its 16 filters are exactly two vectors, so the
// filter-lanes kernel tiles any 6 pixels (across rows and images) with full lanes, and
// its weight gradient tiles 6 taps with dy^T pixel-major as the vectors. With 6 filters
// (1->6) that kernel fills 6 of 8 lanes and, broadcasting one input per FMA, is load-
// bound (92 of 115 GFLOP/s for a 10-pixel tile on one core, so 69 useful), so 1->6 stays
// on the direct kernel, whose 28-wide rows fill 28 of 32 columns; that kernel had been
// losing 30% to AMD's microcoded masked stores at the rows' partial vectors, and its
// weight gradient to a 4-vector inner loop (now one flat list of a band's vectors). The
// input gradient of 6->16 as a forward pass reads dy padded by 4 on each side: half of
// its taps multiply zeros, which the images-in-lanes kernel skips per tile. A LeNet
// training step (bench lenet_train, least of 12): 7.77-8.05 ms before, 4.79 ms now.
//
// Small maps fold the batch into the GEMM. Per image, the GEMM has oh*ow columns: 1 on
// ResNet-18's 1x1 maps at --size 32 and 4 on its 2x2 maps, a GEMV that ran at 5-22
// GFLOP/s (512->512 3x3 on 1x1, batch 256: 220 ms a call). The folded path runs one GEMM
// per block of images side by side (about kFoldCols = 256 columns; col built a chunk of
// rows at a time, kFoldChunkElems, so that it stays in L2 while the GEMM packs it): the
// forward scatters [fg, nb, ohw] into NCHW, the input gradient gathers dy side by side
// and col2ims image by image, the weight gradient sums block after block (blocks and
// slices from the shape only, as below). col comes from a per-tap list of the pixels
// each tap reads (no branch per element: 76 -> 88 GFLOP/s on 128->128 on 4x4), and taps
// that read only padding are left out of the GEMMs (8 of 9 on a 1x1 map, 5 of 9 on a 2x2
// map with stride 2), so those shapes' rates below, counted with every tap as the bench
// does, exceed the GEMM's. Crossover, per image vs folded, one core as above (3x3 pad 1
// unless noted; * = direct kernel):
//                               per image              folded
//                             fwd   dgrad  wgrad     fwd   dgrad  wgrad
//   32->32 on 4x4              31    36     28        57    56     56
//   32->32 on 8x8              63*   62*    43        55    52     54
//   32->32 on 12x12            67*   66*    53        54    50     52
//   64->64 on 4x4              49    55     42        76    73     74
//   64->64 on 8x8              70*   70*    63        74    71     72
//   64->64 on 12x12            75*   75*    69        74    68     71
//   64->64 on 16x16           100*   99*    70        71    65     68
//   128->128 on 8x8            73*   71*    67        88    86     86
//   128->128 on 12x12          77*   75*    67        87    84     84
//   128->128 on 16x16         101*   99*    67        85    81     81
//   1x1 256->64 on 2x2         21    23     37        70    59     69
//   1x1 256->64 on 3x3         47    49     60        69    60     70
//   1x1 256->64 on 4x4         96   100     73        73    61     70
//   1x1 480->192 on 6x6        74    69     85        89    83     87
//   1x1 256->64 on 8x8         84    80     72        71    61     69
// Folding wins below 16 pixels everywhere, and up to 8x8 except against the direct
// kernel with few channels (32: the folded GEMM's 64 flops per col element do not pay
// for building it); with many channels it wins beyond 8x8 too, but there the direct
// kernel is close. A 1x1 convolution whose pixels fill whole 16-column panels reads the
// image in place per image, which no copy beats. Hence fold_batch: oh*ow <= 64, except
// such 1x1 convolutions (4x4, 8x8 maps). Shapes of bench/conv_bench.cpp, batch 256 (the
// GoogLeNet one 128), before (per image) and after:
//                               before                 after
//   64->64 on 8x8              69    69     61        72    70     71
//   64->128 s2 on 8x8          67    62     53        87    82     80
//   1x1 64->128 s2 on 8x8      64    55     55        78    66     76
//   128->128 on 4x4            65    58     52        88    86     82
//   128->256 s2 on 4x4         22    19     29        96    86     90
//   256->256 on 2x2            22    21     29        95    91     92
//   256->512 s2 on 2x2          6     5      8       164   172    152   (4 taps live)
//   512->512 on 1x1             6     5      7       698   646    582   (1 tap live)
//   1x1 256->64 on 4x4         95    99     69        97    99     75   (per image)
//   1x1 480->192 on 6x6        75    71     84        90    84     86
//
// Per kind (one "image group" = one image's channels of one group):
//   forward      y[i,g]  = W[g] @ col(x[i,g])          tasks: image group x column block
//                (direct: image group x band of output rows)
//   input grad   dx[i,g] = col2im(W[g]^T @ dy[i,g])    tasks: image group x channel block
//   weight grad  dW[g]   = sum_i dy[i,g] @ col(x[i,g])^T
//                tasks: batch slice x group x block of dW; a fixed number of slices
//                (from the shape, never the thread count) each sum their images in order
//                into a partial, and the partials are added in slice order, so the result
//                is the same bits on any number of threads.
// col is the im2col matrix [cg*kh*kw, oh*ow] of an image group, built one block of
// columns at a time into a thread-local scratch of at most kScratchElems elements; a
// 1x1 stride-1 unpadded convolution skips it (col is the image). Each task runs a
// single-threaded GEMM; when there are fewer tasks than threads the tasks run one after
// another with their GEMMs split over the pool instead. On small maps (fold_batch) the
// tasks are group x block of images, and the weight gradient's slices span at least
// kFoldCols columns. f64 runs the im2col and folded code on the simple f64 GEMM.
#include "runtime/conv.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/conv_internal.h"
#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace kiln {

namespace conv_detail {

bool direct_isa() {
#if defined(__x86_64__)
  // The GEMM forced to "generic" (tests) turns the direct path off too.
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         std::strcmp(gemm_f32_isa(), "generic") != 0;
#else
  return false;
#endif
}

// dw (+)= alpha * (partial[0] + partial[1] + ...) for rows [r0, r1) of the view
// [groups*fg, ckk], then the epilogue on those rows.
namespace {
template <typename T>
void reduce_partials(const ConvParams& p, const Dims& d, const T* partial, int64_t slices,
                     int64_t r0, int64_t r1, T* dw, const Epilogue& epi) {
  constexpr int64_t kChunk = 256;
  const int64_t elems = d.groups * d.fg * d.ckk;
  T sum[kChunk];
  for (int64_t e0 = r0 * d.ckk; e0 < r1 * d.ckk; e0 += kChunk) {
    const int64_t len = std::min(kChunk, r1 * d.ckk - e0);
    std::copy(partial + e0, partial + e0 + len, sum);
    for (int64_t s = 1; s < slices; ++s) {
      const T* ps = partial + s * elems + e0;
      for (int64_t e = 0; e < len; ++e) sum[e] += ps[e];
    }
    const T alpha = T(p.alpha);
    T* out = dw + e0;
    for (int64_t e = 0; e < len; ++e)
      out[e] = p.accumulate ? alpha * sum[e] + out[e] : alpha * sum[e];
  }
  for (int64_t g = r0 / d.fg; g * d.fg < r1; ++g)
    epi(g, std::max(r0, g * d.fg) - g * d.fg, std::min(r1, (g + 1) * d.fg) - g * d.fg, 0, d.ckk);
}
}  // namespace

// reduce_partials over all of dw, in parallel (about 16K additions per chunk).
template <typename T>
void reduce_all_partials(const ConvParams& p, const Dims& d, const T* partial, int64_t slices,
                         T* dw, const Epilogue& epi) {
  const int64_t grain = std::max<int64_t>(1, 16384 / (slices * d.ckk));
  parallel_for(d.groups * d.fg, grain, [&](int64_t r0, int64_t r1) {
    reduce_partials(p, d, partial, slices, r0, r1, dw, epi);
  });
}
template void reduce_all_partials<float>(const ConvParams&, const Dims&, const float*, int64_t,
                                         float*, const Epilogue&);
template void reduce_all_partials<double>(const ConvParams&, const Dims&, const double*,
                                          int64_t, double*, const Epilogue&);

}  // namespace conv_detail

namespace {

using namespace conv_detail;

// Columns per im2col block for `rows` rows of col: as many as fit in the scratch,
// a multiple of kColAlign, all of them when they fit.
int64_t column_block(int64_t rows, int64_t cols) {
  const int64_t fit = kScratchElems / std::max<int64_t>(1, rows) / kColAlign * kColAlign;
  return std::max<int64_t>(1, std::min(std::max(kColAlign, fit), cols));
}

// A row of col: the tap (channel c, kernel row ki, kernel column kj), k = (c*kh + ki)*kw + kj.
// Stepped incrementally along rows, since divisions per row add up on small images.
struct Tap {
  int64_t c, ki, kj;
  Tap(const ConvParams& p, int64_t k) : c(k / (p.kh * p.kw)), ki(k / p.kw % p.kh), kj(k % p.kw) {}
  void next(const ConvParams& p) {
    if (++kj < p.kw) return;
    kj = 0;
    if (++ki < p.kh) return;
    ki = 0;
    ++c;
  }
};

// The part of a row of col on one output row: col columns [j, j + len); of these,
// [j + lo, j + hi) read the input at src, src + stride_w, ... (offsets in the image
// group) and the others read padding.
struct Run {
  int64_t j, len, lo, hi, src;
};

// Calls f(run) for the runs of row `tap` of col over columns [j0, j1), in order.
template <typename F>
void for_each_run(const ConvParams& p, const Tap& tap, int64_t j0, int64_t j1, F&& f) {
  const int64_t sw = p.stride_w;
  const int64_t iw0 = tap.kj * p.dil_w - p.pad_w;  // input column read by ow = 0
  // The ow whose input column ow*sw + iw0 lies in [0, w).
  const int64_t ow_lo = std::max<int64_t>(0, sw == 1 ? -iw0 : ceil_div(-iw0, sw));
  const int64_t ow_hi = std::max(ow_lo, sw == 1 ? p.w - iw0 : ceil_div(p.w - iw0, sw));
  // Output rows are walked incrementally: a division per run would cost as much as
  // copying a LeNet row.
  int64_t ow0 = j0 % p.ow;
  int64_t ih = j0 / p.ow * p.stride_h - p.pad_h + tap.ki * p.dil_h;
  for (int64_t j = j0; j < j1; ow0 = 0, ih += p.stride_h) {
    const int64_t ow1 = std::min(p.ow, ow0 + (j1 - j));
    Run r{j, ow1 - ow0, 0, 0, 0};
    if (ih >= 0 && ih < p.h) {
      const int64_t lo = std::clamp(ow_lo, ow0, ow1), hi = std::clamp(ow_hi, lo, ow1);
      r.lo = lo - ow0;
      r.hi = hi - ow0;
      r.src = (tap.c * p.h + ih) * p.w + lo * sw + iw0;
    }
    f(r);
    j += r.len;
  }
}

// Image rows are short (tens of elements): add them in fixed 32-byte chunks, which
// compile to inline vector moves (copy_row, conv_internal.h, copies them so).
template <typename T>
void add_row(const T* s, int64_t n, T* d) {
  typedef T V __attribute__((vector_size(32)));
  int64_t t = 0;
  for (; t + int64_t(sizeof(V) / sizeof(T)) <= n; t += sizeof(V) / sizeof(T)) {
    V x, y;
    std::memcpy(&x, d + t, sizeof(V));
    std::memcpy(&y, s + t, sizeof(V));
    x += y;
    std::memcpy(d + t, &x, sizeof(V));
  }
  for (; t < n; ++t) d[t] += s[t];
}

// Rows [k0, k1) x columns [j0, j1) of col for the image group x, into dst (row stride
// j1 - j0).
template <typename T>
void im2col(const ConvParams& p, const T* x, int64_t k0, int64_t k1, int64_t j0, int64_t j1,
            T* dst) {
  const int64_t ld = j1 - j0, sw = p.stride_w;
  Tap tap(p, k0);
  for (int64_t k = k0; k < k1; ++k, tap.next(p)) {
    T* row = dst + (k - k0) * ld;
    for_each_run(p, tap, j0, j1, [&](const Run& r) {
      T* d = row + (r.j - j0);
      const T* s = x + r.src;
      for (int64_t t = 0; t < r.lo; ++t) d[t] = T(0);
      if (sw == 1) {
        copy_row(s, r.hi - r.lo, d + r.lo);
      } else {
        for (int64_t t = r.lo; t < r.hi; ++t) d[t] = s[(t - r.lo) * sw];
      }
      for (int64_t t = r.hi; t < r.len; ++t) d[t] = T(0);
    });
  }
}

// The transpose of im2col: adds rows [k0, k1) x columns [j0, j1) of col (row stride
// j1 - j0) to the input positions they were read from in the image group dx.
template <typename T>
void col2im_add(const ConvParams& p, const T* col, int64_t k0, int64_t k1, int64_t j0,
                int64_t j1, T* dx) {
  const int64_t ld = j1 - j0, sw = p.stride_w;
  Tap tap(p, k0);
  for (int64_t k = k0; k < k1; ++k, tap.next(p)) {
    const T* row = col + (k - k0) * ld;
    for_each_run(p, tap, j0, j1, [&](const Run& r) {
      const T* s = row + (r.j - j0) + r.lo;
      T* d = dx + r.src;
      if (sw == 1) {
        add_row(s, r.hi - r.lo, d);
      } else {
        for (int64_t t = 0; t < r.hi - r.lo; ++t) d[t * sw] += s[t];
      }
    });
  }
}

// The task grid of a weight gradient over dW [groups, fg, width]: batch slices x groups x
// blocks of dW rows x blocks of dW columns. Slices come from the shape only (they fix the
// order of the sum); blocks of dW, when slices and groups alone are too few for the pool,
// split columns first (each task then builds only its own rows of col), then rows.
struct WgradTask {
  int64_t s, g, m0, m1, k0, k1;  // slice, group, dW rows [m0, m1) x columns [k0, k1)
};
struct WgradGrid {
  int64_t slices, rblocks, cblocks;
  int64_t tasks(const Dims& d) const { return slices * d.groups * rblocks * cblocks; }
  WgradTask task(const Dims& d, int64_t width, int64_t t) const {
    const auto [m0, m1] = aligned_block(d.fg, kRowAlign, t / cblocks % rblocks, rblocks);
    const auto [k0, k1] = aligned_block(width, kColAlign, t % cblocks, cblocks);
    return {t / (d.groups * rblocks * cblocks), t / (rblocks * cblocks) % d.groups, m0, m1, k0, k1};
  }
};
WgradGrid wgrad_grid(const Dims& d, int64_t slices, int64_t width) {
  WgradGrid grid;
  grid.slices = slices;
  const int64_t want = 2 * global_pool().active_threads(), base = grid.slices * d.groups;
  grid.cblocks = std::clamp<int64_t>(ceil_div(want, base), 1, ceil_div(width, kColAlign));
  grid.rblocks =
      std::clamp<int64_t>(ceil_div(want, base * grid.cblocks), 1, ceil_div(d.fg, kRowAlign));
  return grid;
}

// y[i,g] = W[g] @ col(x[i,g]), a block of output pixels per task. View [n*groups, fg, ohw].
template <typename T>
void forward(const ConvParams& p, const Dims& d, const T* x, const T* w, T* y,
             const Epilogue& epi) {
  const int64_t nb = d.pointwise ? d.ohw : column_block(d.ckk, d.ohw);
  const int64_t blocks = ceil_div(d.ohw, nb);
  run_tasks(p.n * d.groups * blocks, [&](int64_t t, bool parallel) {
    const int64_t ig = t / blocks, g = ig % d.groups;
    const int64_t j0 = t % blocks * nb, j1 = std::min(d.ohw, j0 + nb);
    const T* xg = x + ig * d.cg * d.hw;
    const T* b = xg + j0;
    int64_t ldb = d.hw;
    if (!d.pointwise) {
      T* col = scratch<T>().task.get(d.ckk * (j1 - j0));
      im2col(p, xg, 0, d.ckk, j0, j1, col);
      b = col;
      ldb = j1 - j0;
    }
    GemmParams q = gemm_params(d.fg, j1 - j0, d.ckk, d.ckk, ldb, d.ohw, false, false,
                               p.accumulate, p.alpha);
    gemm(q, w + g * d.fg * d.ckk, b, y + ig * d.fg * d.ohw + j0, epi.at(ig, 0, j0), parallel);
  });
}

// dx[i,g] = W[g]^T @ dy[i,g] for a 1x1 convolution, a block of pixels per task.
template <typename T>
void input_grad_pointwise(const ConvParams& p, const Dims& d, const T* dy, const T* w, T* dx,
                          const Epilogue& epi) {
  const int64_t nb = column_block(d.cg, d.hw);
  const int64_t blocks = ceil_div(d.hw, nb);
  run_tasks(p.n * d.groups * blocks, [&](int64_t t, bool parallel) {
    const int64_t ig = t / blocks, g = ig % d.groups;
    const int64_t j0 = t % blocks * nb, j1 = std::min(d.hw, j0 + nb);
    GemmParams q = gemm_params(d.cg, j1 - j0, d.fg, d.cg, d.hw, d.hw, true, false,
                               p.accumulate, p.alpha);
    gemm(q, w + g * d.fg * d.cg, dy + ig * d.fg * d.hw + j0, dx + ig * d.cg * d.hw + j0,
         epi.at(ig, 0, j0), parallel);
  });
}

// dx[i,g] = col2im(W[g]^T @ dy[i,g]): per task the channels [c0, c1) of one image group
// (their col rows scatter only into those channels), column blocks in order.
// View [n*groups, cg, hw].
template <typename T>
void input_grad(const ConvParams& p, const Dims& d, const T* dy, const T* w, T* dx,
                const Epilogue& epi) {
  if (d.pointwise) return input_grad_pointwise(p, d, dy, w, dx, epi);
  const int64_t image_groups = p.n * d.groups;
  // Split channels only when there are too few image groups to keep the pool busy.
  const int64_t cblocks = std::clamp<int64_t>(
      ceil_div(2 * global_pool().active_threads(), image_groups), 1, d.cg);
  const int64_t nb = column_block(d.ckk, d.ohw);
  parallel_for(image_groups * cblocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ig = t / cblocks, g = ig % d.groups, cb = t % cblocks;
      const int64_t c0 = d.cg * cb / cblocks, c1 = d.cg * (cb + 1) / cblocks;
      T* dxg = dx + ig * d.cg * d.hw;
      if (!p.accumulate) std::fill(dxg + c0 * d.hw, dxg + c1 * d.hw, T(0));
      const int64_t rows = (c1 - c0) * d.kk;
      T* col = scratch<T>().task.get(rows * nb);
      for (int64_t j0 = 0; j0 < d.ohw; j0 += nb) {
        const int64_t j1 = std::min(d.ohw, j0 + nb);
        GemmParams q = gemm_params(rows, j1 - j0, d.fg, d.ckk, d.ohw, j1 - j0, true, false,
                                   false, p.alpha);
        gemm(q, w + g * d.fg * d.ckk + c0 * d.kk, dy + ig * d.fg * d.ohw + j0, col, {}, false);
        col2im_add(p, col, c0 * d.kk, c1 * d.kk, j0, j1, dxg);
      }
      epi(ig, c0, c1, 0, d.hw);
    }
  });
}

// dW[g] = sum_i dy[i,g] @ col(x[i,g])^T. View [groups, fg, ckk].
template <typename T>
void weight_grad(const ConvParams& p, const Dims& d, const T* x, const T* dy, T* dw,
                 const Epilogue& epi) {
  const int64_t elems = d.groups * d.fg * d.ckk;
  const WgradGrid grid =
      wgrad_grid(d, weight_grad_slices(p.n, elems * int64_t(sizeof(T))), d.ckk);
  const int64_t slices = grid.slices;
  const bool direct = slices == 1;  // a single slice sums straight into dw
  T* partial = direct ? nullptr : scratch<T>().shared.get(slices * elems);
  // Pixel blocks (the K of each GEMM) from the shape only, like the slices: they fix
  // the order of the sum.
  const int64_t nb = d.pointwise ? d.ohw : column_block(d.ckk, d.ohw);
  run_tasks(grid.tasks(d), [&](int64_t t, bool parallel) {
    const auto [s, g, m0, m1, k0, k1] = grid.task(d, d.ckk, t);
    if (m0 >= m1 || k0 >= k1) return;
    T* target = (direct ? dw : partial + s * elems) + (g * d.fg + m0) * d.ckk + k0;
    const int64_t i0 = p.n * s / slices, i1 = p.n * (s + 1) / slices;
    const int64_t blocks = ceil_div(d.ohw, nb), steps = (i1 - i0) * blocks;
    // One GEMM per (image, pixel block) in order, summing into target.
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t i = i0 + step / blocks, j0 = step % blocks * nb;
      const int64_t j1 = std::min(d.ohw, j0 + nb);
      const T* xg = x + (i * d.groups + g) * d.cg * d.hw;
      const T* b = xg + k0 * d.hw + j0;
      int64_t ldb = d.hw;
      if (!d.pointwise) {
        T* col = scratch<T>().task.get((k1 - k0) * (j1 - j0));
        im2col(p, xg, k0, k1, j0, j1, col);
        b = col;
        ldb = j1 - j0;
      }
      const bool last = step + 1 == steps;
      GemmParams q = gemm_params(m1 - m0, k1 - k0, j1 - j0, d.ohw, ldb, d.ckk, false, true,
                                 step > 0 || (direct && p.accumulate), direct ? p.alpha : 1.0);
      gemm(q, dy + ((i * d.groups + g) * d.fg + m0) * d.ohw + j0, b, target,
           direct && last ? epi.at(g, m0, k0) : Epilogue{}, parallel);
    }
  });
  if (direct) return;
  reduce_all_partials(p, d, partial, slices, dw, epi);
}

// The result of a convolution whose sums are empty (no taps, filters, images or output
// pixels): c = (accumulate ? c : 0) over its view [batches, rows, cols], then the epilogue.
template <typename T>
void empty_sum(const ConvParams& p, int64_t batches, int64_t rows, int64_t cols, T* c,
               const Epilogue& epi) {
  if (!p.accumulate) std::fill(c, c + batches * rows * cols, T(0));
  for (int64_t b = 0; b < batches; ++b) epi(b, 0, rows, 0, cols);
}

// ---- Small maps: the batch folded into the GEMM -----------------------------------
// With few output pixels per image, a per-image GEMM has only ohw columns (a GEMV on a
// 1x1 map); a block of images side by side gives it nb*ohw. col is built from a table of
// where each tap reads, and taps that read only padding (8 of 9 on a 1x1 map with a 3x3
// kernel, 5 of 9 on a 2x2 map with stride 2) are left out of the GEMMs: the weights are
// compacted to the live taps, and the weight gradient of a dead tap is zero.

// Whether a convolution takes this path: maps of up to 64 output pixels, except 1x1
// convolutions whose pixels fill whole 16-column panels of the GEMM (4x4, 8x8), which
// the per-image GEMM reads in place (see the top for the measurements).
bool fold_batch(const Dims& d) {
  return d.ohw <= kSmallMap && !(d.pointwise && d.ohw % kPanel == 0);
}

// Where the taps read on a small map. Rows of the folded col are (channel, live tap):
// k = c*live + l. Live tap l reads input pixel `pixel` (ih*w + iw) of a channel for
// output pixel j in reads[reads_at[l], reads_at[l+1]), and padding for the output pixels
// in pads[pads_at[l], pads_at[l+1]): lists rather than a table with a sign for padding,
// so that building and scattering col need no branch per element.
struct TapTable {
  struct Read {
    int64_t j, pixel;
  };
  int64_t live = 0;            // taps that read the image for some output pixel
  std::vector<int64_t> tap;    // [live]: the kernel tap ki*kw + kj of each
  std::vector<Read> reads;
  std::vector<int64_t> pads;
  std::vector<int64_t> reads_at, pads_at;  // [live + 1]
};

// Built by the calling thread and read by its tasks; thread-local so that steady-state
// calls reuse the vectors' memory.
const TapTable& tap_table(const ConvParams& p, const Dims& d) {
  thread_local TapTable t;
  t.live = 0;
  t.tap.clear();
  t.reads.clear();
  t.pads.clear();
  t.reads_at.assign(1, 0);
  t.pads_at.assign(1, 0);
  for (int64_t tap = 0; tap < d.kk; ++tap) {
    const int64_t ki = tap / p.kw, kj = tap % p.kw;
    const size_t nreads = t.reads.size(), npads = t.pads.size();
    for (int64_t j = 0; j < d.ohw; ++j) {
      const int64_t ih = j / p.ow * p.stride_h - p.pad_h + ki * p.dil_h;
      const int64_t iw = j % p.ow * p.stride_w - p.pad_w + kj * p.dil_w;
      if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w) {
        t.reads.push_back({j, ih * p.w + iw});
      } else {
        t.pads.push_back(j);
      }
    }
    if (t.reads.size() == nreads) {  // only padding: leave the tap out
      t.pads.resize(npads);
      continue;
    }
    ++t.live;
    t.tap.push_back(tap);
    t.reads_at.push_back(int64_t(t.reads.size()));
    t.pads_at.push_back(int64_t(t.pads.size()));
  }
  return t;
}

// The weights of the live taps, [groups*fg][cg*live] (w itself when every tap is live).
// On all threads: the copy reads all of w (9.4 MB for 512->512 3x3, of which a 1x1 map
// keeps the centre tap), which one thread streams at a third of the memory's rate.
template <typename T>
const T* live_weights(const Dims& d, const TapTable& t, const T* w) {
  if (t.live == d.kk) return w;
  T* out = scratch<T>().shared.get(d.groups * d.fg * d.cg * t.live);
  const int64_t* tap = t.tap.data();
  parallel_for(d.groups * d.fg * d.cg, 4096, [&](int64_t rc0, int64_t rc1) {
    for (int64_t rc = rc0; rc < rc1; ++rc)  // (filter, channel) pairs
      for (int64_t l = 0; l < t.live; ++l) out[rc * t.live + l] = w[rc * d.kk + tap[l]];
  });
  return out;
}

// Images per block: about kFoldCols GEMM columns. From the shape only: it fixes the
// weight gradient's sum order.
int64_t images_per_block(const ConvParams& p, const Dims& d) {
  return std::clamp<int64_t>(kFoldCols / d.ohw, 1, p.n);
}

// Rows of col per chunk for a block `cols` wide: a multiple of `align` (or all `rows`),
// keeping the chunk within kFoldChunkElems so that it stays in L2 while the GEMM packs it.
int64_t chunk_rows(int64_t cols, int64_t rows, int64_t align) {
  return std::min(rows, std::max(align, kFoldChunkElems / cols / align * align));
}

// Image blocks of the folded forward and input gradient: at most images_per_block each,
// and as many tasks (group x block) as a multiple of the threads where blocks of at least
// kMinFoldCols columns allow it, so that no thread idles at the end. The split never
// changes the bits (every output element sums the same K in the same order).
int64_t image_blocks(const ConvParams& p, const Dims& d) {
  const int64_t threads = global_pool().active_threads();
  const int64_t most = std::clamp<int64_t>(p.n * d.ohw / kMinFoldCols, 1, p.n);
  int64_t blocks = ceil_div(p.n, images_per_block(p, d));
  while (blocks < most && d.groups * blocks % threads != 0) ++blocks;
  return blocks;
}

// Rows [k0, k1) of the folded col of images [i0, i1) of group g, side by side:
// dst[k - k0][(i - i0)*ohw + j], row stride ld.
template <typename T>
void im2col_images(const Dims& d, const TapTable& t, const T* x, int64_t g, int64_t i0,
                   int64_t i1, int64_t k0, int64_t k1, T* dst, int64_t ld) {
  for (int64_t k = k0, c = k0 / t.live, l = k0 % t.live; k < k1; ++k) {
    const TapTable::Read* r0 = t.reads.data() + t.reads_at[l];
    const TapTable::Read* r1 = t.reads.data() + t.reads_at[l + 1];
    const int64_t* z0 = t.pads.data() + t.pads_at[l];
    const int64_t* z1 = t.pads.data() + t.pads_at[l + 1];
    T* row = dst + (k - k0) * ld;
    for (int64_t i = i0; i < i1; ++i) {
      const T* s = x + ((i * d.groups + g) * d.cg + c) * d.hw;
      T* o = row + (i - i0) * d.ohw;
      for (const TapTable::Read* r = r0; r < r1; ++r) o[r->j] = s[r->pixel];
      for (const int64_t* z = z0; z < z1; ++z) o[*z] = T(0);
    }
    if (++l == t.live) l = 0, ++c;
  }
}

// The transpose of im2col_images: adds rows [k0, k1) of a folded col (row stride ld) to
// the input pixels they were read from in dx. kImageTile images at a time: the images'
// planes of a channel lie c*h*w apart (4 KB on a 2x2 map with 256 channels: one L1 set),
// so walking all of the block's images per row evicts each plane before the next tap
// adds to it (the input gradient of 256->256 on 2x2: 76 GFLOP/s that way, 91 by 8).
template <typename T>
void col2im_images(const Dims& d, const TapTable& t, const T* col, int64_t ld, int64_t g,
                   int64_t i0, int64_t i1, int64_t k0, int64_t k1, T* dx) {
  for (int64_t ib = i0; ib < i1; ib += kImageTile) {
    const int64_t ie = std::min(i1, ib + kImageTile);
    for (int64_t k = k0, c = k0 / t.live, l = k0 % t.live; k < k1; ++k) {
      const TapTable::Read* r0 = t.reads.data() + t.reads_at[l];
      const TapTable::Read* r1 = t.reads.data() + t.reads_at[l + 1];
      const T* row = col + (k - k0) * ld;
      for (int64_t i = ib; i < ie; ++i) {
        T* o = dx + ((i * d.groups + g) * d.cg + c) * d.hw;
        const T* s = row + (i - i0) * d.ohw;
        for (const TapTable::Read* r = r0; r < r1; ++r) o[r->pixel] += s[r->j];
      }
      if (++l == t.live) l = 0, ++c;
    }
  }
}

// Rows [r0, r0 + rows) of images [i0, i1) of a tensor [n][rows_per_image][len], side by
// side: dst[r][(i - i0)*len + j] = src[i][r0 + r][j].
template <typename T>
void gather_images(const T* src, int64_t rows_per_image, int64_t len, int64_t r0, int64_t rows,
                   int64_t i0, int64_t i1, T* dst) {
  const int64_t ld = (i1 - i0) * len;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = i0; i < i1; ++i) {
      const T* s = src + (i * rows_per_image + r0 + r) * len;
      T* o = dst + r * ld + (i - i0) * len;
      for (int64_t j = 0; j < len; ++j) o[j] = s[j];
    }
}

// The inverse of gather_images: dst[i][r0 + r][j] = src[r][(i - i0)*len + j] (+ the old
// value when accumulating).
template <typename T>
void scatter_images(const T* src, int64_t rows_per_image, int64_t len, int64_t r0, int64_t rows,
                    int64_t i0, int64_t i1, bool accumulate, T* dst) {
  const int64_t ld = (i1 - i0) * len;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      const T* s = src + r * ld + (i - i0) * len;
      T* o = dst + (i * rows_per_image + r0 + r) * len;
      for (int64_t j = 0; j < len; ++j) o[j] = accumulate ? s[j] + o[j] : s[j];
    }
}

// y[block, g] = W[g] @ [col(x[i0,g]) ... col(x[i1-1,g])], a chunk of col rows (the GEMM's
// K) at a time, then scattered into y (the transpose [fg, nb, ohw] -> [nb, fg, ohw]) and
// handed to the epilogue image by image. Tasks: group x image block.
// With a prologue, each task computes its block's images of x first (operand_images).
template <typename T>
void forward_images(const ConvParams& p, const Dims& d, const T* x, const T* w, T* y,
                    const Epilogue& epi, const Prologue& pro) {
  const TapTable& t = tap_table(p, d);
  if (t.live == 0) return empty_sum(p, p.n * d.groups, d.fg, d.ohw, y, epi);
  const int64_t rows = d.cg * t.live;  // of col, and the GEMM's K
  const T* wl = live_weights(d, t, w);
  const int64_t blocks = image_blocks(p, d);
  run_tasks(d.groups * blocks, [&](int64_t task, bool parallel) {
    const int64_t g = task % d.groups, b = task / d.groups;
    const int64_t i0 = p.n * b / blocks, i1 = p.n * (b + 1) / blocks, cols = (i1 - i0) * d.ohw;
    const int64_t chunk = chunk_rows(cols, rows, kColAlign);
    T* out = scratch<T>().task.get((d.fg + chunk) * cols);
    T* col = out + d.fg * cols;
    const T* xb = operand_images(pro, x, p.c * d.hw, i0, i1);  // images from i0 on
    for (int64_t k0 = 0; k0 < rows; k0 += chunk) {
      const int64_t k1 = std::min(rows, k0 + chunk);
      im2col_images(d, t, xb, g, 0, i1 - i0, k0, k1, col, cols);
      GemmParams q = gemm_params(d.fg, cols, k1 - k0, rows, cols, cols, false, false, k0 > 0,
                                 p.alpha);
      gemm(q, wl + g * d.fg * rows + k0, col, out, {}, parallel);
    }
    scatter_images(out, d.groups * d.fg, d.ohw, g * d.fg, d.fg, i0, i1, p.accumulate, y);
    for (int64_t i = i0; i < i1; ++i) epi(i * d.groups + g, 0, d.fg, 0, d.ohw);
  });
}

// dcol = W[g]^T @ [dy[i0,g] ... dy[i1-1,g]] (dy gathered side by side), a chunk of col rows
// at a time, each added back into dx image by image. Tasks: group x image block.
template <typename T>
void input_grad_images(const ConvParams& p, const Dims& d, const T* dy, const T* w, T* dx,
                       const Epilogue& epi) {
  const TapTable& t = tap_table(p, d);
  if (t.live == 0) return empty_sum(p, p.n * d.groups, d.cg, d.hw, dx, epi);
  const int64_t rows = d.cg * t.live;  // of col: the GEMM's M
  const T* wl = live_weights(d, t, w);
  const int64_t blocks = image_blocks(p, d);
  run_tasks(d.groups * blocks, [&](int64_t task, bool parallel) {
    const int64_t g = task % d.groups, b = task / d.groups;
    const int64_t i0 = p.n * b / blocks, i1 = p.n * (b + 1) / blocks, cols = (i1 - i0) * d.ohw;
    const int64_t chunk = chunk_rows(cols, rows, kRowAlign);
    T* dyb = scratch<T>().task.get((d.fg + chunk) * cols);
    T* dcol = dyb + d.fg * cols;
    gather_images(dy, d.groups * d.fg, d.ohw, g * d.fg, d.fg, i0, i1, dyb);
    if (!p.accumulate)
      for (int64_t i = i0; i < i1; ++i) {
        T* dxg = dx + (i * d.groups + g) * d.cg * d.hw;
        std::fill(dxg, dxg + d.cg * d.hw, T(0));
      }
    for (int64_t k0 = 0; k0 < rows; k0 += chunk) {
      const int64_t k1 = std::min(rows, k0 + chunk);
      GemmParams q =
          gemm_params(k1 - k0, cols, d.fg, rows, cols, cols, true, false, false, p.alpha);
      gemm(q, wl + g * d.fg * rows + k0, dyb, dcol, {}, parallel);
      col2im_images(d, t, dcol, cols, g, i0, i1, k0, k1, dx);
    }
    for (int64_t i = i0; i < i1; ++i) epi(i * d.groups + g, 0, d.cg, 0, d.hw);
  });
}

// dw (+)= alpha * (partial[0] + partial[1] + ...) for rows [r0, r1) of the view
// [groups*fg, ckk], from partials over the live taps ([slices][groups*fg][cg*live]): a
// dead tap's sum is zero. Then the epilogue on those rows.
template <typename T>
void reduce_live_partials(const ConvParams& p, const Dims& d, const TapTable& t,
                          const T* partial, int64_t slices, int64_t r0, int64_t r1, T* dw,
                          const Epilogue& epi) {
  const int64_t width = d.cg * t.live, elems = d.groups * d.fg * width;
  T* sum = scratch<T>().task.get(width);
  const T alpha = T(p.alpha);
  for (int64_t r = r0; r < r1; ++r) {
    std::copy(partial + r * width, partial + (r + 1) * width, sum);
    for (int64_t s = 1; s < slices; ++s) {
      const T* ps = partial + s * elems + r * width;
      for (int64_t e = 0; e < width; ++e) sum[e] += ps[e];
    }
    // Dead taps: zero, or kept when accumulating (x + 0 == x).
    T* out = dw + r * d.ckk;
    if (!p.accumulate) std::fill(out, out + d.ckk, T(0));
    for (int64_t c = 0; c < d.cg; ++c)
      for (int64_t l = 0; l < t.live; ++l) {
        T& o = out[c * d.kk + t.tap[l]];
        const T v = alpha * sum[c * t.live + l];
        o = p.accumulate ? v + o : v;
      }
  }
  for (int64_t g = r0 / d.fg; g * d.fg < r1; ++g)
    epi(g, std::max(r0, g * d.fg) - g * d.fg, std::min(r1, (g + 1) * d.fg) - g * d.fg, 0, d.ckk);
}

// dW[g] = sum over image blocks of dy[block, g] @ col(x[block, g])^T, blocks of
// images_per_block in order. Tasks and slices as in weight_grad; the GEMMs run over the
// live taps, into partials that reduce_live_partials expands when some taps are dead.
// With a prologue, each task computes the images of each of its blocks first
// (operand_images).
template <typename T>
void weight_grad_images(const ConvParams& p, const Dims& d, const T* x, const T* dy, T* dw,
                        const Epilogue& epi, const Prologue& pro) {
  const TapTable& t = tap_table(p, d);
  if (t.live == 0) return empty_sum(p, d.groups, d.fg, d.ckk, dw, epi);
  const int64_t width = d.cg * t.live, elems = d.groups * d.fg * width;
  // Slices of at least kFoldCols columns: a GEMM with a short K spends its time loading
  // and storing dW (a 1x1 map's 256 images in 8 slices: 28 instead of 55 GFLOP/s).
  const int64_t slices = std::min(weight_grad_slices(p.n, elems * int64_t(sizeof(T))),
                                  std::max<int64_t>(1, p.n * d.ohw / kFoldCols));
  const WgradGrid grid = wgrad_grid(d, slices, width);
  const bool direct = grid.slices == 1 && t.live == d.kk;  // straight into dw
  T* partial = direct ? nullptr : scratch<T>().shared.get(grid.slices * elems);
  const int64_t nb = images_per_block(p, d);
  run_tasks(grid.tasks(d), [&](int64_t task, bool parallel) {
    const WgradTask w = grid.task(d, width, task);
    if (w.m0 >= w.m1 || w.k0 >= w.k1) return;
    T* target = (direct ? dw : partial + w.s * elems) + (w.g * d.fg + w.m0) * width + w.k0;
    const int64_t si0 = p.n * w.s / grid.slices, si1 = p.n * (w.s + 1) / grid.slices;
    for (int64_t i0 = si0; i0 < si1; i0 += nb) {
      const int64_t i1 = std::min(si1, i0 + nb), cols = (i1 - i0) * d.ohw;
      const bool first = i0 == si0, last = i1 == si1;
      const int64_t chunk = chunk_rows(cols, w.k1 - w.k0, kColAlign);
      // dy rows [m0, m1) of the block, then chunks of the task's col rows [k0, k1).
      T* dyb = scratch<T>().task.get((w.m1 - w.m0 + chunk) * cols);
      T* col = dyb + (w.m1 - w.m0) * cols;
      gather_images(dy, d.groups * d.fg, d.ohw, w.g * d.fg + w.m0, w.m1 - w.m0, i0, i1, dyb);
      const T* xb = operand_images(pro, x, p.c * d.hw, i0, i1);  // images from i0 on
      for (int64_t k0 = w.k0; k0 < w.k1; k0 += chunk) {
        const int64_t k1 = std::min(w.k1, k0 + chunk);
        im2col_images(d, t, xb, w.g, 0, i1 - i0, k0, k1, col, cols);
        GemmParams q = gemm_params(w.m1 - w.m0, k1 - k0, cols, cols, cols, width, false, true,
                                   !first || (direct && p.accumulate), direct ? p.alpha : 1.0);
        gemm(q, dyb, col, target + (k0 - w.k0),
             direct && last ? epi.at(w.g, w.m0, k0) : Epilogue{}, parallel);
      }
    }
  });
  if (direct) return;
  if (t.live == d.kk) return reduce_all_partials(p, d, partial, grid.slices, dw, epi);
  const int64_t grain = std::max<int64_t>(1, 16384 / (grid.slices * d.ckk));
  parallel_for(d.groups * d.fg, grain, [&](int64_t r0, int64_t r1) {
    reduce_live_partials(p, d, t, partial, grid.slices, r0, r1, dw, epi);
  });
}

// pro: the prologue computing x (forward and weight gradient; see conv_internal.h), or
// none. Paths that take it compute x per block of images; the others read operand_all.
template <typename T>
void conv2d(const ConvParams& p, const T* a, const T* b, T* c, const Epilogue& epi,
            const Prologue& pro) {
  if (p.groups <= 0) return;
  const Dims d = dims_of(p);
  const int64_t image = p.c * d.hw;  // elements of one image of x
  switch (p.kind) {
    case kConvForward:
      if (p.n <= 0 || d.fg <= 0 || d.ohw <= 0) return;
      if (d.ckk <= 0) return empty_sum(p, p.n * d.groups, d.fg, d.ohw, c, epi);
      if constexpr (std::is_same_v<T, float>) {  // 3x3 pad 1, 5x5 pad 2 (conv_winograd.cpp)
        if (use_winograd(p)) return forward_winograd(p, a, b, c, epi, pro);
      }
      if (fold_batch(d)) {
        if (use_dense_map(p, d))
          return forward_dense(p, d, operand_all(pro, a, image, p.n), b, c, epi);
        return forward_images(p, d, a, b, c, epi, pro);
      }
      if constexpr (std::is_same_v<T, float>) {
        if (use_filter_lanes(p, d)) return forward_filter_lanes(p, d, a, b, c, epi, pro);
      }
      a = operand_all(pro, a, image, p.n);
      if constexpr (std::is_same_v<T, float>) {
        if (use_direct(p, d)) return forward_direct_f32(p, d, a, b, c, epi);
      }
      return forward(p, d, a, b, c, epi);
    case kConvInputGrad: {
      if (p.n <= 0 || d.cg <= 0 || d.hw <= 0) return;
      if (d.fg <= 0 || d.ohw <= 0 || d.kk <= 0)
        return empty_sum(p, p.n * d.groups, d.cg, d.hw, c, epi);
      if constexpr (std::is_same_v<T, float>) {  // 3x3 pad 1, 5x5 pad 2 (conv_winograd.cpp)
        if (use_winograd(p)) return input_grad_winograd(p, a, b, c, epi);
      }
      if (fold_batch(d)) {
        if (use_dense_map(p, d)) return input_grad_dense(p, d, a, b, c, epi);
        return input_grad_images(p, d, a, b, c, epi);
      }
      if constexpr (std::is_same_v<T, float>) {
        ConvParams q;
        if (transposed_as_forward(p, &q)) {
          const Dims e = dims_of(q);
          if (use_batch_lanes(q, e)) return input_grad_batch_lanes(d, q, e, a, b, c, epi);
          if (use_direct(q, e)) return input_grad_direct_f32(d, q, e, a, b, c, epi);
        }
      }
      return input_grad(p, d, a, b, c, epi);
    }
    case kConvWeightGrad:
      if (d.fg <= 0 || d.ckk <= 0) return;
      if (p.n <= 0 || d.ohw <= 0) return empty_sum(p, d.groups, d.fg, d.ckk, c, epi);
      if constexpr (std::is_same_v<T, float>) {  // 3x3 pad 1, 5x5 pad 2 (conv_winograd_wgrad.cpp)
        if (use_winograd_wgrad(p)) return weight_grad_winograd(p, a, b, c, epi, pro);
      }
      if (fold_batch(d)) {
        if (use_dense_map(p, d))
          return weight_grad_dense(p, d, operand_all(pro, a, image, p.n), b, c, epi);
        return weight_grad_images(p, d, a, b, c, epi, pro);
      }
      if constexpr (std::is_same_v<T, float>) {
        if (use_filter_lanes(p, d)) return weight_grad_filter_lanes(p, d, a, b, c, epi, pro);
      }
      a = operand_all(pro, a, image, p.n);
      if constexpr (std::is_same_v<T, float>) {
        if (use_direct_wgrad(p, d)) return weight_grad_direct(p, d, a, b, c, epi);
      }
      return weight_grad(p, d, a, b, c, epi);
  }
}

}  // namespace

void conv2d_f32(const ConvParams& p, const float* a, const float* b, float* c,
                const Epilogue& epi, const Prologue& pro) {
  conv2d(p, a, b, c, epi, p.kind == kConvInputGrad ? Prologue{} : pro);
}

void conv2d_f64(const ConvParams& p, const double* a, const double* b, double* c,
                const Epilogue& epi, const Prologue& pro) {
  conv2d(p, a, b, c, epi, p.kind == kConvInputGrad ? Prologue{} : pro);
}

}  // namespace kiln

extern "C" void kiln_conv2d_f32(const kiln::ConvParams* p, const float* a, const float* b,
                                float* c, const float* alpha_scale, kiln::EpilogueFn epilogue,
                                kiln::PrologueFn prologue, void** buffers) {
  kiln::conv2d_f32(kiln::with_alpha_scale(*p, alpha_scale), a, b, c,
                   kiln::Epilogue{epilogue, buffers}, kiln::Prologue{prologue, buffers});
}
extern "C" void kiln_conv2d_f64(const kiln::ConvParams* p, const double* a, const double* b,
                                double* c, const double* alpha_scale, kiln::EpilogueFn epilogue,
                                kiln::PrologueFn prologue, void** buffers) {
  kiln::conv2d_f64(kiln::with_alpha_scale(*p, alpha_scale), a, b, c,
                   kiln::Epilogue{epilogue, buffers}, kiln::Prologue{prologue, buffers});
}
