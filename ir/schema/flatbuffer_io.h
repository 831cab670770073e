// What the graph/model reader (ir/serialize.cpp) and the checkpoint reader
// (runtime/checkpoint_format.cpp) share: the conversions between kiln's enums and the
// schema's (tensor.fbs), small readers for strings and scalar vectors, shape decoding with
// its rank and element-count limits, the envelope checks every file goes through (size,
// identifier, version read from a shallowly verified root, full flatbuffers verification)
// and the budget that bounds what a reader copies out of a file.
//
// Header-only, because the embeddable runtime library kiln_rt may use nothing of ir/ but
// the base vocabulary: this file includes only ir/{status,dtype,shape,state}.h and
// flatc-generated headers (tests/layering_test.sh checks it). Readers never trust their
// input: nothing here crashes or aborts on a malformed file. Vectors of 8-byte scalars are
// copied with memcpy because the flatbuffers verifier only checks the 4-byte alignment of a
// vector's length field, so a crafted file could otherwise cause misaligned reads.
#pragma once

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "ir/dtype.h"
#include "ir/shape.h"
#include "ir/state.h"
#include "ir/status.h"
#include "tensor_generated.h"

namespace kiln::fbio {

static_assert(std::endian::native == std::endian::little,
              "flatbuffers data is read with memcpy: little-endian hosts only");

// Flatbuffers cannot address more than 2 GiB; stay a little below it.
inline constexpr size_t kMaxFileBytes = (size_t{1} << 31) - (size_t{1} << 20);

// Bounds on a stored shape: far beyond any real tensor (data must match numel * dtype size
// and a file holds under 2 GiB), far below int64 overflow.
inline constexpr int kMaxRank = 64;
inline constexpr int64_t kMaxElements = int64_t{1} << 40;

// ---- enums --------------------------------------------------------------------------

inline fb::DType to_fb(DType t) {
  switch (t) {
    case DType::f32: return fb::DType::F32;
    case DType::f64: return fb::DType::F64;
    case DType::i32: return fb::DType::I32;
    case DType::i64: return fb::DType::I64;
    case DType::boolean: return fb::DType::Bool;
  }
  return fb::DType::F32;
}

inline std::optional<DType> from_fb(fb::DType t) {
  switch (t) {
    case fb::DType::F32: return DType::f32;
    case fb::DType::F64: return DType::f64;
    case fb::DType::I32: return DType::i32;
    case fb::DType::I64: return DType::i64;
    case fb::DType::Bool: return DType::boolean;
  }
  return std::nullopt;
}

inline fb::StateKind to_fb(StateKind k) {
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

inline std::optional<StateKind> from_fb(fb::StateKind k) {
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

inline fb::StateScope to_fb(StateScope s) {
  return s == StateScope::Executable ? fb::StateScope::Executable : fb::StateScope::Model;
}

inline std::optional<StateScope> from_fb(fb::StateScope s) {
  switch (s) {
    case fb::StateScope::Model: return StateScope::Model;
    case fb::StateScope::Executable: return StateScope::Executable;
  }
  return std::nullopt;
}

inline const char* enum_noun(fb::DType) { return "dtype"; }
inline const char* enum_noun(fb::StateKind) { return "state kind"; }
inline const char* enum_noun(fb::StateScope) { return "state scope"; }

// The kiln value of a stored enum, or an error such as "unknown dtype value 9".
template <typename E>
auto read_enum(E v) -> Expected<typename decltype(from_fb(v))::value_type> {
  if (auto k = from_fb(v)) return *k;
  return Error(std::string("unknown ") + enum_noun(v) + " value " +
               std::to_string(static_cast<int>(v)));
}

// ---- small readers ------------------------------------------------------------------

inline std::string str(const flatbuffers::String* s) {
  return s ? std::string(s->c_str(), s->size()) : "";
}

template <typename T>
std::vector<T> scalars(const flatbuffers::Vector<T>* v) {
  std::vector<T> out(v ? v->size() : 0);
  if (!out.empty()) std::memcpy(out.data(), v->Data(), out.size() * sizeof(T));
  return out;
}

// Length of an optional vector or string (0 when absent).
template <typename V>
size_t elems(const V* v) {
  return v ? v->size() : 0;
}

// Element count of `dims`, or an error when a dim is negative or too large, the rank is
// too large or the count exceeds kMaxElements (never overflows).
inline Expected<int64_t> checked_numel(const std::vector<int64_t>& dims) {
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

// A stored shape whose element count is known not to overflow (the rank is checked before
// the dims are copied).
inline Expected<Shape> read_shape(const flatbuffers::Vector<int64_t>* shape) {
  if (elems(shape) > static_cast<size_t>(kMaxRank))
    return Error("rank " + std::to_string(elems(shape)) + " exceeds " + std::to_string(kMaxRank));
  std::vector<int64_t> dims = scalars(shape);
  KILN_RETURN_IF_ERROR(checked_numel(dims));
  return Shape(std::move(dims));
}

inline Expected<TensorType> read_type(fb::DType dt, const flatbuffers::Vector<int64_t>* shape) {
  DType d = KILN_TRY(read_enum(dt));
  Shape s = KILN_TRY(read_shape(shape));
  return TensorType{d, std::move(s)};
}

// Decoded data may not exceed kAmplification times the file size (plus 1 MiB). A file may
// reference one table from many places (or tensors may share one data vector); without
// this bound a small file could decode into gigabytes of copies of one big table.
// Legitimate graph files share only strings (op names, source file names, copied into
// every node): 16x leaves room for 1,000-character paths.
inline constexpr size_t kAmplification = 16;

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

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Key/value pairs with unique, present keys (values may be absent: "").
inline Expected<KeyValues> read_metadata(
    const flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>* meta, const std::string& at,
    Budget& budget) {
  KeyValues out;
  std::set<std::string> keys;
  for (flatbuffers::uoffset_t i = 0; i < elems(meta); ++i) {
    const fb::KeyValue* kv = meta->Get(i);
    KILN_RETURN_IF_ERROR(budget.take(32 + elems(kv->key()) + elems(kv->value()), at));
    if (!kv->key()) return Error(at + "metadata " + std::to_string(i) + ": missing key");
    std::string key = str(kv->key());
    if (!keys.insert(key).second)
      return Error(at + "metadata " + std::to_string(i) + ": duplicate key \"" + key + "\"");
    out.push_back({std::move(key), str(kv->value())});
  }
  return out;
}

// The data of stored tensor `t` of type `type` (already checked by read_type/read_shape),
// or an error when its size is not numel * dtype size.
inline Expected<std::vector<uint8_t>> read_data(const fb::Tensor& t, const TensorType& type) {
  size_t need = type.bytes();
  size_t have = elems(t.data());
  if (have != need)
    return Error("data has " + std::to_string(have) + " bytes, " + type.to_string() + " needs " +
                 std::to_string(need));
  std::vector<uint8_t> out;
  if (have) out.assign(t.data()->data(), t.data()->data() + have);
  return out;
}

// The name of stored tensor `t` (which must have one), after charging what decoding `t`
// copies to `budget`. `where` ("run.kckpt: tensor 3") names the tensor in errors; on
// success it gains the name and the separator: "run.kckpt: tensor 3 \"w\": ".
inline Expected<std::string> read_tensor_name(const fb::Tensor& t, std::string& where,
                                              Budget& budget) {
  KILN_RETURN_IF_ERROR(budget.take(
      64 + elems(t.name()) + elems(t.shape()) * 8 + elems(t.data()), where + ": "));
  if (!t.name() || t.name()->size() == 0) return Error(where + ": missing name");
  std::string name = str(t.name());
  where += " \"" + name + "\": ";
  return name;
}

// ---- writing ------------------------------------------------------------------------

// Bytes a tensor adds to a file, at most; KILN_CHECKs that `bytes` holds type.bytes()
// bytes. `what` names the caller: "serialize_checkpoint: tensor".
inline size_t tensor_size_estimate(const char* what, const std::string& name,
                                   const TensorType& type, const std::vector<uint8_t>& bytes) {
  KILN_CHECK(bytes.size() == type.bytes(),
             std::string(what) + " '" + name + "' holds " + std::to_string(bytes.size()) +
                 " bytes, " + type.to_string() + " needs " + std::to_string(type.bytes()));
  return bytes.size() + 128 + name.size() + 8 * type.shape.dims.size();
}

// A Tensor table with its data 64-byte aligned relative to the start of the buffer.
inline flatbuffers::Offset<fb::Tensor> write_tensor(flatbuffers::FlatBufferBuilder& b,
                                                    const std::string& name,
                                                    const TensorType& type,
                                                    const std::vector<uint8_t>& bytes,
                                                    StateKind kind = StateKind::Parameter,
                                                    StateScope scope = StateScope::Model) {
  auto n = b.CreateString(name);
  auto shape = b.CreateVector(type.shape.dims);
  b.ForceVectorAlignment(bytes.size(), 1, 64);
  auto data = b.CreateVector(bytes);
  return fb::CreateTensor(b, n, to_fb(type.dtype), shape, data, to_fb(kind), to_fb(scope));
}

inline std::vector<flatbuffers::Offset<fb::KeyValue>> write_key_values(
    flatbuffers::FlatBufferBuilder& b, const KeyValues& kv) {
  std::vector<flatbuffers::Offset<fb::KeyValue>> out;
  for (const auto& [k, v] : kv)
    out.push_back(fb::CreateKeyValue(b, b.CreateString(k), b.CreateString(v)));
  return out;
}

inline std::vector<uint8_t> finish(const flatbuffers::FlatBufferBuilder& b) {
  const uint8_t* p = b.GetBufferPointer();
  return std::vector<uint8_t>(p, p + b.GetSize());
}

// ---- envelope -----------------------------------------------------------------------

// A kind of file, with the words its error messages use.
struct FileKind {
  const char* name;        // "kiln checkpoint": "empty file (expected a kiln checkpoint)"
  const char* short_name;  // "checkpoint": "corrupt or truncated checkpoint (...)"
  const char* format;      // "checkpoint": "checkpoint format version 3"
  const char* identifier;  // "KCKP"
  uint32_t version;        // the version this kiln reads
  flatbuffers::voffset_t version_field;
};

// "a kiln graph" for kiln's identifiers, else "identifier 'AB\x01C'".
inline std::string describe_identifier(const uint8_t* id) {
  static const std::pair<const char*, const char*> kKnown[] = {
      {"KGRF", "a kiln graph"}, {"KMDL", "a kiln model"}, {"KCKP", "a kiln checkpoint"},
      {"KMOD", "a kiln module"}};
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

inline flatbuffers::Verifier::Options verifier_options(size_t size) {
  flatbuffers::Verifier::Options o;
  o.max_depth = 64;
  // A table costs at least 8 bytes (its vtable offset and the offset referring to it), so
  // an honest file has at most size/8 tables; more visits mean one table is referenced
  // from many places. This bounds the verifier's work linearly in the size.
  o.max_tables = static_cast<flatbuffers::uoffset_t>(size / 4 + 1024);
  return o;
}

// Reads the version field of the root table after checking only what that read touches.
inline std::optional<uint32_t> shallow_version(const uint8_t* buf, size_t size,
                                               flatbuffers::voffset_t field) {
  flatbuffers::Verifier v(buf, size, verifier_options(size));
  if (!v.Verify<flatbuffers::uoffset_t>(0)) return std::nullopt;
  flatbuffers::uoffset_t off = v.VerifyOffset(0);
  if (off == 0) return std::nullopt;
  const auto* table = reinterpret_cast<const flatbuffers::Table*>(buf + off);
  if (!v.VerifyTableStart(buf + off) || !table->VerifyField<uint32_t>(v, field, 4))
    return std::nullopt;
  return table->GetField<uint32_t>(field, 0);
}

// A file's bytes at an 8-byte-aligned address (copied when the input is misaligned),
// checked up to the flatbuffers Verifier. The root stays valid while the Envelope and the
// input bytes live.
class Envelope {
 public:
  template <typename Root>
  Expected<const Root*> open(std::span<const uint8_t> bytes, const std::string& source,
                             const FileKind& k) {
    if (bytes.empty()) return Error(source + ": empty file (expected a " + k.name + ")");
    if (bytes.size() > kMaxFileBytes)
      return Error(source + ": " + std::to_string(bytes.size()) +
                   " bytes, more than a flatbuffers " + k.short_name + " can hold");
    if (bytes.size() < 8)
      return Error(source + ": truncated: " + std::to_string(bytes.size()) + " bytes is not a " +
                   k.name);
    if (std::memcmp(bytes.data() + 4, k.identifier, 4) != 0)
      return Error(source + ": not a " + k.name + ": found " +
                   describe_identifier(bytes.data() + 4) + ", expected identifier '" +
                   k.identifier + "'");
    const uint8_t* data = bytes.data();
    const size_t size = bytes.size();
    if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
      storage_.resize((size + 7) / 8);
      std::memcpy(storage_.data(), bytes.data(), size);
      data = reinterpret_cast<const uint8_t*>(storage_.data());
    }
    std::optional<uint32_t> version = shallow_version(data, size, k.version_field);
    if (!version)
      return Error(source + ": corrupt or truncated " + k.short_name +
                   " (root table unreadable)");
    if (*version != k.version)
      return Error(source + ": " + k.format + " format version " + std::to_string(*version) +
                   ", this kiln reads version " + std::to_string(k.version));
    flatbuffers::Verifier v(data, size, verifier_options(size));
    if (!v.VerifyBuffer<Root>(k.identifier))
      return Error(source + ": corrupt or truncated " + k.short_name +
                   " (flatbuffers verification failed)");
    return flatbuffers::GetRoot<Root>(data);
  }

 private:
  std::vector<uint64_t> storage_;
};

}  // namespace kiln::fbio
