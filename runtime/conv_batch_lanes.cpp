// The input gradient of a unit-stride convolution with 8 images in the vector lanes
// (f32, AVX2 + FMA, one group): LeNet's 6->16 layer, whose input gradient is a forward
// convolution of dy (10x10, padded by 4 on every side) with the flipped kernel
// (transposed_as_forward). Laid out image by image, that forward pass multiplies zero
// padding in half of its taps (a 14x14 output of 5x5 windows over a 10x10 map), and its
// 14-wide rows fill 16-column tiles 88%. With images in the lanes every lane is useful,
// and a tile of two output pixels runs only the taps whose rows read the map (and the
// columns either pixel reads), so a tile skips the padding, too.
//
// dy is interleaved into a frame [channel][row][column][8 images] (zeros in the side
// columns; the rows above and below are never read), and a tile of kTileF output
// channels x 2 pixels (12 accumulators) per tap broadcasts kTileF weights and loads the
// two pixels' 8-image vectors, like the direct kernel (conv_direct.cpp). Taps are
// ordered (kernel row, kernel column, channel), so the live taps of a tile are one run
// per kernel row. See conv.cpp's top comment for the measurements.
#include <cmath>
#include <vector>

#include "runtime/conv_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "runtime/conv_avx2.h"

namespace kiln::conv_detail {

namespace {

constexpr int64_t kImages = 8;  // images per vector
constexpr int64_t kTileF = 6;   // output channels per tile
constexpr int64_t kTileE = 2;   // output pixels per tile
constexpr int64_t kMaxRuns = 64;  // kernel rows

// The transposed problem q as the kernels see it: its input framed to rows x wp, with
// every tap's offset in the frame, and the weights packed per block of kTileF outputs.
struct Plan {
  int64_t rows, wp, channel;  // frame rows and columns; floats per channel
  int64_t fblocks;
  std::vector<int32_t> off;   // [tap (ki, kj, c)]: offset from a pixel's window
};

#pragma GCC push_options
#pragma GCC target("avx2,fma")

// Images [i0, i0 + count) (count <= 8; zero lanes past it) of x [n][cg][h][w] into the
// frame: frame[c][pad_h + ih][pad_w + iw][lane], zeros in the side columns.
void interleave(const ConvParams& q, const Dims& e, const Plan& pl, const float* x, int64_t i0,
                int64_t count, float* frame) {
  const int64_t c0 = std::min(pl.wp, q.pad_w), c1 = std::min(pl.wp, q.pad_w + q.w);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t c = 0; c < e.cg; ++c)
    for (int64_t ih = 0; ih < q.h; ++ih) {
      float* dst = frame + c * pl.channel + (q.pad_h + ih) * pl.wp * kImages;
      for (int64_t col = 0; col < c0; ++col) _mm256_storeu_ps(dst + col * kImages, zero);
      for (int64_t col = c1; col < pl.wp; ++col) _mm256_storeu_ps(dst + col * kImages, zero);
      const float* src[kImages];
      for (int64_t i = 0; i < kImages; ++i)
        src[i] = i < count ? x + ((i0 + i) * e.cg + c) * e.hw + ih * q.w : nullptr;
      int64_t iw = 0;
      for (; iw + 8 <= c1 - c0; iw += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = src[i] ? _mm256_loadu_ps(src[i] + iw) : zero;
        transpose8(r);
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (c0 + iw + j) * kImages, r[j]);
      }
      for (; iw < c1 - c0; ++iw)
        for (int64_t i = 0; i < kImages; ++i)
          dst[(c0 + iw) * kImages + i] = src[i] ? src[i][iw] : 0.f;
    }
}

// One tile: kTileF outputs (packed weights wt = [tap][kTileF]) x E pixels, each 8 images;
// runs[2r], runs[2r + 1]: the taps [k0, k1) of run r; tap k reads in + off[k] + 8e for
// pixel e. Output j's pixel e goes to out + j*ldo + 8e.
template <int E>
void batch_tile(const float* in, const int32_t* off, const float* wt, const int64_t* runs,
                int64_t nruns, float* out, int64_t ldo) {
  __m256 acc[kTileF * E];
#pragma GCC unroll 16
  for (int a = 0; a < kTileF * E; ++a) acc[a] = _mm256_setzero_ps();
  for (int64_t r = 0; r < nruns; ++r)
    for (int64_t k = runs[2 * r]; k < runs[2 * r + 1]; ++k) {
      const float* px = in + off[k];
      const float* w = wt + k * kTileF;
      __m256 x[E];
#pragma GCC unroll 2
      for (int v = 0; v < E; ++v) x[v] = _mm256_loadu_ps(px + 8 * v);
#pragma GCC unroll 16
      for (int a = 0; a < kTileF * E; ++a)
        acc[a] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + a / E), x[a % E], acc[a]);
    }
#pragma GCC unroll 16
  for (int a = 0; a < kTileF * E; ++a) _mm256_storeu_ps(out + a / E * ldo + 8 * (a % E), acc[a]);
}

// dst[i][q] = alpha * row[q][i] (+ dst[i][q]) for images i < count (image i's row at
// dst + i*ld), pixels q < len: one output row of one channel, out of the lanes.
void store_row(const float* row, int64_t len, int64_t count, float alpha, bool accumulate,
               float* dst, int64_t ld) {
  const __m256 a = _mm256_set1_ps(alpha);
  int64_t q = 0;
  for (; q + 8 <= len; q += 8) {
    __m256 r[8];
    for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(row + (q + j) * kImages);
    transpose8(r);
    for (int64_t i = 0; i < count; ++i) {
      float* o = dst + i * ld + q;
      _mm256_storeu_ps(o, accumulate ? _mm256_fmadd_ps(r[i], a, _mm256_loadu_ps(o))
                                     : _mm256_mul_ps(r[i], a));
    }
  }
  for (; q < len; ++q)
    for (int64_t i = 0; i < count; ++i) {
      float* o = dst + i * ld + q;
      const float v = row[q * kImages + i];
      *o = accumulate ? std::fma(v, alpha, *o) : v * alpha;
    }
}
#pragma GCC pop_options

// The live taps of the tile at output row oh, columns [ow, ow + cols): kernel rows whose
// input row lies in the map, kernel columns that read the map for some pixel of the tile;
// as runs of taps [k0, k1) into runs (at most kh). Returns the number of runs.
int64_t live_runs(const ConvParams& q, const Dims& e, int64_t oh, int64_t ow, int64_t cols,
                  int64_t* runs) {
  const int64_t ki0 = std::max<int64_t>(0, ceil_div(q.pad_h - oh, q.dil_h));
  const int64_t ki1 = std::min<int64_t>(q.kh, ceil_div(q.h + q.pad_h - oh, q.dil_h));
  const int64_t kj0 = std::max<int64_t>(0, ceil_div(q.pad_w - (ow + cols - 1), q.dil_w));
  const int64_t kj1 = std::min<int64_t>(q.kw, ceil_div(q.w + q.pad_w - ow, q.dil_w));
  if (kj0 >= kj1) return 0;
  int64_t n = 0;
  for (int64_t ki = ki0; ki < ki1; ++ki, ++n) {
    runs[2 * n] = (ki * q.kw + kj0) * e.cg;
    runs[2 * n + 1] = (ki * q.kw + kj1) * e.cg;
  }
  return n;
}

}  // namespace

// 2 threads, batch 256: LeNet's 6->16 5x5 162 vs 78 GFLOP/s (direct kernel), a 64->64 3x3
// pad 1 layer on 32x32 without Winograd 184 vs 170; not with tiles mostly empty (LeNet's
// 1->6: one output channel of 6, 32 vs 43 by im2col) nor 1x1 (no padding to skip; the
// pointwise GEMM: 173 vs 145 on 256->64 on 8x8).
bool use_batch_lanes(const ConvParams& q, const Dims& e) {
  // Enough images to fill the lanes, from the shape only (the choice fixes the bits); a
  // frame whose offsets fit 32 bits.
  const int64_t frame = e.cg * (q.oh + (q.kh - 1) * q.dil_h) * (q.ow + (q.kw - 1) * q.dil_w);
  return q.groups == 1 && q.n >= 4 * kImages && e.kk > 1 && q.kh <= kMaxRuns &&
         2 * e.fg >= kTileF * ceil_div(e.fg, kTileF) && frame * kImages < (int64_t(1) << 31) &&
         direct_isa();
}

void input_grad_batch_lanes(const Dims& d, const ConvParams& q, const Dims& e, const float* dy,
                            const float* w, float* dx, const Epilogue& epi) {
  thread_local Plan mine;
  Plan& pl = mine;  // the calling thread's, for every task (a thread_local named in the
                    // lambda would be each worker's own)
  pl.rows = q.oh + (q.kh - 1) * q.dil_h;
  pl.wp = q.ow + (q.kw - 1) * q.dil_w;
  pl.channel = pl.rows * pl.wp * kImages;
  pl.fblocks = ceil_div(e.fg, kTileF);
  pl.off.resize(e.ckk);
  for (int64_t k = 0; k < e.ckk; ++k) {  // k = (ki*kw + kj)*cg + c
    const int64_t c = k % e.cg, ki = k / e.cg / q.kw, kj = k / e.cg % q.kw;
    pl.off[k] = int32_t(c * pl.channel + (ki * q.dil_h * pl.wp + kj * q.dil_w) * kImages);
  }
  // Weights [filter block][tap (ki, kj, c)][kTileF]: output c' of the transposed problem
  // at its tap (f, ki, kj) is w[f][c'][kh-1-ki][kw-1-kj].
  float* wt = scratch<float>().weights.get(pl.fblocks * e.ckk * kTileF);
  for (int64_t fb = 0; fb < pl.fblocks; ++fb)
    for (int64_t k = 0; k < e.ckk; ++k)
      for (int64_t j = 0; j < kTileF; ++j) {
        const int64_t c = fb * kTileF + j, f = k % e.cg, tap = k / e.cg;
        wt[(fb * e.ckk + k) * kTileF + j] =
            c < e.fg ? w[(f * d.cg + c) * d.kk + d.kk - 1 - tap] : 0.f;
      }
  // Tasks: groups of 8 images x bands of output rows (more bands when groups are few).
  const int64_t groups = ceil_div(q.n, kImages);
  const int64_t bands =
      std::clamp<int64_t>(ceil_div(2 * global_pool().active_threads(), groups), 1, q.oh);
  const float alpha = float(q.alpha);
  parallel_for(groups * bands, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = t / bands * kImages, count = std::min(kImages, q.n - i0);
      const int64_t oh0 = q.oh * (t % bands) / bands, oh1 = q.oh * (t % bands + 1) / bands;
      // Scratch: the frame, then one output row of kTileF channels in the lanes.
      const int64_t ldo = q.ow * kImages;
      float* frame = scratch<float>().task.get(e.cg * pl.channel + kTileF * ldo);
      float* row = frame + e.cg * pl.channel;
      interleave(q, e, pl, dy, i0, count, frame);
      int64_t runs[2 * kMaxRuns];
      for (int64_t oh = oh0; oh < oh1; ++oh)
        for (int64_t fb = 0; fb < pl.fblocks; ++fb) {
          const float* wb = wt + fb * e.ckk * kTileF;
          for (int64_t ow = 0; ow < q.ow; ow += kTileE) {
            const int64_t cols = std::min(kTileE, q.ow - ow);
            const int64_t nruns = live_runs(q, e, oh, ow, cols, runs);
            const float* in = frame + (oh * pl.wp + ow) * kImages;
            if (cols == 2) {
              batch_tile<2>(in, pl.off.data(), wb, runs, nruns, row + ow * kImages, ldo);
            } else {
              batch_tile<1>(in, pl.off.data(), wb, runs, nruns, row + ow * kImages, ldo);
            }
          }
          for (int64_t j = 0; j < std::min(kTileF, e.fg - fb * kTileF); ++j)
            store_row(row + j * ldo, q.ow, count, alpha, q.accumulate,
                      dx + (i0 * e.fg + fb * kTileF + j) * e.ohw + oh * q.ow, e.fg * e.ohw);
        }
      for (int64_t i = i0; i < i0 + count; ++i) epi(i, 0, e.fg, oh0 * q.ow, oh1 * q.ow);
    }
  });
}

}  // namespace kiln::conv_detail

#else  // the kernels are AVX2 (direct_isa() is false elsewhere): never taken

namespace kiln::conv_detail {

bool use_batch_lanes(const ConvParams&, const Dims&) { return false; }
void input_grad_batch_lanes(const Dims&, const ConvParams&, const Dims&, const float*,
                            const float*, float*, const Epilogue&) {}

}  // namespace kiln::conv_detail

#endif
