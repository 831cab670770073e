// Winograd F(2x2, 3x3) and F(2x2, 5x5) weight gradient: the transpose of the forward
// formula (conv_winograd.cpp). The forward computes each 2x2 output tile as
//   y = A^T [ U (.) V ] A,  U = G g G^T,  V = B^T d B  (d: the tile's alpha x alpha
// input, alpha = 4 for 3x3 and 6 for 5x5),
// so for the loss L, dL/dU = sum over tiles and images of (A dy A^T) (.) V, and
//   dW = G^T [ sum over tiles of (A dy A^T) (.) (B^T d B) ] G,
// i.e. per element e of the transformed tile a GEMM M[e] = D[e] @ V[e]^T with
// D[e] = [f, tiles] (transformed dy) and V[e] = [c, tiles] (transformed x, the forward's
// input transform): 16 multiplies per (tile, channel, filter) instead of the direct
// weight gradient's 36 for 3x3 (36 instead of 100 for 5x5), then the output transform
// G^T M G per (filter, channel).
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
// 5x5 on 7x7 (NiN, 96+256 channels): one image per block (16 tiles), 20-21 ms per call
// at batch 64; 4 images 24-36 ms, 8 images 24-30 ms.
constexpr int64_t kWgradBlockFloats = 256 << 10;
// At most this many slices: each adds an [elems][f][c] partial M to write and to sum.
constexpr int64_t kWgradMaxSlices = 8;

// One block's transformed operands in the running thread's scratch: V = [elems][c][cols],
// D = [elems][f][cols] (matrices ldv / ldd apart), a row of zeros (padding rows) and the
// row buffers of the two transforms (their padding columns stay zero).
struct WgradBlock {
  int64_t cols, ldv, ldd;
  float *v, *d, *zeros, *xrows, *drows;
};

WgradBlock wgrad_block(const ConvParams& p, const TileMap& tm, int64_t elems, int64_t images) {
  WgradBlock b;
  b.cols = images * tm.tiles;
  b.ldv = p.c * b.cols + kSkew;
  b.ldd = p.f * b.cols + kSkew;
  const int64_t rows = (tm.r + 1) * tm.plane_w;
  b.v = scratch<float>().task.get(elems * (b.ldv + b.ldd) + p.w + 2 * rows);
  b.d = b.v + elems * b.ldv;
  b.zeros = b.d + elems * b.ldd;
  b.xrows = b.zeros + p.w;
  b.drows = b.xrows + rows;
  std::fill(b.zeros, b.drows + rows, 0.f);
  return b;
}

// One channel of one image of dy into D: A g A^T of each tile's 2x2 block g (zero past
// an odd edge); element e of tile t to d[e*ldd + t]. Per row of tiles, A g over whole
// rows into rows[alpha][plane_w] (columns from w on stay zero), then the columns per
// tile.
template <int R>
[[gnu::always_inline]] inline void grad_image(const TileMap& tm, const float* dy,
                                              const float* zeros, float* __restrict rows,
                                              float* __restrict d, int64_t ldd) {
  constexpr int A = F2<R>::kAlpha;
  const int64_t pw = tm.plane_w, w = tm.w;
  for (int64_t ty = 0; ty < tm.th; ++ty) {
    const float* g0 = dy + 2 * ty * w;
    const float* g1 = 2 * ty + 1 < tm.h ? g0 + w : zeros;
    F2<R>::a_rows(g0, g1, rows, pw, w);
    for (int64_t tx = 0; tx < tm.tw; ++tx) {  // (A g) A^T
      float* dt = d + ty * tm.tw + tx;
      #pragma GCC unroll 8
      for (int64_t i = 0; i < A; ++i) {
        float o[A];
        F2<R>::a(rows + i * pw + 2 * tx, o);
        #pragma GCC unroll 8
        for (int64_t j = 0; j < A; ++j) dt[(A * i + j) * ldd] = o[j];
      }
    }
  }
}

// Images [i0, i1) into V (from x, whose images start at i0) and D (from all of dy).
template <int R>
[[gnu::always_inline]] inline void transform_block(const ConvParams& p, const TileMap& tm,
                                                   const WgradBlock& b, const float* x,
                                                   const float* dy, int64_t i0, int64_t i1) {
  const int64_t hw = p.h * p.w;
  for (int64_t c = 0; c < p.c; ++c)
    for (int64_t i = i0; i < i1; ++i)
      input_image<R>(tm, x + ((i - i0) * p.c + c) * hw, b.zeros, b.xrows,
                     b.v + c * b.cols + (i - i0) * tm.tiles, b.ldv);
  for (int64_t f = 0; f < p.f; ++f)
    for (int64_t i = i0; i < i1; ++i)
      grad_image<R>(tm, dy + (i * p.f + f) * hw, b.zeros, b.drows,
                    b.d + f * b.cols + (i - i0) * tm.tiles, b.ldd);
}

template <int R>
void transform_block_base(const ConvParams& p, const TileMap& tm, const WgradBlock& b,
                          const float* x, const float* dy, int64_t i0, int64_t i1) {
  transform_block<R>(p, tm, b, x, dy, i0, i1);
}
#if defined(__x86_64__)
template <int R>
[[gnu::target("avx2,fma")]] void transform_block_avx2(const ConvParams& p, const TileMap& tm,
                                                      const WgradBlock& b, const float* x,
                                                      const float* dy, int64_t i0,
                                                      int64_t i1) {
  transform_block<R>(p, tm, b, x, dy, i0, i1);
}
#endif

// dw rows [f0, f1) (+)= alpha * G^T M G, M the sum of the slices' partials
// ([slices][elems][f][c]) in slice order; then the epilogue on those rows.
template <int R>
void finish_rows(const ConvParams& p, const float* partial, int64_t slices, int64_t f0,
                 int64_t f1, float* dw, const Epilogue& epi) {
  constexpr int A = F2<R>::kAlpha, elems = A * A;
  const int64_t fc = p.f * p.c;
  float* sum = scratch<float>().task.get(elems * p.c);
  const float alpha = float(p.alpha);
  for (int64_t f = f0; f < f1; ++f) {
    for (int64_t e = 0; e < elems; ++e) {
      float* se = sum + e * p.c;
      const float* pe = partial + e * fc + f * p.c;
      std::copy(pe, pe + p.c, se);
      for (int64_t s = 1; s < slices; ++s) {
        const float* ps = pe + s * elems * fc;
        for (int64_t c = 0; c < p.c; ++c) se[c] += ps[c];
      }
    }
    for (int64_t c = 0; c < p.c; ++c) {
      float t[R * A];  // G^T M: R x A
      #pragma GCC unroll 8
      for (int j = 0; j < A; ++j) {
        float col[A], out[R];
        #pragma GCC unroll 8
        for (int i = 0; i < A; ++i) col[i] = sum[(A * i + j) * p.c + c];
        F2<R>::gt(col, out);
        #pragma GCC unroll 8
        for (int i = 0; i < R; ++i) t[A * i + j] = out[i];
      }
      float* out = dw + (f * p.c + c) * R * R;
      #pragma GCC unroll 8
      for (int i = 0; i < R; ++i) {  // (G^T M) G: R x R
        float v[R];
        F2<R>::gt(t + A * i, v);
        #pragma GCC unroll 8
        for (int j = 0; j < R; ++j)
          out[R * i + j] = p.accumulate ? alpha * v[j] + out[R * i + j] : alpha * v[j];
      }
    }
  }
  epi(0, f0, f1, 0, p.c * R * R);
}

template <int R>
void weight_grad(const ConvParams& p, const float* x, const float* dy, float* dw,
                 const Epilogue& epi, const Prologue& pro) {
  constexpr int64_t elems = F2<R>::kAlpha * F2<R>::kAlpha;
  const TileMap tm(R, p.h, p.w);
  const int64_t fc = p.f * p.c;
  const int64_t slices = std::min(kWgradMaxSlices, weight_grad_slices(p.n, elems * fc * 4));
  const int64_t block_tiles =
      std::max<int64_t>(16, kWgradBlockFloats /
                                (elems * (p.c + p.f)));
  const int64_t per_block = std::clamp<int64_t>(block_tiles / tm.tiles, 1, p.n);
  float* partial = scratch<float>().shared.get(slices * elems * fc);
  const bool vec = winograd_avx2();
  run_tasks(slices, [&](int64_t s, bool parallel) {
    float* m = partial + s * elems * fc;
    const int64_t si0 = p.n * s / slices, si1 = p.n * (s + 1) / slices;
    for (int64_t i0 = si0; i0 < si1; i0 += per_block) {
      const int64_t i1 = std::min(si1, i0 + per_block);
      const WgradBlock b = wgrad_block(p, tm, elems, i1 - i0);
      const float* xb = operand_images(pro, x, p.c * p.h * p.w, i0, i1);
#if defined(__x86_64__)
      vec ? transform_block_avx2<R>(p, tm, b, xb, dy, i0, i1)
          : transform_block_base<R>(p, tm, b, xb, dy, i0, i1);
#else
      transform_block_base<R>(p, tm, b, xb, dy, i0, i1);
#endif
      GemmParams q = gemm_params(p.f, p.c, b.cols, b.cols, b.cols, p.c, false, true,
                                 i0 != si0, 1.0);
      q.batch = elems;
      q.stride_a = b.ldd;
      q.stride_b = b.ldv;
      q.stride_c = fc;
      gemm<float>(q, b.d, b.v, m, {}, parallel);
    }
  });
  parallel_for(p.f, std::max<int64_t>(1, 4096 / (slices * p.c)), [&](int64_t f0, int64_t f1) {
    finish_rows<R>(p, partial, slices, f0, f1, dw, epi);
  });
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
  const int64_t min_map = p.kh == 5 ? 6 : 4;
  return p.h >= min_map && p.w >= min_map && std::min(p.c, p.f) >= 32;
}

void weight_grad_winograd(const ConvParams& p, const float* x, const float* dy, float* dw,
                          const Epilogue& epi, const Prologue& pro) {
  p.kh == 5 ? weight_grad<5>(p, x, dy, dw, epi, pro) : weight_grad<3>(p, x, dy, dw, epi, pro);
}

}  // namespace kiln::conv_detail
