// HostBuffer storage and element conversion.
#include "runtime/host_buffer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace kiln {

HostBuffer::HostBuffer(TensorType type) : type_(std::move(type)) {
  size_t bytes = (std::max<size_t>(type_.bytes(), 1) + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, bytes);
  KILN_CHECK(data_ != nullptr, "out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(data_, 0, bytes);
}

HostBuffer::HostBuffer(HostBuffer&& o) noexcept : type_(std::move(o.type_)), data_(o.data_) {
  o.data_ = nullptr;
}

HostBuffer& HostBuffer::operator=(HostBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    type_ = std::move(o.type_);
    data_ = o.data_;
    o.data_ = nullptr;
  }
  return *this;
}

HostBuffer::~HostBuffer() { std::free(data_); }

void store_elements(DType dtype, const std::vector<double>& values, size_t n, void* dst) {
  auto get = [&](size_t i) { return values.empty() ? 0.0 : values[values.size() == 1 ? 0 : i]; };
  for (size_t i = 0; i < n; ++i) {
    double x = get(i);
    switch (dtype) {
      case DType::f32: static_cast<float*>(dst)[i] = static_cast<float>(x); break;
      case DType::f64: static_cast<double*>(dst)[i] = x; break;
      case DType::i32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(x); break;
      case DType::i64: static_cast<int64_t*>(dst)[i] = static_cast<int64_t>(x); break;
      case DType::boolean: static_cast<uint8_t*>(dst)[i] = x != 0.0; break;
    }
  }
}

}  // namespace kiln
