// The target-independent half of compilation: graph -> kernel program -> ExecutablePlan.
// Verify, split reductions (passes/split_reductions.h), plan fusion, lower to kernel IR
// (buffer binding, in-place state updates, the arena plan), and turn the kernel
// program's buffer table into the plan's plain-data buffer table with its launch list.
// The JIT (codegen/compile.h) and ahead-of-time compilation (codegen/aot.h) then render
// the same program to LLVM IR and native code.
#pragma once

#include <string>

#include "codegen/compile.h"
#include "codegen/lower.h"

namespace kiln {

struct PlannedProgram {
  Graph graph;          // the graph lowered (after code-generation-only rewrites)
  LoweredProgram lowered;
  std::string program_text;  // kir::print_program of lowered.prog
  ExecutablePlan plan;  // everything but the compile statistics that follow codegen
};

// Uses options.verify, fusion, arena_guard_bytes, init_seed and after_stage ("fusion",
// "kernels"). plan.entry_symbol is "kiln_<graph>_<hash of the program>".
Expected<PlannedProgram> plan_program(const Graph& source, const CompileOptions& options);

// Fills plan.stats (but compile_seconds and cache_hit) and plan.description.
void describe_plan(PlannedProgram& p);

}  // namespace kiln
