// DType names and sizes.
#include "ir/dtype.h"

#include <cmath>

namespace kiln {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::boolean: return "bool";
  }
  return "?";
}

double round_to_dtype(DType t, double v) {
  switch (t) {
    case DType::f32: return static_cast<double>(static_cast<float>(v));
    case DType::f64: return v;
    case DType::i32:
    case DType::i64: {
      if (std::isnan(v)) return 0.0;
      double tr = std::trunc(v);
      if (t == DType::i32) {
        if (tr >= 2147483647.0) return 2147483647.0;
        if (tr <= -2147483648.0) return -2147483648.0;
      }
      // i64 saturates too (the reference holds doubles, so to the nearest doubles).
      if (tr >= 9223372036854775807.0) return 9223372036854775807.0;
      if (tr <= -9223372036854775808.0) return -9223372036854775808.0;
      return tr;
    }
    case DType::boolean: return v != 0.0 ? 1.0 : 0.0;
  }
  return v;
}

double wrap_to_dtype(DType t, double v) {
  // Outside int64 (or NaN) there is nothing to wrap; saturate like a cast.
  if (t != DType::i32 || !(std::fabs(v) < 0x1p63)) return round_to_dtype(t, v);
  const auto bits = static_cast<uint32_t>(static_cast<int64_t>(std::trunc(v)));
  return static_cast<double>(static_cast<int32_t>(bits));
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "f32") return DType::f32;
  if (name == "f64") return DType::f64;
  if (name == "i32") return DType::i32;
  if (name == "i64") return DType::i64;
  if (name == "bool") return DType::boolean;
  return std::nullopt;
}

}  // namespace kiln
