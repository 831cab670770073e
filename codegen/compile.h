// Graph -> Executable: fusion, memory planning, lowering to kernel IR, and native code
// generation with the LLVM backend (ORC LLJIT, O3, host CPU features).
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "runtime/executable.h"

namespace kiln {

struct CompileOptions {
  uint64_t init_seed = 0;         // seeds initial values of newly created state buffers
  bool verify = true;             // run the IR verifier before compiling
  std::string print_after;        // pass name whose output graph is printed to stderr
                                  // ("fusion", "kernels", "llvm")
  bool profile = false;           // time every kernel (runtime/profile.h); see describe()
};

// Compiles `g` (already simplified / differentiated as the caller wishes). Parameters and
// states are looked up in `state` by name and created (with their initial values) when
// missing, so executables compiled against the same store share weights.
Expected<std::unique_ptr<Executable>> compile(const Graph& g, std::shared_ptr<StateStore> state,
                                              const CompileOptions& options = {});

}  // namespace kiln
