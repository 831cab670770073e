// Helpers shared by the op-family registry files (ir/ops/*.cpp): the per-family
// registration functions called by ir/registry.cpp, type-check helpers for shape rules,
// small index utilities for the naive reference implementations, and the window
// arithmetic shared by convolution and pooling.
//
// Reference-function contract (see ir/interpreter.cpp, evaluate_node): before a
// reference fn runs, `out.type` is the node's inferred type and `out.data` holds numel()
// zeros; afterwards every element is rounded to the output dtype (f32 -> float, ints
// truncate toward zero, bool -> 0/1), so reference fns may compute in plain double.
#pragma once

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/graph.h"

namespace kiln {

// One per family file; each appends its OpDefs.
void register_leaf_ops(std::vector<OpDef>& defs);
void register_elementwise_ops(std::vector<OpDef>& defs);
void register_shape_ops(std::vector<OpDef>& defs);
void register_reduce_ops(std::vector<OpDef>& defs);
void register_matmul_ops(std::vector<OpDef>& defs);
void register_indexing_ops(std::vector<OpDef>& defs);
void register_conv_ops(std::vector<OpDef>& defs);
void register_pool_ops(std::vector<OpDef>& defs);

namespace ops {

inline std::string ints_to_string(const std::vector<int64_t>& xs) {
  std::string s = "[";
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
  return s + "]";
}

// Row-major multi-index of linear index `i` in `shape` (written into `idx`).
inline void unravel(int64_t i, const Shape& shape, std::vector<int64_t>& idx) {
  idx.assign(shape.dims.size(), 0);
  for (int d = shape.rank() - 1; d >= 0; --d) {
    int64_t n = shape.dims[d];
    if (n == 0) return;
    idx[d] = i % n;
    i /= n;
  }
}

inline int64_t ravel(const std::vector<int64_t>& idx, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * strides[d];
  return off;
}

inline Status require_float(const TensorType& t, const char* what = "input") {
  if (is_float(t.dtype)) return Status::Ok();
  return Error(std::string(what) + " must be f32 or f64, got " + t.to_string());
}
inline Status require_numeric(const TensorType& t, const char* what = "input") {
  if (t.dtype != DType::boolean) return Status::Ok();
  return Error(std::string(what) + " must be numeric, got " + t.to_string());
}
inline Status require_int(const TensorType& t, const char* what = "indices") {
  if (is_int(t.dtype)) return Status::Ok();
  return Error(std::string(what) + " must be i32 or i64, got " + t.to_string());
}

// Checks an axes attribute: sorted, unique, each in [0, rank).
inline Status check_axes(const std::vector<int64_t>& axes, int rank) {
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= rank)
      return Error("axis " + std::to_string(axes[i]) + " out of range for rank " +
                   std::to_string(rank));
    if (i > 0 && axes[i] <= axes[i - 1])
      return Error("axes must be sorted and unique, got " + ints_to_string(axes));
  }
  return Status::Ok();
}

// ---- windowed ops (ir/ops/conv.cpp, ir/ops/pool.cpp): NCHW, pairs are (height, width) ----

using Pair = std::array<int64_t, 2>;

// Window attributes (stride, padding, dilation, kernel, groups, pooled sizes) are at most
// 2^20 and dims at most 2^40 (ir/shape.h), so the size arithmetic of the shape rules and
// references (dilation * kernel, j * n of adaptive windows) cannot overflow int64.
inline constexpr int64_t kMaxWindowAttr = int64_t{1} << 20;

// (H, W) of an NCHW tensor.
inline Pair hw_of(const Tensor& t) { return {t.shape()[2], t.shape()[3]}; }

inline std::string hw(const Pair& p) { return std::to_string(p[0]) + "x" + std::to_string(p[1]); }

// The pair attribute `name`: two entries, each in [min, max].
inline Expected<Pair> pair_attr(const Node& n, const char* name, int64_t min,
                                int64_t max = kMaxWindowAttr) {
  const std::vector<int64_t>& v = n.attrs.ints(name);
  if (v.size() != 2)
    return Error(std::string(name) + " must have 2 entries (height, width), got " +
                 ints_to_string(v));
  for (int64_t e : v) {
    if (e < min)
      return Error(std::string(name) + " must be >= " + std::to_string(min) + ", got " +
                   ints_to_string(v));
    if (e > max)
      return Error(std::string(name) + " must be <= " + std::to_string(max) + ", got " +
                   ints_to_string(v));
  }
  return Pair{v[0], v[1]};
}

inline Status require_nchw(const TensorType& t, const char* what) {
  if (t.shape.rank() == 4) return require_float(t, what);
  return Error(std::string(what) + " must have rank 4 [N, C, H, W], got " + t.to_string());
}

// Output size of a window sliding along an axis of size `in`:
// (in + 2*pad - dil*(k-1) - 1) / stride + 1, or 0 when the dilated window does not fit
// into the padded input.
inline int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil = 1) {
  const int64_t room = in + 2 * pad - dil * (k - 1) - 1;
  return room < 0 ? 0 : room / stride + 1;
}

}  // namespace ops
}  // namespace kiln
