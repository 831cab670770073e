// Element types of kiln tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln {

enum class DType : uint8_t { f32, f64, i32, i64, boolean };

size_t dtype_size(DType t);            // bytes per element (boolean is 1 byte)
const char* dtype_name(DType t);       // "f32", "f64", "i32", "i64", "bool"
std::optional<DType> parse_dtype(std::string_view name);
// Rounds a double to the nearest value a tensor of `t` holds: f32 rounding, integer
// truncation toward zero (NaN -> 0, i32 saturates), bool as != 0. The reference
// interpreter keeps every dtype as double; this rounds casts, fed values and initial values.
double round_to_dtype(DType t, double v);
// Like round_to_dtype, but an i32 result wraps modulo 2^32 (two's complement) instead of
// saturating: how generated code does integer arithmetic. The interpreter applies it after
// every op; the cast op's reference saturates first, so casts saturate.
double wrap_to_dtype(DType t, double v);
inline bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }
inline bool is_int(DType t) { return t == DType::i32 || t == DType::i64; }

}  // namespace kiln
