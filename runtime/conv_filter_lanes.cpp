// Convolution with the filters in the vector lanes (f32, AVX2 + FMA, one group, 12 to 16
// filters): LeNet's 6->16 layer, whose 10-wide rows waste most of the direct kernel's
// 16-column tiles (conv_direct.cpp) and whose 16 filters make im2col + GEMM mostly
// copying. See conv.cpp's top comment for the measurements that pick this path.
//
// One micro-kernel, lanes_tile, serves both kinds: P <= 6 accumulator rows of 16 lanes
// (two 8-float vectors, zero past fg),
//   acc[e][:] += vec[k][:] * src[e][off[k]]   for k in [0, K),
// a broadcast input element times 16 lanes: 12 FMAs per 2 loads + 6 broadcasts, the
// GEMM micro-kernel's ratio.
//   forward      tile = P output pixels (any P, spanning rows and images: no lane is
//                wasted on a 10-wide row), K = taps, vec = the weights tap-major,
//                off = where each tap reads relative to a pixel; acc = y^T, pixel-major,
//                transposed into NCHW per image (8x8 register transposes).
//   weight grad  tile = P taps, K = the output pixels of a block of images, vec = dy^T
//                (pixel-major), off = where each pixel's window starts; acc = dW^T.
// The input is read in place when unpadded, else from a padded copy of the task's
// images, so any stride and dilation is just an offset.
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "runtime/conv_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "runtime/conv_avx2.h"

namespace kiln::conv_detail {

namespace {

constexpr int64_t kBlockPixels = 512;  // output pixels of a block of images (the K of wgrad)

// Where the kernels read the input of a block of images: [image][channel][hp][wp], the
// images themselves when unpadded, else a padded copy covering every row and column the
// windows reach.
struct Frame {
  int64_t hp, wp, image;  // rows and columns of a channel, elements of an image
  bool padded;
};

Frame frame_of(const ConvParams& p, const Dims& d) {
  Frame fr;
  fr.padded = p.pad_h != 0 || p.pad_w != 0;
  fr.hp = fr.padded ? (p.oh - 1) * p.stride_h + (p.kh - 1) * p.dil_h + 1 : p.h;
  fr.wp = fr.padded ? (p.ow - 1) * p.stride_w + (p.kw - 1) * p.dil_w + 1 : p.w;
  fr.image = d.cg * fr.hp * fr.wp;
  return fr;
}

// Offsets in a frame image: of each tap (c, ki, kj) relative to its window, and of each
// output pixel's window. Built by the calling thread, read by its tasks.
struct Offsets {
  std::vector<int32_t> tap, pixel;
};
const Offsets& offsets(const ConvParams& p, const Dims& d, const Frame& fr) {
  thread_local Offsets o;
  o.tap.resize(d.ckk);
  o.pixel.resize(d.ohw);
  for (int64_t t = 0; t < d.ckk; ++t) {
    const int64_t c = t / d.kk, ki = t % d.kk / p.kw, kj = t % p.kw;
    o.tap[t] = int32_t((c * fr.hp + ki * p.dil_h) * fr.wp + kj * p.dil_w);
  }
  for (int64_t j = 0; j < d.ohw; ++j)
    o.pixel[j] = int32_t(j / p.ow * p.stride_h * fr.wp + j % p.ow * p.stride_w);
  return o;
}

// The frame of images [0, count) of x (dense NCHW) into dst.
void pad_images(const ConvParams& p, const Dims& d, const Frame& fr, const float* x,
                int64_t count, float* dst) {
  const int64_t c0 = std::min(fr.wp, p.pad_w), c1 = std::clamp(p.pad_w + p.w, c0, fr.wp);
  for (int64_t ic = 0; ic < count * d.cg; ++ic)
    for (int64_t r = 0; r < fr.hp; ++r) {
      float* row = dst + (ic * fr.hp + r) * fr.wp;
      const int64_t ih = r - p.pad_h;
      if (ih < 0 || ih >= p.h) {
        std::fill(row, row + fr.wp, 0.f);
        continue;
      }
      const float* s = x + (ic * p.h + ih) * p.w - p.pad_w;
      std::fill(row, row + c0, 0.f);
      std::copy(s + c0, s + c1, row + c0);
      std::fill(row + c1, row + fr.wp, 0.f);
    }
}

constexpr int64_t kLanes = 16;  // filters per pixel: two 8-float vectors, zero past fg
constexpr int kTile = 6;        // accumulator rows of a tile (12 vectors)

#pragma GCC push_options
#pragma GCC target("avx2,fma")

// acc[e][:] (+)= sum_k vec[k][:] * src[e][off[k]] for e < P, 16 lanes, stored to
// out[e*ldo : e*ldo + 16]; add: acc starts from out instead of zero.
template <int P>
void lanes_tile(const float* const* src, const int32_t* off, int64_t k, const float* vec,
                float* out, int64_t ldo, bool add) {
  // One flat array indexed by fully unrolled loops: GCC then keeps it in registers (an
  // array [P][2] was written back to the stack every iteration).
  __m256 acc[2 * P];
  const float* s[P];
#pragma GCC unroll 16
  for (int e = 0; e < P; ++e) s[e] = src[e];
#pragma GCC unroll 16
  for (int a = 0; a < 2 * P; ++a)
    acc[a] = add ? _mm256_loadu_ps(out + a / 2 * ldo + 8 * (a % 2)) : _mm256_setzero_ps();
  for (int64_t i = 0; i < k; ++i, vec += kLanes) {
    const int64_t o = off[i];
    const __m256 w0 = _mm256_loadu_ps(vec), w1 = _mm256_loadu_ps(vec + 8);
#pragma GCC unroll 16
    for (int e = 0; e < P; ++e) {
      const __m256 b = _mm256_broadcast_ss(s[e] + o);
      acc[2 * e] = _mm256_fmadd_ps(b, w0, acc[2 * e]);
      acc[2 * e + 1] = _mm256_fmadd_ps(b, w1, acc[2 * e + 1]);
    }
  }
#pragma GCC unroll 16
  for (int a = 0; a < 2 * P; ++a) _mm256_storeu_ps(out + a / 2 * ldo + 8 * (a % 2), acc[a]);
}

// y[f][q] = alpha * yt[q][f] (+ y[f][q]) for one image: f < fg, q < ohw, yt
// [ohw][kLanes].
void store_image(const float* yt, int64_t fg, int64_t ohw, float alpha, bool accumulate,
                 float* y) {
  const __m256 a = _mm256_set1_ps(alpha);
  int64_t q = 0;
  for (; q + 8 <= ohw; q += 8)
    for (int64_t f0 = 0; f0 < fg; f0 += 8) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(yt + (q + j) * kLanes + f0);
      transpose8(r);
      for (int64_t i = 0; i < std::min<int64_t>(8, fg - f0); ++i) {
        float* dst = y + (f0 + i) * ohw + q;
        const __m256 v = accumulate ? _mm256_fmadd_ps(r[i], a, _mm256_loadu_ps(dst))
                                    : _mm256_mul_ps(r[i], a);
        _mm256_storeu_ps(dst, v);
      }
    }
  for (; q < ohw; ++q)
    for (int64_t f = 0; f < fg; ++f) {
      float* dst = y + f * ohw + q;
      const float v = yt[q * kLanes + f];
      *dst = accumulate ? std::fma(v, alpha, *dst) : v * alpha;
    }
}

// dyt[q][f] = dy[f][q] for one image, [ohw][kLanes] (zero past fg).
void transpose_dy(const float* dy, int64_t fg, int64_t ohw, float* dyt) {
  int64_t q = 0;
  for (; q + 8 <= ohw; q += 8)
    for (int64_t f0 = 0; f0 < kLanes; f0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = f0 + i < fg ? _mm256_loadu_ps(dy + (f0 + i) * ohw + q) : _mm256_setzero_ps();
      transpose8(r);
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dyt + (q + j) * kLanes + f0, r[j]);
    }
  for (; q < ohw; ++q)
    for (int64_t f = 0; f < kLanes; ++f) dyt[q * kLanes + f] = f < fg ? dy[f * ohw + q] : 0.f;
}

#pragma GCC pop_options

using TileFn = void (*)(const float* const*, const int32_t*, int64_t, const float*, float*,
                        int64_t, bool);
template <size_t... I>
constexpr std::array<TileFn, sizeof...(I)> tiles(std::index_sequence<I...>) {
  return {&lanes_tile<int(I) + 1>...};
}
// The kernel for a tile of `count` rows, 1..kTile.
constexpr auto kTiles = tiles(std::make_index_sequence<kTile>{});

// w [fg][ckk] as [tap][kLanes] (zero past fg), in the calling thread's scratch.
const float* pack_weights(const Dims& d, const float* w) {
  float* out = scratch<float>().weights.get(kLanes * d.ckk);
  for (int64_t t = 0; t < d.ckk; ++t)
    for (int64_t f = 0; f < kLanes; ++f) out[t * kLanes + f] = f < d.fg ? w[f * d.ckk + t] : 0.f;
  return out;
}

// Images per block: about kBlockPixels output pixels.
int64_t images_per_block(const ConvParams& p, const Dims& d) {
  return std::clamp<int64_t>(kBlockPixels / d.ohw, 1, p.n);
}

// The input of images [i0, i1) as the kernels read it: from the prologue or x, framed
// into `framed` when padded.
const float* frame_images(const ConvParams& p, const Dims& d, const Frame& fr,
                          const Prologue& pro, const float* x, int64_t i0, int64_t i1,
                          float* framed) {
  const float* in = operand_images(pro, x, p.c * d.hw, i0, i1);
  if (!fr.padded) return in;
  pad_images(p, d, fr, in, i1 - i0, framed);
  return framed;
}

}  // namespace

// 12 to 16 filters: two vectors at least 75% full. A version with one 8-lane vector (6
// filters, 10-pixel tiles, load-bound) lost to the direct kernel on LeNet's 1->6 layer
// (2 threads: forward 79 vs 97 GFLOP/s, weight gradient 100 vs 119), so there is none.
bool use_filter_lanes(const ConvParams& p, const Dims& d) {
  if (p.groups != 1 || d.fg < 12 || d.fg > kLanes || !direct_isa()) return false;
  // Offsets are 32-bit within a block of frame images.
  return images_per_block(p, d) * frame_of(p, d).image < (int64_t(1) << 31);
}

void forward_filter_lanes(const ConvParams& p, const Dims& d, const float* x, const float* w,
                          float* y, const Epilogue& epi, const Prologue& pro) {
  const Frame fr = frame_of(p, d);
  const Offsets& off = offsets(p, d, fr);
  const float* wpk = pack_weights(d, w);
  // Blocks of images, more of them when the batch is too small for the pool.
  const int64_t per = std::min(images_per_block(p, d),
                               ceil_div(p.n, 2 * global_pool().active_threads()));
  parallel_for(ceil_div(p.n, per), 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * per, i1 = std::min(p.n, i0 + per), pixels = (i1 - i0) * d.ohw;
      // Scratch: y^T of the block, [pixel][kLanes], then its frame images.
      float* yt = scratch<float>().task.get(pixels * kLanes + (fr.padded ? (i1 - i0) * fr.image : 0));
      const float* in = frame_images(p, d, fr, pro, x, i0, i1, yt + pixels * kLanes);
      const float* src[kTile];
      int64_t image = 0, j = 0;  // the next tile's first pixel
      for (int64_t q0 = 0; q0 < pixels; q0 += kTile) {
        const int64_t count = std::min<int64_t>(kTile, pixels - q0);
        for (int64_t e = 0; e < count; ++e) {
          src[e] = in + image * fr.image + off.pixel[j];
          if (++j == d.ohw) j = 0, ++image;
        }
        kTiles[count - 1](src, off.tap.data(), d.ckk, wpk, yt + q0 * kLanes, kLanes, false);
      }
      for (int64_t i = i0; i < i1; ++i) {
        store_image(yt + (i - i0) * d.ohw * kLanes, d.fg, d.ohw, float(p.alpha), p.accumulate,
                    y + i * d.fg * d.ohw);
        epi(i, 0, d.fg, 0, d.ohw);
      }
    }
  });
}

void weight_grad_filter_lanes(const ConvParams& p, const Dims& d, const float* x,
                              const float* dy, float* dw, const Epilogue& epi,
                              const Prologue& pro) {
  const Frame fr = frame_of(p, d);
  const Offsets& off = offsets(p, d, fr);
  const int64_t elems = d.fg * d.ckk;
  const int64_t slices = weight_grad_slices(p.n, elems * int64_t(sizeof(float)));
  const int64_t per = images_per_block(p, d), tiles = ceil_div(d.ckk, kTile);
  float* partial = scratch<float>().shared.get(slices * elems);
  // Tasks: slices. Each sums its images in order, pixel after pixel, into dW^T lanes (so
  // neither blocks nor tiles change the order), then writes its partial.
  parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t si0 = p.n * s / slices, si1 = p.n * (s + 1) / slices;
      // Scratch: dW^T lanes [ckk][kLanes], dy^T of a block, its frame images.
      const int64_t nsum = d.ckk * kLanes, ndy = per * d.ohw * kLanes;
      float* sum = scratch<float>().task.get(nsum + ndy + (fr.padded ? per * fr.image : 0));
      float* dyt = sum + nsum;
      thread_local std::vector<int32_t> pixel_at;
      pixel_at.resize(per * d.ohw);
      std::fill(sum, sum + nsum, 0.f);
      for (int64_t i0 = si0; i0 < si1; i0 += per) {
        const int64_t i1 = std::min(si1, i0 + per), pixels = (i1 - i0) * d.ohw;
        const float* in = frame_images(p, d, fr, pro, x, i0, i1, dyt + ndy);
        for (int64_t i = i0; i < i1; ++i) {
          transpose_dy(dy + i * d.fg * d.ohw, d.fg, d.ohw, dyt + (i - i0) * d.ohw * kLanes);
          for (int64_t j = 0; j < d.ohw; ++j)
            pixel_at[(i - i0) * d.ohw + j] = int32_t((i - i0) * fr.image + off.pixel[j]);
        }
        const float* src[kTile];
        for (int64_t tile = 0; tile < tiles; ++tile) {  // balanced tiles of taps
          const int64_t k0 = d.ckk * tile / tiles, k1 = d.ckk * (tile + 1) / tiles;
          for (int64_t k = k0; k < k1; ++k) src[k - k0] = in + off.tap[k];
          kTiles[k1 - k0 - 1](src, pixel_at.data(), pixels, dyt, sum + k0 * kLanes, kLanes,
                              true);
        }
      }
      for (int64_t f = 0; f < d.fg; ++f)
        for (int64_t k = 0; k < d.ckk; ++k)
          partial[s * elems + f * d.ckk + k] = sum[k * kLanes + f];
    }
  });
  reduce_all_partials(p, d, partial, slices, dw, epi);
}

}  // namespace kiln::conv_detail

#else  // the kernels are AVX2 (direct_isa() is false elsewhere): never taken

namespace kiln::conv_detail {

bool use_filter_lanes(const ConvParams&, const Dims&) { return false; }
void forward_filter_lanes(const ConvParams&, const Dims&, const float*, const float*, float*,
                          const Epilogue&, const Prologue&) {}
void weight_grad_filter_lanes(const ConvParams&, const Dims&, const float*, const float*,
                              float*, const Epilogue&, const Prologue&) {}

}  // namespace kiln::conv_detail

#endif
