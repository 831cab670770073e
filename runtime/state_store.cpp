// StateStore implementation.
#include "runtime/state_store.h"

namespace kiln {

void StateEntry::reinitialize() {
  const TensorType& t = buffer.type();
  store_elements(t.dtype, initial_values(init, t, name, seed),
                 static_cast<size_t>(t.shape.numel()), buffer.data());
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

StateEntry* StateStore::entry(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.get();
}

const StateEntry* StateStore::entry(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.get();
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
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StateEntry*> out;
  for (auto& [k, v] : entries_) out.push_back(v.get());
  return out;
}

std::vector<const StateEntry*> StateStore::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const StateEntry*> out;
  for (auto& [k, v] : entries_) out.push_back(v.get());
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
  const StateEntry* e = entry(name);
  return e && e->kind == StateKind::Parameter;
}

int StateStore::reset(StateKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (auto& [k, v] : entries_)
    if (v->kind == kind) {
      v->reinitialize();
      ++n;
    }
  return n;
}

}  // namespace kiln
