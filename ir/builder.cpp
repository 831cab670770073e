// Builder and Tensor: node creation with sticky errors and source locations.
#include "ir/builder.h"

namespace kiln {

static AttrMap init_attrs(const InitSpec& init) {
  return AttrMap{{"init", std::string(init_kind_name(init.kind))}, {"init_a", init.a},
                 {"init_b", init.b}};
}

static const TensorType& invalid_type() {
  static const TensorType t{DType::f32, Shape{}};
  return t;
}

const Node& Tensor::node() const {
  KILN_CHECK(valid(), "node() of an invalid tensor");
  return b_->graph().node(v_);
}

const TensorType& Tensor::type() const {
  if (!valid()) return invalid_type();
  return b_->graph().type(v_);
}

int64_t Tensor::dim(int i, std::source_location loc) const {
  if (!valid()) return 1;
  int r = rank();
  int axis = i < 0 ? i + r : i;
  if (axis < 0 || axis >= r) {
    b_->record_error(Error(SourceLoc::from(loc).to_string() + ": axis " + std::to_string(i) +
                           " is out of range for a tensor of type " + type().to_string()));
    return 1;
  }
  return shape()[axis];
}

Tensor Builder::leaf(OpKind kind, TensorType type, AttrMap attrs, SourceLoc loc,
                     std::string name) {
  if (!ok()) return Tensor{};
  // Shapes are checked where they are made: a negative dim, or an element count or size
  // beyond the limits of ir/shape.h (which also keeps numel() from overflowing).
  if (Status st = type.validate(); !st.ok()) {
    record_error(Error(resolve_loc(loc).to_string() + ": " + op_name(kind) +
                       (name.empty() ? "" : " '" + name + "'") + ": " + st.error().message()));
    return Tensor{};
  }
  Expected<Value> v = g_.add_leaf(kind, std::move(type), std::move(attrs), resolve_loc(loc),
                                  std::move(name));
  if (!v.ok()) {
    record_error(v.error());
    return Tensor{};
  }
  return Tensor(this, *v);
}

Tensor Builder::input(const std::string& name, TensorType type, SourceLoc loc) {
  if (g_.find_leaf(name).valid()) {
    record_error(Error(resolve_loc(loc).to_string() + ": a leaf named '" + name + "' exists"));
    return Tensor{};
  }
  return leaf(OpKind::Input, std::move(type), {}, loc, name);
}

Tensor Builder::parameter(const std::string& name, TensorType type, InitSpec init,
                          SourceLoc loc) {
  if (g_.find_leaf(name).valid()) {
    record_error(Error(resolve_loc(loc).to_string() + ": a leaf named '" + name + "' exists"));
    return Tensor{};
  }
  return leaf(OpKind::Parameter, std::move(type), init_attrs(init), loc, name);
}

Tensor Builder::state(const std::string& name, TensorType type, StateKind kind, InitSpec init,
                      StateScope scope, SourceLoc loc) {
  if (kind == StateKind::Parameter) {
    record_error(Error(resolve_loc(loc).to_string() + ": state '" + name +
                       "': trainable weights are parameters, not states"));
    return Tensor{};
  }
  if (g_.find_leaf(name).valid()) {
    record_error(Error(resolve_loc(loc).to_string() + ": a leaf named '" + name + "' exists"));
    return Tensor{};
  }
  AttrMap attrs = init_attrs(init);
  attrs.set("kind", std::string(state_kind_name(kind)));
  attrs.set("scope", std::string(state_scope_name(scope)));
  return leaf(OpKind::State, std::move(type), std::move(attrs), loc, name);
}

Tensor Builder::constant(double value, TensorType type, SourceLoc loc) {
  return leaf(OpKind::Constant, std::move(type), AttrMap{{"value", value}}, loc, {});
}

Tensor Builder::constant_data(std::vector<double> data, TensorType type, SourceLoc loc) {
  if (!ok()) return Tensor{};
  // The type is checked before its element count is used (Graph::add_leaf checks it
  // again, as it does for every leaf the builder makes).
  if (Status st = type.validate(); !st.ok()) {
    record_error(Error(resolve_loc(loc).to_string() + ": constant: " + st.error().message()));
    return Tensor{};
  }
  if (static_cast<int64_t>(data.size()) != type.shape.numel()) {
    record_error(Error(resolve_loc(loc).to_string() + ": constant of type " + type.to_string() +
                       " needs " + std::to_string(type.shape.numel()) + " values, got " +
                       std::to_string(data.size())));
    return Tensor{};
  }
  return leaf(OpKind::Constant, std::move(type), AttrMap{{"data", std::move(data)}}, loc, {});
}

Tensor Builder::iota(TensorType type, int axis, SourceLoc loc) {
  return leaf(OpKind::Iota, std::move(type), AttrMap{{"axis", int64_t{axis}}}, loc, {});
}

Tensor Builder::op(OpKind kind, std::vector<Tensor> inputs, AttrMap attrs, SourceLoc loc) {
  if (!ok()) return Tensor{};
  std::vector<Value> values;
  values.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    if (!t.valid()) return Tensor{};  // an earlier error was recorded (or a bug upstream)
    if (t.builder() != this) {
      record_error(Error(resolve_loc(loc).to_string() + ": " + op_name(kind) +
                         ": operand belongs to another graph"));
      return Tensor{};
    }
    values.push_back(t.value());
  }
  Expected<Value> v = g_.add(kind, std::move(values), std::move(attrs), resolve_loc(loc));
  if (!v.ok()) {
    record_error(v.error());
    return Tensor{};
  }
  return Tensor(this, *v);
}

bool Builder::owns(const Tensor& t, const char* what) {
  if (t.builder() == this) return true;
  record_error(Error(std::string(what) + ": tensor belongs to another graph"));
  return false;
}

void Builder::output(const std::string& name, const Tensor& t) {
  if (!t.valid() || !owns(t, ("output '" + name + "'").c_str())) return;
  for (const Output& o : g_.outputs())
    if (o.name == name) {
      record_error(Error("output '" + name + "' is defined twice"));
      return;
    }
  g_.add_output(name, t.value());
}

void Builder::update_state(const Tensor& state, const Tensor& new_value) {
  if (!state.valid() || !new_value.valid()) return;
  if (!owns(state, "update_state") || !owns(new_value, "update_state")) return;
  const Node& s = state.node();
  if (s.op != OpKind::Parameter && s.op != OpKind::State) {
    record_error(Error(s.loc.to_string() + ": update_state target must be a parameter or state"));
    return;
  }
  if (s.type != new_value.type()) {
    record_error(Error(new_value.node().loc.to_string() + ": state '" + s.name + "' has type " +
                       s.type.to_string() + " but its update has type " +
                       new_value.type().to_string()));
    return;
  }
  g_.add_state_update(state.value(), new_value.value());
}

}  // namespace kiln
