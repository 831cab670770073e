// Static tensor shapes and tensor types (dtype + shape).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "ir/dtype.h"

namespace kiln {

struct Shape {
  std::vector<int64_t> dims;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims(d) {}
  explicit Shape(std::vector<int64_t> d) : dims(std::move(d)) {}

  int rank() const { return static_cast<int>(dims.size()); }
  int64_t numel() const;
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
  size_t bytes() const { return static_cast<size_t>(shape.numel()) * dtype_size(dtype); }
  std::string to_string() const;  // "f32[2,3]"
};

}  // namespace kiln
