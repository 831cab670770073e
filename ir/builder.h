// The DSL core: a Builder appends nodes to a Graph, and Tensor is a cheap handle
// (builder + value) with NumPy-style broadcasting operators.
//
// Errors are sticky, as in XLA's XlaBuilder: the first shape error is recorded with the
// op, the shapes and the user's file:line, later ops on invalid tensors are no-ops, and
// Builder::status() reports it. DSL code therefore never aborts on a user mistake.
// Every type a node gets is checked for overflow (ir/shape.h's limits): leaves here,
// op results in Graph::add, so `Shape{1LL << 32, 1LL << 32}` is an error naming the
// shape, never a tensor whose element count wrapped.
//
// Source locations: every op function takes a defaulted std::source_location; operators
// get theirs through TensorArg, whose converting constructor captures the call site.
// Layers open a LocScope so the nodes they create point at the user's layer call.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/state.h"

namespace kiln {

class Builder;

class Tensor {
 public:
  Tensor() = default;
  Tensor(Builder* b, Value v) : b_(b), v_(v) {}

  bool valid() const { return b_ != nullptr && v_.valid(); }
  Builder* builder() const { return b_; }
  Value value() const { return v_; }
  const Node& node() const;
  const TensorType& type() const;  // f32[] for invalid tensors
  const Shape& shape() const { return type().shape; }
  DType dtype() const { return type().dtype; }
  int rank() const { return shape().rank(); }
  // Dimension i (negative counts from the end); 1 for an invalid tensor or bad axis
  // (and records an error in the latter case), so user code can keep going safely.
  int64_t dim(int i, std::source_location loc = std::source_location::current()) const;
  int64_t numel() const { return shape().numel(); }

 private:
  Builder* b_ = nullptr;
  Value v_;
};

// A Tensor plus the source location of the expression that converted it (operators).
struct TensorArg {
  Tensor t;
  SourceLoc loc;
  TensorArg(const Tensor& tensor, std::source_location l = std::source_location::current())
      : t(tensor), loc(SourceLoc::from(l)) {}
};

class Builder {
 public:
  explicit Builder(Graph& graph) : g_(graph) {}
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  Graph& graph() { return g_; }
  const Graph& graph() const { return g_; }
  // The first error recorded, if any.
  Status status() const { return error_.message().empty() ? Status::Ok() : Status(error_); }
  bool ok() const { return error_.message().empty(); }
  void record_error(const Error& e) {
    if (ok()) error_ = e;
  }

  Tensor input(const std::string& name, TensorType type, SourceLoc loc = SourceLoc::current());
  // A trainable weight (StateKind::Parameter, shared by the model's executables).
  Tensor parameter(const std::string& name, TensorType type, InitSpec init = {},
                   SourceLoc loc = SourceLoc::current());
  // A non-trainable state buffer of `kind` (not Parameter); see ir/state.h.
  Tensor state(const std::string& name, TensorType type, StateKind kind, InitSpec init = {},
               StateScope scope = StateScope::Model, SourceLoc loc = SourceLoc::current());
  Tensor constant(double value, TensorType type, SourceLoc loc = SourceLoc::current());
  Tensor scalar(double value, DType dtype = DType::f32, SourceLoc loc = SourceLoc::current()) {
    return constant(value, TensorType{dtype, Shape{}}, loc);
  }
  Tensor constant_data(std::vector<double> data, TensorType type,
                       SourceLoc loc = SourceLoc::current());
  Tensor iota(TensorType type, int axis, SourceLoc loc = SourceLoc::current());

  // Generic node creation used by every op helper: applies the current LocScope,
  // propagates invalid inputs, records the first error.
  Tensor op(OpKind kind, std::vector<Tensor> inputs, AttrMap attrs, SourceLoc loc);

  void output(const std::string& name, const Tensor& t);
  void update_state(const Tensor& state, const Tensor& new_value);

  // Unique id for RNG keys (Philox key = (seed, key)).
  int64_t next_rng_key() { return rng_key_++; }

  // RAII: while alive, nodes created through this builder take `loc` (outermost wins),
  // so everything a layer builds points at the user's call of that layer.
  class LocScope {
   public:
    LocScope(Builder& b, SourceLoc loc) : b_(b) {
      if (b_.scope_depth_++ == 0) b_.scope_loc_ = loc;
    }
    ~LocScope() { --b_.scope_depth_; }

   private:
    Builder& b_;
  };
  SourceLoc resolve_loc(SourceLoc loc) const { return scope_depth_ > 0 ? scope_loc_ : loc; }

 private:
  bool owns(const Tensor& t, const char* what);  // records an error when not
  Tensor leaf(OpKind kind, TensorType type, AttrMap attrs, SourceLoc loc, std::string name);

  Graph& g_;
  Error error_;
  int64_t rng_key_ = 0;
  int scope_depth_ = 0;
  SourceLoc scope_loc_;
};

}  // namespace kiln
