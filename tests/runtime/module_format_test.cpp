// Module manifests (runtime/module_format.h): every field of the plan, target, weights,
// metadata and object survives bytes -> data; every refusal (identifier, truncation,
// format and ABI version, enums, plan consistency, weights, duplicate names, CPU
// features) gives a message naming the source and the field; thousands of mutated
// buffers never crash the reader; external weights come from a model file's parameters.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "checkpoint_generated.h"
#include "fuzz/mutate.h"
#include "fuzz/samples.h"
#include "ir/serialize.h"
#include "loader_cases.h"
#include "module_generated.h"
#include "runtime/aot_module.h"
#include "runtime/atomic_file.h"
#include "runtime/cpu_features.h"
#include "runtime/model_weights.h"
#include "runtime/module_format.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

using fuzz::sample_module;

void check_equal(const ExecutablePlan& a, const ExecutablePlan& b) {
  CHECK(a.name == b.name);
  CHECK(a.entry_symbol == b.entry_symbol);
  CHECK(a.arena_bytes == b.arena_bytes);
  CHECK(a.init_seed == b.init_seed);
  CHECK(a.description == b.description);
  CHECK(a.inputs == b.inputs);
  CHECK(a.outputs == b.outputs);
  CHECK(a.stats.graph_nodes == b.stats.graph_nodes);
  CHECK(a.stats.kernels == b.stats.kernels);
  CHECK(a.stats.arena_bytes == b.stats.arena_bytes);
  CHECK(a.stats.compile_seconds == b.stats.compile_seconds);
  REQUIRE(a.buffers.size() == b.buffers.size());
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    INFO("buffer " << i);
    const PlanBuffer &x = a.buffers[i], &y = b.buffers[i];
    CHECK(x.kind == y.kind);
    CHECK(x.name == y.name);
    CHECK(x.type == y.type);
    CHECK(x.offset == y.offset);
    CHECK(x.state_kind == y.state_kind);
    CHECK(x.scope == y.scope);
    CHECK(x.init.kind == y.init.kind);
    CHECK(x.init.a == y.init.a);
    CHECK(x.init.b == y.init.b);
    CHECK(x.data == y.data);
  }
  REQUIRE(a.launches.size() == b.launches.size());
  for (size_t i = 0; i < a.launches.size(); ++i) {
    const KernelLaunch &x = a.launches[i], &y = b.launches[i];
    CHECK(x.name == y.name);
    CHECK(x.symbol == y.symbol);
    CHECK(x.reads == y.reads);
    CHECK(x.writes == y.writes);
    CHECK(x.flops == y.flops);
    CHECK(x.bytes == y.bytes);
    CHECK(x.contraction == y.contraction);
  }
  REQUIRE(a.guards.size() == b.guards.size());
  for (size_t i = 0; i < a.guards.size(); ++i) {
    CHECK(a.guards[i].buffer == b.guards[i].buffer);
    CHECK(a.guards[i].offset == b.guards[i].offset);
    CHECK(a.guards[i].bytes == b.guards[i].bytes);
  }
}

void check_equal(const CompiledModuleFile& a, const CompiledModuleFile& b) {
  CHECK(a.target.triple == b.target.triple);
  CHECK(a.target.cpu == b.target.cpu);
  CHECK(a.target.features == b.target.features);
  check_equal(a.plan, b.plan);
  REQUIRE(a.weights.size() == b.weights.size());
  for (size_t i = 0; i < a.weights.size(); ++i) {
    CHECK(a.weights[i].name == b.weights[i].name);
    CHECK(a.weights[i].type == b.weights[i].type);
    CHECK(a.weights[i].bytes == b.weights[i].bytes);
  }
  CHECK(a.metadata == b.metadata);
  CHECK(a.object == b.object);
}

Expected<CompiledModuleFile> load(std::span<const uint8_t> bytes, const std::string& source) {
  return deserialize_module(bytes, source);
}

}  // namespace

TEST_CASE("module manifest round trip keeps every field", "[module]") {
  const CompiledModuleFile m = sample_module();
  std::vector<uint8_t> bytes = serialize_module(m);
  CHECK(std::memcmp(bytes.data() + 4, "KMOD", 4) == 0);
  const fb::Module* root = fb::GetModule(bytes.data());
  CHECK(root->version() == kModuleFormatVersion);
  CHECK(root->abi_version() == KILN_ABI_VERSION);
  Expected<CompiledModuleFile> back = deserialize_module(bytes, "m.kmod");
  INFO((back.ok() ? std::string() : back.error().message()));
  REQUIRE(back.ok());
  check_equal(m, *back);
  CHECK(std::signbit(reinterpret_cast<const float*>(back->plan.buffers[2].data.data())[1]));
  CHECK(serialize_module(*back) == bytes);
  // Weight, constant and object bytes are 64-byte aligned relative to the buffer start.
  CHECK((root->weights()->Get(0)->data()->data() - bytes.data()) % 64 == 0);
  CHECK((root->plan()->buffers()->Get(2)->data()->data() - bytes.data()) % 64 == 0);
  CHECK((root->object()->data() - bytes.data()) % 64 == 0);

  // Misaligned input is copied, not misread.
  std::vector<uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  Expected<CompiledModuleFile> again =
      deserialize_module(std::span<const uint8_t>(shifted).subspan(1), "m.kmod");
  REQUIRE(again.ok());
  check_equal(m, *again);
}

TEST_CASE("module manifest through an atomically written file", "[module]") {
  testing::TempDir dir;
  std::string path = dir.file("m.kmod");
  REQUIRE(save_module(path, sample_module()).ok());
  Expected<CompiledModuleFile> back = load_module(path);
  REQUIRE(back.ok());
  check_equal(sample_module(), *back);
  ModuleError why = ModuleError::Format;
  Expected<CompiledModuleFile> missing = load_module(dir.file("none.kmod"), &why);
  REQUIRE_FALSE(missing.ok());
  CHECK(why == ModuleError::Io);
  CHECK_THAT(missing.error().message(), Catch::Contains("none.kmod"));
}

TEST_CASE("module reader: corrupted inputs give messages naming source and field", "[module]") {
  testing::CorruptCases<fb::Module> cases(serialize_module(sample_module()), "bad.kmod");
  const std::vector<uint8_t>& valid = cases.valid();
  cases.add_envelope({.name = "kiln module",
                      .corrupt = "module",
                      .format = "module",
                      .short_size = 6,
                      .cuts = {8, 40, valid.size() / 2, valid.size() - 4},
                      .noise_bytes = 500,
                      .noise_seed = 5});
  cases.add("a checkpoint given to the module reader",
            serialize_checkpoint(fuzz::sample_checkpoint()),
            "bad.kmod: not a kiln module: found a kiln checkpoint, expected identifier 'KMOD'");
  cases.add_patched("another ABI version", [](fb::Module* m) { m->mutate_abi_version(4); },
                    "bad.kmod: code generated for kiln ABI version 4, this runtime implements "
                    "version " + std::to_string(KILN_ABI_VERSION) + " (recompile the module)");
  auto buffer = [](fb::Module* m, int i) {
    return m->mutable_plan()->mutable_buffers()->GetMutableObject(i);
  };
  cases.add_patched(
      "unknown buffer kind",
      [&](fb::Module* m) { buffer(m, 1)->mutate_kind(static_cast<fb::PlanBufferKind>(9)); },
      "bad.kmod: plan buffer 1 \"y\": unknown buffer kind value 9");
  cases.add_patched(
      "unknown dtype", [&](fb::Module* m) { buffer(m, 0)->mutate_dtype(static_cast<fb::DType>(7)); },
      "plan buffer 0 \"x\": unknown dtype value 7");
  cases.add_patched(
      "unknown state kind",
      [&](fb::Module* m) { buffer(m, 4)->mutate_state_kind(static_cast<fb::StateKind>(12)); },
      "plan buffer 4 \"step\": unknown state kind value 12");
  cases.add_patched(
      "unknown state scope",
      [&](fb::Module* m) { buffer(m, 4)->mutate_scope(static_cast<fb::StateScope>(3)); },
      "plan buffer 4 \"step\": unknown state scope value 3");
  cases.add_patched(
      "unknown initializer",
      [&](fb::Module* m) {
        buffer(m, 3)->mutable_init()->mutate_kind(static_cast<fb::InitKind>(6));
      },
      "plan buffer 3 \"w\": unknown initializer kind value 6");
  cases.add_patched("negative dim",
                    [&](fb::Module* m) { buffer(m, 5)->mutable_shape()->Mutate(1, -2); },
                    "plan buffer 5 \"h\": negative dimension -2");
  cases.add_patched("constant size mismatch",
                    [&](fb::Module* m) { buffer(m, 2)->mutable_shape()->Mutate(0, 4); },
                    "bad.kmod: plan buffer 2: data has 12 bytes, f32[4] needs 16");
  cases.add_patched("arena offset past the arena",
                    [&](fb::Module* m) { buffer(m, 6)->mutate_offset(256); },
                    "bad.kmod: plan 'mlp.infer': buffer 6 (arena 'tmp'): offset 256 + 16 bytes "
                    "outside the arena of 256");
  cases.add_patched("kernel reads a buffer that does not exist",
                    [](fb::Module* m) {
                      m->mutable_plan()->mutable_launches()->GetMutableObject(1)->mutable_reads()->Mutate(0, 99);
                    },
                    "bad.kmod: plan 'mlp.infer': kernel k1 reads buffer 99");
  auto weight = [](fb::Module* m, int i) { return m->mutable_weights()->GetMutableObject(i); };
  cases.add_patched("weight size mismatch",
                    [&](fb::Module* m) { weight(m, 0)->mutable_shape()->Mutate(0, 2); },
                    "bad.kmod: weight 0 \"w\": data has 12 bytes, f32[2] needs 8");
  cases.add_patched(
      "unknown weight kind",
      [&](fb::Module* m) { weight(m, 1)->mutate_kind(static_cast<fb::StateKind>(9)); },
      "bad.kmod: weight 1 \"mean\": unknown state kind value 9");
  {
    CompiledModuleFile m = sample_module();
    m.weights[0].type.shape = Shape{1, 3};  // the same 12 bytes
    cases.add("weight of another shape", serialize_module(m),
              "bad.kmod: weight 0 \"w\": is f32[1,3], the state buffer is f32[3]");
    m = sample_module();
    m.weights[1].type.dtype = DType::i64;
    cases.add("weight of another dtype", serialize_module(m),
              "bad.kmod: weight 1 \"mean\": is i64[3], the state buffer is f64[3]");
    m = sample_module();
    m.weights[1].name = "w";
    m.weights[1].type = m.weights[0].type;
    m.weights[1].bytes = m.weights[0].bytes;
    cases.add("duplicate weight", serialize_module(m), "bad.kmod: weight 1 \"w\": duplicate name");
    m = sample_module();
    m.weights[1].name = "fc9.weight";
    cases.add("weight of no buffer", serialize_module(m),
              "bad.kmod: weight 1 \"fc9.weight\": plan 'mlp.infer' has no state buffer of that "
              "name");
    m = sample_module();
    m.weights.push_back({"h", m.plan.buffers[5].type, {}});
    cases.add("weight of executable-scoped state", serialize_module(m),
              "bad.kmod: weight 2 \"h\": names an executable-scoped state buffer");
    m = sample_module();
    m.target.features = {"avx2", "fma", "avx2"};
    cases.add("duplicate feature", serialize_module(m),
              "bad.kmod: target feature 2: duplicate name \"avx2\"");
    m = sample_module();
    m.plan.inputs = {"x", "x"};
    cases.add("duplicate input", serialize_module(m), "bad.kmod: plan input 1: duplicate name \"x\"");
    m = sample_module();
    m.metadata.push_back({"image_size", "32x32"});
    cases.add("duplicate metadata key", serialize_module(m),
              "bad.kmod: metadata 2: duplicate key \"image_size\"");
    m = sample_module();
    m.plan.buffers.push_back(m.plan.buffers[4]);
    m.plan.buffers.back().state_kind = StateKind::RngCounter;
    cases.add("one state name, two kinds", serialize_module(m),
              "bad.kmod: plan 'mlp.infer': buffer 12 (state 'step') is i64[] rng_counter (model "
              "scope), buffer 4 of that name is i64[] step_counter (model scope)");
    m = sample_module();
    m.plan.entry_symbol = "";
    cases.add("no entry symbol", serialize_module(m),
              "bad.kmod: plan 'mlp.infer' has no entry symbol");
  }
  cases.check(load);
}

TEST_CASE("module reader: refusals say which kind of problem", "[module]") {
  std::vector<uint8_t> bytes = serialize_module(sample_module());
  ModuleError why = ModuleError::Io;
  fb::GetMutableModule(bytes.data())->mutate_abi_version(KILN_ABI_VERSION + 1);
  REQUIRE_FALSE(deserialize_module(bytes, "m.kmod", &why).ok());
  CHECK(why == ModuleError::AbiVersion);
  bytes.resize(bytes.size() / 2);
  REQUIRE_FALSE(deserialize_module(bytes, "m.kmod", &why).ok());
  CHECK(why == ModuleError::Format);
}

TEST_CASE("check_cpu_features names the missing features and the module", "[module]") {
  CHECK(check_cpu_features({}, "m.so").ok());
#if defined(__x86_64__)
  CHECK(known_cpu_feature("avx2"));
  CHECK(check_cpu_features({"sse2", "sse"}, "m.so").ok());  // every x86-64 CPU has them
#endif
  CHECK_FALSE(known_cpu_feature("avx9000"));
  Status st = check_cpu_features({"sse2", "avx9000", "neon-fp99"}, "m.so");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message() ==
        "m.so: the module requires CPU features this runtime cannot check: avx9000, neon-fp99");

  // Opening a module checks its features before anything runs.
  CompiledModuleFile m = sample_module();
  m.target.features = {"avx9000"};
  std::vector<uint8_t> bytes = serialize_module(m);
  ModuleError why = ModuleError::Format;
  auto entry = [](void**) {};
  auto opened = AotModule::open_linked(bytes, entry, "lenet.so", &why);
  REQUIRE_FALSE(opened.ok());
  CHECK(why == ModuleError::CpuFeatures);
  CHECK_THAT(opened.error().message(), Catch::StartsWith("lenet.so: ") && Catch::Contains("avx9000"));
}

TEST_CASE("module reader survives thousands of mutated buffers", "[module][fuzz]") {
  const std::vector<uint8_t> valid = serialize_module(sample_module());
  std::mt19937_64 rng(2024);
  testing::FuzzTally tally;
  for (int iter = 0; iter < 10000; ++iter) {
    tally.run(load, fuzz::mutant(valid, "KMOD", iter, rng), "fuzz.kmod",
              [](const CompiledModuleFile& m) {
                REQUIRE(validate_plan(m.plan).ok());
                REQUIRE(check_weights(m.plan, m.weights, "").ok());
                Expected<CompiledModuleFile> again = deserialize_module(serialize_module(m), "again");
                REQUIRE(again.ok());
              });
  }
  CHECK(tally.refused > 5000);
  CHECK(tally.loaded > 10);
}

TEST_CASE("external weights: a model file's parameters, picked for a plan", "[module]") {
  ModelFile mf = fuzz::sample_model();  // parameters net.fc1.weight f32[3,4], step i64[]
  std::vector<uint8_t> bytes = serialize_model(mf);
  Expected<std::vector<ModuleWeight>> all = read_model_weights(bytes, "mlp.kiln");
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK(all->at(0).name == "net.fc1.weight");
  CHECK(all->at(0).type == TensorType{DType::f32, Shape{3, 4}});
  CHECK(all->at(0).bytes == mf.parameters[0].bytes);

  ExecutablePlan plan;
  plan.name = "p";
  plan.entry_symbol = "e";
  PlanBuffer w{PlanBufferKind::State, "net.fc1.weight", {DType::f32, Shape{3, 4}}};
  PlanBuffer b{PlanBufferKind::State, "net.fc1.bias", {DType::f32, Shape{4}}};
  plan.buffers = {w};
  Expected<std::vector<ModuleWeight>> used = weights_for_plan(plan, *all, "mlp.kiln");
  REQUIRE(used.ok());
  REQUIRE(used->size() == 1);  // "step" is not state of this plan
  CHECK(used->at(0).name == "net.fc1.weight");
  plan.buffers.push_back(b);
  Expected<std::vector<ModuleWeight>> missing = weights_for_plan(plan, *all, "mlp.kiln");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "mlp.kiln: no value for parameter 'net.fc1.bias' of plan 'p'");

  CHECK_THAT(read_model_weights(serialize_module(sample_module()), "x.kiln").error().message(),
             Catch::Contains("x.kiln: not a kiln model file: found a kiln module"));
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
  CHECK_THAT(read_model_weights(cut, "x.kiln").error().message(),
             Catch::StartsWith("x.kiln: corrupt or truncated"));
}
