// Kernel construction for each fused kernel (per-op value lowerings are in the tables of
// codegen/lowerer.h), buffer binding, in-place state updates, copies and the arena plan.
#include "codegen/lower.h"

#include "codegen/concat_in_place.h"
#include "codegen/lower_concat.h"

#include "codegen/lowerer.h"
#include "codegen/packed_operands.h"
#include "codegen/row_epilogues.h"
#include "codegen/row_kernels.h"
#include "codegen/serial_kernels.h"

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

std::vector<ExprId> loop_indices(kir::ExprPool& P, const std::vector<int64_t>& dims) {
  std::vector<ExprId> idx;
  for (size_t d = 0; d < dims.size(); ++d) idx.push_back(P.loop_index(static_cast<int>(d), dims[d]));
  return idx;
}

// The loop nest of a loop kernel over `dims`, where runs of adjacent axes with the same
// `reduced` flag may be coalesced into one loop (a shorter nest with a longer, better
// vectorized innermost loop: a per-channel sum over [N, C, H, W] loops over H*W). `index`
// gives the per-axis indices the lowering sees, delinearized from the coalesced loops;
// loads of same-shaped buffers linearize them again and the pool folds the div/mod away
// (ExprPool::recombine_div_mod).
struct LoopNest {
  std::vector<int64_t> dims;
  std::vector<bool> reduced;
  std::vector<ExprId> index;  // one per original axis
};
LoopNest loop_nest(kir::ExprPool& P, const std::vector<int64_t>& dims,
                   const std::vector<bool>& reduced, bool coalesce) {
  LoopNest n;
  std::vector<std::pair<size_t, size_t>> groups;  // [first, last] original axes
  // Axes of extent 1 get no loop (their index is 0) unless every axis has extent 1: a
  // trailing one would otherwise become the innermost loop and leave the code scalar
  // (a per-channel sum over [N, C, 1, 1] walking each channel image by image).
  bool all_unit = std::all_of(dims.begin(), dims.end(), [](int64_t e) { return e == 1; });
  n.index.assign(dims.size(), P.index(0));
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1 && !all_unit) continue;
    if (coalesce && !groups.empty() && reduced[groups.back().second] == reduced[d])
      groups.back().second = d;
    else
      groups.push_back({d, d});
  }
  for (const auto& [first, last] : groups) {
    int64_t extent = 1;
    for (size_t d = first; d <= last; ++d) extent *= dims[d];
    ExprId i = P.loop_index(static_cast<int>(n.dims.size()), extent);
    n.dims.push_back(extent);
    n.reduced.push_back(reduced[first]);
    int64_t inner = 1;
    for (size_t d = last + 1; d-- > first;) {
      ExprId q = inner == 1 ? i : P.div(i, inner);
      n.index[d] = d == first ? q : P.mod(q, dims[d]);
      inner *= dims[d];
    }
  }
  return n;
}

// i64 divisions and remainders reachable from the roots: what coalescing may cost.
int count_div_mod(const kir::ExprPool& P, std::initializer_list<ExprId> roots) {
  int count = 0;
  for (ExprId r : roots)
    P.for_each_reachable(r, [&](ExprId, const kir::Expr& e) {
      count += e.op == kir::EOp::Binary && e.dtype == DType::i64 &&
               (e.sub == uint8_t(BOp::Div) || e.sub == uint8_t(BOp::Mod));
    });
  return count;
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
  kir::LoopKernel l;
  l.dims = {std::max<int64_t>(1, t.shape.numel())};
  l.reduced = {false};
  ExprId i = prog.pool.loop_index(0, l.dims[0]);
  l.value = prog.pool.load(src, t.dtype, i);
  l.out_offset = i;
  l.out_buffer = dst;
  l.out_dtype = t.dtype;
  kir::Kernel k;
  k.body = std::move(l);
  k.name = "copy_b" + std::to_string(src) + "_to_b" + std::to_string(dst);
  return k;
}

kir::LoopKernel lower_elementwise(const Graph& g, const FusionPlan& plan, const FusedKernel& fk,
                                  const std::vector<int>& buf, kir::ExprPool& P) {
  const Node& root = g.node(fk.root);
  const Shape& s = root.shape();
  kir::LoopKernel k;
  if (s.numel() == 0) {
    // An empty iteration space: a well-formed kernel that does nothing (lower_graph
    // drops kernels with empty outputs; the value is never computed).
    k.dims = {0};
    k.reduced = {false};
    k.value = P.constant(root.dtype(), 0.0);
    k.out_offset = P.index(0);
    return k;
  }
  bool flat = flat_ok(g, fk, buf) || s.rank() == 0;
  if (flat) {
    k.dims = {std::max<int64_t>(1, s.numel())};
    k.reduced = {false};
    Lowerer L(g, buf, plan.positive_of, P, fk.root, true);
    ExprId i = P.loop_index(0, k.dims[0]);
    k.value = L.compute(fk.root, {i});
    k.out_offset = s.numel() <= 1 ? P.index(0) : i;
    return k;
  }
  // Coalesced into one loop when that costs no index arithmetic (see LoopNest).
  auto lower = [&](bool coalesce) {
    kir::LoopKernel l;
    LoopNest nest = loop_nest(P, s.dims, std::vector<bool>(s.rank(), false), coalesce);
    l.dims = nest.dims;
    l.reduced = nest.reduced;
    Lowerer L(g, buf, plan.positive_of, P, fk.root, false);
    l.value = L.compute(fk.root, nest.index);
    l.out_offset = L.linear(s, nest.index);
    return l;
  };
  kir::LoopKernel nested = lower(false);
  if (s.rank() < 2) return nested;
  kir::LoopKernel coalesced = lower(true);
  bool cheaper = count_div_mod(P, {coalesced.value, coalesced.out_offset}) <=
                 count_div_mod(P, {nested.value, nested.out_offset});
  return cheaper ? coalesced : nested;
}

kir::LoopKernel lower_reduction(const Graph& g, const FusionPlan& plan, const FusedKernel& fk,
                                const std::vector<int>& buf, kir::ExprPool& P) {
  const Node& root = g.node(fk.root);
  const Shape& is = g.type(root.inputs[0]).shape;
  std::vector<int64_t> dims = is.rank() == 0 ? std::vector<int64_t>{1} : is.dims;
  std::vector<bool> reduced(dims.size(), false);
  for (int64_t a : root.attrs.ints("axes")) reduced[a] = true;
  bool any = std::find(reduced.begin(), reduced.end(), true) != reduced.end();
  auto lower = [&](bool coalesce) {
    kir::LoopKernel k;
    LoopNest nest = loop_nest(P, dims, reduced, coalesce);
    k.dims = nest.dims;
    k.reduced = nest.reduced;
    // Reducing only axes of extent 1 (which get no loop) copies.
    const bool loops_reduce = std::find(k.reduced.begin(), k.reduced.end(), true) != k.reduced.end();
    k.reduce = !any || !loops_reduce ? kir::ReduceOp::None
               : root.op == OpKind::ReduceSum ? kir::ReduceOp::Sum
               : root.op == OpKind::ReduceMax ? kir::ReduceOp::Max
                                              : kir::ReduceOp::Mean;
    Lowerer L(g, buf, plan.positive_of, P, fk.root, false);
    k.value = L.at(root.inputs[0].id, is.rank() == 0 ? std::vector<ExprId>{} : nest.index);
    // Output offset: row-major over the kept loops (reduced loops contribute 0).
    ExprId off = P.index(0);
    int64_t stride = 1;
    for (int d = static_cast<int>(k.dims.size()) - 1; d >= 0; --d) {
      if (k.reduced[d]) continue;
      off = P.add(off, P.mul(P.loop_index(d, k.dims[d]), stride));
      stride *= k.dims[d];
    }
    k.out_offset = off;
    return k;
  };
  kir::LoopKernel nested = lower(false);
  bool mergeable = false;  // some adjacent axes share their reduced flag
  for (size_t d = 1; d < reduced.size(); ++d) mergeable |= reduced[d] == reduced[d - 1];
  if (!mergeable) return nested;
  kir::LoopKernel coalesced = lower(true);
  bool cheaper = count_div_mod(P, {coalesced.value}) <= count_div_mod(P, {nested.value});
  return cheaper ? coalesced : nested;
}

// Integer matmul: a loop kernel over [batch..., M, N, K] reducing K.
kir::LoopKernel lower_integer_matmul(const Graph& g, const FusionPlan& plan, const FusedKernel& fk,
                                     const std::vector<int>& buf, kir::ExprPool& P) {
  const Node& root = g.node(fk.root);
  KILN_CHECK(fk.contraction == fk.root, "integer matmuls have no epilogue");
  const Shape& os = root.shape();
  int r = os.rank();
  kir::LoopKernel k;
  k.dims = os.dims;
  k.dims.push_back(g.type(root.inputs[0]).shape[r - 1]);
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
  k.value = P.binary(BOp::Mul, L.at(root.inputs[0].id, ai), L.at(root.inputs[1].id, bi));
  std::vector<ExprId> oi(idx.begin(), idx.begin() + r);
  k.out_offset = L.linear(os, oi);
  return k;
}

// A contraction and its epilogue: the chain from the contraction to the root, computed
// at every element of the GEMM view with the contraction served as a load of the output.
kir::ContractionKernel lower_contraction(const Graph& g, const FusionPlan& plan,
                                         const FusedKernel& fk, const std::vector<int>& buf,
                                         int out_buffer, kir::ExprPool& P) {
  const Node& cn = g.node(fk.contraction);
  const ContractionLowering* cl = contraction_lowering(cn.op);
  KILN_CHECK(cl != nullptr, std::string("no contraction lowering for ") + op_name(cn.op));
  kir::ContractionKernel k;
  k.op = cl->op;
  k.dtype = cn.dtype();
  cl->geometry(g, cn, k);
  k.a = fk.a >= 0 ? buf[fk.a] : -1;  // -1: computed by the prologue
  k.b = buf[fk.b];
  k.out = out_buffer;
  k.trans_a = fk.trans_a;
  k.trans_b = fk.trans_b;
  k.alpha = fk.alpha;
  k.accumulate = fk.accumulate >= 0;
  k.alpha_scale = fk.alpha_scale >= 0 ? buf[fk.alpha_scale] : -1;
  KILN_CHECK((k.a >= 0 || fk.prologue_root >= 0) && k.b >= 0, "contraction operands need buffers");
  if (fk.prologue_root >= 0) {
    lower_prologue(g, buf, plan.positive_of, fk.prologue_root, k, P);
    k.prologue_ops = fk.prologue;
  }
  KILN_CHECK(!k.accumulate || buf[fk.accumulate] == out_buffer,
             "in-place update epilogue must write its state buffer");
  if (fk.accumulate >= 0 || fk.epilogue.empty()) return k;
  Lowerer L(g, buf, plan.positive_of, P, fk.root, false);
  std::array<ExprId, 3> v;
  for (int d = 0; d < 3; ++d) v[d] = P.loop_index(d, k.view[d]);
  const Shape& os = cn.shape();
  std::vector<ExprId> idx = cl->output_index(P, k, os, v);
  ExprId lin = P.add(P.mul(P.add(P.mul(v[0], k.view[1]), v[1]), k.view[2]), v[2]);
  L.know_linear(os, idx, lin);
  L.serve(fk.contraction, [&, lin](const std::vector<ExprId>&) {
    return P.load(out_buffer, k.dtype, lin);
  });
  k.epilogue = L.compute(fk.root, idx);
  k.epilogue_offset = lin;
  k.epilogue_ops = fk.epilogue;
  return k;
}

Expected<kir::Kernel> lower_fused(const Graph& g, const FusionPlan& plan, const FusedKernel& fk,
                                  const std::vector<int>& buf, int out_buffer,
                                  kir::KernelProgram& prog) {
  kir::ExprPool& P = prog.pool;
  const Node& root = g.node(fk.root);
  kir::Kernel k;
  k.root = fk.root;
  k.name = std::string(op_name(root.op)) + "_" + std::to_string(fk.root);
  auto loop = [&](kir::LoopKernel l) {
    l.out_buffer = out_buffer;
    l.out_dtype = root.dtype();
    k.body = std::move(l);
  };
  switch (fk.kind) {
    case FusedKind::Elementwise: loop(lower_elementwise(g, plan, fk, buf, P)); return k;
    case FusedKind::Reduction: loop(lower_reduction(g, plan, fk, buf, P)); return k;
    case FusedKind::Contraction:
      if (!is_float(root.dtype())) {
        loop(lower_integer_matmul(g, plan, fk, buf, P));
        return k;
      }
      k.body = lower_contraction(g, plan, fk, buf, out_buffer, P);
      k.name = std::string(op_name(g.node(fk.contraction).op)) + "_" + std::to_string(fk.root);
      return k;
    case FusedKind::ScatterAdd: {
      kir::ScatterAddKernel ss;
      ss.indices = buf[fk.a];
      ss.updates = buf[fk.b];
      ss.out = out_buffer;
      ss.index_dtype = g.node(fk.a).dtype();
      ss.dtype = root.dtype();
      ss.count = g.node(fk.a).shape().numel();
      ss.rows = root.attrs.i("rows");
      ss.row_size = ss.rows == 0 ? 0 : root.shape().numel() / ss.rows;
      k.body = ss;
      return k;
    }
  }
  return Error("unknown fused kernel kind");
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
  fopts.epilogues = opts.epilogues;
  fopts.in_place_updates = opts.in_place_updates;
  fopts.fuse = opts.fusion;
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

  // Concatenations by placement: the stacked buffer, and its pieces as slices of it;
  // the stacking kernels are not run.
  std::vector<bool> placed(plan.kernels.size(), false);
  {
    for (const ConcatPlacement& c : find_concat_placements(g, plan, buf)) {
      placed[c.kernel] = true;
      buf[c.root] = prog.add_buffer(kir::BufferKind::Arena, g.node(c.root).type,
                                    "%" + std::to_string(c.root), c.root);
      for (const auto& [piece, offset] : c.pieces) {
        buf[piece] = prog.add_buffer(kir::BufferKind::Arena, g.node(piece).type,
                                     "%" + std::to_string(piece), piece);
        prog.buffers[buf[piece]].alias_of = buf[c.root];
        prog.buffers[buf[piece]].alias_offset = offset;
      }
      out.placed_concats++;
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
    if (!empty_output(k.output())) prog.kernels.push_back(std::move(k)), ++copies;
  for (size_t ki = 0; ki < plan.kernels.size(); ++ki) {
    const FusedKernel& fk = plan.kernels[ki];
    if (placed[ki] || empty_output(buf[fk.root])) continue;
    if (lower_as_concat_blocks(g, plan, fk)) {
      for (kir::Kernel& k : lower_concat_blocks(g, plan, fk, buf, buf[fk.root], prog.pool))
        prog.kernels.push_back(std::move(k));
      continue;
    }
    Expected<kir::Kernel> k = lower_fused(g, plan, fk, buf, buf[fk.root], prog);
    if (!k.ok()) return k.error();
    prog.kernels.push_back(std::move(*k));
  }
  for (auto& k : post)
    if (!empty_output(k.output())) prog.kernels.push_back(std::move(k)), ++copies;
  out.copy_kernels = copies;
  share_packed_operands(prog);
  if (opts.fusion) {
    merge_row_epilogues(prog);  // on GEMMs with a shared packed B
    merge_row_kernels(prog);
    if (opts.serial_groups) merge_serial_kernels(prog);  // what runs on one thread anyway
  }

  // Lifetimes of arena buffers over the schedule, then the plan.
  std::vector<int> first(prog.buffers.size(), -1), last(prog.buffers.size(), -1);
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    kir::Kernel& k = prog.kernels[i];
    k.reads = kir::kernel_reads(prog, k);
    for (int o : k.outputs()) {
      if (first[o] < 0) first[o] = static_cast<int>(i);
      last[o] = std::max(last[o], static_cast<int>(i));
    }
    for (int r : k.reads) {
      if (first[r] < 0) first[r] = static_cast<int>(i);
      last[r] = std::max(last[r], static_cast<int>(i));
    }
  }
  // A piece of a placed concat keeps the whole stacked buffer alive.
  for (const kir::Buffer& b : prog.buffers) {
    if (b.alias_of < 0 || first[b.id] < 0) continue;
    const int p = b.alias_of;
    first[p] = first[p] < 0 ? first[b.id] : std::min(first[p], first[b.id]);
    last[p] = std::max(last[p], last[b.id]);
  }
  std::vector<BufferLifetime> lifetimes;
  std::vector<int> arena_ids;
  for (const kir::Buffer& b : prog.buffers) {
    if (b.kind != kir::BufferKind::Arena || b.alias_of >= 0) continue;
    arena_ids.push_back(b.id);
    int f = std::max(0, first[b.id]);
    lifetimes.push_back({b.type.bytes(), f, std::max(f, last[b.id])});
  }
  out.memory = plan_memory(lifetimes, 64, opts.arena_guard_bytes);
  for (size_t i = 0; i < arena_ids.size(); ++i)
    prog.buffers[arena_ids[i]].offset = static_cast<int64_t>(out.memory.offsets[i]);
  for (kir::Buffer& b : prog.buffers)
    if (b.alias_of >= 0) b.offset = prog.buffers[b.alias_of].offset + b.alias_offset;
  return out;
}

}  // namespace kiln
