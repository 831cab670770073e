// Inline lowerings of leaves, elementwise and indexing ops (the Lowerer and its table
// are described in codegen/lowerer.h). Elementwise ops map 1:1 to kernel-IR nodes;
// broadcast, permute, slice and reshape transform the index (reshape linearizes and
// delinearizes, skipped when only size-1 dims change); pad and concat select between
// clamped loads; iota is the index; one_hot compares the index with the loaded class;
// gather loads through a clamped index; rng hashes the linear index.
#include <algorithm>

#include "codegen/lowerer.h"
#include "passes/fusion.h"

namespace kiln {

using kir::BOp;
using kir::COp;
using kir::ExprId;
using kir::UOp;
using Idx = std::vector<ExprId>;

ExprId Lowerer::linear(const Shape& s, const Idx& idx) {
  if (flat_) return s.numel() <= 1 ? P_.index(0) : idx[0];
  auto known = known_linear_.find({s.dims, idx});
  if (known != known_linear_.end()) return known->second;
  ExprId off = P_.index(0);
  std::vector<int64_t> st = s.strides();
  for (int d = 0; d < s.rank(); ++d)
    if (s[d] != 1) off = P_.add(off, P_.mul(idx[d], st[d]));
  return off;
}

Idx Lowerer::delinear(const Shape& s, ExprId lin) {
  Idx idx(s.rank());
  std::vector<int64_t> st = s.strides();
  for (int d = 0; d < s.rank(); ++d) {
    if (s[d] == 1) {
      idx[d] = P_.index(0);
      continue;
    }
    ExprId q = P_.div(lin, st[d]);
    idx[d] = d == 0 ? q : P_.mod(q, s[d]);
  }
  return idx;
}

ExprId Lowerer::at(NodeId v, const Idx& idx) {
  auto key = std::make_pair(v, idx);
  auto it = memo_.find(key);
  if (it != memo_.end()) return it->second;
  ExprId r = compute(v, idx);
  memo_.emplace(std::move(key), r);
  return r;
}

ExprId Lowerer::load(NodeId v, const Idx& idx) {
  const Node& n = g_.node(v);
  KILN_CHECK(buf_[v] >= 0, "value %" + std::to_string(v) + " has no buffer");
  // An empty buffer has no element to read (e.g. a gather from a table of 0 rows, an
  // error in the reference): never load past it.
  if (n.shape().numel() == 0) return P_.constant(n.dtype(), 0.0);
  return P_.load(buf_[v], n.dtype(), linear(n.shape(), idx));
}

ExprId Lowerer::compute(NodeId v, const Idx& idx) {
  const Node& n = g_.node(v);
  // One index per axis (flat kernels: one linear index for every value).
  KILN_CHECK(idx.size() == static_cast<size_t>(flat_ ? 1 : n.shape().rank()),
             "lowering %" + std::to_string(v) + " (" + op_name(n.op) + " : " +
                 n.type.to_string() + ") at " + std::to_string(idx.size()) + " indices");
  auto served = served_.find(v);
  if (served != served_.end()) return served->second(idx);
  if (v != root_ && buf_[v] >= 0) return load(v, idx);
  if (pos_[v] >= 0) {
    // gt(z, 0) with z fused into a contraction epilogue: (z > 0) == (relu(z) > 0), NaN too.
    NodeId r = pos_[v];
    return P_.compare(COp::Gt, at(r, idx), P_.constant(g_.node(r).dtype(), 0.0));
  }
  InlineLowering fn = inline_lowerings()[static_cast<int>(n.op)];
  KILN_CHECK(fn != nullptr, std::string("cannot inline ") + op_name(n.op) + " %" + std::to_string(v));
  return fn(*this, n, idx);
}

const InlineLoweringTable& inline_lowerings() {
  static const InlineLoweringTable table = [] {
    InlineLoweringTable t{};
    add_basic_lowerings(t);
    add_pooling_lowerings(t);
    return t;
  }();
  return table;
}

namespace {

template <UOp op>
ExprId unary(Lowerer& L, const Node& n, const Idx& idx) {
  return L.pool().unary(op, L.in(n, 0, idx));
}
template <BOp op>
ExprId binary(Lowerer& L, const Node& n, const Idx& idx) {
  return L.pool().binary(op, L.in(n, 0, idx), L.in(n, 1, idx));
}
template <COp op>
ExprId compare(Lowerer& L, const Node& n, const Idx& idx) {
  return L.pool().compare(op, L.in(n, 0, idx), L.in(n, 1, idx));
}

ExprId buffer_leaf(Lowerer& L, const Node& n, const Idx& idx) { return L.load(n.id, idx); }

ExprId constant(Lowerer& L, const Node& n, const Idx& idx) {
  std::optional<double> splat = splat_value(n);
  return splat ? L.pool().constant(n.dtype(), *splat) : L.load(n.id, idx);
}

ExprId iota(Lowerer& L, const Node& n, const Idx& idx) {
  int axis = static_cast<int>(n.attrs.i("axis"));
  ExprId i = L.flat() ? L.delinear(n.shape(), idx[0])[axis] : idx[axis];
  return L.pool().cast(n.dtype(), i);
}

ExprId rng(Lowerer& L, const Node& n, const Idx& idx) {
  Idx scalar(L.flat() ? 1 : 0, L.pool().index(0));
  ExprId counter = L.to_index(L.at(n.inputs[0].id, scalar));
  return L.pool().rng(n.op == OpKind::RngNormal, n.dtype(), n.attrs.i("seed"), n.attrs.i("key"),
                      L.linear(n.shape(), idx), counter);
}

ExprId cast(Lowerer& L, const Node& n, const Idx& idx) {
  return L.pool().cast(n.dtype(), L.in(n, 0, idx));
}

ExprId identity(Lowerer& L, const Node& n, const Idx& idx) { return L.in(n, 0, idx); }

ExprId select(Lowerer& L, const Node& n, const Idx& idx) {
  return L.pool().select(L.in(n, 0, idx), L.in(n, 1, idx), L.in(n, 2, idx));
}

ExprId broadcast(Lowerer& L, const Node& n, const Idx& idx) {
  const Shape& is = L.graph().type(n.inputs[0]).shape;
  if (L.flat()) return L.in(n, 0, {is.numel() <= 1 ? L.pool().index(0) : idx[0]});
  int off = n.shape().rank() - is.rank();
  Idx ii(is.rank());
  for (int j = 0; j < is.rank(); ++j) ii[j] = is[j] == 1 ? L.pool().index(0) : idx[j + off];
  return L.in(n, 0, ii);
}

ExprId reshape(Lowerer& L, const Node& n, const Idx& idx) {
  const Shape& s = n.shape();
  const Shape& is = L.graph().type(n.inputs[0]).shape;
  if (L.flat()) return L.in(n, 0, idx);
  // Same non-unit dims in the same order: only size-1 axes come and go.
  std::vector<int> on, inn;
  for (int d = 0; d < s.rank(); ++d)
    if (s[d] != 1) on.push_back(d);
  for (int d = 0; d < is.rank(); ++d)
    if (is[d] != 1) inn.push_back(d);
  bool squeeze_only = on.size() == inn.size();
  for (size_t i = 0; squeeze_only && i < on.size(); ++i) squeeze_only = s[on[i]] == is[inn[i]];
  if (squeeze_only) {
    Idx ii(is.rank(), L.pool().index(0));
    for (size_t i = 0; i < on.size(); ++i) ii[inn[i]] = idx[on[i]];
    return L.in(n, 0, ii);
  }
  return L.in(n, 0, L.delinear(is, L.linear(s, idx)));
}

ExprId permute(Lowerer& L, const Node& n, const Idx& idx) {
  const auto& perm = n.attrs.ints("perm");
  Idx ii(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) ii[perm[i]] = idx[i];
  return L.in(n, 0, ii);
}

ExprId slice(Lowerer& L, const Node& n, const Idx& idx) {
  const auto& start = n.attrs.ints("start");
  const auto& step = n.attrs.ints("step");
  kir::ExprPool& P = L.pool();
  Idx ii(idx.size());
  for (size_t j = 0; j < idx.size(); ++j) ii[j] = P.add(P.mul(idx[j], step[j]), start[j]);
  return L.in(n, 0, ii);
}

// pad: out[i] = in[i - low] where 0 <= i - low < in_dim on every axis, else `value`.
// The load index is clamped into the input (a select evaluates both sides, so the load
// must stay in bounds) and the clamp is the range test: in range iff it changed nothing.
ExprId pad(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  const DType t = n.dtype();
  const Shape& is = L.graph().type(n.inputs[0]).shape;
  const auto& low = n.attrs.ints("low");
  const auto& high = n.attrs.ints("high");
  // The reference writes `value` and then wraps it to the dtype; so does this.
  ExprId fill = P.constant(t, wrap_to_dtype(t, n.attrs.f("value")));
  if (is.numel() == 0) return fill;
  Idx ii(is.rank());
  ExprId inside = -1;
  for (int d = 0; d < is.rank(); ++d) {
    if (low[d] == 0 && high[d] == 0) {
      ii[d] = idx[d];
      continue;
    }
    ExprId shifted = P.add(idx[d], -low[d]);
    ii[d] = P.clamp(shifted, 0, is[d] - 1);
    ExprId ok = P.compare(COp::Eq, ii[d], shifted);
    inside = inside < 0 ? ok : P.binary(BOp::And, inside, ok);
  }
  ExprId val = L.in(n, 0, ii);
  return inside < 0 ? val : P.select(inside, val, fill);
}

ExprId concat(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  int axis = static_cast<int>(n.attrs.i("axis"));
  if (axis < 0) axis += n.shape().rank();
  // From the last input down: v_k = idx < end_k ? input_k(idx - off_k) : v_{k+1},
  // with the index clamped into each input so every load stays in bounds.
  std::vector<int64_t> offs;
  int64_t off = 0;
  for (Value iv : n.inputs) {
    offs.push_back(off);
    off += L.graph().type(iv).shape[axis];
  }
  ExprId result = -1;
  for (int k = static_cast<int>(n.inputs.size()) - 1; k >= 0; --k) {
    int64_t len = L.graph().type(n.inputs[k]).shape[axis];
    if (len == 0) continue;
    Idx ii = idx;
    ii[axis] = P.clamp(P.add(idx[axis], -offs[k]), 0, len - 1);
    ExprId val = L.in(n, k, ii);
    result = result < 0 ? val
                        : P.select(P.compare(COp::Lt, idx[axis], P.index(offs[k] + len)), val, result);
  }
  KILN_CHECK(result >= 0, "concat of empty inputs");
  return result;
}

ExprId gather(Lowerer& L, const Node& n, const Idx& idx) {
  const Shape& ts = L.graph().type(n.inputs[0]).shape;
  const Shape& is = L.graph().type(n.inputs[1]).shape;
  Idx ii(idx.begin(), idx.begin() + is.rank());
  ExprId row = L.pool().clamp(L.to_index(L.in(n, 1, ii)), 0, std::max<int64_t>(0, ts[0] - 1));
  Idx ti{row};
  ti.insert(ti.end(), idx.begin() + is.rank(), idx.end());
  return L.in(n, 0, ti);
}

ExprId one_hot(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  Idx ii(idx.begin(), idx.end() - 1);
  ExprId cls = L.to_index(L.in(n, 0, ii));
  return P.select(P.compare(COp::Eq, cls, idx.back()), P.constant(n.dtype(), 1),
                  P.constant(n.dtype(), 0));
}

}  // namespace

void add_basic_lowerings(InlineLoweringTable& t) {
  auto set = [&](OpKind op, InlineLowering fn) { t[static_cast<int>(op)] = fn; };
  for (OpKind op : {OpKind::Input, OpKind::Parameter, OpKind::State}) set(op, buffer_leaf);
  set(OpKind::Constant, constant);
  set(OpKind::Iota, iota);
  set(OpKind::RngUniform, rng);
  set(OpKind::RngNormal, rng);
  set(OpKind::Neg, unary<UOp::Neg>);
  set(OpKind::Abs, unary<UOp::Abs>);
  set(OpKind::Exp, unary<UOp::Exp>);
  set(OpKind::Log, unary<UOp::Log>);
  set(OpKind::Sqrt, unary<UOp::Sqrt>);
  set(OpKind::Tanh, unary<UOp::Tanh>);
  set(OpKind::Sigmoid, unary<UOp::Sigmoid>);
  set(OpKind::Relu, unary<UOp::Relu>);
  set(OpKind::Not, unary<UOp::Not>);
  set(OpKind::Cast, cast);
  set(OpKind::StopGradient, identity);  // only autodiff tells it apart
  set(OpKind::Add, binary<BOp::Add>);
  set(OpKind::Sub, binary<BOp::Sub>);
  set(OpKind::Mul, binary<BOp::Mul>);
  set(OpKind::Div, binary<BOp::Div>);
  set(OpKind::Pow, binary<BOp::Pow>);
  set(OpKind::Max, binary<BOp::Max>);
  set(OpKind::Min, binary<BOp::Min>);
  set(OpKind::And, binary<BOp::And>);
  set(OpKind::Or, binary<BOp::Or>);
  set(OpKind::Lt, compare<COp::Lt>);
  set(OpKind::Le, compare<COp::Le>);
  set(OpKind::Gt, compare<COp::Gt>);
  set(OpKind::Ge, compare<COp::Ge>);
  set(OpKind::Eq, compare<COp::Eq>);
  set(OpKind::Ne, compare<COp::Ne>);
  set(OpKind::Select, select);
  set(OpKind::Broadcast, broadcast);
  set(OpKind::Reshape, reshape);
  set(OpKind::Permute, permute);
  set(OpKind::Slice, slice);
  set(OpKind::Pad, pad);
  set(OpKind::Concat, concat);
  set(OpKind::Gather, gather);
  set(OpKind::OneHot, one_hot);
}

}  // namespace kiln
