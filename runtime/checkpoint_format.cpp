// Checkpoint files (see runtime/checkpoint_format.h). Reading goes envelope first (size,
// identifier, the version field read from a shallowly verified root, full flatbuffers
// verification), then decodes each field with a check that names it. The envelope, enum
// conversions and shape checks are ir/schema/flatbuffer_io.h, shared with ir/serialize.cpp
// (header-only, built on the base vocabulary of ir/ that kiln_rt may use).
#include "runtime/checkpoint_format.h"

#include <cstring>
#include <set>

#include <flatbuffers/flatbuffers.h>

#include "checkpoint_generated.h"
#include "ir/schema/flatbuffer_io.h"

namespace kiln {
namespace {

using namespace fbio;  // to_fb, read_enum, read_shape, str, Budget, Envelope, ...

const FileKind kCheckpointKind{"kiln checkpoint", "checkpoint", "checkpoint", "KCKP",
                               kCheckpointFormatVersion, fb::Checkpoint::VT_VERSION};

Expected<CheckpointTensor> read_tensor(const fb::Tensor& t, size_t index, const std::string& at,
                                       Budget& budget) {
  std::string where = at + "tensor " + std::to_string(index);
  CheckpointTensor out;
  out.name = KILN_TRY(read_tensor_name(t, where, budget));
  Expected<DType> dt = read_enum(t.dtype());
  if (!dt.ok()) return Error(where + dt.error().message());
  Expected<StateKind> kind = read_enum(t.kind());
  if (!kind.ok()) return Error(where + kind.error().message());
  Expected<StateScope> scope = read_enum(t.scope());
  if (!scope.ok()) return Error(where + scope.error().message());
  Expected<Shape> shape = read_shape(t.shape());
  if (!shape.ok()) return Error(where + "shape: " + shape.error().message());
  out.kind = *kind;
  out.scope = *scope;
  out.type = TensorType{*dt, std::move(*shape)};
  Expected<std::vector<uint8_t>> bytes = read_data(t, out.type);
  if (!bytes.ok()) return Error(where + bytes.error().message());
  out.bytes = std::move(*bytes);
  return out;
}

Status check_count(const char* field, int64_t v, const std::string& at) {
  if (v < 0) return Error(at + field + " " + std::to_string(v) + " is negative");
  return Status::Ok();
}

}  // namespace

std::vector<uint8_t> serialize_checkpoint(const CheckpointData& d) {
  size_t total = 4096 + d.model.size();
  for (const CheckpointTensor& t : d.tensors)
    total += tensor_size_estimate("serialize_checkpoint: tensor", t.name, t.type, t.bytes);
  for (const auto& epoch : d.epoch_metrics)
    for (const auto& [name, v] : epoch) total += 32 + name.size();
  for (const auto& [k, v] : d.metadata) total += 32 + k.size() + v.size();
  KILN_CHECK(total < kMaxFileBytes,
             "serialize_checkpoint: checkpoint of '" + d.model + "' exceeds flatbuffers' 2 GiB limit");

  flatbuffers::FlatBufferBuilder b(total);
  b.ForceDefaults(true);  // every field explicit, -0.0 metrics kept
  std::vector<flatbuffers::Offset<fb::EpochMetrics>> epochs;
  for (const auto& epoch : d.epoch_metrics) {
    std::vector<flatbuffers::Offset<fb::Metric>> ms;
    for (const auto& [name, v] : epoch) ms.push_back(fb::CreateMetric(b, b.CreateString(name), v));
    epochs.push_back(fb::CreateEpochMetrics(b, b.CreateVector(ms)));
  }
  std::vector<flatbuffers::Offset<fb::KeyValue>> meta = write_key_values(b, d.metadata);
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const CheckpointTensor& t : d.tensors)
    tensors.push_back(write_tensor(b, t.name, t.type, t.bytes, t.kind, t.scope));
  auto model = b.CreateString(d.model);
  auto ev = b.CreateVector(epochs);
  auto mv = b.CreateVector(meta);
  auto tv = b.CreateVector(tensors);
  b.Finish(fb::CreateCheckpoint(b, kCheckpointFormatVersion, model, d.rng_version, d.epoch, d.step,
                                d.data_seed, d.data_position, ev, mv, tv),
           fb::CheckpointIdentifier());
  return finish(b);
}

Expected<CheckpointData> parse_checkpoint(std::span<const uint8_t> bytes,
                                          const std::string& source) {
  Envelope env;
  const fb::Checkpoint& c = *KILN_TRY(env.open<fb::Checkpoint>(bytes, source, kCheckpointKind));
  const std::string at = source + ": ";
  Budget budget(bytes.size());
  CheckpointData d;
  d.model = str(c.model());
  d.rng_version = c.rng_version();
  d.epoch = c.epoch();
  d.step = c.step();
  d.data_seed = c.data_seed();
  d.data_position = c.data_position();
  KILN_RETURN_IF_ERROR(check_count("epoch", d.epoch, at));
  KILN_RETURN_IF_ERROR(check_count("step", d.step, at));
  KILN_RETURN_IF_ERROR(check_count("data_position", d.data_position, at));
  if (const auto* epochs = c.epoch_metrics()) {
    for (flatbuffers::uoffset_t e = 0; e < epochs->size(); ++e) {
      KILN_RETURN_IF_ERROR(budget.take(32, at));
      std::vector<std::pair<std::string, double>> ms;
      if (const auto* list = epochs->Get(e)->metrics()) {
        for (flatbuffers::uoffset_t i = 0; i < list->size(); ++i) {
          const fb::Metric* m = list->Get(i);
          KILN_RETURN_IF_ERROR(budget.take(32 + elems(m->name()), at));
          if (!m->name() || m->name()->size() == 0)
            return Error(at + "epoch_metrics " + std::to_string(e) + " metric " +
                         std::to_string(i) + ": missing name");
          ms.push_back({str(m->name()), m->value()});
        }
      }
      d.epoch_metrics.push_back(std::move(ms));
    }
  }
  d.metadata = KILN_TRY(read_metadata(c.metadata(), at, budget));
  std::set<std::string> names;
  if (const auto* tensors = c.tensors()) {
    for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
      CheckpointTensor t = KILN_TRY(read_tensor(*tensors->Get(i), i, at, budget));
      if (!names.insert(t.name).second)
        return Error(at + "tensor " + std::to_string(i) + " \"" + t.name + "\": duplicate name");
      d.tensors.push_back(std::move(t));
    }
  }
  return d;
}

uint64_t content_hash(const CheckpointTensor& t) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 0x100000001b3ull;  // FNV-1a 64 prime
    }
  };
  auto mix_i64 = [&](int64_t v) {
    uint8_t le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
    mix(le, 8);
  };
  const char* dt = dtype_name(t.type.dtype);
  mix(reinterpret_cast<const uint8_t*>(dt), std::strlen(dt) + 1);
  mix_i64(t.type.shape.rank());
  for (int64_t d : t.type.shape.dims) mix_i64(d);
  mix(t.bytes.data(), t.bytes.size());
  return h;
}

}  // namespace kiln
