// Winograd F(2x2, 3x3) weight gradient: the transpose of the forward formula
// (conv_winograd.cpp). The forward computes each 2x2 output tile as
//   y = A^T [ U (.) V ] A,  U = G g G^T,  V = B^T d B  (d: the tile's 4x4 input),
// so for the loss L, dL/dU = sum over tiles and images of (A dy A^T) (.) V, and
//   dW = G^T [ sum over tiles of (A dy A^T) (.) (B^T d B) ] G,
// i.e. per element e of the 4x4 transformed tile a GEMM M[e] = D[e] @ V[e]^T with
// D[e] = [f, tiles] (transformed dy) and V[e] = [c, tiles] (transformed x, the forward's
// input transform): 16 multiplies per (tile, channel, filter) instead of the direct
// weight gradient's 36, then the output transform G^T M G per (filter, channel).
//
// Work split: the batch in slices fixed by the shape (weight_grad_slices), one task per
// slice; a task transforms blocks of its images and accumulates its slice's M; the
// slices' Ms are then summed in slice order and transformed back. The bits therefore do
// not depend on the thread count (the GEMMs never split K).
#include <algorithm>

#include "runtime/conv_internal.h"
#include "runtime/conv_winograd.h"
#include "runtime/conv_winograd_tiles.h"

namespace kiln::conv_detail {

namespace {

// Floats of a block's V and D together (1 MB: L2) between the transforms and the GEMMs;
// the block's tiles (GEMM K per call) follow from the channels. 64+64 channels: 128
// tiles; 128+128 on 4x4 maps: 64 tiles, 4.5-4.7 ms instead of 6.1-6.4 with 128 (batch
// 256; 256+256 on 4x4 15 instead of 18).
constexpr int64_t kWgradBlockFloats = 256 << 10;
// At most this many slices: each adds a [16][f][c] partial M to write and to sum.
constexpr int64_t kWgradMaxSlices = 8;

// One block's transformed operands in the running thread's scratch: V = [16][c][cols],
// D = [16][f][cols] (matrices ldv / ldd apart), a row of zeros (padding rows) and the
// row buffers of the two transforms (their padding columns stay zero).
struct WgradBlock {
  int64_t cols, ldv, ldd;
  float *v, *d, *zeros, *xrows, *drows;
};

WgradBlock wgrad_block(const ConvParams& p, const TileMap& tm, int64_t images) {
  WgradBlock b;
  b.cols = images * tm.tiles;
  b.ldv = p.c * b.cols + kSkew;
  b.ldd = p.f * b.cols + kSkew;
  const int64_t rows = 4 * tm.plane_w;
  b.v = scratch<float>().task.get(kElems * (b.ldv + b.ldd) + p.w + 2 * rows);
  b.d = b.v + kElems * b.ldv;
  b.zeros = b.d + kElems * b.ldd;
  b.xrows = b.zeros + p.w;
  b.drows = b.xrows + rows;
  std::fill(b.zeros, b.drows + rows, 0.f);
  return b;
}

// One channel of one image of dy into D: A g A^T of each tile's 2x2 block g (zero past
// an odd edge), A = [1 0; 1 1; 1 -1; 0 -1]; element e of tile t to d[e*ldd + t]. Per
// row of tiles, A g over whole rows into rows[4][plane_w] (columns from w on stay zero),
// then the columns per tile.
[[gnu::always_inline]] inline void grad_image(const TileMap& tm, const float* dy,
                                              const float* zeros, float* __restrict rows,
                                              float* __restrict d, int64_t ldd) {
  const int64_t pw = tm.plane_w, w = tm.w;
  for (int64_t ty = 0; ty < tm.th; ++ty) {
    const float* __restrict g0 = dy + 2 * ty * w;
    const float* __restrict g1 = 2 * ty + 1 < tm.h ? g0 + w : zeros;
    float *__restrict r0 = rows, *__restrict r1 = r0 + pw, *__restrict r2 = r1 + pw,
                      *__restrict r3 = r2 + pw;
    for (int64_t q = 0; q < w; ++q) {  // A g
      r0[q] = g0[q];
      r1[q] = g0[q] + g1[q];
      r2[q] = g0[q] - g1[q];
      r3[q] = -g1[q];
    }
    for (int64_t tx = 0; tx < tm.tw; ++tx) {  // (A g) A^T
      float* dt = d + ty * tm.tw + tx;
      for (int64_t i = 0; i < 4; ++i) {
        const float* s = rows + i * pw + 2 * tx;
        dt[(4 * i + 0) * ldd] = s[0];
        dt[(4 * i + 1) * ldd] = s[0] + s[1];
        dt[(4 * i + 2) * ldd] = s[0] - s[1];
        dt[(4 * i + 3) * ldd] = -s[1];
      }
    }
  }
}

// Images [i0, i1) into V (from x, whose images start at i0) and D (from all of dy).
[[gnu::always_inline]] inline void transform_block(const ConvParams& p, const TileMap& tm,
                                                   const WgradBlock& b, const float* x,
                                                   const float* dy, int64_t i0, int64_t i1) {
  const int64_t hw = p.h * p.w;
  for (int64_t c = 0; c < p.c; ++c)
    for (int64_t i = i0; i < i1; ++i)
      input_image(tm, x + ((i - i0) * p.c + c) * hw, b.zeros, b.xrows,
                  b.v + c * b.cols + (i - i0) * tm.tiles, b.ldv);
  for (int64_t f = 0; f < p.f; ++f)
    for (int64_t i = i0; i < i1; ++i)
      grad_image(tm, dy + (i * p.f + f) * hw, b.zeros, b.drows,
                 b.d + f * b.cols + (i - i0) * tm.tiles, b.ldd);
}

void transform_block_base(const ConvParams& p, const TileMap& tm, const WgradBlock& b,
                          const float* x, const float* dy, int64_t i0, int64_t i1) {
  transform_block(p, tm, b, x, dy, i0, i1);
}
#if defined(__x86_64__)
[[gnu::target("avx2,fma")]] void transform_block_avx2(const ConvParams& p, const TileMap& tm,
                                                      const WgradBlock& b, const float* x,
                                                      const float* dy, int64_t i0,
                                                      int64_t i1) {
  transform_block(p, tm, b, x, dy, i0, i1);
}
#endif

// dw rows [f0, f1) (+)= alpha * G^T M G, M the sum of the slices' partials
// ([slices][16][f][c]) in slice order, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]; then the
// epilogue on those rows.
void finish_rows(const ConvParams& p, const float* partial, int64_t slices, int64_t f0,
                 int64_t f1, float* dw, const Epilogue& epi) {
  const int64_t fc = p.f * p.c;
  float* sum = scratch<float>().task.get(kElems * p.c);
  const float alpha = float(p.alpha);
  for (int64_t f = f0; f < f1; ++f) {
    for (int64_t e = 0; e < kElems; ++e) {
      float* se = sum + e * p.c;
      const float* pe = partial + e * fc + f * p.c;
      std::copy(pe, pe + p.c, se);
      for (int64_t s = 1; s < slices; ++s) {
        const float* ps = pe + s * kElems * fc;
        for (int64_t c = 0; c < p.c; ++c) se[c] += ps[c];
      }
    }
    for (int64_t c = 0; c < p.c; ++c) {
      float m[16], t[12];
      for (int64_t e = 0; e < kElems; ++e) m[e] = sum[e * p.c + c];
      for (int j = 0; j < 4; ++j) {  // G^T M: 3 x 4
        t[j] = m[j] + 0.5f * (m[4 + j] + m[8 + j]);
        t[4 + j] = 0.5f * (m[4 + j] - m[8 + j]);
        t[8 + j] = 0.5f * (m[4 + j] + m[8 + j]) + m[12 + j];
      }
      float* out = dw + (f * p.c + c) * 9;
      for (int i = 0; i < 3; ++i) {  // (G^T M) G: 3 x 3
        const float* r = t + 4 * i;
        const float v[3] = {r[0] + 0.5f * (r[1] + r[2]), 0.5f * (r[1] - r[2]),
                            0.5f * (r[1] + r[2]) + r[3]};
        for (int j = 0; j < 3; ++j)
          out[3 * i + j] = p.accumulate ? alpha * v[j] + out[3 * i + j] : alpha * v[j];
      }
    }
  }
  epi(0, f0, f1, 0, p.c * 9);
}

}  // namespace

// Where it wins (ms per call, batch 256 unless noted, 2 threads, quiet 2-core Zen 4 VM,
// old path (conv.cpp) -> Winograd): 64->64 on 8x8 9.7 -> 5.0 (ResNet-18 b2 at --size
// 32), 128->128 on 4x4 9.4 -> 6.6 (b3), 128->128 on 8x8 35 -> 17, 256->256 on 4x4 27 ->
// 15, 64->64 on 16x16 37 -> 19.5, 64->64 on 32x32 (batch 32) 16.9 -> 9.4. Like the
// forward: maps of at least 4x4 and at least 32 channels in and out.
bool use_winograd_wgrad(const ConvParams& p) {
  const WinogradMode mode = conv_winograd_mode();
  if (mode == WinogradMode::kOff || !winograd_eligible(p)) return false;
  if (mode == WinogradMode::kForce) return true;
  return p.h >= 4 && p.w >= 4 && std::min(p.c, p.f) >= 32;
}

void weight_grad_winograd(const ConvParams& p, const float* x, const float* dy, float* dw,
                          const Epilogue& epi, const Prologue& pro) {
  const TileMap tm(p.h, p.w);
  const int64_t fc = p.f * p.c;
  const int64_t slices = std::min(kWgradMaxSlices, weight_grad_slices(p.n, kElems * fc * 4));
  const int64_t block_tiles = std::max<int64_t>(16, kWgradBlockFloats / (kElems * (p.c + p.f)));
  const int64_t per_block = std::clamp<int64_t>(block_tiles / tm.tiles, 1, p.n);
  float* partial = scratch<float>().shared.get(slices * kElems * fc);
  const bool vec = winograd_avx2();
  run_tasks(slices, [&](int64_t s, bool parallel) {
    float* m = partial + s * kElems * fc;
    const int64_t si0 = p.n * s / slices, si1 = p.n * (s + 1) / slices;
    for (int64_t i0 = si0; i0 < si1; i0 += per_block) {
      const int64_t i1 = std::min(si1, i0 + per_block);
      const WgradBlock b = wgrad_block(p, tm, i1 - i0);
      const float* xb = operand_images(pro, x, p.c * p.h * p.w, i0, i1);
#if defined(__x86_64__)
      vec ? transform_block_avx2(p, tm, b, xb, dy, i0, i1)
          : transform_block_base(p, tm, b, xb, dy, i0, i1);
#else
      transform_block_base(p, tm, b, xb, dy, i0, i1);
#endif
      GemmParams q = gemm_params(p.f, p.c, b.cols, b.cols, b.cols, p.c, false, true,
                                 i0 != si0, 1.0);
      q.batch = kElems;
      q.stride_a = b.ldd;
      q.stride_b = b.ldv;
      q.stride_c = fc;
      gemm<float>(q, b.d, b.v, m, {}, parallel);
    }
  });
  parallel_for(p.f, std::max<int64_t>(1, 4096 / (slices * p.c)), [&](int64_t f0, int64_t f1) {
    finish_rows(p, partial, slices, f0, f1, dw, epi);
  });
}

}  // namespace kiln::conv_detail
