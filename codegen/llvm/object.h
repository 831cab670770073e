// The Compiler of the LLVM backend (DESIGN.md convention 8): a rendered module ->
// verified -> O3 for a TargetSpec -> relocatable ELF object bytes. The JIT loads these
// bytes (jit.h), the compile cache stores them (codegen/compile_cache.h) and an AOT build
// links them, so all three run the very same machine code. Objects are position
// independent, so they can go into a shared library.
#pragma once

#include <string>
#include <vector>

#include "codegen/llvm/target.h"
#include "ir/status.h"

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace kiln::llvmgen {

struct ObjectOptions {
  std::string* optimized_ir = nullptr;  // when set, receives the IR after optimization
};

// Sets the module's data layout and triple for `tm`, verifies it (errors carry the
// verifier's message) and runs LLVM's O3 pipeline on it.
Status optimize_module(llvm::Module& m, llvm::TargetMachine& tm);

// optimize_module, then machine code for `target` as a relocatable object file.
Expected<std::vector<char>> emit_object(llvm::Module& m, const TargetSpec& target,
                                        const ObjectOptions& options = {});

}  // namespace kiln::llvmgen
