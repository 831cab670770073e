// Tensor operations on the IR builder (one per primitive op), used by gradient rules
// and the DSL. Binary ops broadcast NumPy-style and promote a double
// operand to the tensor's dtype. Every function records the caller's source location.
#pragma once

#include <array>
#include <source_location>
#include <vector>

#include "ir/builder.h"

namespace kiln {

using Loc = std::source_location;
#define KILN_LOC std::source_location loc = std::source_location::current()

// Elementwise unary.
Tensor neg(const Tensor& x, KILN_LOC);
Tensor abs(const Tensor& x, KILN_LOC);
Tensor exp(const Tensor& x, KILN_LOC);
Tensor log(const Tensor& x, KILN_LOC);
Tensor sqrt(const Tensor& x, KILN_LOC);
Tensor tanh(const Tensor& x, KILN_LOC);
Tensor sigmoid(const Tensor& x, KILN_LOC);
Tensor relu(const Tensor& x, KILN_LOC);
Tensor logical_not(const Tensor& x, KILN_LOC);
Tensor cast(const Tensor& x, DType dtype, KILN_LOC);
Tensor square(const Tensor& x, KILN_LOC);

// Elementwise binary with broadcasting.
Tensor add(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor sub(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor mul(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor div(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor pow(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor pow(const Tensor& a, double b, KILN_LOC);
Tensor maximum(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor minimum(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor maximum(const Tensor& a, double b, KILN_LOC);
Tensor minimum(const Tensor& a, double b, KILN_LOC);
Tensor less(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor less_equal(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor greater(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor greater_equal(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor equal(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor not_equal(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor logical_and(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor logical_or(const Tensor& a, const Tensor& b, KILN_LOC);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, KILN_LOC);
// A scalar constant of x's dtype, for mixing doubles into expressions.
Tensor scalar_like(const Tensor& x, double v, KILN_LOC);

// Operators (location captured by TensorArg).
Tensor operator+(TensorArg a, const Tensor& b);
Tensor operator-(TensorArg a, const Tensor& b);
Tensor operator*(TensorArg a, const Tensor& b);
Tensor operator/(TensorArg a, const Tensor& b);
Tensor operator+(TensorArg a, double b);
Tensor operator-(TensorArg a, double b);
Tensor operator*(TensorArg a, double b);
Tensor operator/(TensorArg a, double b);
Tensor operator+(double a, TensorArg b);
Tensor operator-(double a, TensorArg b);
Tensor operator*(double a, TensorArg b);
Tensor operator/(double a, TensorArg b);
Tensor operator-(TensorArg a);

// Shapes and data movement.
Tensor broadcast_to(const Tensor& x, Shape shape, KILN_LOC);
Tensor reshape(const Tensor& x, Shape shape, KILN_LOC);  // one dim may be -1
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm, KILN_LOC);
Tensor transpose(const Tensor& x, KILN_LOC);  // swaps the last two axes
Tensor flatten(const Tensor& x, int start_axis = 1, KILN_LOC);
Tensor slice(const Tensor& x, int axis, int64_t start, int64_t stop, int64_t step = 1, KILN_LOC);
// Pads every axis with low[d] elements before and high[d] after (each >= 0, one per
// axis), all equal to `value`; returns x itself when there is nothing to pad.
Tensor pad(const Tensor& x, const std::vector<int64_t>& low, const std::vector<int64_t>& high,
           double value = 0.0, KILN_LOC);
// The value of x with no gradient flowing back through it (d2l's detach).
Tensor stop_gradient(const Tensor& x, KILN_LOC);
Tensor concat(const std::vector<Tensor>& xs, int axis, KILN_LOC);

// Reductions: axes may be negative; empty axes = all axes.
Tensor sum(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, KILN_LOC);
Tensor max(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, KILN_LOC);
Tensor mean(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, KILN_LOC);
// Sums `x` down to `shape` (inverse of broadcast_to; used by gradient rules).
Tensor sum_to(const Tensor& x, Shape shape, KILN_LOC);

// Linear algebra: 1-D and 2-D operands as in NumPy; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, KILN_LOC);

// Indexing.
Tensor gather(const Tensor& table, const Tensor& indices, KILN_LOC);
Tensor one_hot(const Tensor& indices, int64_t depth, DType dtype = DType::f32, KILN_LOC);
Tensor scatter_add(const Tensor& indices, const Tensor& updates, int64_t rows, KILN_LOC);

// Convolution and pooling, NCHW (op semantics in ir/op.h). Pairs are (height, width).
struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};
struct Pool2dOptions {
  std::array<int64_t, 2> kernel{2, 2}, stride{2, 2}, padding{0, 0};
  bool count_include_pad = true;  // average pooling only
};
Tensor conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& o = {}, KILN_LOC);
Tensor conv2d_input_grad(const Tensor& dy, const Tensor& w, std::array<int64_t, 2> input_size,
                         const Conv2dOptions& o, KILN_LOC);
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& dy, std::array<int64_t, 2> kernel_size,
                          const Conv2dOptions& o, KILN_LOC);
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o, KILN_LOC);
Tensor max_pool2d_indices(const Tensor& x, const Pool2dOptions& o, KILN_LOC);
Tensor max_pool2d_grad(const Tensor& indices, const Tensor& dy, std::array<int64_t, 2> input_size,
                       const Pool2dOptions& o, KILN_LOC);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o, KILN_LOC);
Tensor avg_pool2d_grad(const Tensor& dy, std::array<int64_t, 2> input_size, const Pool2dOptions& o,
                       KILN_LOC);
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size, KILN_LOC);
Tensor adaptive_avg_pool2d_grad(const Tensor& dy, std::array<int64_t, 2> input_size, KILN_LOC);

// Random numbers (Philox). `counter` is an i64 scalar that changes per run (the step
// counter state); `seed` picks the stream. Each call gets a fresh key.
Tensor rng_uniform(Builder& b, Shape shape, const Tensor& counter, int64_t seed,
                   DType dtype = DType::f32, KILN_LOC);
Tensor rng_normal(Builder& b, Shape shape, const Tensor& counter, int64_t seed,
                  DType dtype = DType::f32, KILN_LOC);
}  // namespace kiln
