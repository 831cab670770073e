// Static tensor shapes and tensor types (dtype + shape).
//
// Limits. Every shape is checked where it is made (Builder, Graph::add / add_leaf, the
// textual IR parser, the data loaders, the deserialiser): a tensor has at most
// kMaxTensorRank dims, kMaxTensorElements elements and kMaxTensorBytes bytes, and no
// negative dim. These bounds are far beyond any real tensor and far below int64
// overflow, so numel() and bytes() of a checked shape never overflow. Use
// checked_numel() / TensorType::validate() on shapes that come from outside (user code,
// files, command lines); numel() itself does not check.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "ir/dtype.h"
#include "ir/status.h"

namespace kiln {

inline constexpr int kMaxTensorRank = 64;
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 40;
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 40;

struct Shape {
  std::vector<int64_t> dims;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims(d) {}
  explicit Shape(std::vector<int64_t> d) : dims(std::move(d)) {}

  int rank() const { return static_cast<int>(dims.size()); }
  // Product of the dims. Only meaningful for a checked shape (see checked_numel).
  int64_t numel() const;
  // The element count, or nullopt when a dim is negative, the rank exceeds
  // kMaxTensorRank or the product of the dims, zero dims counted as 1, exceeds
  // kMaxTensorElements (so the strides of an empty tensor cannot overflow either).
  // Never overflows.
  std::optional<int64_t> checked_numel() const;
  // Ok, or an error naming the shape and what is wrong with it ("[4294967296,4294967296]
  // has about 1.84467e+19 elements, more than the limit of 2^40 = 1099511627776").
  Status validate() const;
  int64_t operator[](int i) const { return dims[i]; }
  bool operator==(const Shape& o) const { return dims == o.dims; }
  bool operator!=(const Shape& o) const { return dims != o.dims; }
  // Row-major strides in elements.
  std::vector<int64_t> strides() const;
  std::string to_string() const;  // "[2,3]"; scalars print as "[]"
};

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
  // numel * dtype size. Only meaningful for a checked type (see checked_bytes).
  size_t bytes() const { return static_cast<size_t>(shape.numel()) * dtype_size(dtype); }
  // The size in bytes, or nullopt when the shape fails checked_numel or the size exceeds
  // kMaxTensorBytes. Never overflows.
  std::optional<int64_t> checked_bytes() const;
  // Ok, or an error naming the type, its element count and bytes, and the limit broken
  // ("f32[4294967296,4294967296]: about 1.84467e+19 elements (7.37869e+19 bytes), more
  // than the limit of 2^40 = 1099511627776 elements").
  Status validate() const;
  std::string to_string() const;  // "f32[2,3]"
};

}  // namespace kiln
