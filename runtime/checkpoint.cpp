// StateStore <-> checkpoint files (see runtime/checkpoint.h).
#include "runtime/checkpoint.h"

#include <cstring>
#include <map>

#include "runtime/atomic_file.h"

namespace kiln {

std::vector<CheckpointTensor> snapshot_state(const StateStore& store) {
  std::vector<CheckpointTensor> out;
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
  // Flatbuffers cannot address more than 2 GiB; refuse before serializing.
  uint64_t total = 0;
  for (const CheckpointTensor& t : data.tensors) total += t.bytes.size() + t.name.size() + 256;
  if (total >= (uint64_t{1} << 31) - (uint64_t{1} << 24))
    return Error(path + ": a checkpoint of " + std::to_string(total >> 20) +
                 " MiB exceeds the format's 2 GiB limit");
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
