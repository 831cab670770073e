// The CPU schedule of a loop kernel: which axes become the parallel range handed to the
// thread pool, which loop is the contiguous innermost loop the LLVM vectorizer turns
// into SIMD code, and how reductions accumulate. Derived deterministically from the
// kernel's dims and reduced axes; the renderer and the parallel-launch decision share it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/kernel_ir.h"

namespace kiln::llvmgen {

struct LoopSchedule {
  // Axes of the parallel loop, outermost first, flattened into one range of `units`.
  std::vector<int> parallel_axes;
  std::vector<int> reduced_axes;  // nested inside the parallel loop, outermost first
  int vector_axis = -1;           // contiguous innermost loop (-1: none)
  // RowAccumulate: the vector loop is a kept axis; reductions accumulate rows of the
  // output (init, then out[..] op= value). Scalar: the innermost loop is the last
  // reduced axis and a scalar accumulator is stored once per output element.
  bool scalar_accumulator = false;
  // When there are no parallel axes, the vector axis itself is split across threads.
  bool vector_is_parallel = false;
  int64_t units = 1;  // size of the parallel range
};

LoopSchedule schedule_loop(const kir::LoopKernel& k);
std::string describe(const LoopSchedule& s);  // "parallel [0,1] units=64 vector 2 ..."

}  // namespace kiln::llvmgen
