// The graph IR: SSA, one output per node. A Value names a node's output. Nodes are
// stored in creation order, which is always a valid topological order (inputs are
// created before users). Passes that delete nodes rebuild the graph (see
// Graph::compact), so NodeIds are dense indices.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/attrs.h"
#include "ir/op.h"
#include "ir/shape.h"
#include "ir/status.h"

namespace kiln {

using NodeId = int32_t;

struct Value {
  NodeId id = -1;
  bool valid() const { return id >= 0; }
  bool operator==(const Value& o) const { return id == o.id; }
  bool operator!=(const Value& o) const { return id != o.id; }
  bool operator<(const Value& o) const { return id < o.id; }
};

struct Node {
  NodeId id = -1;
  OpKind op = OpKind::Constant;
  std::vector<Value> inputs;
  AttrMap attrs;
  TensorType type;
  std::string name;  // optional: leaves carry their binding name here too
  SourceLoc loc;

  const OpDef& def() const { return op_def(op); }
  const Shape& shape() const { return type.shape; }
  DType dtype() const { return type.dtype; }
};

// A named graph output.
struct Output {
  std::string name;
  Value value;
};

// After a run, state node `state` takes the value `value` (training updates,
// running statistics, step counters). The runtime updates state buffers in place.
struct StateUpdate {
  Value state;
  Value value;
};

// Checks `attrs` against the op's declared attributes: required ones present, kinds as
// declared, nothing unknown. Errors name the attribute; callers add the node.
Status check_attrs(const OpDef& def, const AttrMap& attrs);

// A constant leaf with one value everywhere ("value", or "data" of at most one element):
// that value; nullopt for anything else.
std::optional<double> splat_value(const Node& n);

class Graph {
 public:
  Graph() = default;
  explicit Graph(std::string name) : name_(std::move(name)) {}

  // Adds a node, inferring its type with the op's registry rule. On failure returns an
  // error naming the op, the input types and the source location; the graph is unchanged.
  Expected<Value> add(OpKind op, std::vector<Value> inputs, AttrMap attrs = {},
                      SourceLoc loc = {}, std::string name = {});
  // Adds a leaf node with a given type (input/parameter/state/constant/iota).
  Expected<Value> add_leaf(OpKind op, TensorType type, AttrMap attrs = {}, SourceLoc loc = {},
                           std::string name = {});

  const Node& node(Value v) const { return nodes_[v.id]; }
  Node& node(Value v) { return nodes_[v.id]; }
  const Node& node(NodeId id) const { return nodes_[id]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& mutable_nodes() { return nodes_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const TensorType& type(Value v) const { return nodes_[v.id].type; }

  void add_output(std::string name, Value v) { outputs_.push_back({std::move(name), v}); }
  const std::vector<Output>& outputs() const { return outputs_; }
  std::vector<Output>& mutable_outputs() { return outputs_; }
  void add_state_update(Value state, Value value) { updates_.push_back({state, value}); }
  const std::vector<StateUpdate>& state_updates() const { return updates_; }
  std::vector<StateUpdate>& mutable_state_updates() { return updates_; }

  // Leaves by kind, in creation order.
  std::vector<Value> inputs() const;      // OpKind::Input
  std::vector<Value> parameters() const;  // OpKind::Parameter
  std::vector<Value> states() const;      // OpKind::State
  // Finds a leaf (input/parameter/state) by name; invalid Value if none.
  Value find_leaf(const std::string& name) const;

  // Users of every node (computed on demand; O(edges)).
  std::vector<std::vector<NodeId>> users() const;

  // Replaces every use of `from` (node inputs, outputs, state updates) with `to`.
  void replace_all_uses(Value from, Value to);
  // Keeps only nodes reachable from outputs and state updates (plus all leaves named
  // input/parameter/state, which define the executable's interface), renumbering ids.
  // Returns the old->new map (-1 for removed nodes).
  std::vector<NodeId> compact();

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

 private:
  std::string name_;
  std::vector<Node> nodes_;
  std::vector<Output> outputs_;
  std::vector<StateUpdate> updates_;
};

}  // namespace kiln
