// Row locality: the proof shared by the row epilogues of GEMMs (codegen/row_epilogues.h)
// and the row kernels (codegen/row_kernels.h) that a set of loop kernels may run one
// block of rows at a time -- each member, in order, over rows [r0, r1) -- and compute
// what they computed one after another over the whole index space.
//
// A loop kernel is seen over [m, ...] with axis 0 the row (as_rows). It may join a group
// when every buffer written by the group so far is read by it only at its own row, its
// own output is written only at its row, its output is not read by the group before the
// group writes it, and it overlaps no other buffer the group uses (several members may
// write blocks of one buffer). Row-locality of an offset is proved from the index ranges
// the expression pool tracks: offset = row * stride + rest with 0 <= rest < stride.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "codegen/kernel_ir.h"

namespace kiln {

// `l` rewritten as a loop over [m, ...] with axis 0 the row: already so (dims[0] == m,
// not reduced), or a flat elementwise loop over m * w elements, seen as [m, w]. False
// when neither; reductions (over axes other than 0) only with allow_reductions.
bool as_rows(kir::ExprPool& P, kir::LoopKernel& l, int64_t m, bool allow_reductions);

// `l` rewritten as a loop over [1, dims...]: one row holding its whole index space (the
// axes shift up by one), reductions included (codegen/serial_kernels.h). Unchanged when
// axis 0 is already a kept axis of extent 1. False (and `l` unchanged) when some loop
// index of `l` does not match its dims.
bool as_one_row(kir::ExprPool& P, kir::LoopKernel& l);

// Whether `offset` addresses only row i0 (loop axis 0) of a buffer of m rows and
// `numel` elements.
bool row_local(const kir::ExprPool& P, kir::ExprId offset, int64_t m, int64_t numel);

// Whether buffers x and y may overlap without being the same buffer (a stacked buffer
// and one of its pieces; two distinct pieces never overlap).
bool overlaps(const kir::KernelProgram& prog, int x, int y);

// The kernel that runs `members` (kernel indices, the first one's root) as `rows`, named
// after its first four members joined by '+', then "+<n>more" ("reduce_max_14+exp_18+...").
kir::Kernel group_kernel(const kir::KernelProgram& prog, const std::vector<size_t>& members,
                         kir::RowKernel rows);

class RowGroup {
 public:
  RowGroup(kir::KernelProgram& prog, int64_t m) : prog_(prog), m_(m) {}
  // A group that starts with GEMM g: its product is written row by row (and may be read
  // by members at their row); its operands must not be written by members.
  RowGroup(kir::KernelProgram& prog, const kir::ContractionKernel& g);

  // Adds `l` (in rows form, as_rows) when it qualifies; the group is unchanged otherwise.
  bool try_add(const kir::LoopKernel& l);

 private:
  kir::KernelProgram& prog_;
  int64_t m_;
  // Written by the group; used (read or written) by it; read by the GEMM (never written
  // by a member); read by members.
  std::set<int> written_, used_, fixed_reads_, member_reads_;
};

}  // namespace kiln
