// Builder and Tensor: node creation with sticky errors and source locations.
#include "frontend/builder.h"

namespace kiln {

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

Tensor Builder::parameter(const std::string& name, TensorType type, const std::string& init,
                          double a, double b, SourceLoc loc) {
  if (g_.find_leaf(name).valid()) {
    record_error(Error(resolve_loc(loc).to_string() + ": a leaf named '" + name + "' exists"));
    return Tensor{};
  }
  return leaf(OpKind::Parameter, std::move(type),
              AttrMap{{"init", init}, {"init_a", a}, {"init_b", b}}, loc, name);
}

Tensor Builder::state(const std::string& name, TensorType type, const std::string& init, double a,
                      double b, SourceLoc loc) {
  if (g_.find_leaf(name).valid()) {
    record_error(Error(resolve_loc(loc).to_string() + ": a leaf named '" + name + "' exists"));
    return Tensor{};
  }
  return leaf(OpKind::State, std::move(type),
              AttrMap{{"init", init}, {"init_a", a}, {"init_b", b}}, loc, name);
}

Tensor Builder::constant(double value, TensorType type, SourceLoc loc) {
  return leaf(OpKind::Constant, std::move(type), AttrMap{{"value", value}}, loc, {});
}

Tensor Builder::constant_data(std::vector<double> data, TensorType type, SourceLoc loc) {
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

void Builder::output(const std::string& name, const Tensor& t) {
  if (!t.valid()) return;
  for (const Output& o : g_.outputs())
    if (o.name == name) {
      record_error(Error("output '" + name + "' is defined twice"));
      return;
    }
  g_.add_output(name, t.value());
}

void Builder::update_state(const Tensor& state, const Tensor& new_value) {
  if (!state.valid() || !new_value.valid()) return;
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

std::string Builder::unique_name(const std::string& prefix) {
  for (auto& [p, n] : name_counts_)
    if (p == prefix) return prefix + std::to_string(n++);
  name_counts_.push_back({prefix, 1});
  return prefix + "0";
}

}  // namespace kiln
