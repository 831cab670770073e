// Graph -> ExecutablePlan + native code: fusion, memory planning, lowering to kernel IR,
// and code generation with the LLVM backend (ORC LLJIT, O3, host CPU features). The
// runtime binds the two into an Executable (runtime/executable.h); compile() does both.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "runtime/executable.h"

namespace kiln {

struct CompileOptions {
  uint64_t init_seed = 0;   // seeds initial values of newly created state buffers
  bool verify = true;       // run the IR verifier before compiling
  std::string print_after;  // stage whose output is printed to stderr: "fusion",
                            // "kernels" or "llvm"
  bool profile = false;     // time every kernel (runtime/profile.h); see describe()
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

}  // namespace kiln
