// simplify: constant folding, CSE, algebraic identities, DCE.
//
// Rewrites never change results for finite or non-finite inputs (no fast-math):
// x*0 => 0 is NOT applied (NaN*0 = NaN); x*1 => x, x+0 => x, x-0 => x, x/1 => x are.
// stop_gradient(x) is never forwarded to x: simplify may run before autodiff, and the
// node is what tells autodiff to stop (it costs nothing at run time: it fuses away).
#include "passes/simplify.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "ir/interpreter.h"

namespace kiln {

namespace {

bool is_splat_constant(const Node& n, double* value = nullptr) {
  std::optional<double> s = splat_value(n);
  if (s && value) *value = *s;
  return s.has_value();
}

bool is_constant_equal(const Node& n, double x) {
  double v;
  return is_splat_constant(n, &v) && v == x;
}

RefTensor constant_value(const Node& n) {
  RefTensor t;
  t.type = n.type;
  double v;
  if (is_splat_constant(n, &v)) {
    t.data.assign(static_cast<size_t>(n.type.shape.numel()), v);
  } else {
    t.data = n.attrs.floats("data");
  }
  return t;
}

// Replaces node `id` in place by a constant holding `t`.
void make_constant(Node& n, const RefTensor& t) {
  n.op = OpKind::Constant;
  n.inputs.clear();
  n.attrs = AttrMap{};
  bool splat = !t.data.empty();
  for (double d : t.data) splat &= (d == t.data[0]) || (d != d && t.data[0] != t.data[0]);
  if (splat || t.data.empty()) {
    n.attrs.set("value", t.data.empty() ? 0.0 : t.data[0]);
  } else {
    n.attrs.set("data", t.data);
  }
}

}  // namespace

Expected<bool> fold_constants(Graph& g, int64_t max_elements, int64_t max_input_elements) {
  bool changed = false;
  for (Node& n : g.mutable_nodes()) {
    const OpDef& def = n.def();
    if (def.has(kLeaf) || def.has(kRandom) || n.inputs.empty()) continue;
    bool all_const = true;
    for (Value v : n.inputs) all_const &= g.node(v).op == OpKind::Constant;
    if (!all_const) continue;
    // Splat in, elementwise/broadcast/reshape out: stays a splat, fold at any size.
    bool splat_result = true;
    for (Value v : n.inputs) splat_result &= is_splat_constant(g.node(v));
    splat_result &= def.has(kElementwise) || n.op == OpKind::Broadcast ||
                    n.op == OpKind::Reshape || n.op == OpKind::Permute ||
                    n.op == OpKind::Slice || n.op == OpKind::Cast;
    if (!splat_result) {
      // Element-by-element folding materialises the inputs and the result: small only.
      bool small = n.type.shape.numel() <= max_elements;
      for (Value v : n.inputs) small &= g.node(v).type.shape.numel() <= max_input_elements;
      if (!small) continue;
    }
    if (splat_result) {
      // Evaluate on one element: every splat op maps value -> value.
      std::vector<RefTensor> ins;
      for (Value v : n.inputs) {
        RefTensor t;
        t.type = TensorType{g.node(v).type.dtype, Shape{}};
        t.data = {*splat_value(g.node(v))};
        ins.push_back(std::move(t));
      }
      Node scalar_node = n;
      scalar_node.type.shape = Shape{};
      if (!def.has(kElementwise) && n.op != OpKind::Cast) {
        // Data movement of a splat is the same splat.
        RefTensor out;
        out.type = n.type;
        out.data = {ins[0].data[0]};
        make_constant(n, out);
        changed = true;
        continue;
      }
      std::vector<const RefTensor*> ptrs;
      for (auto& t : ins) ptrs.push_back(&t);
      Expected<RefTensor> r = evaluate_node(scalar_node, ptrs);
      if (!r.ok()) continue;  // leave it to run time, where the error is reported
      make_constant(n, *r);
      changed = true;
      continue;
    }
    std::vector<RefTensor> ins;
    for (Value v : n.inputs) ins.push_back(constant_value(g.node(v)));
    std::vector<const RefTensor*> ptrs;
    for (auto& t : ins) ptrs.push_back(&t);
    Expected<RefTensor> r = evaluate_node(n, ptrs);
    if (!r.ok()) continue;
    make_constant(n, *r);
    changed = true;
  }
  return changed;
}

bool eliminate_common_subexpressions(Graph& g) {
  // Key: op, inputs, attrs (printed), type. Named leaves and random ops are never merged.
  std::map<std::tuple<int, std::vector<NodeId>, std::string, std::string>, NodeId> seen;
  bool changed = false;
  for (Node& n : g.mutable_nodes()) {
    const OpDef& def = n.def();
    if (def.has(kRandom) || def.has(kBound)) continue;
    std::vector<NodeId> ins;
    for (Value v : n.inputs) ins.push_back(v.id);
    std::string attrs;
    for (const auto& [k, v] : n.attrs.items()) attrs += k + "=" + attr_to_string(v) + ";";
    auto key = std::make_tuple(static_cast<int>(n.op), ins, attrs, n.type.to_string());
    auto [it, inserted] = seen.emplace(key, n.id);
    if (!inserted) {
      g.replace_all_uses(Value{n.id}, Value{it->second});
      changed = true;
    }
  }
  return changed;
}

bool apply_algebraic_identities(Graph& g) {
  bool changed = false;
  auto forward = [&](Node& n, Value to) {
    if (g.type(to) != n.type) return;
    g.replace_all_uses(Value{n.id}, to);
    changed = true;
  };
  for (Node& n : g.mutable_nodes()) {
    auto in = [&](int i) -> const Node& { return g.node(n.inputs[i]); };
    switch (n.op) {
      case OpKind::Add:  // x + 0 => x, 0 + x => x
        if (is_constant_equal(in(1), 0.0)) forward(n, n.inputs[0]);
        else if (is_constant_equal(in(0), 0.0)) forward(n, n.inputs[1]);
        break;
      case OpKind::Sub:  // x - 0 => x
        if (is_constant_equal(in(1), 0.0)) forward(n, n.inputs[0]);
        break;
      case OpKind::Mul:  // x * 1 => x, 1 * x => x
        if (is_constant_equal(in(1), 1.0)) forward(n, n.inputs[0]);
        else if (is_constant_equal(in(0), 1.0)) forward(n, n.inputs[1]);
        break;
      case OpKind::Div:  // x / 1 => x
        if (is_constant_equal(in(1), 1.0)) forward(n, n.inputs[0]);
        break;
      case OpKind::Neg:  // -(-x) => x
        if (in(0).op == OpKind::Neg) forward(n, in(0).inputs[0]);
        break;
      case OpKind::Cast:  // cast(x: T) to T => x
      case OpKind::Broadcast:  // broadcast to its own shape => x
        if (in(0).type == n.type) forward(n, n.inputs[0]);
        break;
      case OpKind::Pad:  // pad with no padding (its own type) => x
        if (in(0).type == n.type) forward(n, n.inputs[0]);
        break;
      case OpKind::Reshape:  // reshape(reshape(x)) => reshape(x); reshape to own shape => x
        if (in(0).type == n.type) {
          forward(n, n.inputs[0]);
        } else if (in(0).op == OpKind::Reshape) {
          n.inputs[0] = in(0).inputs[0];
          changed = true;
        }
        break;
      case OpKind::Permute: {
        // permute(permute(x, p), q) => permute(x, p∘q): out[i] = in[p[q[i]]]
        if (in(0).op == OpKind::Permute) {
          const auto& p = in(0).attrs.ints("perm");
          const auto& q = n.attrs.ints("perm");
          std::vector<int64_t> pq(q.size());
          for (size_t i = 0; i < q.size(); ++i) pq[i] = p[q[i]];
          Value x = in(0).inputs[0];
          n.attrs.set("perm", pq);
          n.inputs[0] = x;
          changed = true;
        }
        bool identity = true;
        const auto& perm = n.attrs.ints("perm");
        for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
        if (identity) forward(n, n.inputs[0]);
        break;
      }
      default: break;
    }
  }
  return changed;
}

namespace {

// A value seen as pieces along one axis, the rest zeros: pad(x) (zero border on that axis
// only) is [x at low], concat(x, y, ...) is [x at 0, y at len(x), ...], and
// pad(concat(...)) both. Zero constants among the pieces are left out (they are zeros).
struct Pieces {
  int axis = -1;
  std::vector<std::pair<int64_t, Value>> at;  // (start along axis, value), non-zero pieces
};

bool is_zero_splat(const Node& n) {
  return n.op == OpKind::Constant && n.attrs.has("value") && n.attrs.f("value") == 0.0;
}

// Whether `v` has that form; `axis` >= 0 requires that axis.
bool as_pieces(const Graph& g, Value v, Pieces* out) {
  const Node& n = g.node(v);
  int64_t base = 0;
  const Node* cat = &n;
  if (n.op == OpKind::Pad) {
    if (n.attrs.f("value") != 0.0) return false;
    const auto &low = n.attrs.ints("low"), &high = n.attrs.ints("high");
    int axis = -1;
    for (size_t d = 0; d < low.size(); ++d) {
      if (low[d] == 0 && high[d] == 0) continue;
      if (axis >= 0 || low[d] < 0 || high[d] < 0) return false;
      axis = static_cast<int>(d);
    }
    if (axis < 0) return false;
    out->axis = axis;
    base = low[axis];
    cat = &g.node(n.inputs[0]);
    if (cat->op != OpKind::Concat || cat->attrs.i("axis") != axis) {
      out->at = {{base, n.inputs[0]}};
      return true;
    }
  } else if (n.op == OpKind::Concat) {
    out->axis = static_cast<int>(n.attrs.i("axis"));
  } else {
    return false;
  }
  out->at.clear();
  for (Value in : cat->inputs) {
    const Node& p = g.node(in);
    if (!is_zero_splat(p)) out->at.push_back({base, in});
    base += p.shape()[out->axis];
  }
  return true;
}

}  // namespace

// a + b where a and b hold non-zero values at disjoint places along one axis (pads of
// slice gradients, or concats already merged) => one concat with zeros for the gaps
// (the gradient of slices that tile a tensor, e.g. the time steps of a recurrent layer's
// input projection, becomes one concat instead of a sum of full-size pads); a concat of
// a concat on the same axis is flattened.
bool merge_disjoint_pads(Graph& g) {
  bool changed = false;
  const int n = g.size();
  for (NodeId id = 0; id < n; ++id) {
    const Node node = g.node(id);  // copies: adding nodes moves the storage
    if (node.op == OpKind::Concat) {
      std::vector<Value> flat;
      bool nested = false;
      for (Value v : node.inputs) {
        const Node& in = g.node(v);
        if (in.op == OpKind::Concat && in.attrs.i("axis") == node.attrs.i("axis")) {
          flat.insert(flat.end(), in.inputs.begin(), in.inputs.end());
          nested = true;
        } else {
          flat.push_back(v);
        }
      }
      if (nested) {
        g.node(Value{id}).inputs = flat;
        changed = true;
      }
      continue;
    }
    if (node.op != OpKind::Add) continue;
    Pieces a, b;
    if (!as_pieces(g, node.inputs[0], &a) || !as_pieces(g, node.inputs[1], &b) ||
        a.axis != b.axis)
      continue;
    const int k = a.axis;
    std::vector<std::pair<int64_t, Value>> all = a.at;
    all.insert(all.end(), b.at.begin(), b.at.end());
    std::sort(all.begin(), all.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<Value> pieces;
    int64_t at = 0;
    bool overlap = false;
    auto zeros = [&](int64_t len) -> bool {  // a zero piece of `len` rows along k
      if (len <= 0) return true;
      Shape zs = node.shape();
      zs.dims[k] = len;
      Expected<Value> z = g.add_leaf(OpKind::Constant, TensorType{node.dtype(), zs},
                                     AttrMap{{"value", 0.0}}, node.loc);
      if (z.ok()) pieces.push_back(*z);
      return z.ok();
    };
    for (const auto& [start, v] : all) {
      if (start < at) overlap = true;
      if (overlap || !zeros(start - at)) break;
      pieces.push_back(v);
      at = start + g.node(v).shape()[k];
    }
    if (overlap || pieces.empty() || !zeros(node.shape()[k] - at)) continue;
    Expected<Value> cat = g.add(OpKind::Concat, pieces, AttrMap{{"axis", int64_t{k}}}, node.loc);
    if (!cat.ok()) continue;
    g.replace_all_uses(Value{id}, *cat);
    changed = true;
  }
  if (changed) g.compact();
  return changed;
}

bool eliminate_dead_code(Graph& g) {
  int before = g.size();
  g.compact();
  return g.size() != before;
}

Expected<bool> SimplifyPass::run(Graph& g) {
  bool any = false;
  for (int iter = 0; iter < 8; ++iter) {
    bool changed = KILN_TRY(
        fold_constants(g, opts_.max_folded_elements, opts_.max_folded_input_elements));
    changed |= apply_algebraic_identities(g);
    changed |= merge_disjoint_pads(g);
    changed |= merge_transposed_products(g);
    changed |= transpose_products(g);
    changed |= one_hot_products(g);
    changed |= eliminate_common_subexpressions(g);
    changed |= eliminate_dead_code(g);
    any |= changed;
    if (!changed) break;
  }
  return any;
}

}  // namespace kiln
