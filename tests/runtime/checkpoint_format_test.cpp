// Checkpoint files (runtime/checkpoint_format.h): every field survives bytes -> data, the
// tensor data sits 64-byte aligned, content_hash depends on dtype, shape and bytes only, a
// table of corrupted inputs each gives its expected message naming the source and the
// field, and thousands of mutated buffers never crash the reader.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "checkpoint_generated.h"
#include "fuzz/mutate.h"
#include "fuzz/samples.h"
#include "ir/serialize.h"
#include "loader_cases.h"
#include "runtime/atomic_file.h"
#include "runtime/checkpoint_format.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

using fuzz::sample_checkpoint;
CheckpointTensor tensor(std::string name, StateKind kind, StateScope scope, DType dt,
                        std::vector<int64_t> dims, uint8_t fill) {
  return fuzz::sample_tensor(std::move(name), kind, scope, dt, std::move(dims), fill);
}

void check_equal(const CheckpointData& a, const CheckpointData& b) {
  CHECK(a.model == b.model);
  CHECK(a.rng_version == b.rng_version);
  CHECK(a.epoch == b.epoch);
  CHECK(a.step == b.step);
  CHECK(a.data_seed == b.data_seed);
  CHECK(a.data_position == b.data_position);
  CHECK(a.epoch_metrics == b.epoch_metrics);
  CHECK(a.metadata == b.metadata);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].name);
    CHECK(a.tensors[i].name == b.tensors[i].name);
    CHECK(a.tensors[i].kind == b.tensors[i].kind);
    CHECK(a.tensors[i].scope == b.tensors[i].scope);
    CHECK(a.tensors[i].type == b.tensors[i].type);
    CHECK(a.tensors[i].bytes == b.tensors[i].bytes);
  }
}

std::string parse_error(std::span<const uint8_t> bytes) {
  return testing::load_error(parse_checkpoint, bytes, "bad.kckpt");
}

}  // namespace

TEST_CASE("checkpoint round trip keeps every field", "[checkpoint]") {
  const CheckpointData d = sample_checkpoint();
  std::vector<uint8_t> bytes = serialize_checkpoint(d);
  CHECK(std::memcmp(bytes.data() + 4, "KCKP", 4) == 0);
  Expected<CheckpointData> back = parse_checkpoint(bytes, "run.kckpt");
  INFO((back.ok() ? std::string() : back.error().message()));
  REQUIRE(back.ok());
  check_equal(d, *back);
  CHECK(std::signbit(back->epoch_metrics[1][1].second));  // -0.0 survives
  CHECK(serialize_checkpoint(*back) == bytes);

  // Tensor data is 64-byte aligned relative to the buffer start.
  const fb::Checkpoint* c = fb::GetCheckpoint(bytes.data());
  for (flatbuffers::uoffset_t i = 0; i < c->tensors()->size(); ++i) {
    const fb::Tensor* t = c->tensors()->Get(i);
    if (t->data()->size() > 0) CHECK((t->data()->data() - bytes.data()) % 64 == 0);
  }

  CheckpointData empty;
  Expected<CheckpointData> e = parse_checkpoint(serialize_checkpoint(empty), "empty.kckpt");
  REQUIRE(e.ok());
  check_equal(empty, *e);
}

TEST_CASE("checkpoint round trip through an atomically written file", "[checkpoint]") {
  testing::TempDir dir;
  const CheckpointData d = sample_checkpoint();
  std::vector<uint8_t> bytes = serialize_checkpoint(d);
  std::string path = dir.file("run.kckpt");
  REQUIRE(write_file_atomic(path, bytes.data(), bytes.size()).ok());
  Expected<std::string> read = read_file(path);
  REQUIRE(read.ok());
  std::span<const uint8_t> view(reinterpret_cast<const uint8_t*>(read->data()), read->size());
  Expected<CheckpointData> back = parse_checkpoint(view, path);
  REQUIRE(back.ok());
  check_equal(d, *back);
}

TEST_CASE("content_hash: dtype, shape and bytes, not name, kind or scope", "[checkpoint]") {
  CheckpointTensor a = tensor("a", StateKind::Parameter, StateScope::Model, DType::f32, {2, 3}, 1);
  CheckpointTensor b = a;
  b.name = "b";
  b.kind = StateKind::OptimizerSlot;
  b.scope = StateScope::Executable;
  CHECK(content_hash(a) == content_hash(b));
  CheckpointTensor reshaped = a;
  reshaped.type.shape = Shape{3, 2};
  CHECK(content_hash(a) != content_hash(reshaped));
  CheckpointTensor retyped = a;
  retyped.type.dtype = DType::i32;
  CHECK(content_hash(a) != content_hash(retyped));
  CheckpointTensor changed = a;
  changed.bytes[7] ^= 1;
  CHECK(content_hash(a) != content_hash(changed));
  // Pinned value: the documented FNV-1a 64 over "f32\0", rank 0 (8 bytes), no data.
  CheckpointTensor scalar{"s", StateKind::Parameter, StateScope::Model, {DType::f32, Shape{}}, {}};
  uint64_t h = 0xcbf29ce484222325ull;
  const uint8_t expected_bytes[] = {'f', '3', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (uint8_t c : expected_bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  CHECK(content_hash(scalar) == h);
}

TEST_CASE("checkpoint reader: corrupted inputs give messages naming source and field",
          "[checkpoint]") {
  testing::CorruptCases<fb::Checkpoint> cases(serialize_checkpoint(sample_checkpoint()),
                                               "bad.kckpt");
  const std::vector<uint8_t>& valid = cases.valid();
  cases.add_envelope({.name = "kiln checkpoint",
                      .corrupt = "checkpoint",
                      .format = "checkpoint",
                      .short_size = 7,
                      .cuts = {8, 40, valid.size() / 2, valid.size() - 4},
                      .noise_bytes = 300,
                      .noise_seed = 11});
  cases.add("a graph given to the checkpoint reader", serialize_graph(Graph("g")),
            "bad.kckpt: not a kiln checkpoint: found a kiln graph, expected identifier 'KCKP'");
  // The tensor at `index` of a checkpoint.
  auto tensor_at = [](fb::Checkpoint* c, int index) {
    return c->mutable_tensors()->GetMutableObject(index);
  };
  cases.add_patched("data size mismatch",
                    [&](fb::Checkpoint* c) { tensor_at(c, 0)->mutable_shape()->Mutate(1, 6); },
                    "bad.kckpt: tensor 0 \"mlp.fc1.weight\": data has 60 bytes, f32[3,6] needs 72");
  cases.add_patched(
      "unknown dtype value",
      [&](fb::Checkpoint* c) { tensor_at(c, 1)->mutate_dtype(static_cast<fb::DType>(5)); },
      "tensor 1 \"mlp.fc1.weight.momentum\": unknown dtype value 5");
  cases.add_patched(
      "unknown kind value",
      [&](fb::Checkpoint* c) { tensor_at(c, 2)->mutate_kind(static_cast<fb::StateKind>(7)); },
      "tensor 2 \"step\": unknown state kind value 7");
  cases.add_patched(
      "unknown scope value",
      [&](fb::Checkpoint* c) { tensor_at(c, 2)->mutate_scope(static_cast<fb::StateScope>(2)); },
      "tensor 2 \"step\": unknown state scope value 2");
  cases.add_patched("negative dim",
                    [&](fb::Checkpoint* c) { tensor_at(c, 4)->mutable_shape()->Mutate(0, -4); },
                    "tensor 4 \"bn.mean\": shape: negative dimension -4");
  cases.add_patched("element count overflow",
                    [&](fb::Checkpoint* c) {
                      auto* shape = tensor_at(c, 0)->mutable_shape();
                      shape->Mutate(0, int64_t{1} << 32);
                      shape->Mutate(1, int64_t{1} << 32);
                    },
                    "tensor 0 \"mlp.fc1.weight\": shape: element count of [4294967296,4294967296] "
                    "exceeds");
  cases.add_patched(
      "zero-sized dim hides a huge one",
      [&](fb::Checkpoint* c) { tensor_at(c, 5)->mutable_shape()->Mutate(0, int64_t{1} << 62); },
      "tensor 5 \"rnn.h\": shape: dimension 4611686018427387904 too large");
  cases.add_patched("negative epoch", [](fb::Checkpoint* c) { c->mutate_epoch(-1); },
                    "bad.kckpt: epoch -1 is negative");
  cases.add_patched("negative step", [](fb::Checkpoint* c) { c->mutate_step(-5); },
                    "bad.kckpt: step -5 is negative");
  {
    CheckpointData dup = sample_checkpoint();
    dup.tensors[3].name = "step";
    cases.add("duplicate tensor name", serialize_checkpoint(dup),
              "bad.kckpt: tensor 3 \"step\": duplicate name");
    CheckpointData unnamed = sample_checkpoint();
    unnamed.tensors[1].name = "";
    cases.add("unnamed tensor", serialize_checkpoint(unnamed), "tensor 1: missing name");
    CheckpointData keys = sample_checkpoint();
    keys.metadata.push_back({"kiln", "0.2"});
    cases.add("duplicate metadata key", serialize_checkpoint(keys),
              "metadata 3: duplicate key \"kiln\"");
    CheckpointData metric = sample_checkpoint();
    metric.epoch_metrics[1][0].first = "";
    cases.add("unnamed metric", serialize_checkpoint(metric),
              "bad.kckpt: epoch_metrics 1 metric 0: missing name");
  }
  cases.check(parse_checkpoint);
}

TEST_CASE("checkpoint reader: tensors sharing one data vector cannot amplify memory",
          "[checkpoint]") {
  // 1,000 differently named tensors all pointing at one 1 MB data vector.
  flatbuffers::FlatBufferBuilder b;
  std::vector<uint8_t> data(1 << 20, 7);
  b.ForceVectorAlignment(data.size(), 1, 64);
  auto shared = b.CreateVector(data);
  std::vector<int64_t> dims{1 << 18};
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (int i = 0; i < 1000; ++i)
    tensors.push_back(fb::CreateTensor(b, b.CreateString("t" + std::to_string(i)), fb::DType::F32,
                                       b.CreateVector(dims), shared));
  b.Finish(fb::CreateCheckpointDirect(b, kCheckpointFormatVersion, "amplified", 1, 0, 0, 0, 0,
                                      nullptr, nullptr, &tensors),
           fb::CheckpointIdentifier());
  std::span<const uint8_t> bytes(b.GetBufferPointer(), b.GetSize());
  CHECK_THAT(parse_error(bytes), Catch::Contains("decoded data exceeds 16 times the file size"));
}

TEST_CASE("checkpoint reader survives thousands of mutated buffers", "[checkpoint][fuzz]") {
  const std::vector<uint8_t> valid = serialize_checkpoint(sample_checkpoint());
  std::mt19937_64 rng(99);
  testing::FuzzTally tally;
  for (int iter = 0; iter < 10000; ++iter) {
    tally.run(parse_checkpoint, fuzz::mutant(valid, "KCKP", iter, rng), "fuzz.kckpt",
              [](const CheckpointData& d) {
                std::set<std::string> names;
                for (const CheckpointTensor& t : d.tensors) {
                  REQUIRE(t.bytes.size() == t.type.bytes());
                  REQUIRE(names.insert(t.name).second);
                }
                Expected<CheckpointData> again = parse_checkpoint(serialize_checkpoint(d), "again");
                REQUIRE(again.ok());
              });
  }
  CHECK(tally.refused > 5000);
  CHECK(tally.loaded > 10);
}
