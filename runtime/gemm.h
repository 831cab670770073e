// Batched dense matrix multiply for the runtime:
//   C = alpha * op(A) * op(B) (+ C when accumulating), then the epilogue
// row-major with leading dimensions. With alpha = -lr and accumulate = 1 the GEMM is an
// in-place SGD update W -= lr * A*B. The epilogue (runtime/epilogue.h) is the generated
// elementwise work fused after the contraction (bias, activation, mask, ...): it is called
// on rectangles of finished C while they are still in cache, exactly once per element.
// f32 uses the BLIS/GotoBLAS structure (DESIGN.md convention 11): B packed into k x NR
// panels, A read in place (row-major A, unless large and shared by column tasks) or
// packed into MR x k panels (transposed A), a register-tiled micro-kernel of broadcast
// FMAs (AVX2: 6x16 with 12 ymm accumulators;
// AVX-512: 12x32 with 24 zmm accumulators, except on AMD Zen 3/4 where AVX2 is as fast)
// selected at run time with __builtin_cpu_supports, so one binary runs on any x86-64.
// Work is split over (M, N) blocks on the global thread pool. f64 takes a simple
// row-at-a-time path that the compiler vectorizes.
//
// Choice (documented per the brief): DESIGN.md wants GEMM micro-kernels emitted as LLVM
// IR by the code generator eventually; for now compiled kernels call this C++ routine
// (like XLA's CPU backend calling Eigen). Generated code calls kiln_gemm_f32/f64
// (runtime/abi.h) with a pointer to a constant GemmParams block.
#pragma once

#include <cstdint>

#include "runtime/abi.h"
#include "runtime/epilogue.h"

namespace kiln {

// packed_b: the pre-packed B scratch when p.packed_b is set (runtime/abi.h), else unused.
// rows: run on each block of rows once all its columns are final (then the work is split
// over rows only; batch 1).
void gemm_f32(const GemmParams& p, const float* a, const float* b, float* c,
              const Epilogue& epi = {}, float* packed_b = nullptr, const RowEpilogue& rows = {});
void gemm_f64(const GemmParams& p, const double* a, const double* b, double* c,
              const Epilogue& epi = {});

// The same GEMMs on the calling thread only, for kernels that split their own work over
// the pool and run one GEMM per chunk (runtime/conv.cpp). Same results to the bit.
void gemm_f32_serial(const GemmParams& p, const float* a, const float* b, float* c,
                     const Epilogue& epi = {});
void gemm_f64_serial(const GemmParams& p, const double* a, const double* b, double* c,
                     const Epilogue& epi = {});

// For tests: the f32 GEMM with its task grid planned for `threads` threads, which the
// pool runs on what it has: the grids of machines larger than this one. Same results to
// the bit as gemm_f32.
void gemm_f32_planned_for(int64_t threads, const GemmParams& p, const float* a, const float* b,
                          float* c, const Epilogue& epi = {});

// Which f32 micro-kernel is in use: "avx512", "avx2" or "generic".
const char* gemm_f32_isa();
// For tests: force a micro-kernel ("avx512", "avx2", "generic"); returns false when the
// CPU cannot run it. Empty string restores automatic selection.
bool gemm_force_isa(const char* isa);

}  // namespace kiln
