// HostBuffer: an owned, 64-byte-aligned, zero-initialised tensor buffer in host memory,
// and the conversions between element bytes and doubles that initial values and
// constants go through.
//
// Size limit. Buffers whose size user input decides (executable inputs, outputs and
// constants, state, checkpoint tensors) are made with HostBuffer::allocate, which checks
// the type (ir/shape.h: no overflow, at most 2^40 elements and bytes) and refuses more
// than host_buffer_limit() bytes with an error naming the type and the bytes, instead of
// aborting or being killed by the OOM killer half-way through zero-filling. The limit
// defaults to 16 GiB or half the machine's physical memory, whichever is smaller, and
// set_host_buffer_limit() changes it for the process. The explicit constructor is for
// sizes the program itself fixes: it aborts (KILN_CHECK) when the memory is not there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/shape.h"
#include "ir/status.h"

namespace kiln {

// The default limit on one buffer: 16 GiB, or half the physical memory when smaller.
inline constexpr size_t kDefaultHostBufferLimit = size_t{16} << 30;

// The largest buffer, in bytes, that HostBuffer::allocate (and check_host_allocation)
// hands out.
size_t host_buffer_limit();
// Sets that limit for the whole process; 0 restores the default. Thread-safe.
void set_host_buffer_limit(size_t bytes);

// Ok when a buffer of `type` may be allocated: the type passes TensorType::validate and
// its size is within host_buffer_limit(). Otherwise an error such as
// "f32[16777216,1,28,28] needs 52613349376 bytes (49 GiB), more than the limit of
// 17179869184 bytes (16 GiB) for one buffer". `what` (e.g. "input 'x'") prefixes it.
Status check_host_allocation(const TensorType& type, const std::string& what = "");
// The same for a raw byte count (arenas, file contents).
Status check_host_allocation(uint64_t bytes, const std::string& what);

class HostBuffer {
 public:
  HostBuffer() = default;
  // Aborts when the memory cannot be allocated: for sizes the program fixes. Anything
  // sized by user input goes through allocate().
  explicit HostBuffer(TensorType type);
  // A zeroed buffer of `type`, or an error naming the type and bytes when the type is
  // invalid, exceeds host_buffer_limit() or the allocation fails. Never aborts.
  static Expected<HostBuffer> allocate(TensorType type);

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
  struct Adopt {};
  HostBuffer(Adopt, TensorType type, void* data) : type_(std::move(type)), data_(data) {}

  TensorType type_;
  void* data_ = nullptr;
};

// Writes values (one per element, or a single value splatted) into `n` elements of
// `dtype` at dst, converting as a static_cast would (bool: v != 0), except that integers
// saturate and NaN becomes 0 where the cast would be undefined.
void store_elements(DType dtype, const std::vector<double>& values, size_t n, void* dst);
// values[0..n) into elements [0, n) of dst, converted as above.
void store_elements(DType dtype, const double* values, size_t n, void* dst);

}  // namespace kiln
