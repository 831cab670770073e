// Serial groups: loop kernels that run on one thread anyway, in one kernel. A reduction
// to one element (a global-norm clipping's sum of squares per gradient, an L2 penalty's
// sum(w*w), a loss's mean) is one accumulator and runs serially, and so does a loop with
// less work than the backend splits over threads (kSerialWork: the scalar math of the
// clip scale, a bias update over 28 elements). A training step with gradient clipping
// had one such kernel per parameter plus the scale; grouped, the reductions of every
// gradient, sqrt, min and the scale, and the small updates that read it are one kernel,
// and an L2-penalty step's two scalar reductions and its loss are one.
//
// A group is a kir::RowKernel of one row (each member seen over [1, dims...] by
// as_one_row, checked by the rows proof of codegen/row_locality.h with m = 1): its
// members run in order over their whole index space, as they ran one after another, and
// on one thread, so the bits do not depend on the thread count (runtime/thread_pool.h).
//
// Grouping starts at a serial loop kernel and takes later serial loop kernels of the
// next kWindow that pass the proof. The kernels in between that do not join are moved
// out of the way: each goes before the group (after it in the schedule: it neither reads
// what an earlier member writes nor writes what an earlier member uses) or after the
// group (likewise for the later members), the ones before a point going before -- so a
// group can both sink past a GEMM whose product a later member reduces and hoist a
// member over a kernel that reads an earlier member's result. A candidate whose move
// would break that is not taken.
#pragma once

#include <cstdint>

#include "codegen/kernel_ir.h"

namespace kiln {

// Loop kernels with less work (elements of the index space) than this run on the
// calling thread: llvmgen::RenderOptions::parallel_threshold's default (a test checks
// that the two agree).
inline constexpr int64_t kSerialWork = 32768;

// Whether loop kernel `l` runs serially: less work than kSerialWork, or a reduction
// into one element (one accumulator).
bool runs_serially(const kir::LoopKernel& l);

// Groups serial loop kernels into one-row kernels; returns how many loop kernels joined
// a group. Runs after merge_row_kernels (the parallel row groups keep first pick).
int merge_serial_kernels(kir::KernelProgram& prog);

}  // namespace kiln
