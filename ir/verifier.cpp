// Graph verifier: structural checks (dense ids, topological inputs, arity, attribute
// kinds), type checks (stored type == re-inferred type), interface checks (outputs,
// state updates, unique non-empty leaf names). Every message names the node (%id), its
// op and SourceLoc, and the types involved.
#include "ir/verifier.h"

#include <set>

namespace kiln {
namespace {

std::string where(const Node& n) {
  std::string s = "%" + std::to_string(n.id) + " " + op_name(n.op);
  if (n.loc.known()) s += " (" + n.loc.to_string() + ")";
  return s;
}

bool is_bound_leaf(OpKind k) { return op_def(k).has(kBound); }

Status check_node(const Graph& g, const Node& n, int index) {
  if (n.id != index)
    return Error("node at index " + std::to_string(index) + " has id %" + std::to_string(n.id));
  int op = static_cast<int>(n.op);
  if (op < 0 || op >= kNumOps) return Error("%" + std::to_string(index) + ": invalid op kind");
  const OpDef& def = n.def();
  int arity = static_cast<int>(n.inputs.size());
  if (arity < def.min_inputs || (def.max_inputs >= 0 && arity > def.max_inputs))
    return Error(where(n) + ": takes " + std::to_string(def.min_inputs) +
                 (def.max_inputs < 0 ? "+" : (def.max_inputs == def.min_inputs
                                                  ? ""
                                                  : "-" + std::to_string(def.max_inputs))) +
                 " inputs, has " + std::to_string(arity));
  std::vector<TensorType> in_types;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    Value v = n.inputs[i];
    if (!v.valid() || v.id >= index)
      return Error(where(n) + ": input " + std::to_string(i) + " is %" + std::to_string(v.id) +
                   ", not an earlier node");
    in_types.push_back(g.type(v));
  }
  if (Status st = check_attrs(n.def(), n.attrs); !st.ok()) return st.error().wrap(where(n));
  for (int64_t d : n.type.shape.dims)
    if (d < 0) return Error(where(n) + ": negative dimension in " + n.type.to_string());
  Expected<TensorType> t = def.infer(n, in_types);
  if (!t.ok()) return Error(where(n) + ": " + t.error().message());
  if (*t != n.type)
    return Error(where(n) + ": stored type " + n.type.to_string() + " but inferred " +
                 t->to_string());
  return Status::Ok();
}

}  // namespace

Status verify(const Graph& g) {
  std::set<std::string> leaf_names;
  for (int i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[i];
    KILN_RETURN_IF_ERROR(check_node(g, n, i));
    if (!is_bound_leaf(n.op)) continue;
    if (n.name.empty()) return Error(where(n) + ": leaf has no name");
    if (!leaf_names.insert(n.name).second)
      return Error(where(n) + ": duplicate leaf name \"" + n.name + "\"");
  }
  auto in_range = [&](Value v) { return v.valid() && v.id < g.size(); };
  std::set<std::string> out_names;
  for (const Output& o : g.outputs()) {
    if (!in_range(o.value))
      return Error("output \"" + o.name + "\" refers to missing node %" +
                   std::to_string(o.value.id));
    if (!out_names.insert(o.name).second) return Error("duplicate output name \"" + o.name + "\"");
  }
  std::set<NodeId> updated;
  for (const StateUpdate& u : g.state_updates()) {
    if (!in_range(u.state) || !in_range(u.value))
      return Error("state update %" + std::to_string(u.state.id) + " = %" +
                   std::to_string(u.value.id) + " refers to a missing node");
    const Node& s = g.node(u.state);
    if (s.op != OpKind::Parameter && s.op != OpKind::State)
      return Error("state update targets " + where(s) + ", which is not a parameter or state");
    if (g.type(u.value) != s.type)
      return Error("state update of " + where(s) + " \"" + s.name + "\": value %" +
                   std::to_string(u.value.id) + " is " + g.type(u.value).to_string() +
                   ", state is " + s.type.to_string());
    if (!updated.insert(u.state.id).second)
      return Error("state " + where(s) + " \"" + s.name + "\" is updated twice");
  }
  return Status::Ok();
}

}  // namespace kiln
