// The ABI between generated code and the runtime, version KILN_ABI_VERSION. Generated
// code (the JIT now; ahead-of-time objects and CUDA modules later) calls only the
// functions declared here and passes only the structs defined here; the code generator
// takes every symbol name from this header and the JIT resolves them from
// runtime_symbols(), so a name is spelled once. Change anything here => bump the version.
//
// An executable's code exposes one entry function per executable, named by its plan
// (ExecutablePlan::entry_symbol, unique per executable):
//   void <entry>(void** buffers)
// where buffers[i] is the address of plan buffer i (runtime/plan.h). The entry calls the
// kernels in order, through kiln_parallel_for when they are large enough to split.
#pragma once

#include <cstdint>
#include <span>

#define KILN_ABI_VERSION 5

namespace kiln {

using EntryFn = void (*)(void** buffers);
using KernelFn = void (*)(void** buffers, int64_t begin, int64_t end);

// Epilogue of a contraction (GEMM or convolution), generated per kernel: it reads the
// finished output elements of a region in place, applies the fused elementwise work
// (bias, scale/shift, residual, activation, activation gradient, ...) and stores them.
// The region is given in the contraction's GEMM view of its output, [batch, rows, cols]
// (row-major, cols contiguous): element (b, r, c) is output element (b*rows + r)*cols + c.
// The runtime calls it exactly once for every output element, after that element's
// final value alpha*product (+ old value when accumulating) is stored, for disjoint
// rectangles, possibly from several threads at once.
using EpilogueFn = void (*)(void** buffers, int64_t batch, int64_t row_begin, int64_t row_end,
                            int64_t col_begin, int64_t col_end);

// Row epilogue of a GEMM, generated per kernel: loop kernels that read only rows
// [r0, r1) of the GEMM's output (and of each other's outputs), run by the GEMM for each
// block of rows as soon as all of that block's columns are final -- the gate arithmetic
// of a recurrent step, which combines columns j, j+H, j+2H of h @ W_hh^T. With it the
// GEMM splits its work over rows only (codegen/row_epilogues.h).
using RowEpilogueFn = void (*)(void** buffers, int64_t row_begin, int64_t row_end);

// Prologue of a convolution, generated per kernel: computes the convolution's input
// operand x (the elementwise expression that produces it, e.g. batch-norm scale/shift,
// residual add and ReLU over the previous convolution's output) for images [i0, i1) and
// writes them dense NCHW, [i1 - i0, c, h, w], to dst. The runtime calls it for blocks of
// images into scratch memory, possibly from several threads at once, instead of reading
// a materialized x (forward and weight-gradient convolutions only).
using PrologueFn = void (*)(void** buffers, int64_t i0, int64_t i1, void* dst);

// Constant parameter block of a GEMM call (generated code emits it as a constant struct:
// fourteen i64 fields, then alpha as a double; the renderer static_asserts the layout).
//   C = alpha * (*alpha_scale if given) * op(A) * op(B) (+ C when accumulating), then the
//   epilogue. GEMM view of C: [batch, m, n].
// Pre-packed B (f32, batch 1): a B operand that several GEMMs of one step multiply by (a
// recurrent layer's W_hh, once per time step) is packed once into the GEMM's panel layout
// in a scratch buffer of gemm_packed_b_floats(k, n) floats: the first GEMM packs it
// (kPackB), the others read the panels (kPackedB) instead of packing B again.
enum PackedB : int64_t { kUnpackedB = 0, kPackedB = 1, kPackB = 2 };
struct GemmParams {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;                 // leading dimensions (row strides)
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // per batch, in elements
  int64_t trans_a = 0, trans_b = 0;                  // A is stored [K,M] / B is stored [N,K]
  int64_t accumulate = 0;                            // C += alpha*A*B instead of C = alpha*A*B
  int64_t packed_b = kUnpackedB;                     // PackedB: how `packed` is used
  double alpha = 1.0;                                // scale of the product
};

// Floats of a pre-packed B buffer: every micro-kernel's panel width divides 32.
inline constexpr int64_t kGemmMaxPanel = 32;
constexpr int64_t gemm_packed_b_floats(int64_t k, int64_t n) {
  return k * ((n + kGemmMaxPanel - 1) / kGemmMaxPanel * kGemmMaxPanel);
}

// Which convolution a ConvParams describes, and its operands (a, b) -> c. NCHW; x is
// [n, c, h, w], w is [f, c/groups, kh, kw], y is [n, f, oh, ow]. GEMM views of c:
//   forward      (a = x,  b = w)  -> y   [n*groups, f/groups, oh*ow]
//   input grad   (a = dy, b = w)  -> dx  [n*groups, c/groups, h*w]
//   weight grad  (a = x,  b = dy) -> dw  [groups, f/groups, (c/groups)*kh*kw]
// Max pooling's gradient (runtime/pool.h) takes the same block: (a = i32 indices, b = dy)
// -> dx [n, c, h, w], GEMM view [n, c, h*w], with f = c and groups = 1.
enum ConvKind : int64_t {
  kConvForward = 0,
  kConvInputGrad = 1,
  kConvWeightGrad = 2,
  kMaxPoolGrad = 3
};

// Constant parameter block of a convolution call (eighteen i64 fields, then alpha).
//   c = alpha * (*alpha_scale if given) * conv (+ c when accumulating), then the epilogue.
struct ConvParams {
  int64_t kind = kConvForward;
  int64_t n = 0, c = 0, h = 0, w = 0;  // input x
  int64_t f = 0, kh = 0, kw = 0;       // filters
  int64_t oh = 0, ow = 0;              // forward output size
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1;
  int64_t accumulate = 0;
  double alpha = 1.0;
};

namespace abi {

// Symbol names, used by the code generator and the JIT's resolver.
inline constexpr const char* kParallelFor = "kiln_parallel_for";
inline constexpr const char* kGemmF32 = "kiln_gemm_f32";
inline constexpr const char* kGemmF64 = "kiln_gemm_f64";
inline constexpr const char* kConv2dF32 = "kiln_conv2d_f32";
inline constexpr const char* kConv2dF64 = "kiln_conv2d_f64";
inline constexpr const char* kMaxPoolGradF32 = "kiln_max_pool2d_grad_f32";
inline constexpr const char* kMaxPoolGradF64 = "kiln_max_pool2d_grad_f64";
inline constexpr const char* kProfileTick = "kiln_profile_tick";

struct RuntimeSymbol {
  const char* name;
  void* address;
};
// Every runtime function generated code may call.
std::span<const RuntimeSymbol> runtime_symbols();

}  // namespace abi
}  // namespace kiln

extern "C" {
// Runs fn(bufs, begin, end) over chunks of [0, n) on the runtime's thread pool.
void kiln_parallel_for(kiln::KernelFn fn, void** bufs, int64_t n, int64_t grain);
// Contractions (runtime/gemm.h, runtime/conv.h). alpha_scale: a scalar (e.g. the
// learning-rate state) multiplied into alpha, or null; epilogue: null for none, else
// called with `buffers` as its first argument. Convolutions: prologue null for none,
// else operand a is unused (may be null) and x comes from prologue(buffers, ...).
// GEMMs: packed is the pre-packed B scratch (GemmParams::packed_b), or null; rows the
// row epilogue, or null (f64: both null).
void kiln_gemm_f32(const kiln::GemmParams* p, const float* a, const float* b, float* c,
                   const float* alpha_scale, float* packed, kiln::EpilogueFn epilogue,
                   kiln::RowEpilogueFn rows, void** buffers);
void kiln_gemm_f64(const kiln::GemmParams* p, const double* a, const double* b, double* c,
                   const double* alpha_scale, double* packed, kiln::EpilogueFn epilogue,
                   kiln::RowEpilogueFn rows, void** buffers);
void kiln_conv2d_f32(const kiln::ConvParams* p, const float* a, const float* b, float* c,
                     const float* alpha_scale, kiln::EpilogueFn epilogue,
                     kiln::PrologueFn prologue, void** buffers);
void kiln_conv2d_f64(const kiln::ConvParams* p, const double* a, const double* b, double* c,
                     const double* alpha_scale, kiln::EpilogueFn epilogue,
                     kiln::PrologueFn prologue, void** buffers);
// Max pooling's gradient (runtime/pool.h): p->kind is kMaxPoolGrad, indices are i32;
// the prologue is unused.
void kiln_max_pool2d_grad_f32(const kiln::ConvParams* p, const void* indices, const float* dy,
                              float* dx, const float* alpha_scale, kiln::EpilogueFn epilogue,
                              kiln::PrologueFn prologue, void** buffers);
void kiln_max_pool2d_grad_f64(const kiln::ConvParams* p, const void* indices, const double* dy,
                              double* dx, const double* alpha_scale, kiln::EpilogueFn epilogue,
                              kiln::PrologueFn prologue, void** buffers);
// Profiling hook (runtime/profile.h): called after kernel i, and with -1 at entry.
void kiln_profile_tick(int64_t kernel);
}
