// The pieces of Winograd F(2x2, 3x3) that the forward / input-gradient path
// (conv_winograd.cpp) and the weight-gradient path (conv_winograd_wgrad.cpp) share: the
// tile geometry, the input transform B^T d B and the vector helpers. Internal to the
// runtime convolution.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/abi.h"

namespace kiln::conv_detail {

constexpr int64_t kElems = 16;  // elements of a transformed 4x4 tile: the 16 GEMMs
// Added to the distance between the 16 matrices of a transformed block: at a multiple
// of 4 KB, the 16 element streams of a tile's transforms would share a few L1 sets.
constexpr int64_t kSkew = 16;  // floats: one cache line

// The tiles of an image: tile t = ty*tw + tx covers outputs [2ty, 2ty+2) x [2tx, 2tx+2)
// (those past an odd edge are dropped) and reads input rows [2ty-1, 2ty+3) x columns
// [2tx-1, 2tx+3), zero outside the image; a padded row holds whole tiles: 2tw+2 columns.
struct TileMap {
  int64_t h, w, th, tw, tiles, plane_w;
  TileMap(int64_t h_, int64_t w_)
      : h(h_), w(w_), th((h + 1) / 2), tw((w + 1) / 2), tiles(th * tw), plane_w(2 * tw + 2) {}
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

// One channel of one image into V. Per row of tiles, B^T d over the 4 input rows it reads
// (x rows 2ty-1 .. 2ty+2, `zeros` for those in the padding), whole rows at once into
// rows [4][plane_w] at columns 1..w (columns 0 and past w, the padding, stay zero); then
// (B^T d) B per tile, element e of tile t to v[e*ldv + t].
[[gnu::always_inline]] inline void input_image(const TileMap& tm, const float* x,
                                               const float* zeros, float* __restrict rows,
                                               float* __restrict v, int64_t ldv) {
  const int64_t pw = tm.plane_w, w = tm.w;
  for (int64_t ty = 0; ty < tm.th; ++ty) {
    const float* in[4];
    for (int64_t a = 0; a < 4; ++a) {
      const int64_t r = 2 * ty - 1 + a;
      in[a] = r >= 0 && r < tm.h ? x + r * w : zeros;
    }
    const float *__restrict d0 = in[0], *__restrict d1 = in[1], *__restrict d2 = in[2],
                            *__restrict d3 = in[3];
    float *__restrict r0 = rows + 1, *__restrict r1 = r0 + pw, *__restrict r2 = r1 + pw,
                      *__restrict r3 = r2 + pw;
    for (int64_t q = 0; q < w; ++q) {  // B^T d
      r0[q] = d0[q] - d2[q];
      r1[q] = d1[q] + d2[q];
      r2[q] = d2[q] - d1[q];
      r3[q] = d1[q] - d3[q];
    }
    for (int64_t tx = 0; tx < tm.tw; ++tx) {  // (B^T d) B
      float* vt = v + ty * tm.tw + tx;
      for (int64_t i = 0; i < 4; ++i) {
        const float* s = rows + i * pw + 2 * tx;
        vt[(4 * i + 0) * ldv] = s[0] - s[2];
        vt[(4 * i + 1) * ldv] = s[1] + s[2];
        vt[(4 * i + 2) * ldv] = s[2] - s[1];
        vt[(4 * i + 3) * ldv] = s[1] - s[3];
      }
    }
  }
}

// 3x3, stride 1, dilation 1, padding 1, one group, non-empty, and a task's transformed
// buffers for one image within bounds: the shapes the Winograd paths can run.
bool winograd_eligible(const ConvParams& p);

// Whether the transforms may use AVX2 (picked at run time, like the GEMM's micro-kernels).
bool winograd_avx2();

}  // namespace kiln::conv_detail
