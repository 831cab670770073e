// simplify: constant folding, CSE, algebraic identities, DCE.
//
// Rewrites never change results for finite or non-finite inputs (no fast-math):
// x*0 => 0 is NOT applied (NaN*0 = NaN); x*1 => x, x+0 => x, x-0 => x, x/1 => x are.
// stop_gradient(x) is never forwarded to x: simplify may run before autodiff, and the
// node is what tells autodiff to stop (it costs nothing at run time: it fuses away).
#include "passes/simplify.h"

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
    changed |= eliminate_common_subexpressions(g);
    changed |= eliminate_dead_code(g);
    any |= changed;
    if (!changed) break;
  }
  return any;
}

}  // namespace kiln
