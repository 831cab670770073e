// Graph construction, queries and rewriting helpers.
#include "ir/graph.h"


namespace kiln {

static std::string describe_inputs(const Graph& g, const std::vector<Value>& inputs) {
  std::string s;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i) s += ", ";
    s += g.type(inputs[i]).to_string();
  }
  return s;
}

Status check_attrs(const OpDef& def, const AttrMap& attrs) {
  for (const AttrSpec& spec : def.attrs) {
    const AttrValue* v = attrs.find(spec.name);
    if (!v) {
      if (spec.required) return Error(std::string("missing attribute '") + spec.name + "'");
      continue;
    }
    if (attr_kind(*v) != spec.kind)
      return Error(std::string("attribute '") + spec.name + "' must be " +
                   attr_kind_name(spec.kind) + ", got " + attr_kind_name(attr_kind(*v)));
  }
  for (const auto& [name, v] : attrs.items()) {
    bool known = false;
    for (const AttrSpec& spec : def.attrs) known |= name == spec.name;
    if (!known) return Error("unknown attribute '" + name + "'");
  }
  return Status::Ok();
}

std::optional<double> splat_value(const Node& n) {
  if (n.op != OpKind::Constant) return std::nullopt;
  if (const AttrValue* v = n.attrs.find("value"); v && std::holds_alternative<double>(*v))
    return std::get<double>(*v);
  if (const AttrValue* d = n.attrs.find("data"); d && std::holds_alternative<std::vector<double>>(*d)) {
    const auto& data = std::get<std::vector<double>>(*d);
    if (data.size() <= 1) return data.empty() ? 0.0 : data[0];
  }
  return std::nullopt;
}

Expected<Value> Graph::add(OpKind op, std::vector<Value> inputs, AttrMap attrs, SourceLoc loc,
                           std::string name) {
  const OpDef& def = op_def(op);
  auto fail = [&](const std::string& why) {
    return Error(loc.to_string() + ": " + def.name + "(" + describe_inputs(*this, inputs) +
                 "): " + why);
  };
  for (Value v : inputs) {
    if (!v.valid() || v.id >= size()) return fail("input refers to a missing node");
  }
  int n = static_cast<int>(inputs.size());
  if (n < def.min_inputs || (def.max_inputs >= 0 && n > def.max_inputs))
    return fail("takes " + std::to_string(def.min_inputs) +
                (def.max_inputs == def.min_inputs
                     ? ""
                     : (def.max_inputs < 0 ? "+" : "-" + std::to_string(def.max_inputs))) +
                " inputs, got " + std::to_string(n));
  if (Status st = check_attrs(def, attrs); !st.ok()) return fail(st.error().message());

  Node node;
  node.id = size();
  node.op = op;
  node.inputs = inputs;  // copied: `fail` still describes `inputs`
  node.attrs = std::move(attrs);
  node.name = std::move(name);
  node.loc = loc;
  std::vector<TensorType> in_types;
  for (Value v : node.inputs) in_types.push_back(type(v));
  Expected<TensorType> t = def.infer(node, in_types);
  if (!t.ok()) return fail(t.error().message());
  // Every result type is checked for overflow here, where it is made (see ir/shape.h).
  if (Status st = t->validate(); !st.ok()) return fail("result " + st.error().message());
  node.type = *t;
  nodes_.push_back(std::move(node));
  return Value{nodes_.back().id};
}

Expected<Value> Graph::add_leaf(OpKind op, TensorType type, AttrMap attrs, SourceLoc loc,
                                std::string name) {
  const OpDef& def = op_def(op);
  if (!def.has(kLeaf))
    return Error(loc.to_string() + ": " + def.name + " is not a leaf op");
  if (Status st = check_attrs(def, attrs); !st.ok())
    return Error(loc.to_string() + ": " + def.name + ": " + st.error().message());
  if (Status st = type.validate(); !st.ok())
    return Error(loc.to_string() + ": " + def.name + ": " + st.error().message());
  Node node;
  node.id = size();
  node.op = op;
  node.attrs = std::move(attrs);
  node.name = std::move(name);
  node.loc = loc;
  node.type = std::move(type);
  std::vector<TensorType> none;
  Expected<TensorType> t = def.infer(node, none);
  if (!t.ok()) return Error(loc.to_string() + ": " + def.name + ": " + t.error().message());
  nodes_.push_back(std::move(node));
  return Value{nodes_.back().id};
}

static std::vector<Value> leaves_of(const std::vector<Node>& nodes, OpKind kind) {
  std::vector<Value> out;
  for (const Node& n : nodes)
    if (n.op == kind) out.push_back(Value{n.id});
  return out;
}

std::vector<Value> Graph::inputs() const { return leaves_of(nodes_, OpKind::Input); }
std::vector<Value> Graph::parameters() const { return leaves_of(nodes_, OpKind::Parameter); }
std::vector<Value> Graph::states() const { return leaves_of(nodes_, OpKind::State); }

Value Graph::find_leaf(const std::string& name) const {
  for (const Node& n : nodes_) {
    bool named_leaf = n.def().has(kBound);
    if (named_leaf && n.name == name) return Value{n.id};
  }
  return Value{};
}

std::vector<std::vector<NodeId>> Graph::users() const {
  std::vector<std::vector<NodeId>> u(nodes_.size());
  for (const Node& n : nodes_)
    for (Value v : n.inputs) u[v.id].push_back(n.id);
  return u;
}

void Graph::replace_all_uses(Value from, Value to) {
  for (Node& n : nodes_)
    for (Value& v : n.inputs)
      if (v == from) v = to;
  for (Output& o : outputs_)
    if (o.value == from) o.value = to;
  for (StateUpdate& u : updates_)
    if (u.value == from) u.value = to;
}

std::vector<NodeId> Graph::compact() {
  // Roots: the interface leaves, outputs and state updates.
  std::vector<NodeId> roots;
  for (const Node& n : nodes_)
    if (n.def().has(kBound))
      roots.push_back(n.id);
  for (const Output& o : outputs_) roots.push_back(o.value.id);
  for (const StateUpdate& u : updates_) {
    roots.push_back(u.state.id);
    roots.push_back(u.value.id);
  }
  // Live = reachable from the roots.
  std::vector<char> live(nodes_.size(), 0);
  std::vector<NodeId> work = roots;
  for (NodeId r : roots) live[r] = 1;
  while (!work.empty()) {
    NodeId id = work.back();
    work.pop_back();
    for (Value v : nodes_[id].inputs)
      if (!live[v.id]) {
        live[v.id] = 1;
        work.push_back(v.id);
      }
  }
  // Live nodes in a stable topological order: DFS post-order started from each live node
  // in id order, so an already-ordered graph keeps its order and rewrites that point old
  // nodes at newer ones are reordered minimally.
  std::vector<char> state(nodes_.size(), 0);  // 0 new, 1 on stack, 2 done
  std::vector<NodeId> order;
  std::vector<std::pair<NodeId, size_t>> stack;
  for (NodeId r = 0; r < static_cast<NodeId>(nodes_.size()); ++r) {
    if (!live[r] || state[r]) continue;
    stack.push_back({r, 0});
    state[r] = 1;
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      if (next < nodes_[id].inputs.size()) {
        NodeId in = nodes_[id].inputs[next++].id;
        KILN_CHECK(state[in] != 1, "cycle in graph at node %" + std::to_string(in));
        if (state[in] == 0) {
          state[in] = 1;
          stack.push_back({in, 0});
        }
      } else {
        state[id] = 2;
        order.push_back(id);
        stack.pop_back();
      }
    }
  }
  std::vector<NodeId> remap(nodes_.size(), -1);
  for (size_t i = 0; i < order.size(); ++i) remap[order[i]] = static_cast<NodeId>(i);
  std::vector<Node> kept;
  kept.reserve(order.size());
  for (NodeId old : order) {
    Node n = std::move(nodes_[old]);
    n.id = remap[old];
    for (Value& v : n.inputs) v.id = remap[v.id];
    kept.push_back(std::move(n));
  }
  nodes_ = std::move(kept);
  for (Output& o : outputs_) o.value.id = remap[o.value.id];
  for (StateUpdate& u : updates_) {
    u.state.id = remap[u.state.id];
    u.value.id = remap[u.value.id];
  }
  return remap;
}

}  // namespace kiln
