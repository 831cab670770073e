// HostBuffer storage, its size limit, and element conversion.
#include "runtime/host_buffer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace kiln {
namespace {

std::atomic<size_t> g_limit{0};  // 0: the default

size_t physical_memory() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::numeric_limits<size_t>::max();
  return static_cast<size_t>(pages) * static_cast<size_t>(page);
}

size_t default_limit() {
  // Half the physical memory: one buffer as large as all of it could only end in the
  // OOM killer while it is zero-filled.
  static const size_t limit = std::min(kDefaultHostBufferLimit, physical_memory() / 2);
  return limit;
}

// "52613349376 bytes (49 GiB)"
std::string bytes_text(double bytes) {
  char buf[64];
  if (bytes < 9.007199254740992e15)
    std::snprintf(buf, sizeof buf, "%.0f bytes", bytes);
  else
    std::snprintf(buf, sizeof buf, "about %g bytes", bytes);
  std::string s = buf;
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = bytes;
  int u = -1;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  if (u >= 0) {
    std::snprintf(buf, sizeof buf, " (%.3g %s)", v, units[u]);
    s += buf;
  }
  return s;
}

// static_cast<T>(x) where it is defined; out-of-range values saturate and NaN becomes 0
// (the cast op's semantics), where a plain cast would be undefined behaviour.
template <typename T>
T saturate(double x) {
  if (std::isnan(x)) return 0;
  if (x <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (x >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(x);
}

size_t rounded_size(size_t bytes) { return (std::max<size_t>(bytes, 1) + 63) / 64 * 64; }

}  // namespace

size_t host_buffer_limit() {
  size_t l = g_limit.load(std::memory_order_relaxed);
  return l ? l : default_limit();
}

void set_host_buffer_limit(size_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

Status check_host_allocation(uint64_t bytes, const std::string& what) {
  const size_t limit = host_buffer_limit();
  if (bytes <= limit) return Status::Ok();
  return Error((what.empty() ? "" : what + ": ") + "needs " + bytes_text(static_cast<double>(bytes)) +
               ", more than the limit of " + bytes_text(static_cast<double>(limit)) +
               " for one buffer");
}

Status check_host_allocation(const TensorType& type, const std::string& what) {
  const std::string prefix = what.empty() ? "" : what + ": ";
  if (Status st = type.validate(); !st.ok()) return Error(prefix + st.error().message());
  const uint64_t bytes = static_cast<uint64_t>(*type.checked_bytes());
  if (Status st = check_host_allocation(bytes, prefix + type.to_string()); !st.ok()) return st;
  return Status::Ok();
}

Expected<HostBuffer> HostBuffer::allocate(TensorType type) {
  KILN_RETURN_IF_ERROR(check_host_allocation(type));
  const size_t bytes = rounded_size(type.bytes());
  void* data = std::aligned_alloc(64, bytes);
  if (!data)
    return Error(type.to_string() + ": out of memory allocating " +
                 bytes_text(static_cast<double>(bytes)));
  std::memset(data, 0, bytes);
  return HostBuffer(Adopt{}, std::move(type), data);
}

HostBuffer::HostBuffer(TensorType type) : type_(std::move(type)) {
  KILN_CHECK(type_.checked_bytes().has_value(), "HostBuffer of invalid type " + type_.to_string());
  size_t bytes = rounded_size(type_.bytes());
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

namespace {

template <typename Get>
void store_each(DType dtype, Get&& get, size_t n, void* dst) {
  for (size_t i = 0; i < n; ++i) {
    double x = get(i);
    switch (dtype) {
      case DType::f32: static_cast<float*>(dst)[i] = static_cast<float>(x); break;
      case DType::f64: static_cast<double*>(dst)[i] = x; break;
      case DType::i32: static_cast<int32_t*>(dst)[i] = saturate<int32_t>(x); break;
      case DType::i64: static_cast<int64_t*>(dst)[i] = saturate<int64_t>(x); break;
      case DType::boolean: static_cast<uint8_t*>(dst)[i] = x != 0.0; break;
    }
  }
}

}  // namespace

void store_elements(DType dtype, const std::vector<double>& values, size_t n, void* dst) {
  store_each(dtype, [&](size_t i) { return values.empty() ? 0.0 : values[values.size() == 1 ? 0 : i]; },
             n, dst);
}

void store_elements(DType dtype, const double* values, size_t n, void* dst) {
  store_each(dtype, [&](size_t i) { return values[i]; }, n, dst);
}

}  // namespace kiln
