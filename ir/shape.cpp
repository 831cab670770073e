// Shape helpers and the overflow-checked size limits (see shape.h).
#include "ir/shape.h"

#include <algorithm>
#include <cstdio>

namespace kiln {

int64_t Shape::numel() const {
  // Unsigned: an unchecked shape may overflow, which must wrap rather than be UB.
  uint64_t n = 1;
  for (int64_t d : dims) n *= static_cast<uint64_t>(d);
  return static_cast<int64_t>(n);
}

std::optional<int64_t> Shape::checked_numel() const {
  if (rank() > kMaxTensorRank) return std::nullopt;
  // Zero dims count as 1 in the bound, so that strides (products of trailing dims) of an
  // empty tensor cannot overflow either: f32[0, 2^40, 2^40] is refused.
  int64_t extent = 1;
  bool zero = false;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    zero |= d == 0;
    if (__builtin_mul_overflow(extent, std::max<int64_t>(d, 1), &extent) || extent > kMaxTensorElements)
      return std::nullopt;
  }
  return zero ? 0 : extent;
}

namespace {

// The product of the dims (zeros counted as 1) as a double, for messages about shapes
// too large to count.
double approx_extent(const Shape& s) {
  double n = 1;
  for (int64_t d : s.dims) n *= static_cast<double>(std::max<int64_t>(d, 1));
  return n;
}

bool has_zero(const Shape& s) {
  for (int64_t d : s.dims)
    if (d == 0) return true;
  return false;
}

std::string approx(double v) {
  char buf[32];
  if (v < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "about %g", v);
  return buf;
}

const std::string& limit_text() {
  static const std::string s = "2^40 = " + std::to_string(kMaxTensorElements);
  return s;
}

// What is wrong with the element count of a shape that fails checked_numel for its size.
std::string count_problem(const Shape& s) {
  if (has_zero(s))
    return "the product of its non-zero dims is " + approx(approx_extent(s)) + ", more than the limit of " +
           limit_text() + " elements";
  return approx(approx_extent(s)) + " elements, more than the limit of " + limit_text();
}

}  // namespace

Status Shape::validate() const {
  if (rank() > kMaxTensorRank)
    return Error("shape of rank " + std::to_string(rank()) + " exceeds the limit of " +
                 std::to_string(kMaxTensorRank) + " dims");
  for (int64_t d : dims)
    if (d < 0) return Error("shape " + to_string() + " has a negative dimension");
  if (!checked_numel()) return Error("shape " + to_string() + ": " + count_problem(*this));
  return Status::Ok();
}

std::optional<int64_t> TensorType::checked_bytes() const {
  std::optional<int64_t> n = shape.checked_numel();
  if (!n) return std::nullopt;
  int64_t b = 0;
  if (__builtin_mul_overflow(*n, static_cast<int64_t>(dtype_size(dtype)), &b) || b > kMaxTensorBytes)
    return std::nullopt;
  return b;
}

Status TensorType::validate() const {
  if (shape.rank() > kMaxTensorRank)
    return Error(std::string(dtype_name(dtype)) + " tensor of rank " + std::to_string(shape.rank()) +
                 " exceeds the limit of " + std::to_string(kMaxTensorRank) + " dims");
  for (int64_t d : shape.dims)
    if (d < 0) return Error(to_string() + ": negative dimension");
  if (!shape.checked_numel()) {
    if (has_zero(shape)) return Error(to_string() + ": " + count_problem(shape));
    const double n = approx_extent(shape);
    return Error(to_string() + ": " + approx(n) + " elements (" + approx(n * dtype_size(dtype)) +
                 " bytes), more than the limit of " + limit_text() + " elements");
  }
  if (!checked_bytes()) {
    const double n = approx_extent(shape);
    return Error(to_string() + ": " + approx(n) + " elements (" + approx(n * dtype_size(dtype)) +
                 " bytes), more than the limit of 2^40 = " + std::to_string(kMaxTensorBytes) + " bytes");
  }
  return Status::Ok();
}

std::vector<int64_t> Shape::strides() const {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = rank() - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

std::string TensorType::to_string() const { return std::string(dtype_name(dtype)) + shape.to_string(); }

}  // namespace kiln
