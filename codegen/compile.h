// Graph -> ExecutablePlan + native code: fusion, memory planning, lowering to kernel IR,
// and code generation with the LLVM backend (codegen/native_code.h) (O3 for the host CPU or a chosen one, an
// object file loaded by ORC LLJIT, or taken from the compile cache). The runtime binds
// the two into an Executable (runtime/executable.h); compile() does both.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "codegen/compile_cache.h"
#include "ir/graph.h"
#include "runtime/executable.h"

namespace kiln {

struct CompileOptions {
  uint64_t init_seed = 0;   // seeds initial values of newly created state buffers
  bool verify = true;       // run the IR verifier before compiling
  // Called with each code-generation stage's output, as PassManager::set_after_pass is
  // for graph passes: "fusion" (the fusion plan), "kernels" (the kernel IR program) and,
  // when want_llvm is set, "llvm" (the optimized LLVM IR).
  std::function<void(const std::string& stage, const std::string& text)> after_stage;
  bool want_llvm = false;
  bool profile = false;     // time every kernel (runtime/profile.h); see describe()
  bool fusion = true;       // false: one kernel per op (`--no-fusion`, passes/fusion.h)
  // > 0 (tests): leave this many guard bytes after every arena buffer, filled with a
  // pattern that Executable::check_guards() verifies. Disables memory reuse.
  size_t arena_guard_bytes = 0;
  // The CPU the code is for (codegen/llvm/target.h): "native", "x86-64-v3", an LLVM CPU
  // name. compile() refuses a target whose features this CPU lacks.
  std::string target_cpu = "native";
  // The on-disk compile cache (codegen/compile_cache.h); unset: default_compile_cache().
  std::optional<CompileCacheConfig> cache;
};

// A plan and the code implementing it, not yet bound to memory.
struct CompiledPlan {
  ExecutablePlan plan;
  std::shared_ptr<CodeModule> code;
};

// Compiles `g` (already simplified / differentiated as the caller wishes).
Expected<CompiledPlan> compile_plan(const Graph& g, const CompileOptions& options = {});

// compile_plan + Executable::bind. Model-scoped state is looked up in `state` by name
// and created with its initial values when missing, so executables compiled against the
// same store share weights.
Expected<std::unique_ptr<Executable>> compile(const Graph& g, std::shared_ptr<StateStore> state,
                                              const CompileOptions& options = {});

// Whether this kiln has the LLVM backend (the CPU's code generator). A build with
// -DKILN_LLVM=OFF (the GPU machines: no LLVM there) has not: compile(), compile_plan()
// and compile_aot() then return the error no_llvm_backend_error() names, and the CPU
// runs graphs only through the reference interpreter (ir/interpreter.h).
bool llvm_backend_built();
Error no_llvm_backend_error();

}  // namespace kiln
