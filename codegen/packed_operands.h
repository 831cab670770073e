// Pre-packed GEMM operands: when several f32 GEMMs of one step multiply by the same B
// (a recurrent layer's W_hh^T in the forward pass and W_hh in the backward pass, 35 GEMMs
// each for d2l's 35 time steps), B is packed into the GEMM's panel layout once, by the
// first of them, into a scratch buffer that the others read (runtime/abi.h, PackedB).
// Packing is a copy of all of B per GEMM otherwise: for a 32-row GEMM it is a sixth of
// the work, and the packed copy doubles the GEMM's footprint in L2.
#pragma once

#include "codegen/kernel_ir.h"

namespace kiln {

// GEMMs sharing B (same buffer, layout and shape, batch 1), with B not written between
// the first and the last of them, at least this many: they share one packed B.
inline constexpr int kMinSharedPackedB = 3;

// Gives each such group an arena scratch buffer (kir::ContractionKernel::packed_b) and
// marks its first GEMM as the one that packs. Returns the number of groups.
int share_packed_operands(kir::KernelProgram& prog);

}  // namespace kiln
