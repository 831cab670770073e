// Winograd F(2x2, 3x3) and F(2x2, 5x5) convolution (Lavin & Gray 2015) for 3x3 with
// padding 1 and 5x5 with padding 2, stride 1, dilation 1, one group, f32 (the
// one-dimensional transforms of each: F2<R> in conv_winograd_tiles.h). 3x3 below; 5x5
// is the same with 6x6 input tiles and 36 GEMMs. The forward convolution, and the input gradient as the
// forward convolution of dy with the flipped, transposed kernel (conv.cpp,
// transposed_as_forward: same geometry, channels and filters swapped). Each 2x2 block of
// outputs ("tile") reads a 4x4 block of the padded input, and
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// costs 16 multiplies per (tile, channel, filter) instead of 36: 2.25x fewer flops. With
// the 16 elements of the transformed tiles as 16 matrices, the products are 16 GEMMs
//   M[e] = U[e] @ V[e],  U[e] = [K, C] (transformed weights), V[e] = [C, tiles]
// on the packed GEMM (runtime/gemm.h). Per task, a block of images: transform its input
// tiles into V (B^T d B), 16 GEMMs into M, transform M back into y (A^T M A) with alpha,
// accumulation, and the epilogue image by image (each element once, after its final
// value). The weights change every step, so U is built per call (cheap: 16 of the 9*C*K
// weights' worth of adds, split over the pool).
//
// Results do not depend on the thread count: the transforms are elementwise with fixed
// formulas per tile, and each GEMM column is the same sum in the same order however the
// tiles are split into blocks and the GEMMs over threads (they never split K).
//
// F(2x2, 3x3) is accurate in f32: the transforms only add and halve (no large constants,
// unlike F(4x4, 3x3)); the error is a few ulps of the sum of the terms' magnitudes.
// F(2x2, 5x5) uses F(4x4, 3x3)'s points and constants: 4e-6 of it (F2<5>).
//
// 5x5 (NiN's and AlexNet's 96->256 on 7x7 at --size 68, batch 64, 2 threads, least of
// 16 runs on a noisy 2-core EPYC VM, direct paths -> Winograd): forward 31-35 -> 19.3 ms,
// input gradient 35 -> 21.3 ms, weight gradient 32-36 -> 20-21 ms. 36 multiplies per
// tile instead of 100, 16 tiles for 49 outputs: 2.1x fewer flops.
//
// Choice, by measurement (use_winograd): GFLOP/s of the direct convolution's FLOP count,
// one core, thread CPU time, min of 5-9 runs, batch 256 unless noted, 3x3 pad 1, on the
// shared 2-core Zen 4 VM (another build running: +-10%), old path (conv.cpp) -> Winograd:
//                          forward          input grad
//   64->64 on 8x8          66 -> 134         68 -> 138     (ResNet-18 b2 at --size 32)
//   128->128 on 4x4        81 -> 130         80 -> 138     (b3)
//   128->128 on 8x8        80 -> 167         84 -> 162
//   256->256 on 4x4        87 -> 147         82 -> 148
//   64->64 on 16x16        93 -> 141         91 -> 146
//   64->64 on 56x56 (16)   83 -> 115         57 -> 116
//   32->32 on 16x16        83 ->  98         83 -> 106
//   16->16 on 8x8          31 ->  65         32 ->  65
//   64->64 on 3x3          43 ->  64         69 ->  70
//   256->256 on 2x2       178 -> 144        182 -> 141     (dense GEMM, conv_tiny_maps.cpp)
//   16->16 on 28x28 (64)   67 ->  62         65 ->  62     (direct kernel)
//   3->64 on 32x32 (64)    60 ->  37         35 ->  22
// The GEMMs are about 60% of the Winograd time (64 channels on 8x8), the input transform
// 25%, the output transform 10%. The transforms' 16 element streams lie ldv/ldm apart,
// skewed by a cache line: at a multiple of 4 KB they shared L1 sets and made the input
// transform 40% of the time (128 channels on 8x8).
#include "runtime/conv_winograd.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "runtime/conv_internal.h"
#include "runtime/conv_winograd_tiles.h"

namespace kiln {

namespace {

WinogradMode initial_mode() {
  const char* off = std::getenv("KILN_CONV_NO_WINOGRAD");
  return off && std::strcmp(off, "1") == 0 ? WinogradMode::kOff : WinogradMode::kAuto;
}

std::atomic<WinogradMode>& mode_flag() {
  static std::atomic<WinogradMode> mode{initial_mode()};
  return mode;
}

}  // namespace

void conv_set_winograd_mode(WinogradMode mode) { mode_flag().store(mode); }
WinogradMode conv_winograd_mode() { return mode_flag().load(); }

namespace conv_detail {

namespace {

// Tiles per task (GEMM columns): about this many, whole images. 64 to 512 measured
// within noise on 64..256 channels on 4x4 and 8x8 maps; V and M of a block of 128 tiles
// with 128 channels take 2 MB.
constexpr int64_t kBlockTiles = 128;
// The same for 5x5, whose blocks hold 36 matrices instead of 16: about 16 tiles, one
// image on 7x7 maps (NiN's 96->256 at batch 64, 2 threads, least of 16 runs: forward
// 19.3 ms with 16 tiles, 20 with 32, 24-26 with 128; input gradient 21, 21-25, 26). With
// 128, M alone was 4.7 MB and its output transform a quarter of the time.
constexpr int64_t kBlockTiles5 = 16;

// One problem, as a forward convolution: n images of c channels on h x w maps -> k
// channels on h x w (the input gradient: dy's f channels -> dx's c channels).
struct Problem {
  int64_t n, c, k, h, w;
  float alpha;
  bool accumulate;
};

// One task's images and buffers (block()).
struct Block {
  int64_t i0, i1;    // images
  int64_t cols;      // GEMM columns
  int64_t ldv, ldm;  // distance between the alpha^2 matrices of V and of M
  float *v, *m, *zeros, *rows, *out;
};

// ---- The transforms -----------------------------------------------------------------

// U = G g G^T of one RxR kernel g (row-major): G on each column of g, then on each row
// of the result. Element e goes to u[e*ldu].
template <int R>
[[gnu::always_inline]] inline void weight_tile(const float g[R * R], float* u, int64_t ldu) {
  constexpr int A = F2<R>::kAlpha;
  float t[A * R];  // G g: A x R
  #pragma GCC unroll 8
  for (int j = 0; j < R; ++j) {
    float col[R], out[A];
    #pragma GCC unroll 8
    for (int k = 0; k < R; ++k) col[k] = g[R * k + j];
    F2<R>::g(col, out);
    #pragma GCC unroll 8
    for (int i = 0; i < A; ++i) t[R * i + j] = out[i];
  }
  #pragma GCC unroll 8
  for (int i = 0; i < A; ++i) {
    float out[A];
    F2<R>::g(t + R * i, out);
    #pragma GCC unroll 8
    for (int j = 0; j < A; ++j) u[(A * i + j) * ldu] = out[j];
  }
}

// alpha * A^T m A of `cols` tiles (a multiple of W), element e of tile t at m[e*ldm + t],
// output (a, b) of tile t to out[(2a + b)*cols + t].
template <int W, int R>
[[gnu::always_inline]] inline void output_tiles(const float* __restrict m, int64_t ldm,
                                                int64_t cols, float alpha,
                                                float* __restrict out) {
  using V = typename Vec<W>::type;
  constexpr int A = F2<R>::kAlpha;
  for (int64_t t = 0; t < cols; t += W) {
    V s[2][A];
    #pragma GCC unroll 8
    for (int j = 0; j < A; ++j) {  // A^T m
      V col[A], y[2];
      #pragma GCC unroll 8
      for (int i = 0; i < A; ++i) load(col[i], m + (A * i + j) * ldm + t);
      F2<R>::at(col, y);
      s[0][j] = y[0];
      s[1][j] = y[1];
    }
    #pragma GCC unroll 8
    for (int a = 0; a < 2; ++a) {  // (A^T m) A
      V y[2];
      F2<R>::at(s[a], y);
      store(out + (2 * a + 0) * cols + t, V(alpha * y[0]));
      store(out + (2 * a + 1) * cols + t, V(alpha * y[1]));
    }
  }
}

// Output channel k of images [i0, i1) from M = [alpha^2][k][cols]: transformed into out
// [4][cols], then y = alpha * that (+ y when accumulating). Output row r of an image
// interleaves outputs (r%2, 0) and (r%2, 1) of its row of tiles.
template <int W, int R>
[[gnu::always_inline]] inline void output_channel(const Problem& pb, const TileMap& tm,
                                                  const Block& bl, int64_t k, float* y) {
  const int64_t cols = bl.cols;
  float* out = bl.out;
  output_tiles<W, R>(bl.m + k * cols, bl.ldm, cols, pb.alpha, out);
  const int64_t w = pb.w, half = w / 2;
  for (int64_t i = bl.i0; i < bl.i1; ++i) {
    float* yr = y + (i * pb.k + k) * pb.h * w;
    for (int64_t r = 0; r < pb.h; ++r, yr += w) {
      const float* even = out + (r % 2 * 2) * cols + (i - bl.i0) * tm.tiles + r / 2 * tm.tw;
      const float* odd = even + cols;
      if (pb.accumulate) {
        for (int64_t j = 0; j < half; ++j) {
          yr[2 * j] += even[j];
          yr[2 * j + 1] += odd[j];
        }
        if (w % 2) yr[w - 1] += even[half];
      } else {
        for (int64_t j = 0; j < half; ++j) {
          yr[2 * j] = even[j];
          yr[2 * j + 1] = odd[j];
        }
        if (w % 2) yr[w - 1] = even[half];
      }
    }
  }
}

// The block's images into V, image i's tiles at columns (i - i0)*tiles; x holds the
// block's images from image i0 on (operand_images).
template <int R>
[[gnu::always_inline]] inline void input_block(const Problem& pb, const TileMap& tm,
                                               const Block& bl, const float* x) {
  for (int64_t c = 0; c < pb.c; ++c)
    for (int64_t i = bl.i0; i < bl.i1; ++i)
      input_image<R>(tm, x + ((i - bl.i0) * pb.c + c) * pb.h * pb.w, bl.zeros, bl.rows,
                     bl.v + c * bl.cols + (i - bl.i0) * tm.tiles, bl.ldv);
}

// y of images [i0, i1), then the epilogue image by image.
template <int W, int R>
[[gnu::always_inline]] inline void output_block(const Problem& pb, const TileMap& tm,
                                                const Block& bl, float* y, const Epilogue& epi) {
  for (int64_t k = 0; k < pb.k; ++k) output_channel<W, R>(pb, tm, bl, k, y);
  for (int64_t i = bl.i0; i < bl.i1; ++i) epi(i, 0, pb.k, 0, pb.h * pb.w);
}

// The input and output transforms for the baseline ISA and for AVX2 (output_tiles 4 and
// 8 wide; the input's row loops vectorized by the compiler), picked at run time like the
// GEMM's micro-kernels: the always_inline bodies take the wrapper's ISA.
template <int R>
void input_block_base(const Problem& pb, const TileMap& tm, const Block& bl, const float* x) {
  input_block<R>(pb, tm, bl, x);
}
template <int R>
void output_block_base(const Problem& pb, const TileMap& tm, const Block& bl, float* y,
                       const Epilogue& epi) {
  output_block<4, R>(pb, tm, bl, y, epi);
}
#if defined(__x86_64__)
template <int R>
[[gnu::target("avx2,fma")]] void input_block_avx2(const Problem& pb, const TileMap& tm,
                                                  const Block& bl, const float* x) {
  input_block<R>(pb, tm, bl, x);
}
template <int R>
[[gnu::target("avx2,fma")]] void output_block_avx2(const Problem& pb, const TileMap& tm,
                                                   const Block& bl, float* y,
                                                   const Epilogue& epi) {
  output_block<8, R>(pb, tm, bl, y, epi);
}
#endif

// U = [alpha^2][k][c] from the kernels: kernel(k, c, g) fills g with the RxR kernel of
// output channel k and input channel c, row-major. Split over the pool by rows of U; a
// row is built in a [alpha^2][c] buffer and copied out, rather than scattered over the
// alpha^2 matrices.
template <int R, typename Kernel>
const float* transform_weights(const Problem& pb, Kernel&& kernel) {
  constexpr int64_t elems = F2<R>::kAlpha * F2<R>::kAlpha;
  float* u = scratch<float>().shared.get(elems * pb.k * pb.c);
  const int64_t ldu = pb.k * pb.c;
  parallel_for(pb.k, std::max<int64_t>(1, 4096 / pb.c), [&](int64_t k0, int64_t k1) {
    float* row = scratch<float>().task.get(elems * pb.c);
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t c = 0; c < pb.c; ++c) {
        float g[R * R];
        kernel(k, c, g);
        weight_tile<R>(g, row + c, pb.c);
      }
      for (int64_t e = 0; e < elems; ++e)
        std::copy(row + e * pb.c, row + (e + 1) * pb.c, u + e * ldu + k * pb.c);
    }
  });
  return u;
}

// Block b of `blocks`: its images, its GEMM columns (its tiles, padded to whole vectors
// with zero tiles), and its buffers in the task's scratch: V = [elems][c][cols] and
// M = [elems][k][cols], their matrices ldv and ldm apart (skewed by kSkew: at a multiple
// of 4 KB, the element streams of a tile's transforms would share a few L1 sets), a row
// of zeros (the padding rows), the rows of B^T d, and the output transform's [4][cols].
// The zeros and the padding columns of the rows are set here.
Block block(const Problem& pb, const TileMap& tm, int64_t elems, int64_t b, int64_t blocks) {
  const int64_t alpha = tm.r + 1;
  Block bl;
  bl.i0 = pb.n * b / blocks;
  bl.i1 = pb.n * (b + 1) / blocks;
  bl.cols = ceil_div((bl.i1 - bl.i0) * tm.tiles, 8) * 8;
  bl.ldv = pb.c * bl.cols + kSkew;
  bl.ldm = pb.k * bl.cols + kSkew;
  bl.v = scratch<float>().task.get(elems * (bl.ldv + bl.ldm) + pb.w + alpha * tm.plane_w +
                                   4 * bl.cols);
  bl.m = bl.v + elems * bl.ldv;
  bl.zeros = bl.m + elems * bl.ldm;
  bl.rows = bl.zeros + pb.w;
  bl.out = bl.rows + alpha * tm.plane_w;
  std::fill(bl.zeros, bl.out, 0.f);
  return bl;
}

// Image blocks: about `block_tiles` tiles each, and (where blocks allow) a multiple of
// the threads, so no thread idles at the end. Never changes the bits.
int64_t winograd_blocks(const Problem& pb, const TileMap& tm, int64_t block_tiles) {
  const int64_t threads = global_pool().active_threads();
  int64_t blocks = ceil_div(pb.n, std::clamp<int64_t>(block_tiles / tm.tiles, 1, pb.n));
  while (blocks < pb.n && blocks % threads != 0) ++blocks;
  return blocks;
}

// y = alpha * conv(x, kernels) (+ y), then the epilogue; u = [elems][k][c]
// (transform_weights). With a prologue, each task computes its block's images of x first
// (operand_images).
template <int R>
void winograd(const Problem& pb, const float* x_all, const float* u, float* y,
              const Epilogue& epi, const Prologue& pro) {
  constexpr int64_t elems = F2<R>::kAlpha * F2<R>::kAlpha;
  const TileMap tm(R, pb.h, pb.w);
  const int64_t blocks = winograd_blocks(pb, tm, R == 3 ? kBlockTiles : kBlockTiles5);
  const bool vec = winograd_avx2();
  run_tasks(blocks, [&](int64_t b, bool parallel) {
    const Block bl = block(pb, tm, elems, b, blocks);
    // Padding tiles (past the block's last image): zero columns of V.
    const int64_t used = (bl.i1 - bl.i0) * tm.tiles;
    for (int64_t e = 0; e < elems; ++e)
      for (int64_t c = 0; c < pb.c; ++c) {
        float* row = bl.v + e * bl.ldv + c * bl.cols;
        std::fill(row + used, row + bl.cols, 0.f);
      }
    const float* x = operand_images(pro, x_all, pb.c * pb.h * pb.w, bl.i0, bl.i1);
#if defined(__x86_64__)
    vec ? input_block_avx2<R>(pb, tm, bl, x) : input_block_base<R>(pb, tm, bl, x);
#else
    input_block_base<R>(pb, tm, bl, x);
#endif
    GemmParams q =
        gemm_params(pb.k, bl.cols, pb.c, pb.c, bl.cols, bl.cols, false, false, false, 1.0);
    q.batch = elems;
    q.stride_a = pb.k * pb.c;
    q.stride_b = bl.ldv;
    q.stride_c = bl.ldm;
    gemm<float>(q, u, bl.v, bl.m, {}, parallel);
#if defined(__x86_64__)
    vec ? output_block_avx2<R>(pb, tm, bl, y, epi) : output_block_base<R>(pb, tm, bl, y, epi);
#else
    output_block_base<R>(pb, tm, bl, y, epi);
#endif
  });
}

// The forward convolution's kernels as transform_weights wants them: w[k][c] as is, or
// (the input gradient, transposed_as_forward) w[c][k] flipped.
template <int R>
void run_winograd(const Problem& pb, const float* x, const float* w, bool transposed,
                  float* y, const Epilogue& epi, const Prologue& pro) {
  constexpr int kk = R * R;
  const float* u =
      transposed ? transform_weights<R>(pb,
                                        [&](int64_t c, int64_t f, float* g) {
                                          const float* s = w + (f * pb.k + c) * kk;
                                          for (int t = 0; t < kk; ++t) g[t] = s[kk - 1 - t];
                                        })
                 : transform_weights<R>(pb, [&](int64_t k, int64_t c, float* g) {
                     const float* s = w + (k * pb.c + c) * kk;
                     for (int t = 0; t < kk; ++t) g[t] = s[t];
                   });
  winograd<R>(pb, x, u, y, epi, pro);
}

}  // namespace

// A task's V and M hold at least one whole image: (c + f) * tiles * alpha^2 floats,
// capped at 16 MB (64->64 on 56x56: 6 MB; 64->64 on 224x224 would need 100 MB per
// thread).
constexpr int64_t kMaxImageElems = 4 << 20;

bool winograd_eligible(const ConvParams& p) {
  if (!(p.kh == p.kw && (p.kh == 3 || p.kh == 5) && p.pad_h == (p.kh - 1) / 2 &&
        p.pad_w == p.pad_h && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 &&
        p.dil_w == 1 && p.groups == 1 && p.oh == p.h && p.ow == p.w && p.n > 0 && p.c > 0 &&
        p.f > 0 && p.h > 0 && p.w > 0))
    return false;
  const int64_t alpha = p.kh + 1;
  return alpha * alpha * (p.c + p.f) * TileMap(p.kh, p.h, p.w).tiles <= kMaxImageElems;
}

bool winograd_avx2() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

// Where Winograd wins, by measurement (see the top). 3x3: maps of at least 4x4 (on 2x2
// and smaller maps a tile is mostly padding and conv_tiny_maps.cpp's dense GEMM is
// 1.2-2x faster; 3x3 maps gain under 10% for the input gradient), and at least 32
// channels in and out, or 8 on maps of up to 64 pixels (large maps with few channels are
// the direct kernel's: 3->64 on 32x32 60 vs 37 GFLOP/s, 16->16 on 28x28 67 vs 62).
// 5x5: maps of at least 6x6 with at least 32 channels in and out (NiN's and AlexNet's
// 96->256 on 7x7 at --size 68).
bool use_winograd(const ConvParams& p) {
  const WinogradMode mode = conv_winograd_mode();
  if (mode == WinogradMode::kOff || !winograd_eligible(p)) return false;
  if (mode == WinogradMode::kForce) return true;
  const int64_t channels = std::min(p.c, p.f);
  if (p.kh == 5) return p.h >= 6 && p.w >= 6 && channels >= 32;
  if (p.h < 4 || p.w < 4) return false;
  return channels >= 32 || (p.h * p.w <= 64 && channels >= 8);
}

void forward_winograd(const ConvParams& p, const float* x, const float* w, float* y,
                      const Epilogue& epi, const Prologue& pro) {
  const Problem pb{p.n, p.c, p.f, p.h, p.w, float(p.alpha), p.accumulate != 0};
  p.kh == 5 ? run_winograd<5>(pb, x, w, false, y, epi, pro)
            : run_winograd<3>(pb, x, w, false, y, epi, pro);
}

void input_grad_winograd(const ConvParams& p, const float* dy, const float* w, float* dx,
                         const Epilogue& epi) {
  // dx = conv(dy, w') with w'[c][f] = w[f][c] flipped: dy's f channels -> dx's c.
  const Problem pb{p.n, p.f, p.c, p.h, p.w, float(p.alpha), p.accumulate != 0};
  p.kh == 5 ? run_winograd<5>(pb, dy, w, true, dx, epi, {})
            : run_winograd<3>(pb, dy, w, true, dx, epi, {});
}

}  // namespace conv_detail
}  // namespace kiln
