// Row epilogues: the loop kernels right after a GEMM that only combine values within a
// row of its product -- a recurrent step's gate arithmetic, which mixes columns j, j+H
// and j+2H of h @ W_hh^T (r, z and n of a GRU; i, f, g, o of an LSTM) and so cannot be a
// per-tile epilogue -- are moved into the GEMM: it runs them on each block of rows as
// soon as every column of the block is final (runtime/abi.h, RowEpilogueFn), splitting
// its work over rows only. A step's forward gates (and the next step's gate gradients
// after dh = dg @ W_hh) become one kernel with the GEMM: no launch, no fork/join, and the
// rows are still in L1/L2.
//
// Only GEMMs whose B is shared and pre-packed (codegen/packed_operands.h) take row
// epilogues: their threads read packed panels, so splitting rows only costs nothing,
// while a GEMM that packs its own B splits the columns when that packs less (the MLP
// step was 12% slower with every GEMM split by rows).
//
// A loop kernel joins when it has no reduction and passes the rows proof of
// codegen/row_locality.h with the GEMM's product as the group's first output; its output
// must not be an operand of the GEMM. Loop kernels over the same rows without a GEMM are
// grouped by codegen/row_kernels.h.
#pragma once

#include "codegen/kernel_ir.h"

namespace kiln {

// Merges such kernels into their f32 GEMMs (ContractionKernel::row_loops); returns how
// many loop kernels were merged. Runs after share_packed_operands.
int merge_row_epilogues(kir::KernelProgram& prog);

}  // namespace kiln
