// Internal to the LLVM backend: vectorizable math emitted as LLVM IR (DESIGN.md
// convention 10). exp, log, tanh and sigmoid are internal always-inline functions built
// from range reduction + polynomials + bit manipulation and selects (no branches, no
// libm calls), so the loop vectorizer turns them into SIMD code. Philox4x32-10 is
// emitted inline, bit-exact with ir/philox.h.
#pragma once

#include <cstdint>

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

namespace kiln::llvmgen {

enum class MathFn { Exp, Log, Tanh, Sigmoid };

// Returns (creating on first use) the function `float f(float)` / `double f(double)`.
llvm::Function* math_function(llvm::Module& m, MathFn fn, llvm::Type* type);

// Philox4x32-10 words for element `index` (i64) with step counter `counter` (i64).
void emit_philox(llvm::IRBuilder<>& b, llvm::Value* index, llvm::Value* counter, int64_t seed,
                 int64_t key, llvm::Value* out[4]);

// rng_uniform / rng_normal value from the Philox words (see ir/philox.h): a float when
// `f32`, else a double (callers convert doubles to other dtypes like cast does).
llvm::Value* emit_rng_value(llvm::Module& m, llvm::IRBuilder<>& b, bool normal, bool f32,
                            llvm::Value* const w[4]);

}  // namespace kiln::llvmgen
