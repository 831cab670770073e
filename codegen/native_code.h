// The one step of compile() that needs a native-code backend: a kernel program -> loaded
// code for this CPU (or the CPU options.target_cpu names). With the LLVM backend
// (codegen/llvm/native_code.cpp): rendered to LLVM IR, compiled at O3 or taken from the
// compile cache, loaded by ORC. Built with -DKILN_LLVM=OFF (codegen/no_llvm.cpp): an
// error saying so, since that build computes on a GPU only (`--device cuda`).
#pragma once

#include <memory>
#include <string>

#include "codegen/compile.h"
#include "codegen/kernel_ir.h"

namespace kiln {

struct NativeCode {
  std::unique_ptr<CodeModule> code;
  bool cache_hit = false;
};

// Uses options.target_cpu, profile, cache, want_llvm and after_stage ("llvm"). Errors
// are not yet wrapped with "compile".
Expected<NativeCode> native_code(const kir::KernelProgram& prog, const std::string& entry_symbol,
                                 const CompileOptions& options);

}  // namespace kiln
