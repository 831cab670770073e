// Internal to the runtime convolution (conv.cpp, conv_tiny_maps.cpp, conv_winograd.cpp):
// sizes, scratch memory, the GEMM calls and the task split they share. Not part of the
// runtime's API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "runtime/abi.h"
#include "runtime/epilogue.h"
#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace kiln::conv_detail {

constexpr int64_t kScratchElems = 64 << 10;  // im2col block (256 KB of f32): stays in L2
constexpr int64_t kColAlign = 32;            // block widths: a multiple of every GEMM NR
constexpr int64_t kRowAlign = 12;            // block heights: a multiple of every GEMM MR
constexpr int64_t kMaxSlices = 16;           // weight gradient: batch slices ...
constexpr int64_t kPartialBytes = 8 << 20;   // ... and the memory for their partial sums
constexpr int64_t kSmallMap = 64;            // output pixels up to which the batch is folded
constexpr int64_t kPanel = 16;               // columns of the f32 GEMM's AVX2 micro-kernel
constexpr int64_t kFoldCols = 256;           // folded GEMMs: columns of a block of images,
constexpr int64_t kFoldChunkElems = 256 << 10;  // the part of its col built at a time (1 MB),
constexpr int64_t kMinFoldCols = 64;         // and the narrowest block worth its own task
constexpr int64_t kImageTile = 8;            // images per step of the folded col2im

// Reusable buffers, grown on demand, so steady-state calls do not allocate.
template <typename T>
struct Scratch {
  T* p = nullptr;
  size_t n = 0;
  T* get(int64_t need) {
    if (static_cast<size_t>(need) > n) {
      std::free(p);
      n = std::max(static_cast<size_t>(need), n * 2);
      p = static_cast<T*>(std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64));
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};
// Per thread and element type: `task` for the running task (an im2col block, padded
// input rows); `shared` is the calling thread's, read by every task of its call
// (weight-gradient partial sums, packed weights); `weights` too, for weights packed for
// the filter-lanes kernels; `prologue` holds operand images a
// prologue computed (a task's block of images, or the whole operand: operand_images,
// operand_all). Plain thread_local objects: with
// thread_local variable templates LeakSanitizer showed GCC 12 skipping the destructors
// when pool threads exit.
template <typename T>
struct Scratches {
  Scratch<T> task, shared, weights, prologue;
};
inline thread_local Scratches<float> t_scratch_f32;
inline thread_local Scratches<double> t_scratch_f64;

template <typename T>
Scratches<T>& scratch() {
  if constexpr (std::is_same_v<T, float>) {
    return t_scratch_f32;
  } else {
    return t_scratch_f64;
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) {  // b > 0, any sign of a
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// Sizes derived from the parameters.
struct Dims {
  int64_t groups, cg, fg;  // groups, channels and filters per group
  int64_t kk, ckk;         // kh*kw, cg*kh*kw: rows of col
  int64_t hw, ohw;         // input and output pixels per channel
  bool pointwise;          // 1x1, stride 1, no padding: col is the image itself
};

inline Dims dims_of(const ConvParams& p) {
  Dims d;
  d.groups = p.groups;
  d.cg = p.c / p.groups;
  d.fg = p.f / p.groups;
  d.kk = p.kh * p.kw;
  d.ckk = d.cg * d.kk;
  d.hw = p.h * p.w;
  d.ohw = p.oh * p.ow;
  d.pointwise = p.kh == 1 && p.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
                p.pad_w == 0 && p.oh == p.h && p.ow == p.w;
  return d;
}

// Bounds of block b of `blocks` over [0, n) in units of `align` (the last ends at n).
inline std::pair<int64_t, int64_t> aligned_block(int64_t n, int64_t align, int64_t b, int64_t blocks) {
  int64_t units = ceil_div(n, align);
  return {std::min(n, units * b / blocks * align), std::min(n, units * (b + 1) / blocks * align)};
}

inline GemmParams gemm_params(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                       bool trans_a, bool trans_b, bool accumulate, double alpha) {
  GemmParams q;
  q.m = m;
  q.n = n;
  q.k = k;
  q.lda = lda;
  q.ldb = ldb;
  q.ldc = ldc;
  q.trans_a = trans_a;
  q.trans_b = trans_b;
  q.accumulate = accumulate;
  q.alpha = alpha;
  return q;
}

template <typename T>
void gemm(const GemmParams& q, const T* a, const T* b, T* c, const Epilogue& epi,
          bool parallel) {
  if constexpr (std::is_same_v<T, float>) {
    parallel ? gemm_f32(q, a, b, c, epi) : gemm_f32_serial(q, a, b, c, epi);
  } else {
    parallel ? gemm_f64(q, a, b, c, epi) : gemm_f64_serial(q, a, b, c, epi);
  }
}

// ---- Prologues (runtime/abi.h, PrologueFn) -------------------------------------------
// A convolution whose input operand x is computed by a prologue reads it per block of
// images: the paths whose tasks own whole images (Winograd, the folded small-map forward
// and weight gradient) compute their block into the running thread's scratch, where it
// stays in cache for the im2col or transform that follows (operand_images); the others
// get the whole operand computed once into the calling thread's scratch (operand_all: the
// same one write and read as a materialized operand, without the arena buffer). The
// prologue is elementwise per image, so the bits are those of the materialized operand.

// Images [i0, i1) of x (`image` elements each): x's own without a prologue, else the
// prologue's into the running thread's scratch. Image i is at result + (i - i0)*image.
template <typename T>
const T* operand_images(const Prologue& pro, const T* x, int64_t image, int64_t i0, int64_t i1) {
  if (!pro) return x + i0 * image;
  T* dst = scratch<T>().prologue.get(std::max<int64_t>(1, (i1 - i0) * image));
  pro(i0, i1, dst);
  return dst;
}

// All n images of x: x itself, or the prologue's, computed over the pool into the calling
// thread's scratch (valid until that thread's next operand_all or operand_images).
template <typename T>
const T* operand_all(const Prologue& pro, const T* x, int64_t image, int64_t n) {
  if (!pro) return x;
  T* dst = scratch<T>().prologue.get(std::max<int64_t>(1, n * image));
  parallel_for(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, image)),
               [&](int64_t i0, int64_t i1) { pro(i0, i1, dst + i0 * image); });
  return dst;
}

// Runs task(t, parallel_gemm) for t in [0, tasks): spread over the pool, or, with fewer
// tasks than threads, one after another with each task's GEMM split over the pool.
template <typename F>
void run_tasks(int64_t tasks, F&& task) {
  if (tasks < global_pool().active_threads()) {
    for (int64_t t = 0; t < tasks; ++t) task(t, true);
    return;
  }
  parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) task(t, false);
  });
}

// Batch slices of the weight gradient: from the shape only, so that the sum's order (and
// the result's bits) never depends on the thread count.
inline int64_t weight_grad_slices(int64_t n, int64_t dw_bytes) {
  return std::clamp<int64_t>(std::min(kMaxSlices, kPartialBytes / std::max<int64_t>(1, dw_bytes)),
                             1, std::max<int64_t>(1, n));
}

// Image rows are short (tens of elements): copied in fixed 32-byte chunks, which
// compile to inline vector moves, rather than one libc call per row.
template <typename T>
void copy_row(const T* s, int64_t n, T* d) {
  constexpr int64_t kW = 32 / sizeof(T);
  int64_t t = 0;
  for (; t + kW <= n; t += kW) std::memcpy(d + t, s + t, 32);
  for (; t < n; ++t) d[t] = s[t];
}

// Whether the CPU runs the f32 register-tiled kernels (AVX2 + FMA; conv_direct.cpp and
// conv_filter_lanes.cpp): not when the GEMM is forced to "generic" (tests).
bool direct_isa();

// dw (+)= alpha * (partial[0] + partial[1] + ...) over the view [groups*fg, ckk] of dw,
// partials laid out like dw one after another, then the epilogue; in parallel (conv.cpp).
template <typename T>
void reduce_all_partials(const ConvParams& p, const Dims& d, const T* partial, int64_t slices,
                         T* dw, const Epilogue& epi);

// ---- Direct convolution, output columns in vector lanes (conv_direct.cpp) ----------
// f32, unit column stride. Whether the forward kernel fits (tiles at least half full):
bool use_direct(const ConvParams& p, const Dims& d);
void forward_direct_f32(const ConvParams& p, const Dims& d, const float* x, const float* w,
                        float* y, const Epilogue& epi);
// The input gradient of a unit-stride convolution is a forward one (a "full"
// correlation): dx = conv(dy, w') with dy as the input, c and f swapped, the kernel
// flipped (w'[c][f][ki][kj] = w[f][c][kh-1-ki][kw-1-kj]) and padding (k-1)*dil - pad.
// Sets *q to that problem; returns false when its padding would be negative (or the
// stride is not 1).
bool transposed_as_forward(const ConvParams& p, ConvParams* q);
// q, e: the transposed problem and its sizes.
void input_grad_direct_f32(const Dims& d, const ConvParams& q, const Dims& e, const float* dy,
                           const float* w, float* dx, const Epilogue& epi);
bool use_direct_wgrad(const ConvParams& p, const Dims& d);
void weight_grad_direct(const ConvParams& p, const Dims& d, const float* x, const float* dy,
                        float* dw, const Epilogue& epi);

// ---- Images in vector lanes (conv_batch_lanes.cpp) ---------------------------------
// The f32 input gradient of a unit-stride convolution, 8 images at a time; q, e: the
// transposed problem (transposed_as_forward) and its sizes. Whether it takes the shape:
bool use_batch_lanes(const ConvParams& q, const Dims& e);
void input_grad_batch_lanes(const Dims& d, const ConvParams& q, const Dims& e, const float* dy,
                            const float* w, float* dx, const Epilogue& epi);

// ---- Filters in vector lanes (conv_filter_lanes.cpp) -------------------------------
// f32, one group, 12 to 16 filters: the kernels that vectorize over filters, for
// LeNet-like layers (short rows). Whether they run on this CPU and shape:
bool use_filter_lanes(const ConvParams& p, const Dims& d);
void forward_filter_lanes(const ConvParams& p, const Dims& d, const float* x, const float* w,
                          float* y, const Epilogue& epi, const Prologue& pro);
void weight_grad_filter_lanes(const ConvParams& p, const Dims& d, const float* x,
                              const float* dy, float* dw, const Epilogue& epi,
                              const Prologue& pro);

// ---- Tiny maps as dense layers (conv_tiny_maps.cpp) ---------------------------------
// Whether the convolution is better run as one GEMM with a dense weight matrix (maps of
// a few pixels, where most of im2col's taps read padding).
bool use_dense_map(const ConvParams& p, const Dims& d);
template <typename T>
void forward_dense(const ConvParams& p, const Dims& d, const T* x, const T* w, T* y,
                   const Epilogue& epi);
template <typename T>
void input_grad_dense(const ConvParams& p, const Dims& d, const T* dy, const T* w, T* dx,
                      const Epilogue& epi);
template <typename T>
void weight_grad_dense(const ConvParams& p, const Dims& d, const T* x, const T* dy, T* dw,
                       const Epilogue& epi);

// ---- Winograd F(2x2, 3x3) and F(2x2, 5x5) (conv_winograd.cpp) -------------------------
// Whether an f32 forward or input-gradient convolution takes the Winograd path: 3x3 with
// padding 1 or 5x5 with padding 2, stride 1, dilation 1, one group, on the shapes where
// it measured faster
// (and as conv_set_winograd_mode says, conv_winograd.h).
bool use_winograd(const ConvParams& p);
void forward_winograd(const ConvParams& p, const float* x, const float* w, float* y,
                      const Epilogue& epi, const Prologue& pro = {});
void input_grad_winograd(const ConvParams& p, const float* dy, const float* w, float* dx,
                         const Epilogue& epi);
// The same for the f32 weight gradient (conv_winograd_wgrad.cpp); x may come from a
// prologue, computed per block of images.
bool use_winograd_wgrad(const ConvParams& p);
void weight_grad_winograd(const ConvParams& p, const float* x, const float* dy, float* dw,
                          const Epilogue& epi, const Prologue& pro);

}  // namespace kiln::conv_detail
