// A kiln built with -DKILN_LLVM=OFF (the GPU machines have no LLVM; README "Building
// without LLVM"): the entry points of the LLVM backend, native_code() (compile.h's JIT)
// and compile_aot() (`kiln compile`), answer no_llvm_backend_error() instead. Everything
// before code generation (passes, fusion, memory plan, kernel IR) and the CUDA renderer,
// NVRTC and the emulator are built as usual.
#include "codegen/aot.h"
#include "codegen/native_code.h"

namespace kiln {

bool llvm_backend_built() { return false; }

Expected<NativeCode> native_code(const kir::KernelProgram&, const std::string&,
                                 const CompileOptions&) {
  return no_llvm_backend_error();
}

Expected<AotOutput> compile_aot(const ModelFile&, const AotOptions&) {
  return no_llvm_backend_error();
}

Status link_shared_library(const std::string&, const std::string&) {
  return no_llvm_backend_error();
}

}  // namespace kiln
