// StateStore <-> checkpoint files (see runtime/checkpoint.h).
#include "runtime/checkpoint.h"

#include <cstring>
#include <map>
#include <new>

#include "runtime/atomic_file.h"

namespace kiln {

namespace {

// Flatbuffers cannot address more than 2 GiB: a checkpoint stays 16 MiB under it, counting
// each tensor's bytes, its name and a table's worth of fields.
constexpr uint64_t kMaxCheckpointBytes = (uint64_t{1} << 31) - (uint64_t{1} << 24);
uint64_t tensor_footprint(size_t bytes, size_t name_size) { return bytes + name_size + 256; }

Status check_checkpoint_size(uint64_t total, const std::string& what) {
  if (total < kMaxCheckpointBytes) return Status::Ok();
  return Error(what + " of " + std::to_string(total >> 20) +
               " MiB exceeds the checkpoint format's 2 GiB limit");
}

}  // namespace

Expected<std::vector<CheckpointTensor>> snapshot_state(const StateStore& store) {
  uint64_t total = 0;
  for (const StateEntry* e : store.entries())
    if (e->scope == StateScope::Model) total += tensor_footprint(e->buffer.bytes(), e->name.size());
  KILN_RETURN_IF_ERROR(check_checkpoint_size(total, "the model's state"));
  std::vector<CheckpointTensor> out;
  try {
    for (const StateEntry* e : store.entries()) {
      if (e->scope != StateScope::Model) continue;
      CheckpointTensor t;
      t.name = e->name;
      t.kind = e->kind;
      t.scope = e->scope;
      t.type = e->buffer.type();
      const auto* p = static_cast<const uint8_t*>(e->buffer.data());
      t.bytes.assign(p, p + e->buffer.bytes());
      out.push_back(std::move(t));
    }
  } catch (const std::bad_alloc&) {
    return Error("out of memory copying the model's state (" + std::to_string(total >> 20) +
                 " MiB) for a checkpoint");
  }
  return out;
}

Status restore_state(StateStore& store, const CheckpointData& data, const std::string& source,
                     RestoreMode mode) {
  std::map<std::string, const CheckpointTensor*> by_name;
  for (const CheckpointTensor& t : data.tensors) by_name[t.name] = &t;
  std::vector<std::pair<StateEntry*, const CheckpointTensor*>> copies;
  size_t matched = 0;
  for (StateEntry* e : store.entries()) {
    if (e->scope != StateScope::Model) continue;
    auto it = by_name.find(e->name);
    if (it == by_name.end())
      return Error(source + ": no state '" + e->name + "' (a " + state_kind_name(e->kind) +
                   " of this model); is the checkpoint from another model?");
    const CheckpointTensor& t = *it->second;
    if (t.type != e->buffer.type())
      return Error(source + ": state '" + e->name + "' is " + t.type.to_string() +
                   ", the model has " + e->buffer.type().to_string());
    if (t.kind != e->kind)
      return Error(source + ": state '" + e->name + "' is a " + state_kind_name(t.kind) +
                   ", the model's is a " + state_kind_name(e->kind));
    copies.push_back({e, &t});
    ++matched;
  }
  if (mode == RestoreMode::Exact && matched != data.tensors.size()) {
    for (const CheckpointTensor& t : data.tensors)
      if (!store.has(t.name))
        return Error(source + ": state '" + t.name + "' is not part of this model");
  }
  for (auto& [e, t] : copies) std::memcpy(e->buffer.data(), t->bytes.data(), t->bytes.size());
  return Status::Ok();
}

Status save_checkpoint(const std::string& path, const CheckpointData& data) {
  uint64_t total = 0;  // refused before serializing
  for (const CheckpointTensor& t : data.tensors) total += tensor_footprint(t.bytes.size(), t.name.size());
  KILN_RETURN_IF_ERROR(check_checkpoint_size(total, path + ": a checkpoint"));
  std::vector<uint8_t> bytes = serialize_checkpoint(data);
  return write_file_atomic(path, bytes.data(), bytes.size());
}

Expected<CheckpointData> load_checkpoint(const std::string& path) {
  std::string bytes = KILN_TRY(read_file(path));
  return parse_checkpoint(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      path);
}

}  // namespace kiln
