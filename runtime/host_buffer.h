// HostBuffer: an owned, 64-byte-aligned, zero-initialised tensor buffer in host memory,
// and the conversions between element bytes and doubles that initial values and
// constants go through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ir/shape.h"
#include "ir/status.h"

namespace kiln {

class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(TensorType type);
  HostBuffer(HostBuffer&&) noexcept;
  HostBuffer& operator=(HostBuffer&&) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer();

  const TensorType& type() const { return type_; }
  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T> T* as() { return static_cast<T*>(data_); }
  template <typename T> const T* as() const { return static_cast<const T*>(data_); }
  size_t bytes() const { return type_.bytes(); }

 private:
  TensorType type_;
  void* data_ = nullptr;
};

// Writes values (one per element, or a single value splatted) into `n` elements of
// `dtype` at dst, converting as a static_cast would (bool: v != 0).
void store_elements(DType dtype, const std::vector<double>& values, size_t n, void* dst);

}  // namespace kiln
