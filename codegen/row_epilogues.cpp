#include "codegen/row_epilogues.h"

#include <functional>
#include <map>
#include <climits>
#include <set>

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

// `l` as a loop over [m, ...] (axis 0 = rows), or false.
bool as_rows(ExprPool& P, kir::LoopKernel& l, int64_t m) {
  if (l.reduce != kir::ReduceOp::None || l.dims.empty()) return false;
  int64_t numel = 1;
  for (int64_t d : l.dims) numel *= d;
  if (numel == 0 || numel % m != 0) return false;
  if (l.dims[0] == m) return true;
  if (l.dims.size() != 1) return false;
  const int64_t w = numel / m;
  const ExprId flat = P.loop_index(0, numel);
  const ExprId rows = P.add(P.mul(P.loop_index(0, m), w), P.loop_index(1, w));
  l.value = substitute(P, l.value, flat, rows);
  l.out_offset = substitute(P, l.out_offset, flat, rows);
  l.dims = {m, w};
  l.reduced = {false, false};
  return true;
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

// Whether `offset` addresses row i0 (loop axis 0) of a buffer of m rows and `numel`
// elements: offset = i0 * stride + rest with stride = numel / m, rest independent of i0
// and within [0, stride) by the pool's index ranges.
bool row_local(const ExprPool& P, ExprId offset, int64_t m, int64_t numel) {
  if (numel % m != 0) return false;
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

int root_of(const kir::KernelProgram& prog, int b) {
  return prog.buffers[b].alias_of >= 0 ? prog.buffers[b].alias_of : b;
}

// Whether buffers x and y may overlap without being the same buffer (a stacked buffer
// and one of its pieces; two distinct pieces never overlap).
bool overlaps(const kir::KernelProgram& prog, int x, int y) {
  if (x == y) return false;
  return root_of(prog, x) == root_of(prog, y) &&
         (prog.buffers[x].alias_of < 0 || prog.buffers[y].alias_of < 0);
}

class Group {
 public:
  Group(kir::KernelProgram& prog, const kir::ContractionKernel& g) : prog_(prog), m_(g.m) {
    written_.insert(g.out);
    for (int b : {g.a, g.b, g.out, g.alpha_scale, g.packed_b})
      if (b >= 0) used_.insert(b);
    for (ExprId root : {g.epilogue, g.epilogue_offset}) add_loads(root, gemm_reads_);
    used_.insert(gemm_reads_.begin(), gemm_reads_.end());
    for (int b : {g.a, g.b, g.alpha_scale}) if (b >= 0) gemm_reads_.insert(b);
  }

  // Adds `l` (already in rows form) when it qualifies.
  bool try_add(const kir::LoopKernel& l) {
    ExprPool& P = prog_.pool;
    const int out = l.out_buffer;
    // Members may write blocks of one buffer (a concat's blocks), each row-locally; a
    // buffer read by the GEMM, or by a member before any member wrote it, is out.
    if (gemm_reads_.count(out) || (!written_.count(out) && member_reads_.count(out)))
      return false;
    for (int b : used_)
      if (overlaps(prog_, b, out)) return false;
    const int64_t out_numel = prog_.buffers[out].type.shape.numel();
    if (!row_local(P, l.out_offset, m_, out_numel)) return false;
    std::vector<ExprId> loads;
    P.collect_loads(l.value, loads);
    P.collect_loads(l.out_offset, loads);
    std::set<int> reads;
    for (ExprId ld : loads) {
      const int b = P[ld].buffer;
      reads.insert(b);
      for (int w : written_)
        if (overlaps(prog_, b, w)) return false;
      if (written_.count(b) &&
          !row_local(P, P[ld].a, m_, prog_.buffers[b].type.shape.numel()))
        return false;
    }
    written_.insert(out);
    used_.insert(out);
    used_.insert(reads.begin(), reads.end());
    member_reads_.insert(reads.begin(), reads.end());
    return true;
  }

 private:
  void add_loads(ExprId root, std::set<int>& into) {
    if (root < 0) return;
    std::vector<ExprId> loads;
    prog_.pool.collect_loads(root, loads);
    for (ExprId ld : loads) into.insert(prog_.pool[ld].buffer);
  }

  kir::KernelProgram& prog_;
  int64_t m_;
  std::set<int> written_, used_, gemm_reads_, member_reads_;
};

}  // namespace

int merge_row_epilogues(kir::KernelProgram& prog) {
  int merged = 0;
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    kir::ContractionKernel* g = std::get_if<kir::ContractionKernel>(&prog.kernels[i].body);
    if (!g || g->op != kir::ContractionOp::Matmul || g->dtype != DType::f32 || g->batch != 1 ||
        g->m <= 0 || g->n <= 0 || g->packed_b < 0 || !g->row_loops.empty())
      continue;
    Group group(prog, *g);
    std::vector<kir::LoopKernel> members;
    size_t j = i + 1;
    for (; j < prog.kernels.size(); ++j) {
      const kir::LoopKernel* l = prog.kernels[j].loop();
      if (!l) break;
      kir::LoopKernel rows = *l;
      if (!as_rows(prog.pool, rows, g->m) || !group.try_add(rows)) break;
      members.push_back(std::move(rows));
    }
    if (members.empty()) continue;
    merged += static_cast<int>(members.size());
    g = &std::get<kir::ContractionKernel>(prog.kernels[i].body);
    g->row_loops = std::move(members);
    prog.kernels[i].name += "+rows";
    prog.kernels.erase(prog.kernels.begin() + static_cast<long>(i + 1),
                       prog.kernels.begin() + static_cast<long>(j));
  }
  return merged;
}

}  // namespace kiln
