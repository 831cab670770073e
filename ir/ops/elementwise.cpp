// Registry entries for elementwise ops: unary math (neg abs exp log sqrt tanh sigmoid
// relu), cast, not, stop_gradient, binary arithmetic (add sub mul div pow max min),
// compares (lt le gt ge eq ne), logical and/or, and select. All operands have identical
// shapes (the frontend inserts explicit broadcasts). Gradient rules are written with the
// DSL, so gradients are ordinary graphs and can be differentiated again.
#include <cmath>

#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;

// ---- shape rules ----------------------------------------------------------------

Expected<TensorType> infer_unary_float(const Node&, Ins in) {
  KILN_RETURN_IF_ERROR(ops::require_float(in[0]));
  return in[0];
}

Expected<TensorType> infer_not(const Node&, Ins in) {
  if (in[0].dtype != DType::boolean) return Error("input must be bool, got " + in[0].to_string());
  return in[0];
}

Expected<TensorType> infer_same(const Node&, Ins in) { return in[0]; }

Expected<TensorType> infer_cast(const Node& n, Ins in) {
  return TensorType{n.attrs.type("dtype"), in[0].shape};
}

Status same_types(const TensorType& a, const TensorType& b) {
  if (a.shape != b.shape)
    return Error("shapes differ: " + a.shape.to_string() + " vs " + b.shape.to_string() +
                 " (elementwise ops need identical shapes; broadcast first)");
  if (a.dtype != b.dtype)
    return Error(std::string("dtypes differ: ") + dtype_name(a.dtype) + " vs " +
                 dtype_name(b.dtype));
  return Status::Ok();
}

Expected<TensorType> infer_arith(const Node&, Ins in) {
  KILN_RETURN_IF_ERROR(same_types(in[0], in[1]));
  KILN_RETURN_IF_ERROR(ops::require_numeric(in[0], "operands"));
  return in[0];
}

Expected<TensorType> infer_float_binary(const Node&, Ins in) {
  KILN_RETURN_IF_ERROR(same_types(in[0], in[1]));
  KILN_RETURN_IF_ERROR(ops::require_float(in[0], "operands"));
  return in[0];
}

Expected<TensorType> infer_compare(const Node&, Ins in) {
  KILN_RETURN_IF_ERROR(same_types(in[0], in[1]));
  return TensorType{DType::boolean, in[0].shape};
}

Expected<TensorType> infer_logical(const Node&, Ins in) {
  KILN_RETURN_IF_ERROR(same_types(in[0], in[1]));
  if (in[0].dtype != DType::boolean)
    return Error("operands must be bool, got " + in[0].to_string());
  return in[0];
}

Expected<TensorType> infer_select(const Node&, Ins in) {
  if (in[0].dtype != DType::boolean)
    return Error("condition must be bool, got " + in[0].to_string());
  if (in[0].shape != in[1].shape)
    return Error("condition shape " + in[0].shape.to_string() + " differs from operand shape " +
                 in[1].shape.to_string());
  KILN_RETURN_IF_ERROR(same_types(in[1], in[2]));
  return in[1];
}

// ---- reference ------------------------------------------------------------------

template <double (*F)(double)>
Status ref_unary(const Node&, RefIns in, RefTensor& out) {
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = F(in[0]->data[i]);
  return Status::Ok();
}

template <double (*F)(double, double)>
Status ref_binary(const Node&, RefIns in, RefTensor& out) {
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = F(in[0]->data[i], in[1]->data[i]);
  return Status::Ok();
}

double f_neg(double x) { return -x; }
double f_abs(double x) { return std::fabs(x); }
double f_exp(double x) { return std::exp(x); }
double f_log(double x) { return std::log(x); }
double f_sqrt(double x) { return std::sqrt(x); }
double f_tanh(double x) { return std::tanh(x); }
double f_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double f_relu(double x) { return x > 0 ? x : 0.0; }
// Casts saturate (like LLVM's fptosi.sat), unlike arithmetic, which evaluate_node wraps.
Status ref_cast(const Node&, RefIns in, RefTensor& out) {
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] = round_to_dtype(out.type.dtype, in[0]->data[i]);
  return Status::Ok();
}
double f_not(double x) { return x == 0.0 ? 1.0 : 0.0; }
double f_identity(double x) { return x; }

double f_add(double a, double b) { return a + b; }
double f_sub(double a, double b) { return a - b; }
// Integer products in int64 (wrapping) and, for i32, wrapped to 32 bits before they become
// doubles: a product of two i32 can need 62 bits, more than a double holds exactly.
Status ref_mul(const Node&, RefIns in, RefTensor& out) {
  const bool integer = is_int(out.type.dtype);
  const bool i32 = out.type.dtype == DType::i32;
  for (size_t i = 0; i < out.data.size(); ++i) {
    const double a = in[0]->data[i], b = in[1]->data[i];
    if (!integer) {
      out.data[i] = a * b;
      continue;
    }
    const uint64_t p = static_cast<uint64_t>(static_cast<int64_t>(a)) *
                       static_cast<uint64_t>(static_cast<int64_t>(b));
    out.data[i] = i32 ? static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(p)))
                      : static_cast<double>(static_cast<int64_t>(p));
  }
  return Status::Ok();
}
double f_pow(double a, double b) { return std::pow(a, b); }
// NaN propagates through max/min.
double f_max(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : (a >= b ? a : b); }
double f_min(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : (a <= b ? a : b); }
double f_lt(double a, double b) { return a < b; }
double f_le(double a, double b) { return a <= b; }
double f_gt(double a, double b) { return a > b; }
double f_ge(double a, double b) { return a >= b; }
double f_eq(double a, double b) { return a == b; }
double f_ne(double a, double b) { return a != b; }
double f_and(double a, double b) { return (a != 0) && (b != 0); }
double f_or(double a, double b) { return (a != 0) || (b != 0); }

// Integer division truncates toward zero (evaluate_node truncates); x/0 is an error.
Status ref_div(const Node&, RefIns in, RefTensor& out) {
  bool integer = is_int(out.type.dtype);
  for (size_t i = 0; i < out.data.size(); ++i) {
    double a = in[0]->data[i], b = in[1]->data[i];
    if (integer && b == 0) return Error("integer division by zero at element " + std::to_string(i));
    out.data[i] = a / b;
  }
  return Status::Ok();
}

Status ref_select(const Node&, RefIns in, RefTensor& out) {
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] = in[0]->data[i] != 0 ? in[1]->data[i] : in[2]->data[i];
  return Status::Ok();
}

// ---- gradient rules (one Tensor per input; Tensor{} = no gradient) ---------------

Tensor zeros_like(GradContext& c, const Tensor& t) { return c.b.constant(0.0, t.type()); }

std::vector<Tensor> grad_neg(GradContext& c) { return {neg(c.grad_out)}; }
// abs'(x) = sign(x): +g where x > 0, -g where x < 0, 0 at 0.
std::vector<Tensor> grad_abs(GradContext& c) {
  const Tensor& x = c.inputs[0];
  Tensor zero = zeros_like(c, x);
  return {where(greater(x, zero), c.grad_out,
                where(less(x, zero), neg(c.grad_out), zero))};
}
std::vector<Tensor> grad_exp(GradContext& c) { return {mul(c.grad_out, c.out)}; }
std::vector<Tensor> grad_log(GradContext& c) { return {div(c.grad_out, c.inputs[0])}; }
// sqrt'(x) = 1 / (2 sqrt(x))
std::vector<Tensor> grad_sqrt(GradContext& c) {
  return {div(c.grad_out, mul(c.out, scalar_like(c.out, 2.0)))};
}
// tanh'(x) = 1 - t^2
std::vector<Tensor> grad_tanh(GradContext& c) {
  return {mul(c.grad_out, sub(scalar_like(c.out, 1.0), mul(c.out, c.out)))};
}
// sigmoid'(x) = s (1 - s)
std::vector<Tensor> grad_sigmoid(GradContext& c) {
  return {mul(c.grad_out, mul(c.out, sub(scalar_like(c.out, 1.0), c.out)))};
}
// The mask reads relu's output, not its input: (relu(x) > 0) == (x > 0), both false for
// NaN, and then x itself is not needed after the forward pass, so a normalisation
// feeding relu fuses with it into one kernel instead of being stored for the backward.
std::vector<Tensor> grad_relu(GradContext& c) {
  Tensor zero = zeros_like(c, c.out);
  return {where(greater(c.out, zero), c.grad_out, zero)};
}
// Only float -> float casts carry gradient (cast back to the input dtype).
std::vector<Tensor> grad_cast(GradContext& c) {
  const Tensor& x = c.inputs[0];
  if (!is_float(x.dtype()) || !is_float(c.out.dtype())) return {Tensor{}};
  return {cast(c.grad_out, x.dtype())};
}

std::vector<Tensor> grad_add(GradContext& c) { return {c.grad_out, c.grad_out}; }
std::vector<Tensor> grad_sub(GradContext& c) { return {c.grad_out, neg(c.grad_out)}; }
std::vector<Tensor> grad_mul(GradContext& c) {
  return {mul(c.grad_out, c.inputs[1]), mul(c.grad_out, c.inputs[0])};
}
// d(a/b)/da = 1/b;  d(a/b)/db = -a/b^2 = -(a/b)/b
std::vector<Tensor> grad_div(GradContext& c) {
  const Tensor& b = c.inputs[1];
  return {div(c.grad_out, b), neg(div(mul(c.grad_out, c.out), b))};
}
// d(a^b)/da = b a^(b-1);  d(a^b)/db = a^b ln a, defined as 0 where a <= 0 (the log is
// taken of select(a > 0, a, 1) so no NaN leaks into the graph).
std::vector<Tensor> grad_pow(GradContext& c) {
  const Tensor& a = c.inputs[0];
  const Tensor& b = c.inputs[1];
  Tensor one = scalar_like(b, 1.0);
  Tensor da = mul(c.grad_out, mul(b, pow(a, sub(b, one))));
  Tensor zero = zeros_like(c, a);
  Tensor pos = greater(a, zero);
  Tensor safe_a = where(pos, a, add(zero, scalar_like(a, 1.0)));
  Tensor db = where(pos, mul(mul(c.grad_out, c.out), log(safe_a)), zero);
  return {da, db};
}
// max/min: the gradient goes to the chosen operand; at a tie (a == b) each side gets
// half, as in PyTorch (the subgradient halfway between the two one-sided ones, so
// maximum(x, x) still has gradient 1). `a_wins` is a > b for max, a < b for min; with
// a NaN operand nothing wins and nothing ties, so both sides get 0.
std::vector<Tensor> split_at_ties(GradContext& c, const Tensor& a_wins, const Tensor& b_wins) {
  Tensor zero = zeros_like(c, c.grad_out);
  Tensor half = mul(c.grad_out, scalar_like(c.grad_out, 0.5));
  Tensor tie = equal(c.inputs[0], c.inputs[1]);
  Tensor at_tie = where(tie, half, zero);
  return {where(a_wins, c.grad_out, at_tie), where(b_wins, c.grad_out, at_tie)};
}
std::vector<Tensor> grad_max(GradContext& c) {
  return split_at_ties(c, greater(c.inputs[0], c.inputs[1]), greater(c.inputs[1], c.inputs[0]));
}
std::vector<Tensor> grad_min(GradContext& c) {
  return split_at_ties(c, less(c.inputs[0], c.inputs[1]), less(c.inputs[1], c.inputs[0]));
}
// stop_gradient: the value passes, the gradient does not (d2l's detach).
std::vector<Tensor> grad_stop_gradient(GradContext&) { return {Tensor{}}; }
std::vector<Tensor> grad_select(GradContext& c) {
  const Tensor& cond = c.inputs[0];
  Tensor zero = zeros_like(c, c.grad_out);
  return {Tensor{}, where(cond, c.grad_out, zero), where(cond, zero, c.grad_out)};
}

constexpr uint32_t kEw = kElementwise;

}  // namespace

void register_elementwise_ops(std::vector<OpDef>& d) {
  auto unary = [&](OpKind k, const char* name, uint32_t flags, const char* doc, ReferenceFn ref,
                   GradFn grad) {
    d.push_back({k, name, 1, 1, {}, kEw | flags, doc, infer_unary_float, ref, grad});
  };
  unary(OpKind::Neg, "neg", kPreservesZero, "-x (float)", ref_unary<f_neg>, grad_neg);
  unary(OpKind::Abs, "abs", kPreservesZero, "|x| (float)", ref_unary<f_abs>, grad_abs);
  unary(OpKind::Exp, "exp", 0, "e^x (float)", ref_unary<f_exp>, grad_exp);
  unary(OpKind::Log, "log", 0, "natural log (float)", ref_unary<f_log>, grad_log);
  unary(OpKind::Sqrt, "sqrt", kPreservesZero, "square root (float)", ref_unary<f_sqrt>,
        grad_sqrt);
  unary(OpKind::Tanh, "tanh", kPreservesZero, "tanh (float)", ref_unary<f_tanh>, grad_tanh);
  unary(OpKind::Sigmoid, "sigmoid", 0, "1 / (1 + e^-x) (float)", ref_unary<f_sigmoid>,
        grad_sigmoid);
  unary(OpKind::Relu, "relu", kPreservesZero, "max(x, 0) (float; NaN -> 0)", ref_unary<f_relu>,
        grad_relu);
  d.push_back({OpKind::Cast, "cast", 1, 1, {{"dtype", AttrKind::Type}}, kEw | kPreservesZero,
               "Converts to dtype: float->int truncates toward zero, x->bool is x != 0, "
               "bool->x is 0/1. Gradient only for float->float.",
               infer_cast, ref_cast, grad_cast});
  d.push_back({OpKind::Not, "not", 1, 1, {}, kEw | kNoGrad, "logical not (bool)", infer_not,
               ref_unary<f_not>, nullptr});
  // A rule that returns "no gradient" rather than kNoGrad: the op is differentiable in
  // the sense that autodiff walks it (and gradcheck covers it), it just blocks the flow.
  d.push_back({OpKind::StopGradient, "stop_gradient", 1, 1, {}, kEw | kPreservesZero,
               "Identity on the value (any dtype); autodiff passes no gradient through it.",
               infer_same, ref_unary<f_identity>, grad_stop_gradient});

  auto binary = [&](OpKind k, const char* name, uint32_t flags, const char* doc, InferFn infer,
                    ReferenceFn ref, GradFn grad) {
    d.push_back({k, name, 2, 2, {}, kEw | flags, doc, infer, ref, grad});
  };
  binary(OpKind::Add, "add", kCommutative | kPreservesZero, "a + b", infer_arith,
         ref_binary<f_add>, grad_add);
  binary(OpKind::Sub, "sub", kPreservesZero, "a - b", infer_arith, ref_binary<f_sub>, grad_sub);
  binary(OpKind::Mul, "mul", kCommutative | kPreservesZero, "a * b", infer_arith,
         ref_mul, grad_mul);
  binary(OpKind::Div, "div", 0, "a / b (ints truncate toward zero; int division by 0 is an error)",
         infer_arith, ref_div, grad_div);
  binary(OpKind::Pow, "pow", 0, "a^b (float)", infer_float_binary, ref_binary<f_pow>, grad_pow);
  binary(OpKind::Max, "max", kCommutative | kPreservesZero,
         "elementwise maximum; NaN propagates; at a tie each side gets half the gradient",
         infer_arith, ref_binary<f_max>, grad_max);
  binary(OpKind::Min, "min", kCommutative | kPreservesZero,
         "elementwise minimum; NaN propagates; at a tie each side gets half the gradient",
         infer_arith, ref_binary<f_min>, grad_min);
  binary(OpKind::Lt, "lt", kNoGrad | kPreservesZero, "a < b -> bool", infer_compare,
         ref_binary<f_lt>, nullptr);
  binary(OpKind::Le, "le", kNoGrad, "a <= b -> bool", infer_compare, ref_binary<f_le>, nullptr);
  binary(OpKind::Gt, "gt", kNoGrad | kPreservesZero, "a > b -> bool", infer_compare,
         ref_binary<f_gt>, nullptr);
  binary(OpKind::Ge, "ge", kNoGrad, "a >= b -> bool", infer_compare, ref_binary<f_ge>, nullptr);
  binary(OpKind::Eq, "eq", kNoGrad | kCommutative, "a == b -> bool", infer_compare,
         ref_binary<f_eq>, nullptr);
  binary(OpKind::Ne, "ne", kNoGrad | kCommutative | kPreservesZero, "a != b -> bool",
         infer_compare, ref_binary<f_ne>, nullptr);
  binary(OpKind::And, "and", kNoGrad | kCommutative | kPreservesZero, "a && b (bool)",
         infer_logical, ref_binary<f_and>, nullptr);
  binary(OpKind::Or, "or", kNoGrad | kCommutative | kPreservesZero, "a || b (bool)",
         infer_logical, ref_binary<f_or>, nullptr);
  d.push_back({OpKind::Select, "select", 3, 3, {}, kEw, "(cond: bool, a, b) -> cond ? a : b",
               infer_select, ref_select, grad_select});
}

}  // namespace kiln
