// Loop fusion planning (see fusion.h for the rules). One forward sweep decides
// materialization (a node's inputs are decided before it, so "cheap" can look at them),
// a second sweep grows matmul epilogue chains (which un-materializes the matmul and the
// chain's inner nodes and materializes the chain's end), then each live materialized
// non-leaf value becomes a kernel whose fused set is found by a DFS through
// non-materialized inputs. In-place update epilogues are validated on the finished plan.
#include "passes/fusion.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

namespace kiln {

const char* fused_kind_name(FusedKind k) {
  switch (k) {
    case FusedKind::Elementwise: return "loop";
    case FusedKind::Reduction: return "reduce";
    case FusedKind::Contraction: return "contraction";
    case FusedKind::ScatterAdd: return "scatter_add";
  }
  return "?";
}

bool is_buffer_leaf(const Node& n) {
  if (n.def().has(kBound)) return true;
  return n.op == OpKind::Constant && !splat_value(n);
}

int fusion_cost(const Node& n) {
  if (n.def().has(kLeaf)) return 0;  // a constant, iota, or a buffer load of the user
  switch (n.op) {
    case OpKind::Exp: case OpKind::Log: case OpKind::Sigmoid: return 8;
    case OpKind::Tanh: return 12;
    case OpKind::Pow: case OpKind::Div: case OpKind::Sqrt: return 2;
    case OpKind::RngUniform: case OpKind::RngNormal: return 32;
    default: break;
  }
  // Pooling: one load and one max/add per window element (the lowerings unroll windows);
  // max pooling's gradient loads, compares and selects once per window covering an element.
  if (n.attrs.has("kernel")) {
    const auto& k = n.attrs.ints("kernel");
    const auto& st = n.attrs.ints("stride");
    int64_t cost = k[0] * k[1];
    if (n.op == OpKind::MaxPool2dGrad)
      cost = 3 * ((k[0] + st[0] - 1) / st[0]) * ((k[1] + st[1] - 1) / st[1]);
    return static_cast<int>(std::min<int64_t>(cost, 1 << 20));
  }
  if (n.attrs.has("output_size")) return 16;  // adaptive pooling: a few loads per element
  return 1;
}


namespace {

bool is_pooling(OpKind op) {
  return op == OpKind::MaxPool2d || op == OpKind::MaxPool2dIndices || op == OpKind::AvgPool2d ||
         op == OpKind::AdaptiveAvgPool2d;
}

// Whether n is pooling whose windows overlap (a kernel longer than its stride on some
// axis), so that it reads most of its input more than once.
bool overlapping_windows(const Node& n) {
  if (!is_pooling(n.op) || !n.attrs.has("kernel")) return false;
  const auto& k = n.attrs.ints("kernel");
  const auto& st = n.attrs.ints("stride");
  return k[0] > st[0] || k[1] > st[1];
}

// Inputs of a concat with more than this many inputs are materialized (see plan_fusion).
constexpr size_t kWideConcat = 4;
// A transposed f64 matrix used as the right operand of at least this many matmuls is
// stored (f32 GEMMs share one packed copy instead: codegen/packed_operands.h).
constexpr int kSharedTransposeUses = 8;

bool is_reduction(OpKind op) {
  return op == OpKind::ReduceSum || op == OpKind::ReduceMax || op == OpKind::ReduceMean;
}
bool is_contraction(const Node& n) { return n.def().has(kContraction); }

// permute that swaps exactly the last two axes.
bool is_last2_swap(const Node& n) {
  if (n.op != OpKind::Permute) return false;
  const auto& p = n.attrs.ints("perm");
  int r = static_cast<int>(p.size());
  if (r < 2) return false;
  for (int i = 0; i < r - 2; ++i)
    if (p[i] != i) return false;
  return p[r - 2] == r - 1 && p[r - 1] == r - 2;
}

// A constant with one value everywhere (optionally broadcast); sets *v.
bool splat_value(const Graph& g, NodeId id, double* v) {
  const Node* nd = &g.node(id);
  if (nd->op == OpKind::Broadcast) nd = &g.node(nd->inputs[0].id);
  std::optional<double> s = kiln::splat_value(*nd);
  if (s) *v = *s;
  return s.has_value();
}

// broadcast(s) of a materialized rank-0 value s of `dtype` (the learning-rate state);
// returns s or -1.
NodeId scalar_buffer(const Graph& g, const std::vector<bool>& mat, NodeId id, DType dtype) {
  const Node& nd = g.node(id);
  if (nd.op != OpKind::Broadcast || mat[id]) return -1;
  NodeId s = nd.inputs[0].id;
  const Node& sn = g.node(s);
  return mat[s] && sn.shape().rank() == 0 && sn.dtype() == dtype ? s : -1;
}

bool is_zero_splat(const Graph& g, NodeId id) {
  double v;
  return splat_value(g, id, &v) && v == 0.0;
}

FusionPlan build_plan(const Graph& g, const FusionOptions& opts, const std::set<NodeId>& no_update);

}  // namespace

FusionPlan plan_fusion(const Graph& g, const FusionOptions& options) {
  FusionOptions opts = options;
  if (!opts.fuse) opts.epilogues = opts.prologues = opts.in_place_updates = false;
  // An in-place update kernel must be the last reader of its state and must not read it
  // through an operand; otherwise plan again without that update.
  std::set<NodeId> no_update;
  for (;;) {
    FusionPlan plan = build_plan(g, opts, no_update);
    bool ok = true;
    for (size_t i = 0; i < plan.kernels.size() && ok; ++i) {
      const FusedKernel& k = plan.kernels[i];
      if (k.accumulate < 0) continue;
      NodeId s = k.accumulate;
      bool bad = k.a == s || k.b == s;
      for (NodeId r : k.prologue_reads) bad |= r == s;
      for (size_t j = i + 1; j < plan.kernels.size() && !bad; ++j)
        for (NodeId r : plan.kernels[j].reads) bad |= r == s;
      if (bad) {
        no_update.insert(k.root);
        ok = false;
      }
    }
    if (ok) return plan;
  }
}

namespace {

FusionPlan build_plan(const Graph& g, const FusionOptions& opts, const std::set<NodeId>& no_update) {
  const int n = g.size();
  FusionPlan plan;
  plan.materialized.assign(n, false);
  plan.kernel_of.assign(n, -1);
  std::vector<std::vector<NodeId>> users = g.users();
  for (auto& u : users) {
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
  }
  std::vector<bool> sink(n, false);
  for (const Output& o : g.outputs()) sink[o.value.id] = true;
  for (const StateUpdate& u : g.state_updates()) sink[u.value.id] = true;

  // Liveness: only values reachable from outputs and state updates get kernels.
  std::vector<bool> live(n, false);
  {
    std::vector<NodeId> stack;
    for (NodeId i = 0; i < n; ++i)
      if (sink[i]) stack.push_back(i);
    while (!stack.empty()) {
      NodeId id = stack.back();
      stack.pop_back();
      if (live[id]) continue;
      live[id] = true;
      for (Value v : g.node(id).inputs) stack.push_back(v.id);
    }
  }

  auto& mat = plan.materialized;
  auto is_buf = [&](NodeId id) { return mat[id]; };
  // A view chain a matmul/scatter_add operand can read in place: an optional last-two-axes
  // transpose over any reshapes of a buffer.
  auto view_base = [&](NodeId id, bool* transposed) -> NodeId {
    *transposed = false;
    const Node* nd = &g.node(id);
    if (is_last2_swap(*nd)) {
      *transposed = true;
      id = nd->inputs[0].id;
      if (is_buf(id)) return id;
      nd = &g.node(id);
    }
    while (nd->op == OpKind::Reshape) {
      id = nd->inputs[0].id;
      if (is_buf(id)) return id;
      nd = &g.node(id);
    }
    return -1;
  };
  // A buffer, or a pure index transform of one (costs a load, no arithmetic).
  auto buf_or_view = [&](NodeId id) {
    if (is_buf(id)) return true;
    const Node& in = g.node(id);
    if (in.def().has(kLeaf)) return true;  // splat constant, iota
    switch (in.op) {
      case OpKind::Broadcast: case OpKind::Reshape: case OpKind::Permute: case OpKind::Slice:
        return is_buf(in.inputs[0].id) || g.node(in.inputs[0].id).def().has(kLeaf);
      default: return false;
    }
  };
  // Cheap values are recomputed in every consumer: one cheap op over buffers or views
  // of buffers costs a few loads and one instruction, less than a store plus a load.
  auto cheap = [&](const Node& nd) {
    if (nd.def().has(kLeaf)) return true;
    switch (nd.op) {
      case OpKind::Exp: case OpKind::Log: case OpKind::Tanh: case OpKind::Sigmoid:
      case OpKind::Pow: case OpKind::Sqrt: case OpKind::Div:
      case OpKind::RngUniform: case OpKind::RngNormal: case OpKind::Concat:
        return false;
      default: break;
    }
    if (!nd.def().has(kElementwise) && !nd.def().has(kIndexing) && nd.op != OpKind::OneHot &&
        nd.op != OpKind::Gather)
      return false;
    for (Value in : nd.inputs)
      if (!buf_or_view(in.id)) return false;
    return true;
  };

  for (NodeId id = 0; id < n; ++id) {
    const Node& nd = g.node(id);
    bool m = false;
    if (is_buffer_leaf(nd)) m = true;
    if (sink[id]) m = true;
    if (is_contraction(nd) || nd.op == OpKind::ScatterAdd || is_reduction(nd.op)) m = true;
    // Stored like PyTorch's argmax: max_pool2d_grad reads each index once per window
    // covering an element, and inlining would scan the window again for every read.
    if (nd.op == OpKind::MaxPool2dIndices) m = true;
    if (!opts.fuse && !nd.def().has(kLeaf)) m = true;  // one kernel per op
    const auto& us = users[id];
    bool used_by_reduction = false, expanded = false;
    for (NodeId u : us) {
      const Node& un = g.node(u);
      if (!live[u]) continue;
      if (un.op == OpKind::Matmul || un.op == OpKind::ScatterAdd) {
        // Operands that are views of buffers are read in place (see view_base).
        bool t;
        if (view_base(id, &t) < 0) m = true;
      } else if (is_contraction(un)) {
        m = true;  // convolutions read dense NCHW operands
      }
      if (is_reduction(un.op)) used_by_reduction = true;
      // Overlapping pooling windows read each element several times (2.25 for ResNet's
      // 3x3 stride-2 stem pool): an inlined producer (its batch norm and ReLU) would be
      // computed again for every read.
      if (overlapping_windows(un) && !cheap(nd)) m = true;
      if (un.op == OpKind::Broadcast && un.type.shape.numel() > nd.type.shape.numel())
        expanded = true;
      if (un.op == OpKind::Gather && un.inputs[0].id == id && !cheap(nd)) expanded = true;
      // The transposed operand of a matmul (matmul(transpose(x), y), a weight gradient):
      // x is stored as it is and read transposed in place, rather than a transposed copy
      // computed with x inlined (strided along the copy's vector loop).
      if (is_last2_swap(un) && !cheap(nd))
        for (NodeId uu : users[u])
          if (live[uu] && g.node(uu).op == OpKind::Matmul) m = true;
      // A wide concat picks one of its inputs per element: as plain loads (buffers or
      // views) the pick is one load from a chosen address (codegen/llvm/renderer.cpp),
      // while inlined expressions would all be evaluated for every element.
      if (un.op == OpKind::Concat && un.inputs.size() > kWideConcat && !cheap(nd)) m = true;
    }
    int live_users = 0;
    for (NodeId u : us) live_users += live[u] ? 1 : 0;
    // A transposed f64 weight that many matmuls multiply by (a recurrent layer's W_hh^T,
    // once per time step) is transposed once into a buffer: every GEMM would otherwise
    // transpose it again while packing (f32: codegen/packed_operands.h).
    if (is_last2_swap(nd) && nd.shape().rank() == 2 && nd.dtype() != DType::f32) {
      int products = 0;
      for (NodeId u : us)
        products += live[u] && g.node(u).op == OpKind::Matmul && g.node(u).inputs[1].id == id;
      if (products >= kSharedTransposeUses) m = true;
    }
    if (used_by_reduction && live_users > 1 && !cheap(nd)) m = true;
    if ((live_users > 1 || expanded) && !cheap(nd)) m = true;
    mat[id] = m;
  }

  // Kernel size cap (see fusion.h): cone[id] is the sorted set of nodes a consumer of the
  // non-materialized node id inlines with it (id and its non-materialized producers, not
  // leaves), kept until id's last live user has been visited.
  const int64_t cap = opts.max_kernel_cost;
  if (cap > 0) {
    std::vector<int> cost(n);
    for (NodeId id = 0; id < n; ++id) cost[id] = fusion_cost(g.node(id));
    std::vector<std::vector<NodeId>> cone(n);
    std::vector<int64_t> cone_cost(n, 0);
    std::vector<int> pending(n, 0);  // live users not yet visited
    for (NodeId id = 0; id < n; ++id)
      for (NodeId u : users[id]) pending[id] += live[u] ? 1 : 0;
    std::vector<NodeId> merged, tmp;
    for (NodeId id = 0; id < n; ++id) {
      const Node& nd = g.node(id);
      if (!live[id] || nd.def().has(kLeaf)) continue;
      std::vector<NodeId> ins;
      for (Value v : nd.inputs) ins.push_back(v.id);
      std::sort(ins.begin(), ins.end());
      ins.erase(std::unique(ins.begin(), ins.end()), ins.end());
      if (is_contraction(nd) || nd.op == OpKind::ScatterAdd) {  // operands are buffers
        for (NodeId in : ins)
          if (--pending[in] <= 0) std::vector<NodeId>().swap(cone[in]);
        continue;
      }
      int64_t total = 0;
      auto gather = [&] {  // merged = {id} + the cones of the non-materialized inputs
        merged.assign(1, id);
        for (NodeId in : ins) {
          if (mat[in] || cone[in].empty()) continue;
          tmp.clear();
          std::set_union(merged.begin(), merged.end(), cone[in].begin(), cone[in].end(),
                         std::back_inserter(tmp));
          merged.swap(tmp);
        }
        total = 0;
        for (NodeId x : merged) total += cost[x];
      };
      gather();
      while (total > cap) {
        // Materialize the costliest non-materialized input; it becomes a kernel root.
        NodeId best = -1;
        for (NodeId in : ins)
          if (!mat[in] && !cone[in].empty() && (best < 0 || cone_cost[in] > cone_cost[best]))
            best = in;
        if (best < 0) break;  // id alone costs more than the cap: a kernel of its own
        mat[best] = true;
        gather();
      }
      if (!mat[id]) {
        cone[id] = merged;
        cone_cost[id] = total;
      }
      for (NodeId in : ins)
        if (--pending[in] <= 0) std::vector<NodeId>().swap(cone[in]);
    }
  }

  // Contraction epilogue chains, keyed by the chain's end (the kernel root).
  plan.positive_of.assign(n, -1);
  std::map<NodeId, FusedKernel> chains;
  if (opts.epilogues) {
    std::map<NodeId, NodeId> update_of;  // update value -> state
    for (const StateUpdate& u : g.state_updates()) update_of[u.value.id] = u.state.id;
    auto single_user = [&](NodeId id) -> NodeId {
      if (sink[id]) return -1;
      NodeId r = -1;
      for (NodeId u : users[id]) {
        if (!live[u]) continue;
        if (r >= 0) return -1;
        r = u;
      }
      return r;
    };
    auto other_input = [&](const Node& nd, NodeId x) {
      return nd.inputs[0].id == x ? nd.inputs[1].id : nd.inputs[0].id;
    };
    // The in-place update S -/+ c*C of state S (see fusion.h); false if it does not apply.
    auto grow_update = [&](NodeId id, FusedKernel& ch) {
      const Node& mm = g.node(id);
      double c;
      NodeId cur = id;
      NodeId u = single_user(cur);
      std::vector<NodeId> inner;
      if (u >= 0 && g.node(u).op == OpKind::Mul) {
        NodeId factor = other_input(g.node(u), cur);
        NodeId scale = scalar_buffer(g, mat, factor, mm.dtype());
        if (splat_value(g, factor, &c) || scale >= 0) {
          if (scale >= 0) ch.alpha_scale = scale;
          else ch.alpha = c;
          inner.push_back(u);
          if (scale >= 0) inner.push_back(factor);
          cur = u;
        }
      }
      u = single_user(cur);
      const Node* un = u >= 0 ? &g.node(u) : nullptr;
      if (!opts.in_place_updates || !un || no_update.count(u) || !update_of.count(u) ||
          (un->op != OpKind::Sub && un->op != OpKind::Add) || un->inputs[0].id == un->inputs[1].id)
        return false;
      NodeId s = update_of[u];
      bool sub = un->op == OpKind::Sub;
      if (other_input(*un, cur) != s || (sub && un->inputs[0].id != s) ||
          g.node(s).shape() != mm.shape() || g.node(s).dtype() != mm.dtype())
        return false;
      if (sub) ch.alpha = -ch.alpha;
      ch.accumulate = s;
      inner.push_back(u);
      ch.epilogue = inner;  // computed by alpha/accumulate, listed for the fused set
      return true;
    };
    // Nodes already in some contraction's chain: add(conv_a, conv_b) (two gradient
    // paths meeting) joins the first contraction's chain; the second stays materialized.
    std::set<NodeId> claimed;
    // The elementwise chain after the contraction (see fusion.h).
    auto grow_chain = [&](NodeId id, FusedKernel& ch) {
      const Node& mm = g.node(id);
      NodeId cur = id;
      int64_t cost = 0;
      for (;;) {
        NodeId next = single_user(cur);
        std::vector<NodeId> gts;
        if (next < 0 && !sink[cur]) {  // relu(z) next to gt(z, 0) masks
          NodeId relu = -1;
          bool ok = true;
          for (NodeId x : users[cur]) {
            if (!live[x]) continue;
            const Node& xn = g.node(x);
            if (xn.op == OpKind::Relu && relu < 0) relu = x;
            else if (xn.op == OpKind::Gt && xn.inputs[0].id == cur && is_zero_splat(g, xn.inputs[1].id))
              gts.push_back(x);
            else ok = false;
          }
          if (ok && relu >= 0) next = relu;
        }
        if (next < 0) break;
        const Node& nx = g.node(next);
        if (!nx.def().has(kElementwise) || nx.type != mm.type || claimed.count(next)) break;
        cost += fusion_cost(nx);
        if (opts.max_kernel_cost > 0 && cost > opts.max_kernel_cost) break;
        ch.epilogue.push_back(next);
        cur = next;
        if (!gts.empty()) {  // the masks read relu(z): it must be the kernel's output
          for (NodeId x : gts) plan.positive_of[x] = next;  // (z > 0) == (relu(z) > 0)
          break;
        }
      }
    };
    for (NodeId id = 0; id < n; ++id) {
      const Node& mm = g.node(id);
      if (!is_contraction(mm) || !live[id] || sink[id] || !is_float(mm.dtype())) continue;
      FusedKernel ch;
      ch.contraction = id;
      if (!grow_update(id, ch)) {
        ch = FusedKernel{};
        ch.contraction = id;
        grow_chain(id, ch);
      }
      if (ch.epilogue.empty()) continue;
      claimed.insert(ch.epilogue.begin(), ch.epilogue.end());
      mat[id] = false;
      for (NodeId x : ch.epilogue) mat[x] = false;
      mat[ch.epilogue.back()] = true;
      chains[ch.epilogue.back()] = ch;
    }
  }
  // A reshape stored only because its input was an inlined elementwise value when it was
  // decided (matmul + bias, then reshaped per time step), and that the epilogue chains
  // have since made a contraction's output buffer, is a view of that buffer again:
  // storing it would copy the whole buffer.
  // (Matmul and scatter_add operands read views in place; convolutions need a buffer.)
  for (NodeId id = 0; id < n; ++id) {
    const Node& nd = g.node(id);
    if (!opts.fuse || nd.op != OpKind::Reshape || !mat[id] || !live[id] || sink[id] ||
        !mat[nd.inputs[0].id])
      continue;
    bool dense_operand = false;
    for (NodeId u : users[id])
      dense_operand |= live[u] && is_contraction(g.node(u)) && g.node(u).op != OpKind::Matmul;
    if (!dense_operand) mat[id] = false;
  }

  // Convolution prologues (see fusion.h). elementwise_cone collects the nodes that compute
  // the unmaterialized value v inline (v and its unmaterialized producers) and the
  // materialized values they read; false when one of them is not elementwise, an index
  // view or a splat leaf.
  auto elementwise_cone = [&](NodeId v, std::set<NodeId>& nodes, std::set<NodeId>& reads) {
    bool ok = true;
    std::function<void(NodeId)> visit = [&](NodeId x) {
      if (!ok) return;
      if (mat[x] && x != v) {
        reads.insert(x);
        return;
      }
      if (!nodes.insert(x).second) return;
      const Node& xn = g.node(x);
      const bool leaf = xn.def().has(kLeaf) && !is_buffer_leaf(xn);  // splat constant, iota
      const bool view = xn.op == OpKind::Broadcast || xn.op == OpKind::Reshape;
      if ((!xn.def().has(kElementwise) && !leaf && !view) || plan.positive_of[x] >= 0 ||
          (x == v && !xn.def().has(kElementwise))) {
        ok = false;
        return;
      }
      for (Value in : xn.inputs) visit(in.id);
    };
    visit(v);
    return ok;
  };
  auto is_prologue_conv = [&](const Node& u, NodeId v) {
    return (u.op == OpKind::Conv2d || u.op == OpKind::Conv2dWeightGrad) && u.inputs[0].id == v &&
           u.inputs[1].id != v;
  };
  // Whether the materialized value v becomes the prologue of its convolutions.
  auto prologue_value = [&](NodeId v) {
    const Node& nd = g.node(v);
    if (!live[v] || !mat[v] || sink[v] || is_buffer_leaf(nd) || chains.count(v) ||
        !nd.def().has(kElementwise) || !is_float(nd.dtype()) || nd.shape().rank() != 4)
      return false;
    int convs = 0, pools = 0;
    for (NodeId u : users[v]) {
      const Node& un = g.node(u);
      if (!live[u]) continue;
      if (is_prologue_conv(un, v)) {
        ++convs;
        continue;
      }
      // Overlapping windows would compute v again for every read (see mat above).
      if (overlapping_windows(un)) return false;
      pools += is_pooling(un.op) || is_reduction(un.op);
      // Other users inline v; those that need a buffer, or views that a contraction
      // might read in place, keep it materialized.
      const bool view = un.op == OpKind::Broadcast || un.op == OpKind::Reshape ||
                        un.op == OpKind::Permute || un.op == OpKind::Slice;
      if (is_contraction(un) || un.op == OpKind::ScatterAdd || (view && !mat[u]) ||
          (un.op == OpKind::Concat && un.inputs.size() > kWideConcat))
        return false;
    }
    std::set<NodeId> nodes, reads;
    // Without a convolution to take it as a prologue, a value read by pooling or a
    // reduction (the stem's activation before max pooling, the last block's before the
    // global average pool) is recomputed by its readers all the same.
    if ((convs == 0 && pools == 0) || !elementwise_cone(v, nodes, reads)) return false;
    int64_t cost = 0;
    for (NodeId x : nodes) cost += fusion_cost(g.node(x));
    return cost <= kMaxPrologueCost;
  };
  // In node order, each decided before its users: a residual block's output that adds
  // the previous block's unmaterialized output inlines (recomputes) it, within the cost.
  std::set<NodeId> prologue_values;
  if (opts.prologues)
    for (NodeId id = 0; id < n; ++id)
      if (prologue_value(id)) {
        prologue_values.insert(id);
        mat[id] = false;
      }

  // Kernels, in node order.
  for (NodeId id = 0; id < n; ++id) {
    const Node& nd = g.node(id);
    if (!mat[id] || !live[id] || is_buffer_leaf(nd)) continue;
    FusedKernel k;
    k.root = id;
    std::set<NodeId> fused, reads;
    std::function<void(NodeId)> visit = [&](NodeId v) {
      if (mat[v]) {
        reads.insert(v);
        return;
      }
      if (!fused.insert(v).second) return;
      if (plan.positive_of[v] >= 0) {  // served from the relu output (see fusion.h)
        reads.insert(plan.positive_of[v]);
        return;
      }
      for (Value in : g.node(v).inputs) visit(in.id);
    };
    auto chain = chains.find(id);
    if (is_contraction(nd) || chain != chains.end()) {
      if (chain != chains.end()) {
        k = chain->second;
        k.root = id;
        fused.insert(k.contraction);
        for (NodeId x : k.epilogue)
          if (x != id) fused.insert(x);
        for (NodeId x : {k.accumulate, k.alpha_scale})
          if (x >= 0) reads.insert(x);
        // Other operands of the chain: loads and inlined expressions, as in a loop kernel.
        std::set<NodeId> chain_set(k.epilogue.begin(), k.epilogue.end());
        chain_set.insert(k.contraction);
        if (k.accumulate < 0)
          for (NodeId x : k.epilogue) {
            if (plan.positive_of[x] >= 0) continue;
            for (Value in : g.node(x).inputs)
              if (!chain_set.count(in.id)) visit(in.id);
          }
      } else {
        k.contraction = id;
      }
      const Node& cn = g.node(k.contraction);
      k.kind = FusedKind::Contraction;
      NodeId ops[2];
      bool tr[2] = {false, false};
      for (int i = 0; i < 2; ++i) {
        NodeId in = cn.inputs[i].id;
        if (i == 0 && prologue_values.count(in) && is_prologue_conv(cn, in)) {
          std::set<NodeId> nodes, preads;
          elementwise_cone(in, nodes, preads);
          k.prologue_root = in;
          k.prologue.assign(nodes.begin(), nodes.end());
          k.prologue_reads.assign(preads.begin(), preads.end());
          reads.insert(preads.begin(), preads.end());
          ops[i] = -1;
          continue;
        }
        if (mat[in]) {
          ops[i] = in;
        } else {
          ops[i] = cn.op == OpKind::Matmul ? view_base(in, &tr[i]) : -1;
          KILN_CHECK(ops[i] >= 0, "contraction operand is neither materialized nor a view");
        }
        reads.insert(ops[i]);
      }
      k.a = ops[0];
      k.b = ops[1];
      k.trans_a = tr[0];
      k.trans_b = tr[1];
    } else if (nd.op == OpKind::ScatterAdd) {
      k.kind = FusedKind::ScatterAdd;
      for (int i = 0; i < 2; ++i) {
        NodeId in = nd.inputs[i].id;
        bool t = false;
        NodeId base = mat[in] ? in : view_base(in, &t);
        KILN_CHECK(base >= 0 && !t, "scatter_add operand must be a buffer");
        reads.insert(base);
        (i == 0 ? k.a : k.b) = base;
      }
    } else {
      k.kind = is_reduction(nd.op) ? FusedKind::Reduction : FusedKind::Elementwise;
      if (plan.positive_of[id] >= 0) reads.insert(plan.positive_of[id]);
      else for (Value in : nd.inputs) visit(in.id);
    }
    k.fused.assign(fused.begin(), fused.end());
    k.reads.assign(reads.begin(), reads.end());
    k.cost = fusion_cost(nd);
    for (NodeId f : k.fused) k.cost += fusion_cost(g.node(f));
    plan.kernel_of[id] = static_cast<int>(plan.kernels.size());
    plan.kernels.push_back(std::move(k));
  }
  return plan;
}

}  // namespace

std::string FusionPlan::to_string(const Graph& g) const {
  std::ostringstream os;
  int bufs = 0;
  for (size_t i = 0; i < materialized.size(); ++i) bufs += materialized[i] ? 1 : 0;
  os << "fusion: " << g.size() << " nodes -> " << kernels.size() << " kernels, " << bufs
     << " materialized values\n";
  for (size_t i = 0; i < kernels.size(); ++i) {
    const FusedKernel& k = kernels[i];
    const Node& r = g.node(k.root);
    os << "  k" << i << " " << fused_kind_name(k.kind) << " %" << k.root << " = " << op_name(r.op)
       << " : " << r.type.to_string();
    if (k.kind == FusedKind::Contraction) {
      os << "  (" << op_name(g.node(k.contraction).op);
      if (k.prologue_root >= 0) {
        os << " a=prologue %" << k.prologue_root << " [";
        for (size_t j = 0; j < k.prologue.size(); ++j)
          os << (j ? " " : "") << op_name(g.node(k.prologue[j]).op);
        os << "]";
      } else {
        os << " a=%" << k.a << (k.trans_a ? "^T" : "");
      }
      os << " b=%" << k.b << (k.trans_b ? "^T" : "");
      if (k.contraction != k.root) os << " at %" << k.contraction;
      if (k.alpha != 1.0) os << " alpha=" << k.alpha;
      if (k.alpha_scale >= 0) os << " alpha_scale=%" << k.alpha_scale;
      if (k.accumulate >= 0) {
        os << " +=%" << k.accumulate << " in place";
      } else if (!k.epilogue.empty()) {
        os << " epilogue";
        for (NodeId x : k.epilogue) os << " " << op_name(g.node(x).op);
      }
      os << ")";
    }
    os << "\n    reads";
    for (NodeId v : k.reads) os << " %" << v;
    if (!k.fused.empty()) {
      os << "\n    fuses";
      for (NodeId v : k.fused) os << " %" << v << ":" << op_name(g.node(v).op);
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace kiln
