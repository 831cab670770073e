// HostBuffer (64-byte-aligned, zero-initialized owned storage) and StateStore (named
// parameter/state buffers shared between executables).
#include "runtime/executable.h"

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

Expected<HostBuffer*> StateStore::get_or_create(const std::string& name, const TensorType& type,
                                                bool trainable, bool* created) {
  if (created) *created = false;
  auto it = buffers_.find(name);
  if (it != buffers_.end()) {
    if (it->second.type() != type)
      return Error("state '" + name + "' exists as " + it->second.type().to_string() +
                   ", requested " + type.to_string());
    return &it->second;
  }
  auto [pos, ok] = buffers_.emplace(name, HostBuffer(type));
  trainable_[name] = trainable;
  if (created) *created = true;
  return &pos->second;
}

HostBuffer* StateStore::find(const std::string& name) {
  auto it = buffers_.find(name);
  return it == buffers_.end() ? nullptr : &it->second;
}

const HostBuffer* StateStore::find(const std::string& name) const {
  auto it = buffers_.find(name);
  return it == buffers_.end() ? nullptr : &it->second;
}

std::vector<std::string> StateStore::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : buffers_) out.push_back(k);
  return out;
}

std::vector<std::string> StateStore::parameters() const {
  std::vector<std::string> out;
  for (auto& [k, v] : trainable_)
    if (v) out.push_back(k);
  return out;
}

bool StateStore::trainable(const std::string& name) const {
  auto it = trainable_.find(name);
  return it != trainable_.end() && it->second;
}

}  // namespace kiln
