// Internal to the LLVM backend: the Renderer, kernel IR -> LLVM IR module (DESIGN.md
// convention 8; object.h compiles the module, jit.h loads the code).
//
// Rendered module layout (only the entry function is exported: every other function and
// global has internal or private linkage, so the objects of several executables or
// models can be linked into one binary; the JIT looks up only the entry):
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

}  // namespace kiln::llvmgen
