// StateStore implementation.
#include "runtime/state_store.h"

#include <algorithm>
#include <cstring>

namespace kiln {

void StateEntry::reinitialize() {
  const TensorType& t = buffer.type();
  const size_t n = static_cast<size_t>(t.shape.numel()), width = dtype_size(t.dtype);
  InitialValues values(init, t, name, seed);
  if (values.all_zero()) {  // every dtype's zero is all zero bits
    std::memset(buffer.data(), 0, n * width);
    return;
  }
  constexpr size_t kChunk = 4096;
  double chunk[kChunk];
  auto* dst = static_cast<char*>(buffer.data());
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t count = std::min(kChunk, n - i);
    values.next(count, chunk);
    store_elements(t.dtype, chunk, count, dst + i * width);
  }
}

Expected<StateEntry*> StateStore::get_or_create(const std::string& name, const TensorType& type,
                                                StateKind kind, StateScope scope,
                                                const InitSpec& init, uint64_t seed,
                                                bool* created) {
  std::lock_guard<std::mutex> lock(mu_);
  if (created) *created = false;
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    StateEntry& e = *it->second;
    if (e.buffer.type() != type)
      return Error("state '" + name + "' exists as " + e.buffer.type().to_string() +
                   ", requested " + type.to_string());
    if (e.kind != kind)
      return Error("state '" + name + "' exists as a " + state_kind_name(e.kind) +
                   ", requested as a " + state_kind_name(kind));
    return &e;
  }
  Expected<HostBuffer> buffer = HostBuffer::allocate(type);
  if (!buffer.ok()) return buffer.error().wrap("state '" + name + "'");
  auto e = std::make_unique<StateEntry>();
  e->name = name;
  e->buffer = std::move(*buffer);
  e->kind = kind;
  e->scope = scope;
  e->init = init;
  e->seed = seed;
  e->reinitialize();
  StateEntry* raw = e.get();
  entries_.emplace(name, std::move(e));
  if (created) *created = true;
  return raw;
}

// The mirror is called outside mu_: it takes the device's lock, never this one.
StateEntry* StateStore::entry(const std::string& name) {
  StateEntry* e = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) e = it->second.get();
  }
  if (e) host_access(*e, HostAccess::Write);
  return e;
}

const StateEntry* StateStore::entry(const std::string& name) const {
  StateEntry* e = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) e = it->second.get();
  }
  if (e) host_access(*e, HostAccess::Read);
  return e;
}

std::shared_ptr<StateMirror> StateStore::mirror() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mirror_;
}

void StateStore::set_mirror(std::shared_ptr<StateMirror> mirror) {
  std::lock_guard<std::mutex> lock(mu_);
  mirror_ = std::move(mirror);
}

void StateStore::host_access(StateEntry& e, HostAccess access) const {
  if (std::shared_ptr<StateMirror> m = mirror()) m->host_access(e, access);
}

HostBuffer* StateStore::find(const std::string& name) {
  StateEntry* e = entry(name);
  return e ? &e->buffer : nullptr;
}

const HostBuffer* StateStore::find(const std::string& name) const {
  const StateEntry* e = entry(name);
  return e ? &e->buffer : nullptr;
}

std::vector<std::string> StateStore::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (auto& [k, v] : entries_) out.push_back(k);
  return out;
}

std::vector<StateEntry*> StateStore::entries() {
  std::vector<StateEntry*> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, v] : entries_) out.push_back(v.get());
  }
  for (StateEntry* e : out) host_access(*e, HostAccess::Write);
  return out;
}

std::vector<const StateEntry*> StateStore::entries() const {
  std::vector<const StateEntry*> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, v] : entries_) out.push_back(v.get());
  }
  for (const StateEntry* e : out) host_access(const_cast<StateEntry&>(*e), HostAccess::Read);
  return out;
}

std::vector<std::string> StateStore::parameters() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (auto& [k, v] : entries_)
    if (v->kind == StateKind::Parameter) out.push_back(k);
  return out;
}

bool StateStore::trainable(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);  // no buffer handed out: no mirror access
  auto it = entries_.find(name);
  return it != entries_.end() && it->second->kind == StateKind::Parameter;
}

int StateStore::reset(StateKind kind) {
  std::vector<StateEntry*> of_kind;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, v] : entries_)
      if (v->kind == kind) of_kind.push_back(v.get());
  }
  for (StateEntry* e : of_kind) {
    host_access(*e, HostAccess::Overwrite);
    e->reinitialize();
  }
  return static_cast<int>(of_kind.size());
}

}  // namespace kiln
