// Lowering: fused kernels (passes/fusion.h) -> kernel IR (codegen/kernel_ir.h).
// Each op has a lowering that computes its value at a multi-index as a kernel-IR
// expression (tables in codegen/lowerer.h); materialized values are loads. Reductions
// lower to loop kernels with reduced axes, contractions (matmul, convolutions) to
// contraction kernels whose epilogue is their fused elementwise chain, scatter_add to a
// scatter kernel.
//
// lower_graph() also binds every materialized value to a buffer (inputs, outputs, state
// buffers, constants, or the arena), decides which state updates are written in place
// (see passes/memory.h and DESIGN.md convention 12), adds copy kernels where a value
// needs to reach a second destination, and plans the arena. Kernels and copies whose
// output has no elements (a 0-sized dimension) are not emitted; a reduction over an
// empty axis is, and writes the identity (sum 0, max -inf, mean NaN), as the reference.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_ir.h"
#include "ir/graph.h"
#include "passes/fusion.h"
#include "passes/memory.h"

namespace kiln {

struct LoweredProgram {
  kir::KernelProgram prog;
  FusionPlan fusion;
  MemoryPlan memory;
  std::vector<int> buffer_of;  // by NodeId: the buffer holding that value, or -1
  int in_place_updates = 0;    // state updates written directly into the state buffer
  int copy_kernels = 0;
  int placed_concats = 0;      // stacking kernels replaced by placement (concat_in_place.h)
};

struct LowerOptions {
  bool in_place_updates = true;
  bool epilogues = true;  // fuse elementwise chains into contractions (passes/fusion.h)
  bool fusion = true;     // false: one kernel per op (FusionOptions::fuse)
  bool serial_groups = true;  // with fusion: serial kernels grouped (codegen/serial_kernels.h)
  size_t arena_guard_bytes = 0;  // see plan_memory (tests: canaries between buffers)
};

Expected<LoweredProgram> lower_graph(const Graph& g, const LowerOptions& opts = {});

}  // namespace kiln
