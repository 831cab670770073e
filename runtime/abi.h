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

#define KILN_ABI_VERSION 2

namespace kiln {

using EntryFn = void (*)(void** buffers);
using KernelFn = void (*)(void** buffers, int64_t begin, int64_t end);

// Constant parameter block of a GEMM call (generated code emits it as a constant struct:
// fourteen i64 fields, then alpha as a double; the renderer static_asserts the layout).
//   C = epilogue(alpha * (*alpha_scale if given) * op(A) * op(B) (+ C when accumulating))
struct GemmParams {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;                 // leading dimensions (row strides)
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // per batch, in elements
  int64_t trans_a = 0, trans_b = 0;                  // A is stored [K,M] / B is stored [N,K]
  int64_t accumulate = 0;                            // C += alpha*A*B instead of C = alpha*A*B
  int64_t relu = 0;                                  // epilogue: C = max(C, 0) (after bias)
  double alpha = 1.0;                                // scale of the product
};

namespace abi {

// Symbol names, used by the code generator and the JIT's resolver.
inline constexpr const char* kParallelFor = "kiln_parallel_for";
inline constexpr const char* kGemmF32 = "kiln_gemm_f32";
inline constexpr const char* kGemmF64 = "kiln_gemm_f64";
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
// Batched GEMM with epilogue (runtime/gemm.h). bias: length N; mask: laid out like C;
// alpha_scale: a scalar (e.g. the learning-rate state) multiplied into alpha. Each may
// be null.
void kiln_gemm_f32(const kiln::GemmParams* p, const float* a, const float* b, float* c,
                   const float* bias, const float* mask, const float* alpha_scale);
void kiln_gemm_f64(const kiln::GemmParams* p, const double* a, const double* b, double* c,
                   const double* bias, const double* mask, const double* alpha_scale);
// Profiling hook (runtime/profile.h): called after kernel i, and with -1 at entry.
void kiln_profile_tick(int64_t kernel);
}
