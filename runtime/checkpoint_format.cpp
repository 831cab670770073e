// Checkpoint files (see runtime/checkpoint_format.h). Reading goes envelope first (size,
// identifier, the version field read from a shallowly verified root, full flatbuffers
// verification), then decodes each field with a check that names it. Vectors of 8-byte
// scalars are copied with memcpy: the flatbuffers verifier checks only the 4-byte
// alignment of a vector's length, so a crafted file could otherwise cause misaligned
// reads. The envelope mirrors ir/serialize.cpp's; kiln_rt may not use ir/ beyond the base
// vocabulary, so the two dozen lines live in both files.
#include "runtime/checkpoint_format.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include <flatbuffers/flatbuffers.h>

#include "checkpoint_generated.h"

namespace kiln {
namespace {

static_assert(std::endian::native == std::endian::little,
              "flatbuffers data is read with memcpy: little-endian hosts only");

constexpr size_t kMaxFileBytes = (size_t{1} << 31) - (size_t{1} << 20);
constexpr int kMaxRank = 64;
// Data must match numel * dtype size and a file holds under 2 GiB, so any larger count is
// corrupt; the bound keeps the arithmetic far from overflow.
constexpr int64_t kMaxElements = int64_t{1} << 40;

// ---- enums --------------------------------------------------------------------------

fb::DType to_fb(DType t) {
  switch (t) {
    case DType::f32: return fb::DType::F32;
    case DType::f64: return fb::DType::F64;
    case DType::i32: return fb::DType::I32;
    case DType::i64: return fb::DType::I64;
    case DType::boolean: return fb::DType::Bool;
  }
  return fb::DType::F32;
}

std::optional<DType> from_fb(fb::DType t) {
  switch (t) {
    case fb::DType::F32: return DType::f32;
    case fb::DType::F64: return DType::f64;
    case fb::DType::I32: return DType::i32;
    case fb::DType::I64: return DType::i64;
    case fb::DType::Bool: return DType::boolean;
  }
  return std::nullopt;
}

fb::StateKind to_fb(StateKind k) {
  switch (k) {
    case StateKind::Parameter: return fb::StateKind::Parameter;
    case StateKind::OptimizerSlot: return fb::StateKind::OptimizerSlot;
    case StateKind::StepCounter: return fb::StateKind::StepCounter;
    case StateKind::RngCounter: return fb::StateKind::RngCounter;
    case StateKind::RunningStat: return fb::StateKind::RunningStat;
    case StateKind::Carried: return fb::StateKind::Carried;
    case StateKind::Hyperparameter: return fb::StateKind::Hyperparameter;
  }
  return fb::StateKind::Parameter;
}

std::optional<StateKind> from_fb(fb::StateKind k) {
  switch (k) {
    case fb::StateKind::Parameter: return StateKind::Parameter;
    case fb::StateKind::OptimizerSlot: return StateKind::OptimizerSlot;
    case fb::StateKind::StepCounter: return StateKind::StepCounter;
    case fb::StateKind::RngCounter: return StateKind::RngCounter;
    case fb::StateKind::RunningStat: return StateKind::RunningStat;
    case fb::StateKind::Carried: return StateKind::Carried;
    case fb::StateKind::Hyperparameter: return StateKind::Hyperparameter;
  }
  return std::nullopt;
}

fb::StateScope to_fb(StateScope s) {
  return s == StateScope::Executable ? fb::StateScope::Executable : fb::StateScope::Model;
}

std::optional<StateScope> from_fb(fb::StateScope s) {
  switch (s) {
    case fb::StateScope::Model: return StateScope::Model;
    case fb::StateScope::Executable: return StateScope::Executable;
  }
  return std::nullopt;
}

std::string str(const flatbuffers::String* s) { return s ? std::string(s->c_str(), s->size()) : ""; }

template <typename T>
std::vector<T> scalars(const flatbuffers::Vector<T>* v) {
  std::vector<T> out(v ? v->size() : 0);
  if (!out.empty()) std::memcpy(out.data(), v->Data(), out.size() * sizeof(T));
  return out;
}

// ---- envelope -----------------------------------------------------------------------

std::string describe_identifier(const uint8_t* id) {
  static const std::pair<const char*, const char*> kKnown[] = {
      {"KGRF", "a kiln graph"}, {"KMDL", "a kiln model"}, {"KCKP", "a kiln checkpoint"}};
  for (const auto& [ident, name] : kKnown)
    if (std::memcmp(id, ident, 4) == 0) return name;
  std::string s = "identifier '";
  for (int i = 0; i < 4; ++i) {
    char buf[8];
    bool printable = id[i] >= 0x20 && id[i] < 0x7f;
    std::snprintf(buf, sizeof buf, printable ? "%c" : "\\x%02x", id[i]);
    s += buf;
  }
  return s + "'";
}

flatbuffers::Verifier::Options verifier_options(size_t size) {
  flatbuffers::Verifier::Options o;
  o.max_depth = 64;
  o.max_tables = static_cast<flatbuffers::uoffset_t>(size / 4 + 1024);  // linear work
  return o;
}

std::optional<uint32_t> shallow_version(const uint8_t* buf, size_t size) {
  flatbuffers::Verifier v(buf, size, verifier_options(size));
  if (!v.Verify<flatbuffers::uoffset_t>(0)) return std::nullopt;
  flatbuffers::uoffset_t off = v.VerifyOffset(0);
  if (off == 0) return std::nullopt;
  const auto* table = reinterpret_cast<const flatbuffers::Table*>(buf + off);
  constexpr auto kField = fb::Checkpoint::VT_VERSION;
  if (!v.VerifyTableStart(buf + off) || !table->VerifyField<uint32_t>(v, kField, 4))
    return std::nullopt;
  return table->GetField<uint32_t>(kField, 0);
}

// Returns the verified root; `storage` receives an aligned copy when `bytes` is misaligned.
Expected<const fb::Checkpoint*> open_checkpoint(std::span<const uint8_t> bytes,
                                                const std::string& source,
                                                std::vector<uint64_t>& storage) {
  if (bytes.empty()) return Error(source + ": empty file (expected a kiln checkpoint)");
  if (bytes.size() > kMaxFileBytes)
    return Error(source + ": " + std::to_string(bytes.size()) +
                 " bytes, more than a flatbuffers checkpoint can hold");
  if (bytes.size() < 8)
    return Error(source + ": truncated: " + std::to_string(bytes.size()) +
                 " bytes is not a kiln checkpoint");
  if (std::memcmp(bytes.data() + 4, fb::CheckpointIdentifier(), 4) != 0)
    return Error(source + ": not a kiln checkpoint: found " +
                 describe_identifier(bytes.data() + 4) + ", expected identifier '" +
                 fb::CheckpointIdentifier() + "'");
  const uint8_t* data = bytes.data();
  if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
    storage.resize((bytes.size() + 7) / 8);
    std::memcpy(storage.data(), bytes.data(), bytes.size());
    data = reinterpret_cast<const uint8_t*>(storage.data());
  }
  std::optional<uint32_t> version = shallow_version(data, bytes.size());
  if (!version) return Error(source + ": corrupt or truncated checkpoint (root table unreadable)");
  if (*version != kCheckpointFormatVersion)
    return Error(source + ": checkpoint format version " + std::to_string(*version) +
                 ", this kiln reads version " + std::to_string(kCheckpointFormatVersion));
  flatbuffers::Verifier v(data, bytes.size(), verifier_options(bytes.size()));
  if (!fb::VerifyCheckpointBuffer(v))
    return Error(source + ": corrupt or truncated checkpoint (flatbuffers verification failed)");
  return fb::GetCheckpoint(data);
}

// ---- fields -------------------------------------------------------------------------

// Decoded data may not exceed kAmplification times the file size (plus 1 MiB): tensors may
// share one data vector, and without this bound a small file could decode into gigabytes.
constexpr size_t kAmplification = 16;

class Budget {
 public:
  explicit Budget(size_t file_size) : left_(kAmplification * file_size + (size_t{1} << 20)) {}
  Status take(size_t bytes, const std::string& at) {
    if (bytes > left_)
      return Error(at + "decoded data exceeds " + std::to_string(kAmplification) +
                   " times the file size (one table referenced from many places?)");
    left_ -= bytes;
    return Status::Ok();
  }

 private:
  size_t left_;
};

template <typename V>
size_t elems(const V* v) {
  return v ? v->size() : 0;
}

// Element count of `dims`, or an error; never overflows.
Expected<int64_t> checked_numel(const std::vector<int64_t>& dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank))
    return Error("rank " + std::to_string(dims.size()) + " exceeds " + std::to_string(kMaxRank));
  bool zero = false;
  for (int64_t d : dims) {
    if (d < 0) return Error("negative dimension " + std::to_string(d));
    if (d > kMaxElements) return Error("dimension " + std::to_string(d) + " too large");
    zero |= d == 0;
  }
  if (zero) return int64_t{0};
  int64_t n = 1;
  for (int64_t d : dims) {
    if (n > kMaxElements / d)
      return Error("element count of " + Shape(dims).to_string() + " exceeds " +
                   std::to_string(kMaxElements));
    n *= d;
  }
  return n;
}

Expected<CheckpointTensor> read_tensor(const fb::Tensor& t, size_t index, const std::string& at,
                                       Budget& budget) {
  std::string where = at + "tensor " + std::to_string(index);
  KILN_RETURN_IF_ERROR(budget.take(
      64 + elems(t.name()) + elems(t.shape()) * 8 + elems(t.data()), where + ": "));
  if (!t.name() || t.name()->size() == 0) return Error(where + ": missing name");
  CheckpointTensor out;
  out.name = str(t.name());
  where += " \"" + out.name + "\": ";
  std::optional<DType> dt = from_fb(t.dtype());
  if (!dt) return Error(where + "unknown dtype value " + std::to_string(static_cast<int>(t.dtype())));
  std::optional<StateKind> kind = from_fb(t.kind());
  if (!kind)
    return Error(where + "unknown state kind value " + std::to_string(static_cast<int>(t.kind())));
  std::optional<StateScope> scope = from_fb(t.scope());
  if (!scope)
    return Error(where + "unknown state scope value " +
                 std::to_string(static_cast<int>(t.scope())));
  if (elems(t.shape()) > static_cast<size_t>(kMaxRank))
    return Error(where + "shape: rank " + std::to_string(elems(t.shape())) + " exceeds " +
                 std::to_string(kMaxRank));
  std::vector<int64_t> dims = scalars(t.shape());
  Expected<int64_t> numel = checked_numel(dims);
  if (!numel.ok()) return Error(where + "shape: " + numel.error().message());
  out.kind = *kind;
  out.scope = *scope;
  out.type = TensorType{*dt, Shape(std::move(dims))};
  size_t need = static_cast<size_t>(*numel) * dtype_size(*dt);
  size_t have = t.data() ? t.data()->size() : 0;
  if (have != need)
    return Error(where + "data has " + std::to_string(have) + " bytes, " + out.type.to_string() +
                 " needs " + std::to_string(need));
  if (have) out.bytes.assign(t.data()->data(), t.data()->data() + have);
  return out;
}

Status check_count(const char* field, int64_t v, const std::string& at) {
  if (v < 0) return Error(at + field + " " + std::to_string(v) + " is negative");
  return Status::Ok();
}

}  // namespace

std::vector<uint8_t> serialize_checkpoint(const CheckpointData& d) {
  size_t total = 4096 + d.model.size();
  for (const CheckpointTensor& t : d.tensors) {
    KILN_CHECK(t.bytes.size() == t.type.bytes(),
               "serialize_checkpoint: tensor '" + t.name + "' holds " +
                   std::to_string(t.bytes.size()) + " bytes, " + t.type.to_string() + " needs " +
                   std::to_string(t.type.bytes()));
    total += t.bytes.size() + 128 + t.name.size() + 8 * t.type.shape.dims.size();
  }
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
  std::vector<flatbuffers::Offset<fb::KeyValue>> meta;
  for (const auto& [k, v] : d.metadata)
    meta.push_back(fb::CreateKeyValue(b, b.CreateString(k), b.CreateString(v)));
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const CheckpointTensor& t : d.tensors) {
    auto name = b.CreateString(t.name);
    auto shape = b.CreateVector(t.type.shape.dims);
    b.ForceVectorAlignment(t.bytes.size(), 1, 64);
    auto data = b.CreateVector(t.bytes);
    tensors.push_back(fb::CreateTensor(b, name, to_fb(t.type.dtype), shape, data, to_fb(t.kind),
                                       to_fb(t.scope)));
  }
  auto model = b.CreateString(d.model);
  auto ev = b.CreateVector(epochs);
  auto mv = b.CreateVector(meta);
  auto tv = b.CreateVector(tensors);
  b.Finish(fb::CreateCheckpoint(b, kCheckpointFormatVersion, model, d.rng_version, d.epoch, d.step,
                                d.data_seed, d.data_position, ev, mv, tv),
           fb::CheckpointIdentifier());
  const uint8_t* p = b.GetBufferPointer();
  return std::vector<uint8_t>(p, p + b.GetSize());
}

Expected<CheckpointData> parse_checkpoint(std::span<const uint8_t> bytes,
                                          const std::string& source) {
  std::vector<uint64_t> storage;
  const fb::Checkpoint& c = *KILN_TRY(open_checkpoint(bytes, source, storage));
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
  std::set<std::string> keys;
  if (const auto* meta = c.metadata()) {
    for (flatbuffers::uoffset_t i = 0; i < meta->size(); ++i) {
      const fb::KeyValue* kv = meta->Get(i);
      KILN_RETURN_IF_ERROR(budget.take(32 + elems(kv->key()) + elems(kv->value()), at));
      if (!kv->key()) return Error(at + "metadata " + std::to_string(i) + ": missing key");
      std::string key = str(kv->key());
      if (!keys.insert(key).second)
        return Error(at + "metadata " + std::to_string(i) + ": duplicate key \"" + key + "\"");
      d.metadata.push_back({std::move(key), str(kv->value())});
    }
  }
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
