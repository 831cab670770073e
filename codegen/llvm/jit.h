// The Program of the LLVM backend (DESIGN.md convention 8): relocatable object bytes
// (object.h) loaded into an ORC LLJIT of their own, whose main JITDylib resolves kiln's
// runtime entry points (runtime/abi.h: parallel-for, GEMM, convolution, profiling) as
// absolute symbols and anything else (libm) from the current process.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/llvm/target.h"
#include "ir/status.h"
#include "runtime/executable.h"

namespace kiln::llvmgen {

// A loaded native program; owns the JIT (and with it the code).
using Program = CodeModule;

// Loads `object` (built for `target`) and links it now by looking up `entry_symbol`, so
// that a bad object is an error here rather than at the first run. Code for a target
// whose features this CPU lacks is refused, naming them.
Expected<std::unique_ptr<Program>> load_object(const std::vector<char>& object,
                                               const TargetSpec& target,
                                               const std::string& entry_symbol);

}  // namespace kiln::llvmgen
