// Lowering: fused kernels (passes/fusion.h) -> kernel IR (codegen/kernel_ir.h).
// Each op has a lowering that computes its value at a multi-index as a kernel-IR
// expression: elementwise ops map 1:1; broadcast, permute, slice and reshape transform
// the index (reshape linearizes and delinearizes, skipped when only size-1 dims change);
// concat selects between clamped loads; iota is the index; one_hot compares the index
// with the loaded class; gather loads through a clamped index; rng hashes the linear
// index; materialized values are loads. Reductions, matmul and scatter_add lower at the
// kernel level (loop with reduced axes, runtime GEMM, scatter kernel).
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
};

struct LowerOptions {
  bool in_place_updates = true;
  bool matmul_epilogues = true;  // see passes/fusion.h
  size_t arena_guard_bytes = 0;  // see plan_memory (tests: canaries between buffers)
};

Expected<LoweredProgram> lower_graph(const Graph& g, const LowerOptions& opts = {});

}  // namespace kiln
