// Row kernels: a row's reductions and the elementwise work that consumes them, in one
// kernel. Softmax cross-entropy over [B, C] logits lowers to a row max, exp, a row sum,
// the picked logit, the argmax for accuracy, 1/sum and the gradient -- seven loop
// kernels, each a pass over the logits and a launch. Each reads only its own row of the
// others' outputs, so they can run one block of rows at a time (kir::RowKernel): one
// launch, and the block stays in L1 between them.
//
// Grouping starts at a loop kernel over m >= kMinRows rows (axis 0 kept) and takes later
// loop kernels that fit the rows proof of codegen/row_locality.h. Kernels in between that
// do not join (a mean over the rows, a column sum, a GEMM) are skipped over when the
// member moved ahead of them neither reads what they write nor writes what they read or
// write, so the loss's row kernel is not cut by the mean that follows the picked logit.
// The skipped kernels run after the group, in their order. At most kWindow kernels are
// scanned after the first, which keeps the pass linear.
#pragma once

#include <cstdint>

#include "codegen/kernel_ir.h"

namespace kiln {

// Groups loop kernels into row kernels; returns how many loop kernels joined a group.
// Runs after merge_row_epilogues (GEMMs keep first pick of the loops after them).
int merge_row_kernels(kir::KernelProgram& prog);

}  // namespace kiln
