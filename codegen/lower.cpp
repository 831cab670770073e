// Per-op lowering to kernel-IR expressions at a multi-index, kernel construction for
// each fused kernel, buffer binding, in-place state updates, copies and the arena plan.
#include "codegen/lower.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace kiln {

using kir::BOp;
using kir::COp;
using kir::ExprId;
using kir::UOp;

namespace {

// Computes node values at multi-indices inside one kernel.
class Lowerer {
 public:
  Lowerer(const Graph& g, const std::vector<int>& buffer_of, const std::vector<NodeId>& positive_of,
          kir::ExprPool& pool, NodeId root, bool flat)
      : g_(g), buf_(buffer_of), pos_(positive_of), P_(pool), root_(root), flat_(flat) {}

  ExprId linear(const Shape& s, const std::vector<ExprId>& idx) {
    if (flat_) return s.numel() <= 1 ? P_.index(0) : idx[0];
    ExprId off = P_.index(0);
    std::vector<int64_t> st = s.strides();
    for (int d = 0; d < s.rank(); ++d)
      if (s[d] != 1) off = P_.add(off, P_.mul(idx[d], st[d]));
    return off;
  }

  std::vector<ExprId> delinear(const Shape& s, ExprId lin) {
    std::vector<ExprId> idx(s.rank());
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

  ExprId at(NodeId v, const std::vector<ExprId>& idx) {
    auto key = std::make_pair(v, idx);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    ExprId r = compute(v, idx);
    memo_.emplace(std::move(key), r);
    return r;
  }

  ExprId compute(NodeId v, const std::vector<ExprId>& idx);

 private:
  ExprId load(NodeId v, const std::vector<ExprId>& idx) {
    const Node& n = g_.node(v);
    KILN_CHECK(buf_[v] >= 0, "value %" + std::to_string(v) + " has no buffer");
    // An empty buffer has no element to read (e.g. a gather from a table of 0 rows, an
    // error in the reference): never load past it.
    if (n.shape().numel() == 0) return P_.constant(n.dtype(), 0.0);
    return P_.load(buf_[v], n.dtype(), linear(n.shape(), idx));
  }
  ExprId in(const Node& n, int i, const std::vector<ExprId>& idx) { return at(n.inputs[i].id, idx); }
  ExprId to_index(ExprId x) { return P_.cast(DType::i64, x); }
  ExprId pad(const Node& n, const std::vector<ExprId>& idx);

  const Graph& g_;
  const std::vector<int>& buf_;
  const std::vector<NodeId>& pos_;
  kir::ExprPool& P_;
  NodeId root_;
  bool flat_;
  std::map<std::pair<NodeId, std::vector<ExprId>>, ExprId> memo_;
};

ExprId Lowerer::compute(NodeId v, const std::vector<ExprId>& idx) {
  const Node& n = g_.node(v);
  // One index per axis (flat kernels: one linear index for every value).
  KILN_CHECK(idx.size() == static_cast<size_t>(flat_ ? 1 : n.shape().rank()),
             "lowering %" + std::to_string(v) + " (" + op_name(n.op) + " : " +
                 n.type.to_string() + ") at " + std::to_string(idx.size()) + " indices");
  if (v != root_ && buf_[v] >= 0) return load(v, idx);
  if (pos_[v] >= 0) {
    // gt(z, 0) with z fused into a matmul epilogue: (z > 0) == (relu(z) > 0), NaN included.
    NodeId r = pos_[v];
    return P_.compare(COp::Gt, at(r, idx), P_.constant(g_.node(r).dtype(), 0.0));
  }
  const DType t = n.dtype();
  const Shape& s = n.shape();
  auto un = [&](UOp op) { return P_.unary(op, in(n, 0, idx)); };
  auto bin = [&](BOp op) { return P_.binary(op, in(n, 0, idx), in(n, 1, idx)); };
  auto cmp = [&](COp op) { return P_.compare(op, in(n, 0, idx), in(n, 1, idx)); };
  switch (n.op) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::State: return load(v, idx);
    case OpKind::Constant: {
      std::optional<double> splat = splat_value(n);
      return splat ? P_.constant(t, *splat) : load(v, idx);
    }
    case OpKind::Iota: {
      int axis = static_cast<int>(n.attrs.i("axis"));
      ExprId i = flat_ ? delinear(s, idx[0])[axis] : idx[axis];
      return P_.cast(t, i);
    }
    case OpKind::RngUniform:
    case OpKind::RngNormal: {
      ExprId counter = to_index(at(n.inputs[0].id, std::vector<ExprId>(flat_ ? 1 : 0, P_.index(0))));
      return P_.rng(n.op == OpKind::RngNormal, t, n.attrs.i("seed"), n.attrs.i("key"),
                    linear(s, idx), counter);
    }
    case OpKind::Neg: return un(UOp::Neg);
    case OpKind::Abs: return un(UOp::Abs);
    case OpKind::Exp: return un(UOp::Exp);
    case OpKind::Log: return un(UOp::Log);
    case OpKind::Sqrt: return un(UOp::Sqrt);
    case OpKind::Tanh: return un(UOp::Tanh);
    case OpKind::Sigmoid: return un(UOp::Sigmoid);
    case OpKind::Relu: return un(UOp::Relu);
    case OpKind::Not: return un(UOp::Not);
    case OpKind::Cast: return P_.cast(t, in(n, 0, idx));
    case OpKind::StopGradient: return in(n, 0, idx);  // only autodiff tells it apart
    case OpKind::Add: return bin(BOp::Add);
    case OpKind::Sub: return bin(BOp::Sub);
    case OpKind::Mul: return bin(BOp::Mul);
    case OpKind::Div: return bin(BOp::Div);
    case OpKind::Pow: return bin(BOp::Pow);
    case OpKind::Max: return bin(BOp::Max);
    case OpKind::Min: return bin(BOp::Min);
    case OpKind::And: return bin(BOp::And);
    case OpKind::Or: return bin(BOp::Or);
    case OpKind::Lt: return cmp(COp::Lt);
    case OpKind::Le: return cmp(COp::Le);
    case OpKind::Gt: return cmp(COp::Gt);
    case OpKind::Ge: return cmp(COp::Ge);
    case OpKind::Eq: return cmp(COp::Eq);
    case OpKind::Ne: return cmp(COp::Ne);
    case OpKind::Select: return P_.select(in(n, 0, idx), in(n, 1, idx), in(n, 2, idx));
    case OpKind::Broadcast: {
      const Shape& is = g_.type(n.inputs[0]).shape;
      if (flat_) return in(n, 0, {is.numel() <= 1 ? P_.index(0) : idx[0]});
      int off = s.rank() - is.rank();
      std::vector<ExprId> ii(is.rank());
      for (int j = 0; j < is.rank(); ++j) ii[j] = is[j] == 1 ? P_.index(0) : idx[j + off];
      return in(n, 0, ii);
    }
    case OpKind::Reshape: {
      const Shape& is = g_.type(n.inputs[0]).shape;
      if (flat_) return in(n, 0, idx);
      // Same non-unit dims in the same order: only size-1 axes come and go.
      std::vector<int> on, inn;
      for (int d = 0; d < s.rank(); ++d)
        if (s[d] != 1) on.push_back(d);
      for (int d = 0; d < is.rank(); ++d)
        if (is[d] != 1) inn.push_back(d);
      bool squeeze_only = on.size() == inn.size();
      for (size_t i = 0; squeeze_only && i < on.size(); ++i) squeeze_only = s[on[i]] == is[inn[i]];
      if (squeeze_only) {
        std::vector<ExprId> ii(is.rank(), P_.index(0));
        for (size_t i = 0; i < on.size(); ++i) ii[inn[i]] = idx[on[i]];
        return in(n, 0, ii);
      }
      return in(n, 0, delinear(is, linear(s, idx)));
    }
    case OpKind::Permute: {
      const auto& perm = n.attrs.ints("perm");
      std::vector<ExprId> ii(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) ii[perm[i]] = idx[i];
      return in(n, 0, ii);
    }
    case OpKind::Slice: {
      const auto& start = n.attrs.ints("start");
      const auto& step = n.attrs.ints("step");
      std::vector<ExprId> ii(idx.size());
      for (size_t j = 0; j < idx.size(); ++j) ii[j] = P_.add(P_.mul(idx[j], step[j]), start[j]);
      return in(n, 0, ii);
    }
    case OpKind::Pad: return pad(n, idx);
    case OpKind::Concat: {
      int axis = static_cast<int>(n.attrs.i("axis"));
      if (axis < 0) axis += s.rank();
      // From the last input down: v_k = idx < end_k ? input_k(idx - off_k) : v_{k+1},
      // with the index clamped into each input so every load stays in bounds.
      std::vector<int64_t> offs;
      int64_t off = 0;
      for (Value iv : n.inputs) {
        offs.push_back(off);
        off += g_.type(iv).shape[axis];
      }
      ExprId result = -1;
      for (int k = static_cast<int>(n.inputs.size()) - 1; k >= 0; --k) {
        int64_t len = g_.type(n.inputs[k]).shape[axis];
        if (len == 0) continue;
        std::vector<ExprId> ii = idx;
        ii[axis] = P_.clamp(P_.add(idx[axis], -offs[k]), 0, len - 1);
        ExprId val = in(n, k, ii);
        result = result < 0 ? val
                            : P_.select(P_.compare(COp::Lt, idx[axis], P_.index(offs[k] + len)),
                                        val, result);
      }
      KILN_CHECK(result >= 0, "concat of empty inputs");
      return result;
    }
    case OpKind::Gather: {
      const Shape& ts = g_.type(n.inputs[0]).shape;
      const Shape& is = g_.type(n.inputs[1]).shape;
      std::vector<ExprId> ii(idx.begin(), idx.begin() + is.rank());
      ExprId row = P_.clamp(to_index(in(n, 1, ii)), 0, std::max<int64_t>(0, ts[0] - 1));
      std::vector<ExprId> ti{row};
      ti.insert(ti.end(), idx.begin() + is.rank(), idx.end());
      return in(n, 0, ti);
    }
    case OpKind::OneHot: {
      std::vector<ExprId> ii(idx.begin(), idx.end() - 1);
      ExprId cls = to_index(in(n, 0, ii));
      return P_.select(P_.compare(COp::Eq, cls, idx.back()), P_.constant(t, 1), P_.constant(t, 0));
    }
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
    case OpKind::Matmul:
    case OpKind::ScatterAdd:
    case OpKind::kCount: break;
  }
  KILN_CHECK(false, std::string("cannot inline ") + op_name(n.op) + " %" + std::to_string(v));
  return -1;
}

// pad: out[i] = in[i - low] where 0 <= i - low < in_dim on every axis, else `value`.
// The load index is clamped into the input (a select evaluates both sides, so the load
// must stay in bounds) and the clamp is the range test: in range iff it changed nothing.
ExprId Lowerer::pad(const Node& n, const std::vector<ExprId>& idx) {
  const DType t = n.dtype();
  const Shape& is = g_.type(n.inputs[0]).shape;
  const auto& low = n.attrs.ints("low");
  const auto& high = n.attrs.ints("high");
  // The reference writes `value` and then wraps it to the dtype; so does this.
  ExprId fill = P_.constant(t, wrap_to_dtype(t, n.attrs.f("value")));
  if (is.numel() == 0) return fill;
  std::vector<ExprId> ii(is.rank());
  ExprId inside = -1;
  for (int d = 0; d < is.rank(); ++d) {
    if (low[d] == 0 && high[d] == 0) {
      ii[d] = idx[d];
      continue;
    }
    ExprId shifted = P_.add(idx[d], -low[d]);
    ii[d] = P_.clamp(shifted, 0, is[d] - 1);
    ExprId ok = P_.compare(COp::Eq, ii[d], shifted);
    inside = inside < 0 ? ok : P_.binary(BOp::And, inside, ok);
  }
  ExprId val = in(n, 0, ii);
  return inside < 0 ? val : P_.select(inside, val, fill);
}

std::vector<ExprId> loop_indices(kir::ExprPool& P, const std::vector<int64_t>& dims) {
  std::vector<ExprId> idx;
  for (size_t d = 0; d < dims.size(); ++d) idx.push_back(P.loop_index(static_cast<int>(d), dims[d]));
  return idx;
}

// A group can run as one flat loop when nothing in it depends on the multi-index:
// elementwise ops, splat constants, rng and broadcasts of single elements, over
// buffers of the root's own shape.
bool flat_ok(const Graph& g, const FusedKernel& fk, const std::vector<int>& buf) {
  const Node& root = g.node(fk.root);
  auto node_ok = [&](const Node& n) {
    if (n.def().has(kElementwise)) return true;
    switch (n.op) {
      case OpKind::Constant: return !is_buffer_leaf(n);
      case OpKind::RngUniform: case OpKind::RngNormal: return true;
      case OpKind::Broadcast: return g.type(n.inputs[0]).shape.numel() <= 1;
      default: return false;
    }
  };
  if (!node_ok(root)) return false;
  for (NodeId f : fk.fused)
    if (!node_ok(g.node(f))) return false;
  for (NodeId r : fk.reads) {
    const Shape& s = g.node(r).shape();
    if (s != root.shape() && s.numel() > 1) return false;
  }
  (void)buf;
  return true;
}

kir::Kernel make_copy(kir::KernelProgram& prog, int src, int dst) {
  const TensorType& t = prog.buffers[dst].type;
  kir::Kernel k;
  k.kind = kir::KernelKind::Loop;
  k.dims = {std::max<int64_t>(1, t.shape.numel())};
  k.reduced = {false};
  ExprId i = prog.pool.loop_index(0, k.dims[0]);
  k.value = prog.pool.load(src, t.dtype, i);
  k.out_offset = i;
  k.out_buffer = dst;
  k.out_dtype = t.dtype;
  k.name = "copy_b" + std::to_string(src) + "_to_b" + std::to_string(dst);
  return k;
}

Expected<kir::Kernel> lower_fused(const Graph& g, const FusionPlan& plan, const FusedKernel& fk,
                                  const std::vector<int>& buf, int out_buffer,
                                  kir::KernelProgram& prog) {
  kir::ExprPool& P = prog.pool;
  const Node& root = g.node(fk.root);
  kir::Kernel k;
  k.root = fk.root;
  k.out_buffer = out_buffer;
  k.out_dtype = root.dtype();
  k.name = std::string(op_name(root.op)) + "_" + std::to_string(fk.root);
  switch (fk.kind) {
    case FusedKind::Elementwise: {
      const Shape& s = root.shape();
      if (s.numel() == 0) {
        // An empty iteration space: a well-formed kernel that does nothing (lower_graph
        // drops kernels with empty outputs; the value is never computed).
        k.dims = {0};
        k.reduced = {false};
        k.value = P.constant(root.dtype(), 0.0);
        k.out_offset = P.index(0);
        return k;
      }
      bool flat = flat_ok(g, fk, buf);
      if (flat || s.rank() == 0) k.dims = {std::max<int64_t>(1, s.numel())};
      else k.dims = s.dims;
      k.reduced.assign(k.dims.size(), false);
      Lowerer L(g, buf, plan.positive_of, P, fk.root, flat || s.rank() == 0);
      std::vector<ExprId> idx = loop_indices(P, k.dims);
      k.value = L.compute(fk.root, idx);
      k.out_offset = L.linear(s, idx);
      if (flat || s.rank() == 0) k.out_offset = s.numel() <= 1 ? P.index(0) : idx[0];
      return k;
    }
    case FusedKind::Reduction: {
      const Shape& is = g.type(root.inputs[0]).shape;
      const auto& axes = root.attrs.ints("axes");
      k.dims = is.rank() == 0 ? std::vector<int64_t>{1} : is.dims;
      k.reduced.assign(k.dims.size(), false);
      for (int64_t a : axes) k.reduced[a] = true;
      bool any = std::find(k.reduced.begin(), k.reduced.end(), true) != k.reduced.end();
      k.reduce = !any ? kir::ReduceOp::None
                 : root.op == OpKind::ReduceSum ? kir::ReduceOp::Sum
                 : root.op == OpKind::ReduceMax ? kir::ReduceOp::Max
                                                : kir::ReduceOp::Mean;
      Lowerer L(g, buf, plan.positive_of, P, fk.root, false);
      std::vector<ExprId> idx = loop_indices(P, k.dims);
      std::vector<ExprId> in_idx = is.rank() == 0 ? std::vector<ExprId>{} : idx;
      k.value = L.at(root.inputs[0].id, in_idx);
      // Output offset: row-major over the kept axes (reduced axes contribute 0).
      ExprId off = P.index(0);
      int64_t stride = 1;
      for (int d = static_cast<int>(k.dims.size()) - 1; d >= 0; --d) {
        if (k.reduced[d]) continue;
        off = P.add(off, P.mul(idx[d], stride));
        stride *= k.dims[d];
      }
      k.out_offset = off;
      return k;
    }
    case FusedKind::Matmul: {
      const Node& mm = g.node(fk.matmul);
      const Shape& os = mm.shape();
      int r = os.rank();
      const Shape& as = g.type(mm.inputs[0]).shape;
      int64_t m = os[r - 2], n = os[r - 1], kk = as[r - 1], batch = 1;
      for (int d = 0; d < r - 2; ++d) batch *= os[d];
      if (is_float(root.dtype())) {
        k.kind = kir::KernelKind::Gemm;
        kir::GemmSpec& gs = k.gemm;
        gs.dtype = root.dtype();
        gs.batch = batch;
        gs.m = m;
        gs.n = n;
        gs.k = kk;
        gs.trans_a = fk.trans_a;
        gs.trans_b = fk.trans_b;
        gs.a = buf[fk.a];
        gs.b = buf[fk.b];
        gs.c = out_buffer;
        gs.alpha = fk.alpha;
        gs.accumulate = fk.accumulate >= 0;
        gs.bias = fk.bias >= 0 ? buf[fk.bias] : -1;
        gs.relu = fk.relu;
        gs.mask = fk.mask >= 0 ? buf[fk.mask] : -1;
        gs.alpha_scale = fk.alpha_scale >= 0 ? buf[fk.alpha_scale] : -1;
        KILN_CHECK(gs.a >= 0 && gs.b >= 0, "matmul operands need buffers");
        KILN_CHECK(!gs.accumulate || buf[fk.accumulate] == out_buffer,
                   "in-place update epilogue must write its state buffer");
        k.name = "gemm_" + std::to_string(fk.root);
        return k;
      }
      // Integer matmul: a loop kernel over [batch..., M, N, K] reducing K.
      k.dims = os.dims;
      k.dims.push_back(kk);
      k.reduced.assign(k.dims.size(), false);
      k.reduced.back() = true;
      k.reduce = kir::ReduceOp::Sum;
      Lowerer L(g, buf, plan.positive_of, P, fk.root, false);
      std::vector<ExprId> idx = loop_indices(P, k.dims);
      std::vector<ExprId> ai(idx.begin(), idx.begin() + r - 2), bi = ai;
      ai.push_back(idx[r - 2]);
      ai.push_back(idx[r]);
      bi.push_back(idx[r]);
      bi.push_back(idx[r - 1]);
      KILN_CHECK(fk.matmul == fk.root, "integer matmuls have no epilogue");
      k.value = P.binary(BOp::Mul, L.at(root.inputs[0].id, ai), L.at(root.inputs[1].id, bi));
      std::vector<ExprId> oi(idx.begin(), idx.begin() + r);
      k.out_offset = L.linear(os, oi);
      return k;
    }
    case FusedKind::ScatterAdd: {
      k.kind = kir::KernelKind::ScatterAdd;
      kir::ScatterSpec& ss = k.scatter;
      ss.indices = buf[fk.a];
      ss.updates = buf[fk.b];
      ss.out = out_buffer;
      ss.index_dtype = g.node(fk.a).dtype();
      ss.dtype = root.dtype();
      ss.count = g.node(fk.a).shape().numel();
      ss.rows = root.attrs.i("rows");
      ss.row_size = ss.rows == 0 ? 0 : root.shape().numel() / ss.rows;
      k.name = "scatter_add_" + std::to_string(fk.root);
      return k;
    }
  }
  return Error("unknown fused kernel kind");
}

std::vector<int> kernel_reads(const kir::KernelProgram& prog, const kir::Kernel& k) {
  std::set<int> r;
  switch (k.kind) {
    case kir::KernelKind::Loop: {
      std::vector<ExprId> loads;
      prog.pool.collect_loads(k.value, loads);
      prog.pool.collect_loads(k.out_offset, loads);
      for (ExprId l : loads) r.insert(prog.pool[l].buffer);
      break;
    }
    case kir::KernelKind::Gemm:
      r.insert(k.gemm.a);
      r.insert(k.gemm.b);
      if (k.gemm.bias >= 0) r.insert(k.gemm.bias);
      if (k.gemm.mask >= 0) r.insert(k.gemm.mask);
      if (k.gemm.accumulate) r.insert(k.gemm.c);
      break;
    case kir::KernelKind::ScatterAdd:
      r.insert(k.scatter.indices);
      r.insert(k.scatter.updates);
      break;
  }
  return {r.begin(), r.end()};
}

int kernel_output(const kir::Kernel& k) {
  switch (k.kind) {
    case kir::KernelKind::Loop: return k.out_buffer;
    case kir::KernelKind::Gemm: return k.gemm.c;
    case kir::KernelKind::ScatterAdd: return k.scatter.out;
  }
  return -1;
}

// State update `v` may be written straight into the state buffer when every use of the
// old state inside v's kernel is at v's own index: all paths from the root down to the
// state go through elementwise ops only.
bool reads_state_elementwise_only(const Graph& g, const FusedKernel& fk, NodeId state) {
  if (fk.kind != FusedKind::Elementwise) return false;
  std::set<NodeId> fused(fk.fused.begin(), fk.fused.end());
  bool ok = true;
  std::set<std::pair<NodeId, bool>> seen;
  std::function<void(NodeId, bool)> visit = [&](NodeId v, bool identity) {
    if (!ok || !seen.insert({v, identity}).second) return;
    if (v == state) {
      ok = ok && identity;
      return;
    }
    if (v != fk.root && !fused.count(v)) return;  // another materialized value
    const Node& n = g.node(v);
    bool ew = n.def().has(kElementwise);
    for (Value in : n.inputs) visit(in.id, identity && ew);
  };
  visit(fk.root, true);
  return ok;
}

}  // namespace

Expected<LoweredProgram> lower_graph(const Graph& g, const LowerOptions& opts) {
  LoweredProgram out;
  FusionOptions fopts;
  fopts.matmul_epilogues = opts.matmul_epilogues;
  fopts.in_place_updates = opts.in_place_updates;
  out.fusion = plan_fusion(g, fopts);
  const FusionPlan& plan = out.fusion;
  kir::KernelProgram& prog = out.prog;
  const int n = g.size();
  std::vector<int>& buf = out.buffer_of;
  buf.assign(n, -1);

  // Buffer leaves.
  for (NodeId id = 0; id < n; ++id) {
    const Node& nd = g.node(id);
    if (!is_buffer_leaf(nd)) continue;
    kir::BufferKind kind = nd.op == OpKind::Input      ? kir::BufferKind::Input
                           : nd.op == OpKind::Constant ? kir::BufferKind::Constant
                                                       : kir::BufferKind::State;
    std::string name = nd.name.empty() ? "%" + std::to_string(id) : nd.name;
    buf[id] = prog.add_buffer(kind, nd.type, name, id);
  }

  std::vector<kir::Kernel> pre, post;  // copies before / after the fused kernels
  auto kernel_index = [&](NodeId root) { return plan.kernel_of[root]; };

  std::set<NodeId> updated_states;
  for (const StateUpdate& u : g.state_updates()) updated_states.insert(u.state.id);

  // State updates first: in place when safe, else copied after everything else ran.
  struct PendingCopy {
    NodeId value;
    int dst;
  };
  std::vector<PendingCopy> post_copies;
  for (const StateUpdate& u : g.state_updates()) {
    NodeId v = u.value.id, s = u.state.id;
    int sbuf = buf[s];
    int ki = kernel_index(v);
    if (ki >= 0 && plan.kernels[ki].accumulate == s) {  // update epilogue (checked by the plan)
      buf[v] = sbuf;
      out.in_place_updates++;
      continue;
    }
    if (opts.in_place_updates && ki >= 0 && buf[v] < 0 &&
        reads_state_elementwise_only(g, plan.kernels[ki], s)) {
      // In place only when no later kernel reads the old value.
      bool others_before = true;
      for (size_t j = ki + 1; j < plan.kernels.size(); ++j)
        for (NodeId r : plan.kernels[j].reads) others_before &= r != s;
      if (others_before) {
        buf[v] = sbuf;
        out.in_place_updates++;
        continue;
      }
    }
    post_copies.push_back({v, sbuf});
  }

  // Outputs: the first output of a computed value owns it; others get copies.
  std::vector<PendingCopy> output_copies;
  for (const Output& o : g.outputs()) {
    NodeId v = o.value.id;
    int obuf = prog.add_buffer(kir::BufferKind::Output, g.type(o.value), o.name, v);
    if (kernel_index(v) >= 0 && buf[v] < 0) {
      buf[v] = obuf;
    } else {
      output_copies.push_back({v, obuf});
    }
  }

  // Arena buffers for the remaining kernel roots.
  for (const FusedKernel& fk : plan.kernels)
    if (buf[fk.root] < 0)
      buf[fk.root] = prog.add_buffer(kir::BufferKind::Arena, g.node(fk.root).type,
                                     "%" + std::to_string(fk.root), fk.root);

  // Copies of leaf values must see the old values: run them first. A state update whose
  // value is an updated leaf (a swap) goes through an arena temporary.
  for (const PendingCopy& c : output_copies) {
    if (is_buffer_leaf(g.node(c.value))) pre.push_back(make_copy(prog, buf[c.value], c.dst));
    else post.push_back(make_copy(prog, buf[c.value], c.dst));
  }
  for (const PendingCopy& c : post_copies) {
    int src = buf[c.value];
    if (is_buffer_leaf(g.node(c.value)) && updated_states.count(c.value)) {
      int tmp = prog.add_buffer(kir::BufferKind::Arena, g.node(c.value).type,
                                "tmp%" + std::to_string(c.value), c.value);
      pre.push_back(make_copy(prog, src, tmp));
      src = tmp;
    }
    post.push_back(make_copy(prog, src, c.dst));
  }

  // A kernel or copy whose output has no elements has nothing to do (its iteration space
  // is empty) and is not emitted. A reduction over an empty axis still has output
  // elements and runs: they get the identity (sum 0, max -inf, mean 0/0 = NaN).
  auto empty_output = [&](int buffer) { return prog.buffers[buffer].type.shape.numel() == 0; };
  int copies = 0;
  for (auto& k : pre)
    if (!empty_output(k.out_buffer)) prog.kernels.push_back(std::move(k)), ++copies;
  for (const FusedKernel& fk : plan.kernels) {
    if (empty_output(buf[fk.root])) continue;
    Expected<kir::Kernel> k = lower_fused(g, plan, fk, buf, buf[fk.root], prog);
    if (!k.ok()) return k.error();
    prog.kernels.push_back(std::move(*k));
  }
  for (auto& k : post)
    if (!empty_output(k.out_buffer)) prog.kernels.push_back(std::move(k)), ++copies;
  out.copy_kernels = copies;

  // Lifetimes of arena buffers over the schedule, then the plan.
  std::vector<int> first(prog.buffers.size(), -1), last(prog.buffers.size(), -1);
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    kir::Kernel& k = prog.kernels[i];
    k.reads = kernel_reads(prog, k);
    int o = kernel_output(k);
    if (first[o] < 0) first[o] = static_cast<int>(i);
    last[o] = std::max(last[o], static_cast<int>(i));
    for (int r : k.reads) {
      if (first[r] < 0) first[r] = static_cast<int>(i);
      last[r] = std::max(last[r], static_cast<int>(i));
    }
  }
  std::vector<BufferLifetime> lifetimes;
  std::vector<int> arena_ids;
  for (const kir::Buffer& b : prog.buffers) {
    if (b.kind != kir::BufferKind::Arena) continue;
    arena_ids.push_back(b.id);
    int f = std::max(0, first[b.id]);
    lifetimes.push_back({b.type.bytes(), f, std::max(f, last[b.id])});
  }
  out.memory = plan_memory(lifetimes, 64, opts.arena_guard_bytes);
  for (size_t i = 0; i < arena_ids.size(); ++i)
    prog.buffers[arena_ids[i]].offset = static_cast<int64_t>(out.memory.offsets[i]);
  return out;
}

}  // namespace kiln
