// Internal to the LLVM backend: Renderer (kernel IR -> LLVM IR module) and Compiler
// (verify, O3 for the host CPU, ORC LLJIT) producing a Program (DESIGN.md convention 8).
//
// Rendered module layout:
//   void k<i>(ptr bufs, i64 begin, i64 end)   one per Loop/Scatter kernel: loads its buffer
//       pointers from `bufs` and calls k<i>.body(ptr noalias b.., begin, end) (inlined, so
//       the noalias facts survive as scoped alias metadata); k<i> itself is noinline, so
//       the entry function stays a list of calls however many kernels there are;
//   void <entry_symbol>(ptr bufs)              calls every kernel in schedule order, directly
//       when small, else through kiln_parallel_for(k<i>, bufs, units, grain); GEMMs call
//       kiln_gemm_f32/f64 with a constant GemmParams block (runtime/abi.h).
#pragma once

#include <memory>
#include <string>

#include "codegen/kernel_ir.h"
#include "ir/status.h"
#include "runtime/executable.h"

namespace llvm {
class LLVMContext;
class Module;
}  // namespace llvm

namespace kiln::llvmgen {

struct RenderOptions {
  // Kernels with less work than this run on the calling thread.
  int64_t parallel_threshold = 32768;
  // Call kiln_profile_tick(i) after every kernel (runtime/profile.h).
  bool profile = false;
  std::string entry_symbol = "kiln_entry";
};

std::unique_ptr<llvm::Module> render(const kir::KernelProgram& prog, llvm::LLVMContext& ctx,
                                     const RenderOptions& opts = {});

// A loaded native program; owns the JIT (and with it the code). text() is the optimized
// IR when CompilerOptions::keep_ir was set.
using Program = CodeModule;

struct CompilerOptions {
  bool optimize = true;
  bool keep_ir = false;
};

// Verifies, optimizes (O3, host CPU name + features) and JIT-links `m`.
Expected<std::unique_ptr<Program>> compile_module(std::unique_ptr<llvm::Module> m,
                                                  std::unique_ptr<llvm::LLVMContext> ctx,
                                                  const CompilerOptions& opts = {});

}  // namespace kiln::llvmgen
