// A concatenation whose inputs are computed expressions (the per-step gate gradients of
// an unrolled GRU or LSTM: each gate's column block is its own chain of products) is
// lowered as one loop kernel per input, over that input's own block of the output.
// As one kernel, the concat is a select chain on the index, and vector code evaluates
// every input's expression at every element (four gates' worth of work for an LSTM).
#pragma once

#include <vector>

#include "codegen/kernel_ir.h"
#include "passes/fusion.h"

namespace kiln {

// Whether `fk` (an elementwise kernel) is lowered by lower_concat_blocks: its root is a
// concat of at most 8 inputs (or a reshape of one, same linear layout) of which at least
// two are computed in the kernel, or whose blocks are rows of at least 16 elements (a
// GRU's gate gradients stacked along the columns: block copies vectorize, the select
// chain on the column index does not).
bool lower_as_concat_blocks(const Graph& g, const FusionPlan& plan, const FusedKernel& fk);

// One kernel per non-empty input, each writing its block of `out_buffer`.
std::vector<kir::Kernel> lower_concat_blocks(const Graph& g, const FusionPlan& plan,
                                             const FusedKernel& fk, const std::vector<int>& buf,
                                             int out_buffer, kir::ExprPool& P);

}  // namespace kiln
