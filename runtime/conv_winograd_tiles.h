// The pieces of Winograd F(2x2, RxR), R = 3 or 5, that the forward / input-gradient
// path (conv_winograd.cpp) and the weight-gradient path (conv_winograd_wgrad.cpp) share:
// the one-dimensional transforms of each R (F2<R>), the tile geometry, the input
// transform B^T d B and the vector helpers. Internal to the runtime convolution.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/abi.h"

namespace kiln::conv_detail {

// Added to the distance between the matrices of a transformed block: at a multiple of
// 4 KB, the element streams of a tile's transforms would share a few L1 sets.
constexpr int64_t kSkew = 16;  // floats: one cache line

// F(2, R) in one dimension: 2 outputs of an R-tap filter from kAlpha = R + 1 inputs,
//   y = A^T [ (G g) (.) (B^T d) ],
// as the functions the 2-D transforms apply along rows and then along columns:
//   bt_rows  B^T d over whole rows (in[a]: input row a of a row of tiles; out row i at
//            rows + i*pw, w columns)
//   bt       B^T d of one tile's kAlpha values
//   at       A^T m (kAlpha -> 2), on vectors of tiles
//   g        G g (R -> kAlpha), the weight transform
//   a_rows   A y over whole rows (the weight gradient's transform of dy: 2 -> kAlpha)
//   a        A y of one tile's 2 values
//   gt       G^T m (kAlpha -> R), the weight gradient's output transform
// The row functions take their pointers as __restrict locals so the compiler vectorizes
// the loops without alias checks.
template <int R>
struct F2;

// F(2, 3), points 0, 1, -1, infinity: the transforms only add and halve, so the error is
// a few ulps of the sum of the terms' magnitudes.
template <>
struct F2<3> {
  static constexpr int kAlpha = 4;
  [[gnu::always_inline]] static void bt_rows(const float* const in[4], float* rows,
                                             int64_t pw, int64_t w) {
    const float *__restrict d0 = in[0], *__restrict d1 = in[1], *__restrict d2 = in[2],
                            *__restrict d3 = in[3];
    float *__restrict r0 = rows, *__restrict r1 = r0 + pw, *__restrict r2 = r1 + pw,
                      *__restrict r3 = r2 + pw;
    for (int64_t q = 0; q < w; ++q) {
      r0[q] = d0[q] - d2[q];
      r1[q] = d1[q] + d2[q];
      r2[q] = d2[q] - d1[q];
      r3[q] = d1[q] - d3[q];
    }
  }
  [[gnu::always_inline]] static void bt(const float* s, float o[4]) {
    o[0] = s[0] - s[2];
    o[1] = s[1] + s[2];
    o[2] = s[2] - s[1];
    o[3] = s[1] - s[3];
  }
  template <typename V>  // A^T = [1 1 1 0; 0 1 -1 -1]
  [[gnu::always_inline]] static void at(const V m[4], V y[2]) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
  // G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
  [[gnu::always_inline]] static void g(const float g[3], float u[4]) {
    u[0] = g[0];
    u[1] = 0.5f * (g[0] + g[1] + g[2]);
    u[2] = 0.5f * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  }
  // A = [1 0; 1 1; 1 -1; 0 -1]
  [[gnu::always_inline]] static void a_rows(const float* g0_, const float* g1_, float* rows,
                                            int64_t pw, int64_t w) {
    const float *__restrict g0 = g0_, *__restrict g1 = g1_;
    float *__restrict r0 = rows, *__restrict r1 = r0 + pw, *__restrict r2 = r1 + pw,
                      *__restrict r3 = r2 + pw;
    for (int64_t q = 0; q < w; ++q) {
      r0[q] = g0[q];
      r1[q] = g0[q] + g1[q];
      r2[q] = g0[q] - g1[q];
      r3[q] = -g1[q];
    }
  }
  [[gnu::always_inline]] static void a(const float* s, float o[4]) {
    o[0] = s[0];
    o[1] = s[0] + s[1];
    o[2] = s[0] - s[1];
    o[3] = -s[1];
  }
  [[gnu::always_inline]] static void gt(const float m[4], float o[3]) {
    o[0] = m[0] + 0.5f * (m[1] + m[2]);
    o[1] = 0.5f * (m[1] - m[2]);
    o[2] = 0.5f * (m[1] + m[2]) + m[3];
  }
};

// F(2, 5), points 0, 1, -1, 2, -2, infinity (the points of the usual F(4, 3), and its
// B^T): constants up to 5 in B^T and 1/24 in G. On tests/runtime/conv_test.cpp's shapes
// the error is up to 4e-6 of the sum of the terms' magnitudes (F(2, 3): 2e-7; the
// direct paths: 3e-7).
template <>
struct F2<5> {
  static constexpr int kAlpha = 6;
  // B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
  //        0 4 0 -5 0 1]
  [[gnu::always_inline]] static void bt_rows(const float* const in[6], float* rows,
                                             int64_t pw, int64_t w) {
    const float *__restrict d0 = in[0], *__restrict d1 = in[1], *__restrict d2 = in[2],
                            *__restrict d3 = in[3], *__restrict d4 = in[4],
                            *__restrict d5 = in[5];
    float *__restrict r0 = rows, *__restrict r1 = r0 + pw, *__restrict r2 = r1 + pw,
                      *__restrict r3 = r2 + pw, *__restrict r4 = r3 + pw,
                      *__restrict r5 = r4 + pw;
    for (int64_t q = 0; q < w; ++q) {
      const float s[6] = {d0[q], d1[q], d2[q], d3[q], d4[q], d5[q]};
      float o[6];
      bt(s, o);
      r0[q] = o[0];
      r1[q] = o[1];
      r2[q] = o[2];
      r3[q] = o[3];
      r4[q] = o[4];
      r5[q] = o[5];
    }
  }
  [[gnu::always_inline]] static void bt(const float* s, float o[6]) {
    const float p12 = s[1] + s[2], m12 = s[1] - s[2], p34 = s[3] + s[4], m34 = s[4] - s[3];
    const float d42 = s[4] - s[2], d31 = s[3] - s[1];
    o[0] = 4.f * s[0] - 5.f * s[2] + s[4];
    o[1] = p34 - 4.f * p12;
    o[2] = m34 + 4.f * m12;
    o[3] = d42 + 2.f * d31;
    o[4] = d42 - 2.f * d31;
    o[5] = 4.f * s[1] - 5.f * s[3] + s[5];
  }
  template <typename V>  // A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
  [[gnu::always_inline]] static void at(const V m[6], V y[2]) {
    y[0] = m[0] + (m[1] + m[2]) + (m[3] + m[4]);
    y[1] = (m[1] - m[2]) + 2.f * (m[3] - m[4]) + m[5];
  }
  // G = [1/4 0 0 0 0; -1/6 (1 1 1 1 1); -1/6 (1 -1 1 -1 1); 1/24 (1 2 4 8 16);
  //      1/24 (1 -2 4 -8 16); 0 0 0 0 1]
  [[gnu::always_inline]] static void g(const float g[5], float u[6]) {
    const float even = g[0] + g[2] + g[4], odd = g[1] + g[3];
    const float even2 = g[0] + 4.f * g[2] + 16.f * g[4], odd2 = 2.f * g[1] + 8.f * g[3];
    u[0] = 0.25f * g[0];
    u[1] = (-1.f / 6) * (even + odd);
    u[2] = (-1.f / 6) * (even - odd);
    u[3] = (1.f / 24) * (even2 + odd2);
    u[4] = (1.f / 24) * (even2 - odd2);
    u[5] = g[4];
  }
  // A = [1 0; 1 1; 1 -1; 1 2; 1 -2; 0 1]
  [[gnu::always_inline]] static void a_rows(const float* g0_, const float* g1_, float* rows,
                                            int64_t pw, int64_t w) {
    const float *__restrict g0 = g0_, *__restrict g1 = g1_;
    float *__restrict r0 = rows, *__restrict r1 = r0 + pw, *__restrict r2 = r1 + pw,
                      *__restrict r3 = r2 + pw, *__restrict r4 = r3 + pw,
                      *__restrict r5 = r4 + pw;
    for (int64_t q = 0; q < w; ++q) {
      r0[q] = g0[q];
      r1[q] = g0[q] + g1[q];
      r2[q] = g0[q] - g1[q];
      r3[q] = g0[q] + 2.f * g1[q];
      r4[q] = g0[q] - 2.f * g1[q];
      r5[q] = g1[q];
    }
  }
  [[gnu::always_inline]] static void a(const float* s, float o[6]) {
    o[0] = s[0];
    o[1] = s[0] + s[1];
    o[2] = s[0] - s[1];
    o[3] = s[0] + 2.f * s[1];
    o[4] = s[0] - 2.f * s[1];
    o[5] = s[1];
  }
  // G^T: the transpose of g's G.
  [[gnu::always_inline]] static void gt(const float m[6], float o[5]) {
    const float p12 = m[1] + m[2], m12 = m[2] - m[1], p34 = m[3] + m[4], m34 = m[3] - m[4];
    o[0] = 0.25f * m[0] - (1.f / 6) * p12 + (1.f / 24) * p34;
    o[1] = (1.f / 6) * m12 + (1.f / 12) * m34;
    o[2] = (1.f / 6) * (p34 - p12);
    o[3] = (1.f / 6) * m12 + (1.f / 3) * m34;
    o[4] = (2.f / 3) * p34 - (1.f / 6) * p12 + m[5];
  }
};

// The tiles of an image for an RxR kernel with padding P = (R-1)/2: tile t = ty*tw + tx
// covers outputs [2ty, 2ty+2) x [2tx, 2tx+2) (those past an odd edge are dropped) and
// reads input rows [2ty-P, 2ty-P+alpha) x columns [2tx-P, 2tx-P+alpha), zero outside the
// image; a padded row holds whole tiles: 2tw + R - 1 columns, the image's at P..P+w.
struct TileMap {
  int64_t r, pad, h, w, th, tw, tiles, plane_w;
  TileMap(int64_t r_, int64_t h_, int64_t w_)
      : r(r_),
        pad((r_ - 1) / 2),
        h(h_),
        w(w_),
        th((h + 1) / 2),
        tw((w + 1) / 2),
        tiles(th * tw),
        plane_w(2 * tw + r_ - 1) {}
};

// Vectors of W floats (GCC vector extensions), loaded and stored unaligned. The
// transforms below work on W columns (tiles) at a time; they are compiled for W = 4
// (baseline SSE2) and W = 8 (AVX2) and picked at run time.
template <int W>
struct Vec {
  typedef float type __attribute__((vector_size(4 * W)));
};
template <typename V>
[[gnu::always_inline]] inline void load(V& x, const float* p) { std::memcpy(&x, p, sizeof(V)); }
template <typename V>
[[gnu::always_inline]] inline void store(float* p, const V& x) { std::memcpy(p, &x, sizeof(V)); }

// One channel of one image into V. Per row of tiles, B^T d over the alpha input rows it
// reads (`zeros` for those in the padding), whole rows at once into rows[alpha][plane_w]
// at columns P..P+w (the padding columns stay zero); then (B^T d) B per tile, element e
// of tile t to v[e*ldv + t].
template <int R>
[[gnu::always_inline]] inline void input_image(const TileMap& tm, const float* x,
                                               const float* zeros, float* __restrict rows,
                                               float* __restrict v, int64_t ldv) {
  constexpr int A = F2<R>::kAlpha;
  const int64_t pw = tm.plane_w, w = tm.w;
  for (int64_t ty = 0; ty < tm.th; ++ty) {
    const float* in[A];
    #pragma GCC unroll 8
    for (int64_t a = 0; a < A; ++a) {
      const int64_t r = 2 * ty - tm.pad + a;
      in[a] = r >= 0 && r < tm.h ? x + r * w : zeros;
    }
    F2<R>::bt_rows(in, rows + tm.pad, pw, w);
    for (int64_t tx = 0; tx < tm.tw; ++tx) {
      float* vt = v + ty * tm.tw + tx;
      #pragma GCC unroll 8
      for (int64_t i = 0; i < A; ++i) {
        float o[A];
        F2<R>::bt(rows + i * pw + 2 * tx, o);
        #pragma GCC unroll 8
        for (int64_t j = 0; j < A; ++j) vt[(A * i + j) * ldv] = o[j];
      }
    }
  }
}

// 3x3 with padding 1 or 5x5 with padding 2, stride 1, dilation 1, one group, non-empty,
// and a task's transformed buffers for one image within bounds: the shapes the Winograd
// paths can run.
bool winograd_eligible(const ConvParams& p);

// Whether the transforms may use AVX2 (picked at run time, like the GEMM's micro-kernels).
bool winograd_avx2();

}  // namespace kiln::conv_detail
