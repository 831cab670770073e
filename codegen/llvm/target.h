// The CPU that generated code is compiled for, from a `--target-cpu` string:
//   native               the host: its CPU name and every feature it reports (the JIT's
//                        default; the code may not run on another machine);
//   x86-64-v2|v3|v4      the x86-64 micro-architecture levels (v3: AVX2 + FMA, v4: AVX-512);
//   any LLVM CPU name    haswell, skylake-avx512, znver4, ... (the CPU's own features).
// A TargetSpec is plain data: the compile cache keys on its triple, CPU and feature
// string, and an AOT module records its required_features, which the LLVM-free runtime
// checks with __builtin_cpu_supports before running the code.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/status.h"

namespace llvm {
class TargetMachine;
}  // namespace llvm

namespace kiln::llvmgen {

struct TargetSpec {
  std::string name;      // as given: "native", "x86-64-v3", "znver4"
  std::string triple;    // the host's, e.g. "x86_64-pc-linux-gnu"
  std::string cpu;       // LLVM CPU name ("znver4" for native on a Zen 4 host)
  std::string features;  // canonical LLVM feature string: sorted "+a,-b,..."; empty when
                         // the CPU name alone says what the code may use
  // Instruction-set extensions the code may use and the running CPU must have, spelled
  // as GCC's __builtin_cpu_supports spells them ("sse4.2", "avx2", "bmi", "avx512f"),
  // sorted. Only extensions code generation can use are listed (not e.g. xsave).
  std::vector<std::string> required_features;
};

// Parses a --target-cpu value. An unknown name is an error naming it and listing the
// accepted values.
Expected<TargetSpec> parse_target(const std::string& target_cpu);

// Registers the host target with LLVM (once; every entry point here calls it).
void initialize_llvm();

// parse_target("native"), computed once.
const TargetSpec& host_target();

// Features of `spec` this CPU lacks (empty: code for `spec` runs here).
std::vector<std::string> missing_host_features(const TargetSpec& spec);

// An O3 TargetMachine for `spec`, position-independent (the object may go into a shared
// library), small code model.
Expected<std::unique_ptr<llvm::TargetMachine>> create_target_machine(const TargetSpec& spec);

}  // namespace kiln::llvmgen
