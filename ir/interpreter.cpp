// Reference interpreter: evaluates every node in creation (= topological) order with
// its registry reference fn, holding all values as doubles and rounding each result to
// its dtype. Binds inputs/parameters/states from the feeds (parameters and states fall
// back to their initial values, ir/state.h), then collects outputs and the new
// values of updated states.
#include "ir/interpreter.h"

#include "ir/leaf_state.h"
#include "ir/ops/common.h"

namespace kiln {

static std::string node_label(const Node& n) {
  std::string s = "%" + std::to_string(n.id) + " " + op_name(n.op);
  if (!n.name.empty()) s += " \"" + n.name + "\"";
  if (n.loc.known()) s += " (" + n.loc.to_string() + ")";
  return s;
}

Expected<RefTensor> evaluate_node(const Node& node, std::span<const RefTensor* const> inputs) {
  const OpDef& def = node.def();
  if (inputs.size() != node.inputs.size())
    return Error(node_label(node) + ": expected " + std::to_string(node.inputs.size()) +
                 " input values, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (static_cast<int64_t>(inputs[i]->data.size()) != inputs[i]->type.shape.numel())
      return Error(node_label(node) + ": input " + std::to_string(i) + " holds " +
                   std::to_string(inputs[i]->data.size()) + " values for " +
                   inputs[i]->type.to_string());
  }
  RefTensor out;
  out.type = node.type;
  out.data.assign(static_cast<size_t>(node.type.shape.numel()), 0.0);
  Status st = def.reference(node, inputs, out);
  if (!st.ok()) return st.error().wrap(node_label(node));
  KILN_CHECK(static_cast<int64_t>(out.data.size()) == node.type.shape.numel(),
             std::string("reference of ") + def.name + " produced the wrong element count");
  // Integer arithmetic wraps, like generated code (casts saturated in their reference).
  for (double& v : out.data) v = wrap_to_dtype(out.type.dtype, v);
  return out;
}

static Expected<RefTensor> bind_leaf(const Node& n, const std::map<std::string, RefTensor>& feeds,
                                     uint64_t init_seed) {
  auto it = feeds.find(n.name);
  if (it != feeds.end()) {
    const RefTensor& fed = it->second;
    if (fed.type != n.type)
      return Error(node_label(n) + ": fed " + fed.type.to_string() + ", expected " +
                   n.type.to_string());
    if (static_cast<int64_t>(fed.data.size()) != n.type.shape.numel())
      return Error(node_label(n) + ": fed " + std::to_string(fed.data.size()) + " values for " +
                   n.type.to_string());
    RefTensor t = fed;
    for (double& v : t.data) v = round_to_dtype(t.type.dtype, v);
    return t;
  }
  if (n.op == OpKind::Input) return Error(node_label(n) + ": input not fed");
  Expected<LeafState> st = leaf_state(n);
  if (!st.ok()) return st.error().wrap(node_label(n));
  return RefTensor{n.type, initial_values(st->init, n.type, n.name, init_seed)};
}

Expected<InterpreterResult> interpret(const Graph& g, const std::map<std::string, RefTensor>& feeds,
                                      uint64_t init_seed) {
  InterpreterResult res;
  res.values.resize(g.nodes().size());
  std::vector<const RefTensor*> ins;
  for (const Node& n : g.nodes()) {
    if (n.def().has(kBound)) {
      res.values[n.id] = KILN_TRY(bind_leaf(n, feeds, init_seed));
      continue;
    }
    ins.clear();
    for (Value v : n.inputs) {
      if (!v.valid() || v.id >= n.id)
        return Error(node_label(n) + ": input %" + std::to_string(v.id) +
                     " is not an earlier node");
      ins.push_back(&res.values[v.id]);
    }
    res.values[n.id] = KILN_TRY(evaluate_node(n, ins));
  }
  for (const Output& o : g.outputs()) {
    if (!o.value.valid() || o.value.id >= g.size())
      return Error("output \"" + o.name + "\" refers to a missing node");
    res.outputs[o.name] = res.values[o.value.id];
  }
  for (const StateUpdate& u : g.state_updates()) {
    if (!u.state.valid() || u.state.id >= g.size() || !u.value.valid() || u.value.id >= g.size())
      return Error("state update refers to a missing node");
    res.states[g.node(u.state).name] = res.values[u.value.id];
  }
  return res;
}

}  // namespace kiln
