// Registry entries for leaves and random-number ops: input, parameter, state,
// constant, iota, rng_uniform, rng_normal. Leaves get their type from Graph::add_leaf;
// their shape rule only validates attributes. The rng ops implement the Philox
// mapping specified in ir/philox.h.
#include <cmath>

#include "ir/leaf_state.h"
#include "ir/ops/common.h"
#include "ir/philox.h"

namespace kiln {
namespace {

using ops::ints_to_string;

Expected<TensorType> infer_bound_leaf(const Node& n, std::span<const TensorType>) {
  if (n.op != OpKind::Input) KILN_RETURN_IF_ERROR(leaf_state(n));
  return n.type;
}

Expected<TensorType> infer_constant(const Node& n, std::span<const TensorType>) {
  bool has_value = n.attrs.has("value"), has_data = n.attrs.has("data");
  if (has_value == has_data) return Error("constant needs exactly one of 'value' or 'data'");
  if (has_data) {
    int64_t got = static_cast<int64_t>(n.attrs.floats("data").size());
    if (got != n.type.shape.numel())
      return Error("data has " + std::to_string(got) + " values but " + n.type.to_string() +
                   " has " + std::to_string(n.type.shape.numel()) + " elements");
  }
  return n.type;
}

Expected<TensorType> infer_iota(const Node& n, std::span<const TensorType>) {
  int64_t axis = n.attrs.i("axis");
  if (axis < 0 || axis >= n.type.shape.rank())
    return Error("iota axis " + std::to_string(axis) + " out of range for " +
                 n.type.to_string());
  return n.type;
}

Expected<TensorType> infer_rng(const Node& n, std::span<const TensorType> in) {
  if (in[0] != TensorType{DType::i64, Shape{}})
    return Error("counter must be an i64 scalar, got " + in[0].to_string());
  DType dt = n.attrs.has("dtype") ? n.attrs.type("dtype") : DType::f32;
  if (!is_float(dt)) return Error(std::string("dtype must be f32 or f64, got ") + dtype_name(dt));
  const std::vector<int64_t>& shape = n.attrs.ints("shape");
  for (int64_t d : shape)
    if (d < 0) return Error("negative dimension in shape " + ints_to_string(shape));
  return TensorType{dt, Shape(shape)};
}

Status ref_bound_leaf(const Node& n, std::span<const RefTensor* const>, RefTensor&) {
  return Error(std::string(op_name(n.op)) + " leaves are bound by the interpreter");
}

Status ref_constant(const Node& n, std::span<const RefTensor* const>, RefTensor& out) {
  if (n.attrs.has("data")) {
    out.data = n.attrs.floats("data");
  } else {
    out.data.assign(out.data.size(), n.attrs.f("value"));
  }
  return Status::Ok();
}

Status ref_iota(const Node& n, std::span<const RefTensor* const>, RefTensor& out) {
  int64_t axis = n.attrs.i("axis");
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < static_cast<int64_t>(out.data.size()); ++i) {
    ops::unravel(i, out.type.shape, idx);
    out.data[i] = static_cast<double>(idx[axis]);
  }
  return Status::Ok();
}

template <bool kNormal>
Status ref_rng(const Node& n, std::span<const RefTensor* const> in, RefTensor& out) {
  uint64_t step = static_cast<uint64_t>(static_cast<int64_t>(in[0]->data[0]));
  philox::Key key = philox::make_key(n.attrs.i("seed"), n.attrs.i("key"));
  bool f32 = out.type.dtype == DType::f32;
  for (size_t i = 0; i < out.data.size(); ++i) {
    philox::Counter w = philox::philox4x32_10(philox::make_counter(i, step), key);
    if (kNormal) {
      out.data[i] = philox::normal(w);
    } else {
      out.data[i] = f32 ? static_cast<double>(philox::uniform_f32(w)) : philox::uniform_f64(w);
    }
  }
  return Status::Ok();
}

const std::vector<AttrSpec> kInitAttrs = {{"init", AttrKind::String, false},
                                          {"init_a", AttrKind::Float, false},
                                          {"init_b", AttrKind::Float, false}};
const std::vector<AttrSpec> kStateAttrs = {{"init", AttrKind::String, false},
                                           {"init_a", AttrKind::Float, false},
                                           {"init_b", AttrKind::Float, false},
                                           {"kind", AttrKind::String},
                                           {"scope", AttrKind::String, false}};
const std::vector<AttrSpec> kRngAttrs = {{"seed", AttrKind::Int},
                                         {"key", AttrKind::Int},
                                         {"shape", AttrKind::Ints},
                                         {"dtype", AttrKind::Type, false}};

}  // namespace

void register_leaf_ops(std::vector<OpDef>& defs) {
  defs.push_back({OpKind::Input, "input", 0, 0, {}, kLeaf | kBound,
                  "Leaf bound by the caller before each run; binding name in Node::name.",
                  infer_bound_leaf, ref_bound_leaf, nullptr});
  defs.push_back({OpKind::Parameter, "parameter", 0, 0, kInitAttrs, kLeaf | kStateful | kBound,
                  "Trainable state leaf. init: zeros | constant(a) | normal(a=mean, b=std) | "
                  "uniform[a, b) | xavier_uniform | kaiming_normal (default zeros).",
                  infer_bound_leaf, ref_bound_leaf, nullptr});
  defs.push_back({OpKind::State, "state", 0, 0, kStateAttrs, kLeaf | kStateful | kBound,
                  "Non-trainable state leaf. kind: optimizer_slot | step_counter | rng_counter | "
                  "running_stat | carried | hyperparameter; scope: model (shared by a model's "
                  "executables, default) | executable; init as parameter.",
                  infer_bound_leaf, ref_bound_leaf, nullptr});
  defs.push_back({OpKind::Constant, "constant", 0, 0,
                  {{"value", AttrKind::Float, false}, {"data", AttrKind::Floats, false}}, kLeaf,
                  "Constant: value (splat) or data (numel values, row-major).", infer_constant,
                  ref_constant, nullptr});
  defs.push_back({OpKind::Iota, "iota", 0, 0, {{"axis", AttrKind::Int}}, kLeaf | kNoGrad,
                  "out[idx] = idx[axis], in any dtype.", infer_iota, ref_iota, nullptr});
  defs.push_back({OpKind::RngUniform, "rng_uniform", 1, 1, kRngAttrs, kRandom | kNoGrad,
                  "(counter: i64[]) -> dtype[shape], U[0,1) from Philox4x32-10 keyed by "
                  "(seed, key); see ir/philox.h for the exact bit mapping.",
                  infer_rng, ref_rng<false>, nullptr});
  defs.push_back({OpKind::RngNormal, "rng_normal", 1, 1, kRngAttrs, kRandom | kNoGrad,
                  "(counter: i64[]) -> dtype[shape], N(0,1) by Box-Muller on Philox words 0 "
                  "and 1; see ir/philox.h.",
                  infer_rng, ref_rng<true>, nullptr});
}

}  // namespace kiln
