// Helpers shared by the op-family registry files (ir/ops/*.cpp): the per-family
// registration functions called by ir/registry.cpp, type-check helpers for shape rules,
// and small index utilities for the naive reference implementations.
//
// Reference-function contract (see ir/interpreter.cpp, evaluate_node): before a
// reference fn runs, `out.type` is the node's inferred type and `out.data` holds numel()
// zeros; afterwards every element is rounded to the output dtype (f32 -> float, ints
// truncate toward zero, bool -> 0/1), so reference fns may compute in plain double.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

// One per family file; each appends its OpDefs.
void register_leaf_ops(std::vector<OpDef>& defs);
void register_elementwise_ops(std::vector<OpDef>& defs);
void register_shape_ops(std::vector<OpDef>& defs);
void register_reduce_ops(std::vector<OpDef>& defs);
void register_matmul_ops(std::vector<OpDef>& defs);
void register_indexing_ops(std::vector<OpDef>& defs);

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

}  // namespace ops
}  // namespace kiln
