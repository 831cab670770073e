#include "codegen/row_locality.h"

#include <climits>
#include <functional>
#include <map>

namespace kiln {

namespace {

using kir::EOp;
using kir::ExprId;
using kir::ExprPool;

// `root` with loop index `from` replaced by `to` (both i64 expressions).
ExprId substitute(ExprPool& P, ExprId root, ExprId from, ExprId to) {
  std::map<ExprId, ExprId> done;
  std::function<ExprId(ExprId)> go = [&](ExprId id) -> ExprId {
    if (id < 0) return id;
    if (id == from) return to;
    auto it = done.find(id);
    if (it != done.end()) return it->second;
    const kir::Expr e = P[id];
    ExprId out = id;
    switch (e.op) {
      case EOp::Const: case EOp::LoopIndex: break;
      case EOp::Load: out = P.load(e.buffer, e.dtype, go(e.a)); break;
      case EOp::Unary: out = P.unary(static_cast<kir::UOp>(e.sub), go(e.a)); break;
      case EOp::Binary: out = P.binary(static_cast<kir::BOp>(e.sub), go(e.a), go(e.b)); break;
      case EOp::Compare: out = P.compare(static_cast<kir::COp>(e.sub), go(e.a), go(e.b)); break;
      case EOp::Select: out = P.select(go(e.a), go(e.b), go(e.c)); break;
      case EOp::Cast: out = P.cast(e.dtype, go(e.a)); break;
      case EOp::Rng: out = P.rng(e.sub == 1, e.dtype, e.i, e.i2, go(e.a), go(e.b)); break;
    }
    done[id] = out;
    return out;
  };
  return go(root);
}

bool uses_axis0(const ExprPool& P, ExprId id) {
  bool uses = false;
  P.for_each_reachable(id, [&](ExprId, const kir::Expr& e) {
    uses |= e.op == EOp::LoopIndex && e.i == 0;
  });
  return uses;
}

// offset as sum(coeff * term) + constant over Add and Mul-by-constant nodes.
void linear_terms(const ExprPool& P, ExprId id, int64_t coeff,
                  std::map<ExprId, int64_t>& terms, int64_t& constant) {
  const kir::Expr& e = P[id];
  if (e.op == EOp::Const) {
    constant += coeff * e.i;
  } else if (e.op == EOp::Binary && e.sub == uint8_t(kir::BOp::Add)) {
    linear_terms(P, e.a, coeff, terms, constant);
    linear_terms(P, e.b, coeff, terms, constant);
  } else if (e.op == EOp::Binary && e.sub == uint8_t(kir::BOp::Mul) && P.is_const(e.b)) {
    linear_terms(P, e.a, coeff * P.const_int(e.b), terms, constant);
  } else if (e.op == EOp::Binary && e.sub == uint8_t(kir::BOp::Mul) && P.is_const(e.a)) {
    linear_terms(P, e.b, coeff * P.const_int(e.a), terms, constant);
  } else {
    terms[id] += coeff;
  }
}

int root_of(const kir::KernelProgram& prog, int b) {
  return prog.buffers[b].alias_of >= 0 ? prog.buffers[b].alias_of : b;
}

void add_loads(const ExprPool& P, ExprId root, std::set<int>& into) {
  if (root < 0) return;
  std::vector<ExprId> loads;
  P.collect_loads(root, loads);
  for (ExprId ld : loads) into.insert(P[ld].buffer);
}

}  // namespace

bool as_rows(ExprPool& P, kir::LoopKernel& l, int64_t m, bool allow_reductions) {
  if (l.dims.empty() || m <= 0) return false;
  const bool reduces = l.reduce != kir::ReduceOp::None;
  if (reduces && !allow_reductions) return false;
  if (l.dims[0] == m && !l.reduced[0]) return true;
  int64_t numel = 1;
  for (int64_t d : l.dims) numel *= d;
  if (reduces || l.dims.size() != 1 || numel == 0 || numel % m != 0) return false;
  const int64_t w = numel / m;
  const ExprId flat = P.loop_index(0, numel);
  const ExprId rows = P.add(P.mul(P.loop_index(0, m), w), P.loop_index(1, w));
  l.value = substitute(P, l.value, flat, rows);
  l.out_offset = substitute(P, l.out_offset, flat, rows);
  l.dims = {m, w};
  l.reduced = {false, false};
  return true;
}

bool as_one_row(ExprPool& P, kir::LoopKernel& l) {
  if (l.dims.empty()) return false;
  if (l.dims[0] == 1 && !l.reduced[0]) return true;
  const int n = static_cast<int>(l.dims.size());
  // Every loop index must be the one of its axis (an index built with another extent
  // would be missed by the substitution below).
  bool ok = true;
  for (ExprId root : {l.value, l.out_offset})
    P.for_each_reachable(root, [&](ExprId, const kir::Expr& e) {
      if (e.op == EOp::LoopIndex) ok &= e.i >= 0 && e.i < n && e.i2 == l.dims[static_cast<size_t>(e.i)];
    });
  if (!ok) return false;
  ExprId value = l.value, offset = l.out_offset;
  // Highest axis first: axis d moves to d + 1 only after the old d + 1 has moved on.
  for (int d = n - 1; d >= 0; --d) {
    const ExprId from = P.loop_index(d, l.dims[d]), to = P.loop_index(d + 1, l.dims[d]);
    if (P[from].op != EOp::LoopIndex) continue;  // extent 1: the constant 0
    value = substitute(P, value, from, to);
    offset = substitute(P, offset, from, to);
  }
  l.value = value;
  l.out_offset = offset;
  l.dims.insert(l.dims.begin(), 1);
  l.reduced.insert(l.reduced.begin(), false);
  return true;
}

bool row_local(const ExprPool& P, ExprId offset, int64_t m, int64_t numel) {
  if (m <= 0 || numel % m != 0) return false;
  const int64_t stride = numel / m;
  std::map<ExprId, int64_t> terms;
  int64_t lo = 0;
  linear_terms(P, offset, 1, terms, lo);
  int64_t hi = lo, row_coeff = 0;
  for (const auto& [term, coeff] : terms) {
    const kir::Expr& t = P[term];
    if (t.op == EOp::LoopIndex && t.i == 0) {
      row_coeff += coeff;
      continue;
    }
    if (uses_axis0(P, term) || t.lo == INT64_MIN || t.hi == INT64_MAX) return false;
    lo += coeff >= 0 ? coeff * t.lo : coeff * t.hi;
    hi += coeff >= 0 ? coeff * t.hi : coeff * t.lo;
  }
  // m == 1: the row index is the constant 0 and the whole buffer is one row.
  return (row_coeff == stride || m == 1) && lo >= 0 && hi < stride;
}

bool overlaps(const kir::KernelProgram& prog, int x, int y) {
  if (x == y) return false;
  return root_of(prog, x) == root_of(prog, y) &&
         (prog.buffers[x].alias_of < 0 || prog.buffers[y].alias_of < 0);
}

RowGroup::RowGroup(kir::KernelProgram& prog, const kir::ContractionKernel& g)
    : prog_(prog), m_(g.m) {
  written_.insert(g.out);
  for (int b : {g.a, g.b, g.out, g.alpha_scale, g.packed_b})
    if (b >= 0) used_.insert(b);
  for (ExprId root : {g.epilogue, g.epilogue_offset}) add_loads(prog.pool, root, fixed_reads_);
  used_.insert(fixed_reads_.begin(), fixed_reads_.end());
  for (int b : {g.a, g.b, g.alpha_scale})
    if (b >= 0) fixed_reads_.insert(b);
}

bool RowGroup::try_add(const kir::LoopKernel& l) {
  ExprPool& P = prog_.pool;
  const int out = l.out_buffer;
  // Members may write blocks of one buffer (a concat's blocks), each row-locally; a
  // buffer read by the GEMM, or by a member before any member wrote it, is out.
  if (fixed_reads_.count(out) || (!written_.count(out) && member_reads_.count(out))) return false;
  for (int b : used_)
    if (overlaps(prog_, b, out)) return false;
  if (!row_local(P, l.out_offset, m_, prog_.buffers[out].type.shape.numel())) return false;
  std::vector<ExprId> loads;
  P.collect_loads(l.value, loads);
  P.collect_loads(l.out_offset, loads);
  std::set<int> reads;
  for (ExprId ld : loads) {
    const int b = P[ld].buffer;
    reads.insert(b);
    for (int w : written_)
      if (overlaps(prog_, b, w)) return false;
    if (written_.count(b) && !row_local(P, P[ld].a, m_, prog_.buffers[b].type.shape.numel()))
      return false;
  }
  written_.insert(out);
  used_.insert(out);
  used_.insert(reads.begin(), reads.end());
  member_reads_.insert(reads.begin(), reads.end());
  return true;
}

kir::Kernel group_kernel(const kir::KernelProgram& prog, const std::vector<size_t>& members,
                         kir::RowKernel rows) {
  constexpr size_t kNamedMembers = 4;
  kir::Kernel k;
  k.root = prog.kernels[members.front()].root;
  for (size_t n = 0; n < members.size() && n < kNamedMembers; ++n) {
    if (n) k.name += '+';
    k.name += prog.kernels[members[n]].name;
  }
  if (members.size() > kNamedMembers)
    k.name.append("+").append(std::to_string(members.size() - kNamedMembers)).append("more");
  k.body = std::move(rows);
  return k;
}

}  // namespace kiln
