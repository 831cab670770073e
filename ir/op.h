// The primitive op set and the op registry. Every op is defined by exactly one
// registry entry (ir/ops/<family>.cpp): operands, typed attributes, algebraic flags,
// shape rule, reference implementation and gradient rule. Lowering to kernel IR lives
// in codegen/lower.cpp (kept out of ir/ so ir/ does not depend on codegen/), and a test
// asserts every op is compiled by at least one parity case (tests/codegen). Softmax,
// cross-entropy, dropout, norms, ... are built from these primitives by the frontend.
//
// Semantics (inputs are positional; all elementwise ops require identical shapes --
// the frontend inserts explicit broadcasts):
// Leaves carry their binding name in Node::name (printed as name="...").
//   input            leaf; bound by the caller before each run
//   parameter        leaf; trainable state. attrs init:string ("zeros","constant",
//                    "normal","uniform","xavier_uniform","kaiming_normal"), init_a:float, init_b:float
//                    (constant: a=value; normal: a=mean,b=std; uniform: [a,b))
//   state            leaf; non-trainable state (optimizer moments, step counter, running
//                    stats). attrs init, init_a, init_b as for parameter
//   constant         leaf; attr value:float (splat) or data:floats (numel values)
//   iota             leaf; attr axis:int; out[idx] = idx[axis] (any dtype)
//   rng_uniform      input: counter (i64 scalar); attrs seed:int, key:int, shape:ints,
//                    dtype:dtype (the output type). Philox4x32-10
//                    keyed by (seed,key), counter (elem index, counter); U[0,1) in out dtype
//   rng_normal       same, standard normal (Box-Muller on two uniforms)
//   neg abs exp log sqrt tanh sigmoid relu   unary float
//   cast             attr dtype:dtype; float->int truncates toward zero, x->bool is x!=0
//   not              bool -> bool
//   stop_gradient    identity (any dtype); autodiff passes no gradient through it (d2l's
//                    detach). Lowers to its input, so it fuses away; simplify keeps it
//   add sub mul div pow max min              binary, same dtype both sides; at a tie
//                    (a == b) max/min give half the gradient to each side
//   lt le gt ge eq ne                        binary compare -> bool
//   and or                                   bool x bool -> bool
//   select           (cond:bool, a, b) -> cond ? a : b
//   broadcast        attr shape:ints; NumPy rules, right-aligned: each input dim is 1 or
//                    equal to the output dim; input rank <= output rank
//   reshape          attr shape:ints (same numel, row-major)
//   permute          attr perm:ints; out.dims[i] = in.dims[perm[i]]
//   slice            attrs start:ints, stop:ints, step:ints (step >= 1, all axes given)
//   pad              attrs low:ints, high:ints (one per axis, each >= 0), value:float;
//                    out dim = low + in + high; elements outside the input are `value`
//   concat           variadic; attr axis:int
//   reduce_sum reduce_max reduce_mean        attrs axes:ints (sorted, unique), keepdims:int(0/1);
//                    reduce_max splits the gradient evenly among tied maxima
//   matmul           [..., M, K] x [..., K, N] -> [..., M, N]; batch dims must match exactly
//   gather           (table [V, D...], indices int [I...]) -> [I..., D...]; rows of table
//                    (indices out of range are an error in the reference and clamped in JIT)
//   one_hot          (indices int [I...]) attrs depth:int, dtype -> [I..., depth]
//   scatter_add      (indices int [I...], updates [I..., D...]) attr rows:int ->
//                    [rows, D...]; out[indices[i], d] += updates[i, d], zero elsewhere
// Convolution and pooling (NCHW; float only; see ir/ops/conv.cpp and ir/ops/pool.cpp):
//   conv2d           (x [N, C, H, W], w [F, C/groups, KH, KW]) attrs stride:ints[2],
//                    padding:ints[2], dilation:ints[2], groups:int -> [N, F, OH, OW],
//                    OH = (H + 2*pad - dil*(KH-1) - 1) / stride + 1 (floor), same for OW
//   conv2d_input_grad  (dy [N, F, OH, OW], w) attrs as conv2d + input_size:ints[2] (H, W)
//                    -> dx [N, C, H, W]: the transposed convolution
//   conv2d_weight_grad (x, dy) attrs as conv2d + kernel_size:ints[2] -> dw [F, C/groups, KH, KW]
//   max_pool2d       (x) attrs kernel:ints[2], stride:ints[2], padding:ints[2] (padding is
//                    -inf, at most half the kernel) -> [N, C, OH, OW]
//   max_pool2d_indices (x) attrs as max_pool2d -> i32 [N, C, OH, OW]: the flat index
//                    ih*W + iw (within its H x W plane) of each window's first maximum in
//                    row-major order; a NaN counts as a maximum and padding never wins
//                    (PyTorch's scan: `v > max || isnan(v)` from the first element inside
//                    the input). No gradient
//   max_pool2d_grad  (indices [N, C, OH, OW] i32, dy [N, C, OH, OW]) attrs as max_pool2d +
//                    input_size:ints[2] (H, W) -> [N, C, H, W]: dx[n, c, ih, iw] is the sum
//                    of dy over the windows covering (ih, iw) whose index is ih*W + iw
//                    (an index outside its window is an error in the reference and
//                    ignored in JIT)
//   avg_pool2d       (x) attrs kernel, stride, padding, count_include_pad:int (PyTorch's
//                    default 1: padded zeros count in the divisor)
//   avg_pool2d_grad  (dy) same attrs + input_size:ints[2] -> [N, C, H, W]
//   adaptive_avg_pool2d (x) attr output_size:ints[2]; window j of an axis of size n
//                    pooled to m covers [floor(j*n/m), ceil((j+1)*n/m)) (PyTorch's rule)
//   adaptive_avg_pool2d_grad (dy) attrs output_size, input_size:ints[2] -> [N, C, H, W]
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ir/attrs.h"
#include "ir/shape.h"
#include "ir/status.h"

namespace kiln {

#define KILN_OPS(X)                                                                         \
  X(Input, "input") X(Parameter, "parameter") X(State, "state") X(Constant, "constant")     \
  X(Iota, "iota") X(RngUniform, "rng_uniform") X(RngNormal, "rng_normal")                   \
  X(Neg, "neg") X(Abs, "abs") X(Exp, "exp") X(Log, "log") X(Sqrt, "sqrt") X(Tanh, "tanh")   \
  X(Sigmoid, "sigmoid") X(Relu, "relu") X(Cast, "cast") X(Not, "not")                       \
  X(StopGradient, "stop_gradient")                                                          \
  X(Add, "add") X(Sub, "sub") X(Mul, "mul") X(Div, "div") X(Pow, "pow") X(Max, "max")       \
  X(Min, "min") X(Lt, "lt") X(Le, "le") X(Gt, "gt") X(Ge, "ge") X(Eq, "eq") X(Ne, "ne")     \
  X(And, "and") X(Or, "or") X(Select, "select")                                             \
  X(Broadcast, "broadcast") X(Reshape, "reshape") X(Permute, "permute") X(Slice, "slice")   \
  X(Pad, "pad") X(Concat, "concat")                                                         \
  X(ReduceSum, "reduce_sum") X(ReduceMax, "reduce_max") X(ReduceMean, "reduce_mean")        \
  X(Matmul, "matmul") X(Gather, "gather") X(OneHot, "one_hot") X(ScatterAdd, "scatter_add")  \
  X(Conv2d, "conv2d") X(Conv2dInputGrad, "conv2d_input_grad")                               \
  X(Conv2dWeightGrad, "conv2d_weight_grad") X(MaxPool2d, "max_pool2d")                      \
  X(MaxPool2dIndices, "max_pool2d_indices") X(MaxPool2dGrad, "max_pool2d_grad")             \
  X(AvgPool2d, "avg_pool2d")                                                                \
  X(AvgPool2dGrad, "avg_pool2d_grad") X(AdaptiveAvgPool2d, "adaptive_avg_pool2d")           \
  X(AdaptiveAvgPool2dGrad, "adaptive_avg_pool2d_grad")

enum class OpKind : uint16_t {
#define KILN_OP_ENUM(e, s) e,
  KILN_OPS(KILN_OP_ENUM)
#undef KILN_OP_ENUM
      kCount
};
constexpr int kNumOps = static_cast<int>(OpKind::kCount);

// Algebraic / structural properties that rewrites and fusion query instead of
// switching on ops (DESIGN.md convention 5).
enum OpFlag : uint32_t {
  kLeaf = 1u << 0,           // no inputs
  kElementwise = 1u << 1,    // out[i] depends only on inputs[i] (same shapes)
  kCommutative = 1u << 2,    // f(a,b) == f(b,a)
  kPreservesZero = 1u << 3,  // f(0) == 0 (unary) / f(0,0) == 0
  kStateful = 1u << 4,       // parameter/state: value persists across runs
  kReduction = 1u << 5,      // reduce_* ops
  kIndexing = 1u << 6,       // data movement: broadcast, reshape, permute, slice, pad, concat
  kRandom = 1u << 7,         // rng_*: never CSE'd or constant folded
  kNoGrad = 1u << 8,         // gradient is identically zero / undefined (compares, iota, ...)
  kBound = 1u << 9,          // leaf bound by name to a caller's or a state buffer: input,
                             // parameter, state
  kContraction = 1u << 10,   // matmul, conv2d and its gradients: computed by the backend's
                             // contraction routine, with a fused elementwise epilogue
};

struct Node;
class Graph;
class Builder;
class Tensor;

// Reference-interpreter tensor: every dtype is held as double (ints and bools are exact),
// f32 results are rounded to float after every op so the reference matches f32 math.
struct RefTensor {
  TensorType type;
  std::vector<double> data;
};

// Context given to a gradient rule. `grad_out` is dL/d(out). The rule returns one entry
// per input: a Tensor holding dL/d(input) (same type as the input), or an invalid Tensor
// (Tensor{}) when the input gets no gradient (integer indices, conditions, ...).
struct GradContext {
  Builder& b;
  const Node& node;
  std::vector<Tensor>& inputs;  // the node's inputs as Tensors
  Tensor& out;                  // the node's own output
  Tensor& grad_out;
};

using InferFn = Expected<TensorType> (*)(const Node& node, std::span<const TensorType> inputs);
using ReferenceFn = Status (*)(const Node& node, std::span<const RefTensor* const> inputs,
                               RefTensor& out);
using GradFn = std::vector<Tensor> (*)(GradContext& ctx);

struct OpDef {
  OpKind kind;
  const char* name;
  int min_inputs;
  int max_inputs;  // -1 = variadic
  std::vector<AttrSpec> attrs;
  uint32_t flags;
  const char* doc;
  InferFn infer;          // shape/type rule; errors name the problem (caller adds op + loc)
  ReferenceFn reference;  // naive implementation, the oracle for codegen tests
  GradFn grad;            // nullptr = no rule (autodiff reports an error naming the op)
  bool has(OpFlag f) const { return (flags & f) != 0; }
};

const OpDef& op_def(OpKind kind);
const char* op_name(OpKind kind);
std::optional<OpKind> parse_op(std::string_view name);

// Called once (idempotent) by op_def(); each ir/ops/<family>.cpp provides a register fn.
void register_all_ops();

}  // namespace kiln
