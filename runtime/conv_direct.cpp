// Direct convolution with the output columns in the vector lanes (f32, AVX2 + FMA, unit
// column stride): the forward pass (and the input gradient as a forward one) and the
// weight gradient, register-tiled, reading the padded input rows in place with no im2col
// or packing pass. See conv.cpp's top comment for the shapes that take it.
//
// Forward: an output tile of kTileF filters x 16 (or 8) columns of one output row lives
// in AVX2 registers; per tap it loads the input row twice (two 8-float vectors, shifted
// by the tap's column) and broadcasts kTileF packed weights: 12 FMAs per 2 loads + 6
// broadcasts, the GEMM micro-kernel's ratio. A task pads the input rows its band of
// output rows reads into a scratch (zeros around), so the tile has no bounds checks.
// Weight gradient: kTileF filters x 2 taps, lane-wise sums over the output rows' 8-column
// vectors: 12 FMAs per 6 dy loads + 2 input loads.
// Both walk one flat list (taps, or the vectors of a band) with an offset table rather
// than nested loops with short inner ones (LeNet's 1->6 weight gradient: 93 -> 119
// GFLOP/s on 2 threads; the forward pass, whose inner loop was the kernel row's 5 taps,
// about the same).
#include <cmath>
#include <vector>

#include "runtime/conv_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln::conv_detail {

namespace {

constexpr int64_t kTileF = 6;              // filters per register tile
constexpr int64_t kBandElems = 128 << 10;  // padded input rows of a task (512 KB)

// Input rows that `rows` consecutive output rows read.
int64_t rows_read(const ConvParams& p, int64_t rows) {
  return (rows - 1) * p.stride_h + (p.kh - 1) * p.dil_h + 1;
}

// Columns a row of ow outputs costs in tiles: 16 at a time, the rest in one 8- or
// 16-wide tile.
int64_t tiled_width(int64_t ow) {
  int64_t full = ow / 16 * 16, rest = ow - full;
  return full + (rest == 0 ? 0 : rest <= 8 ? 8 : 16);
}

// Where each tap (c, ki, kj) reads in a band [channel][rows][wp] relative to its window.
// Built by the calling thread, read by its tasks.
const std::vector<int32_t>& band_taps(const ConvParams& p, const Dims& d, int64_t rows,
                                      int64_t wp) {
  thread_local std::vector<int32_t> off;
  off.resize(d.ckk);
  for (int64_t t = 0; t < d.ckk; ++t) {
    const int64_t c = t / d.kk, ki = t % d.kk / p.kw, kj = t % p.kw;
    off[t] = int32_t((c * rows + ki * p.dil_h) * wp + kj * p.dil_w);
  }
  return off;
}

// Input rows [ih0, ih0 + rows_in) of the image group x, padded: band[c][r][q] is
// x[c][ih0 + r][q - pad_w], zero outside the image; a channel's rows are ld_rows apart.
void fill_band(const ConvParams& p, const Dims& d, const float* x, int64_t ih0, int64_t rows_in,
               int64_t ld_rows, int64_t wp, float* band) {
  const int64_t q0 = std::min(wp, p.pad_w), q1 = std::clamp(p.pad_w + p.w, q0, wp);
  for (int64_t c = 0; c < d.cg; ++c)
    for (int64_t r = 0; r < rows_in; ++r) {
      float* dst = band + (c * ld_rows + r) * wp;
      const int64_t ih = ih0 + r;
      if (ih < 0 || ih >= p.h) {
        std::fill(dst, dst + wp, 0.f);
        continue;
      }
      std::fill(dst, dst + q0, 0.f);
      if (q1 > q0) copy_row(x + (c * p.h + ih) * p.w + (q0 - p.pad_w), q1 - q0, dst + q0);
      std::fill(dst + q1, dst + wp, 0.f);
    }
}

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")

// One tile: nf <= kTileF filters (packed weights wt = [tap][kTileF], zero past nf) x
// `cols` (<= 8*NV) output columns; tap k reads in + off[k] + [0, 8*NV). y: the tile's
// first output of the first filter; the next filter's is ldy further.
template <int NV>
void direct_tile(const float* in, const int32_t* off, int64_t taps, const float* wt,
                 int64_t nf, int64_t cols, float alpha, bool accumulate, float* y,
                 int64_t ldy) {
  // One flat array indexed by fully unrolled loops, which GCC keeps in registers.
  __m256 acc[kTileF * NV];
#pragma GCC unroll 16
  for (int a = 0; a < kTileF * NV; ++a) acc[a] = _mm256_setzero_ps();
  for (int64_t k = 0; k < taps; ++k, wt += kTileF) {
    const float* row = in + off[k];
    __m256 x[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) x[v] = _mm256_loadu_ps(row + 8 * v);
#pragma GCC unroll 16
    for (int a = 0; a < kTileF * NV; ++a)
      acc[a] = _mm256_fmadd_ps(_mm256_broadcast_ss(wt + a / NV), x[a % NV], acc[a]);
  }
  // Through a stack copy: indexing acc by the runtime nf would keep it in memory.
  alignas(32) float out[kTileF * NV * 8];
#pragma GCC unroll 16
  for (int a = 0; a < kTileF * NV; ++a) _mm256_store_ps(out + 8 * a, acc[a]);
  // Whole vectors stored as such, a partial one element by element (AMD's masked stores
  // are slow microcode).
  const __m256 al = _mm256_set1_ps(alpha);
  for (int v = 0; v < NV; ++v) {
    const int64_t n = std::min<int64_t>(8, cols - 8 * v);
    for (int64_t f = 0; f < nf; ++f) {
      float* dst = y + f * ldy + 8 * v;
      float* r = out + 8 * (f * NV + v);
      if (n == 8) {
        const __m256 a = _mm256_load_ps(r);
        _mm256_storeu_ps(dst, accumulate ? _mm256_fmadd_ps(a, al, _mm256_loadu_ps(dst))
                                         : _mm256_mul_ps(a, al));
      } else {
        for (int64_t j = 0; j < n; ++j) dst[j] = accumulate ? std::fma(r[j], alpha, dst[j]) : r[j] * alpha;
      }
    }
  }
}

// One weight-gradient tile: kTileF filters x Taps (1 or 2) taps. Adds dy (dyb =
// [kTileF][fstride], zero past the filters and columns; vector k of a filter at 8k) times
// the input each tap reads (x[t] + xo[k]) over vectors [0, vecs) to running lane sums:
// lanes[(f*ldl + t)*8 + lane] for filter f and tap t. Reducing the lanes only once per
// task keeps the horizontal adds out of short tiles (LeNet's 10x10 outputs).
template <int Taps>
void wgrad_tile(const float* dyb, int64_t fstride, const int32_t* xo, int64_t vecs,
                const float* const* x, float* lanes, int64_t ldl) {
  __m256 acc[kTileF * Taps];
#pragma GCC unroll 16
  for (int a = 0; a < kTileF * Taps; ++a)
    acc[a] = _mm256_loadu_ps(lanes + (a / Taps * ldl + a % Taps) * 8);
  const float* xt[Taps];
#pragma GCC unroll 2
  for (int t = 0; t < Taps; ++t) xt[t] = x[t];
  for (int64_t k = 0; k < vecs; ++k) {
    __m256 in[Taps];
#pragma GCC unroll 2
    for (int t = 0; t < Taps; ++t) in[t] = _mm256_loadu_ps(xt[t] + xo[k]);
#pragma GCC unroll 16
    for (int f = 0; f < kTileF; ++f) {
      __m256 g = _mm256_loadu_ps(dyb + f * fstride + 8 * k);
      asm("" : "+x"(g));  // one load, not one folded into each FMA
#pragma GCC unroll 2
      for (int t = 0; t < Taps; ++t) acc[f * Taps + t] = _mm256_fmadd_ps(g, in[t], acc[f * Taps + t]);
    }
  }
#pragma GCC unroll 16
  for (int a = 0; a < kTileF * Taps; ++a)
    _mm256_storeu_ps(lanes + (a / Taps * ldl + a % Taps) * 8, acc[a]);
}
#pragma GCC pop_options
#else  // the kernels are AVX2: direct_isa() is false elsewhere, so these never run
template <int NV>
void direct_tile(const float*, const int32_t*, int64_t, const float*, int64_t, int64_t, float,
                 bool, float*, int64_t) {}
template <int Taps>
void wgrad_tile(const float*, int64_t, const int32_t*, int64_t, const float* const*, float*,
                int64_t) {}
#endif

// Packs the weights into [group][filter block][tap][kTileF], zero past the last filter:
// weight(g, f, tap) is filter f's tap of group g.
template <typename W>
const float* pack_direct_weights(const Dims& d, W&& weight) {
  const int64_t fblocks = ceil_div(d.fg, kTileF);
  float* wp = scratch<float>().weights.get(d.groups * fblocks * d.ckk * kTileF);
  float* out = wp;
  for (int64_t g = 0; g < d.groups; ++g)
    for (int64_t fb = 0; fb < fblocks; ++fb)
      for (int64_t tap = 0; tap < d.ckk; ++tap)
        for (int64_t f = fb * kTileF; f < (fb + 1) * kTileF; ++f)
          *out++ = f < d.fg ? weight(g, f, tap) : 0.f;
  return wp;
}

// y = conv(x, w) for unit column stride by register tiles, w packed by
// pack_direct_weights. Tasks: image group x band of output rows. View [n*groups, fg, ohw].
void forward_direct(const ConvParams& p, const Dims& d, const float* x, const float* wpk,
                    float* y, const Epilogue& epi) {
  const int64_t wp = tiled_width(p.ow) + (p.kw - 1) * p.dil_w;
  // Bands as tall as the scratch allows, shorter when images are too few for the pool.
  int64_t band = p.oh;
  while (band > 1 && d.cg * rows_read(p, band) * wp > kBandElems) band = (band + 1) / 2;
  const int64_t image_groups = p.n * d.groups;
  const int64_t want = 2 * global_pool().active_threads();
  band = std::min(band, std::max<int64_t>(1, p.oh * image_groups / want));
  const int64_t bands = ceil_div(p.oh, band), fblocks = ceil_div(d.fg, kTileF);
  const int64_t ld_rows = rows_read(p, band);  // a band's rows per channel
  const int32_t* off = band_taps(p, d, ld_rows, wp).data();
  parallel_for(image_groups * bands, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ig = t / bands, g = ig % d.groups;
      const int64_t oh0 = t % bands * band, oh1 = std::min(p.oh, oh0 + band);
      float* buf = scratch<float>().task.get(d.cg * ld_rows * wp);
      fill_band(p, d, x + ig * d.cg * d.hw, oh0 * p.stride_h - p.pad_h, rows_read(p, oh1 - oh0),
                ld_rows, wp, buf);
      for (int64_t fb = 0; fb < fblocks; ++fb) {
        const float* wt = wpk + (g * fblocks + fb) * d.ckk * kTileF;
        const int64_t nf = std::min(kTileF, d.fg - fb * kTileF);
        float* yf = y + (ig * d.fg + fb * kTileF) * d.ohw;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const float* in = buf + (oh - oh0) * p.stride_h * wp;
          for (int64_t ow0 = 0; ow0 < p.ow; ow0 += 16) {
            const int64_t cols = std::min<int64_t>(16, p.ow - ow0);
            float* out = yf + oh * p.ow + ow0;
            if (cols <= 8) {
              direct_tile<1>(in + ow0, off, d.ckk, wt, nf, cols, float(p.alpha), p.accumulate,
                             out, d.ohw);
            } else {
              direct_tile<2>(in + ow0, off, d.ckk, wt, nf, cols, float(p.alpha), p.accumulate,
                             out, d.ohw);
            }
          }
        }
      }
      epi(ig, 0, d.fg, oh0 * p.ow, oh1 * p.ow);
    }
  });
}

// Rows [oh0, oh0 + rows) of dy for filters [f0, f0 + nf) of the image group, as
// [kTileF][rows][wd] with zeros past nf filters and ow columns.
void fill_dy_block(const ConvParams& p, const Dims& d, const float* dy, int64_t f0, int64_t nf,
                   int64_t oh0, int64_t rows, int64_t wd, float* out) {
  for (int64_t f = 0; f < kTileF; ++f)
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = out + (f * rows + r) * wd;
      int64_t n = f < nf ? p.ow : 0;
      if (n) copy_row(dy + (f0 + f) * d.ohw + (oh0 + r) * p.ow, n, dst);
      std::fill(dst + n, dst + wd, 0.f);
    }
}

}  // namespace

// Whether the direct kernel fits a forward problem: unit column stride and register
// tiles at least half full (not, e.g., LeNet's first-layer input gradient: 1 filter of 6).
bool use_direct(const ConvParams& p, const Dims& d) {
  if (p.stride_w != 1 || d.pointwise || !direct_isa()) return false;
  const double filters = double(d.fg) / double(ceil_div(d.fg, kTileF) * kTileF);
  const double columns = double(p.ow) / double(tiled_width(p.ow));
  return filters * columns >= 0.5;
}

bool transposed_as_forward(const ConvParams& p, ConvParams* q) {
  *q = p;
  q->kind = kConvForward;
  q->c = p.f;
  q->f = p.c;
  q->h = p.oh;
  q->w = p.ow;
  q->oh = p.h;
  q->ow = p.w;
  q->pad_h = (p.kh - 1) * p.dil_h - p.pad_h;
  q->pad_w = (p.kw - 1) * p.dil_w - p.pad_w;
  return p.stride_h == 1 && p.stride_w == 1 && q->pad_h >= 0 && q->pad_w >= 0;
}

void forward_direct_f32(const ConvParams& p, const Dims& d, const float* x, const float* w,
                        float* y, const Epilogue& epi) {
  const float* wpk = pack_direct_weights(d, [&](int64_t g, int64_t f, int64_t tap) {
    return w[(g * d.fg + f) * d.ckk + tap];
  });
  forward_direct(p, d, x, wpk, y, epi);
}

void input_grad_direct_f32(const Dims& d, const ConvParams& q, const Dims& e, const float* dy,
                           const float* w, float* dx, const Epilogue& epi) {
  // Tap (f, ki, kj) of the transposed filter c reads w[f][c][kh-1-ki][kw-1-kj].
  const float* wpk = pack_direct_weights(e, [&](int64_t g, int64_t c, int64_t tap) {
    const int64_t f = tap / d.kk, flipped = d.kk - 1 - tap % d.kk;
    return w[((g * d.fg + f) * d.cg + c) * d.kk + flipped];
  });
  forward_direct(q, e, dy, wpk, dx, epi);
}

// Whether the direct weight gradient fits: unit column stride, tiles at least 60% full
// (filters by kTileF, taps by two, columns by 8), and few filters per group. The im2col
// GEMM reuses each built col element for fg rows; with up to 16 filters the direct tiles
// are faster (one core: LeNet's 1->6 5x5 49 vs 18 GFLOP/s, 16->16 3x3 on 32x32 60 vs 36),
// with 32 or more the GEMM is (64->64 3x3: 61 vs 75; 3->64 3x3: 37 vs 60).
bool use_direct_wgrad(const ConvParams& p, const Dims& d) {
  if (p.stride_w != 1 || d.pointwise || d.fg > 16 || !direct_isa()) return false;
  const double filters = double(d.fg) / double(ceil_div(d.fg, kTileF) * kTileF);
  const double taps = double(d.ckk) / double(ceil_div(d.ckk, 2) * 2);
  const double columns = double(p.ow) / double(ceil_div(p.ow, 8) * 8);
  return filters * taps * columns >= 0.6;
}

// dW[g] (+)= sum over the batch of dy x input patches by register tiles (wgrad_tile),
// for unit column stride. Tasks: batch slice x group x filter-block range, each summing
// its images, bands and tiles in a fixed order into lane sums, then into a partial (or,
// with one slice, straight into dw); bands come from the shape only, so the bits do not
// depend on the thread count. View [groups, fg, ckk].
void weight_grad_direct(const ConvParams& p, const Dims& d, const float* x, const float* dy,
                        float* dw, const Epilogue& epi) {
  const int64_t elems = d.groups * d.fg * d.ckk;
  const int64_t slices = weight_grad_slices(p.n, elems * int64_t(sizeof(float)));
  const int64_t fblocks = ceil_div(d.fg, kTileF);
  const int64_t fsplit = std::clamp<int64_t>(
      ceil_div(2 * global_pool().active_threads(), slices * d.groups), 1, fblocks);
  const int64_t wd = ceil_div(p.ow, 8) * 8, wp = wd + (p.kw - 1) * p.dil_w;
  int64_t band = p.oh;
  while (band > 1 && d.cg * rows_read(p, band) * wp + kTileF * band * wd > kBandElems)
    band = (band + 1) / 2;
  const int64_t ld_rows = rows_read(p, band);
  const int32_t* taps = band_taps(p, d, ld_rows, wp).data();
  // Where the vectors of a band's output rows read, relative to a tap's window.
  thread_local std::vector<int32_t> vec_at;
  vec_at.resize(band * wd / 8);
  for (int64_t k = 0; k < band * wd / 8; ++k)
    vec_at[k] = int32_t(k / (wd / 8) * p.stride_h * wp + k % (wd / 8) * 8);
  const int32_t* xo = vec_at.data();
  const bool direct = slices == 1;  // a single slice sums straight into dw
  float* partial = direct ? nullptr : scratch<float>().shared.get(slices * elems);
  parallel_for(slices * d.groups * fsplit, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t s = t / (d.groups * fsplit), g = t / fsplit % d.groups, fs = t % fsplit;
      const int64_t fb0 = fblocks * fs / fsplit, fb1 = fblocks * (fs + 1) / fsplit;
      // Scratch: lane sums of the task's filter blocks, padded input rows, dy rows.
      const int64_t nlanes = (fb1 - fb0) * kTileF * d.ckk * 8;
      const int64_t nband = d.cg * ld_rows * wp;
      float* lanes = scratch<float>().task.get(nlanes + nband + kTileF * band * wd);
      float* buf = lanes + nlanes;
      float* dyb = buf + nband;
      std::fill(lanes, lanes + nlanes, 0.f);
      for (int64_t i = p.n * s / slices; i < p.n * (s + 1) / slices; ++i) {
        const int64_t ig = i * d.groups + g;
        for (int64_t oh0 = 0; oh0 < p.oh; oh0 += band) {
          const int64_t rows = std::min(band, p.oh - oh0);
          fill_band(p, d, x + ig * d.cg * d.hw, oh0 * p.stride_h - p.pad_h,
                    rows_read(p, rows), ld_rows, wp, buf);
          for (int64_t fb = fb0; fb < fb1; ++fb) {
            const int64_t nf = std::min(kTileF, d.fg - fb * kTileF);
            fill_dy_block(p, d, dy + ig * d.fg * d.ohw, fb * kTileF, nf, oh0, rows, wd, dyb);
            float* fl = lanes + (fb - fb0) * kTileF * d.ckk * 8;
            for (int64_t k = 0; k < d.ckk; k += 2) {
              const float* x[2] = {buf + taps[k], buf + taps[std::min(k + 1, d.ckk - 1)]};
              if (k + 1 < d.ckk) {
                wgrad_tile<2>(dyb, rows * wd, xo, rows * wd / 8, x, fl + k * 8, d.ckk);
              } else {
                wgrad_tile<1>(dyb, rows * wd, xo, rows * wd / 8, x, fl + k * 8, d.ckk);
              }
            }
          }
        }
      }
      // Lane sums -> partial, or alpha * sum (+ dw) -> dw.
      const int64_t f0 = fb0 * kTileF, f1 = std::min(d.fg, fb1 * kTileF);
      float* target = (direct ? dw : partial + s * elems) + g * d.fg * d.ckk;
      for (int64_t e = f0 * d.ckk; e < f1 * d.ckk; ++e) {
        const float* l = lanes + (e - f0 * d.ckk) * 8;
        const float sum = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        if (!direct) {
          target[e] = sum;
        } else {
          const float v = float(p.alpha) * sum;
          target[e] = p.accumulate ? v + target[e] : v;
        }
      }
      if (direct) epi(g, f0, f1, 0, d.ckk);
    }
  });
  if (direct) return;
  reduce_all_partials(p, d, partial, slices, dw, epi);
}

}  // namespace kiln::conv_detail
