// Ahead-of-time compilation (codegen/aot.h): the object's PREFIX_module holds a manifest
// the runtime accepts, and its PREFIX_entry, bound by the LLVM-free runtime through the C
// API as linked-in code, computes what the JIT computes, bit for bit, with the embedded
// weights or with weights loaded from the model file. Every CPU feature a target can
// require is one the runtime can check. Bad prefixes and targets are refused.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "codegen/aot.h"
#include "codegen/aot_header.h"
#include "codegen/compile.h"
#include "codegen/llvm/jit.h"
#include "codegen/llvm/target.h"
#include "frontend/losses.h"
#include "frontend/nn.h"
#include "kiln/c_api.h"
#include "runtime/atomic_file.h"
#include "runtime/cpu_features.h"
#include "small_model.h"
#include "temp_dir.h"

using namespace kiln;
using kiln::test::small_input;
using kiln::test::small_model;

namespace {

// The model through the JIT, with its weights.
std::vector<float> jit_prediction(const ModelFile& m) {
  auto exe = compile(m.graph, std::make_shared<StateStore>());
  REQUIRE(exe.ok());
  for (const NamedTensor& t : m.parameters)
    std::memcpy((*exe)->state_buffer(t.name)->data(), t.bytes.data(), t.bytes.size());
  const std::vector<float> x = small_input();
  std::memcpy((*exe)->input("x")->data(), x.data(), x.size() * 4);
  (*exe)->run();
  const float* p = (*exe)->output("pred")->as<float>();
  return {p, p + 20};
}

// The object loaded (by the JIT's object loader: no system linker needed in a test), its
// manifest and entry handed to the C API as linked-in code.
struct LoadedObject {
  std::unique_ptr<llvmgen::Program> program;
  const unsigned char* manifest = nullptr;
  unsigned long size = 0;
  void (*entry)(void**) = nullptr;
};

LoadedObject load(const AotOutput& m, const std::string& prefix) {
  Expected<llvmgen::TargetSpec> target = llvmgen::parse_target("native");
  REQUIRE(target.ok());
  LoadedObject o;
  auto p = llvmgen::load_object(m.object, *target, prefix + "_entry");
  INFO((p.ok() ? "" : p.error().message()));
  REQUIRE(p.ok());
  o.program = std::move(*p);
  o.manifest = static_cast<const unsigned char*>(o.program->lookup(prefix + "_module"));
  auto* size = static_cast<const unsigned long*>(o.program->lookup(prefix + "_module_size"));
  o.entry = reinterpret_cast<void (*)(void**)>(o.program->lookup(prefix + "_entry"));
  REQUIRE(o.manifest != nullptr);
  REQUIRE(size != nullptr);
  REQUIRE(o.entry != nullptr);
  o.size = *size;
  return o;
}

std::vector<float> run_c_api(kiln_model* model) {
  const std::vector<float> x = small_input();
  std::vector<float> pred(20);
  int xi = -1, pi = -1;
  REQUIRE(kiln_model_input_index(model, "x", &xi) == KILN_OK);
  REQUIRE(kiln_model_output_index(model, "pred", &pi) == KILN_OK);
  REQUIRE(kiln_model_set_input(model, xi, x.data(), x.size() * 4) == KILN_OK);
  REQUIRE(kiln_model_run(model) == KILN_OK);
  const void* out = nullptr;
  size_t bytes = 0;
  REQUIRE(kiln_model_output_data(model, pi, &out, &bytes) == KILN_OK);
  REQUIRE(bytes == 80);
  std::memcpy(pred.data(), out, bytes);
  return pred;
}

}  // namespace

TEST_CASE("an AOT object runs through the C API as the JIT does", "[aot]") {
  const ModelFile model = small_model();
  const std::vector<float> want = jit_prediction(model);
  AotOptions o;
  o.prefix = "small";
  Expected<AotOutput> m = compile_aot(model, o);
  INFO((m.ok() ? "" : m.error().message()));
  REQUIRE(m.ok());
  CHECK(m->manifest.plan.entry_symbol == "small_entry");
  CHECK(m->manifest.weights.size() == 4);
  LoadedObject obj = load(*m, "small");
  // The object's manifest is the one compile_aot describes.
  Expected<CompiledModuleFile> mf =
      deserialize_module(std::span<const uint8_t>(obj.manifest, obj.size), "small.o");
  REQUIRE(mf.ok());
  CHECK(mf->plan.inputs == std::vector<std::string>{"x"});
  CHECK(mf->target.features == m->manifest.target.features);

  kiln_model* model_handle = nullptr;
  REQUIRE(kiln_model_open_linked(obj.manifest, obj.size, obj.entry, &model_handle) == KILN_OK);
  const std::vector<float> got = run_c_api(model_handle);
  CHECK(got == want);  // the same bits
  const char* scale = nullptr;
  CHECK(kiln_model_metadata(model_handle, "input.scale", &scale) == KILN_OK);
  CHECK(std::string(scale) == "1");
  CHECK(kiln_model_metadata(model_handle, "kiln.weights", &scale) == KILN_OK);
  CHECK(std::string(scale) == "embedded");
  // The signature the header records is the module's; another is refused.
  const char* sig = nullptr;
  REQUIRE(kiln_model_signature(model_handle, &sig) == KILN_OK);
  CHECK(std::string(sig) == "x: f32[4,12] -> pred: f32[4,5]");
  CHECK_THAT(m->header, Catch::Contains("#define SMALL_SIGNATURE \"x: f32[4,12] -> pred: f32[4,5]\""));
  CHECK(kiln_model_expect_signature(model_handle, sig) == KILN_OK);
  CHECK(kiln_model_expect_signature(model_handle, "x: f32[1,12] -> pred: f32[1,5]") ==
        KILN_SIGNATURE_MISMATCH);
  CHECK_THAT(kiln_last_error(), Catch::Contains("x: f32[1,12] -> pred: f32[1,5]") &&
                                    Catch::Contains("another model"));
  CHECK(kiln_model_expect_signature(model_handle, nullptr) == KILN_INVALID_ARGUMENT);
  kiln_model_close(model_handle);

  // The header declares what the object defines and the signature.
  CHECK_THAT(m->header, Catch::Contains("void small_entry(void** buffers);") &&
                            Catch::Contains("extern const unsigned char small_module[];") &&
                            Catch::Contains("#define SMALL_INPUT_X_BYTES 192u") &&
                            Catch::Contains("#define SMALL_OUTPUT_PRED 0") &&
                            Catch::Contains("small_run(kiln_model* model, const float* x, float* pred)"));
}

TEST_CASE("an AOT object with external weights runs on the model file's weights", "[aot]") {
  testing::TempDir dir;
  const ModelFile model = small_model();
  const std::vector<float> want = jit_prediction(model);
  AotOptions o;
  o.prefix = "ext";
  o.embed_weights = false;
  Expected<AotOutput> m = compile_aot(model, o);
  REQUIRE(m.ok());
  CHECK(m->manifest.weights.empty());
  const std::vector<uint8_t> file = serialize_model(model);
  REQUIRE(write_file_atomic(dir.file("small.kiln"), file.data(), file.size()).ok());
  LoadedObject obj = load(*m, "ext");
  kiln_model* h = nullptr;
  REQUIRE(kiln_model_open_linked(obj.manifest, obj.size, obj.entry, &h) == KILN_OK);
  const std::vector<float> untrained = run_c_api(h);  // initializers: not the model
  CHECK(untrained != want);
  REQUIRE(kiln_model_load_weights(h, dir.file("small.kiln").c_str()) == KILN_OK);
  CHECK(run_c_api(h) == want);
  kiln_model_close(h);
}

TEST_CASE("every CPU feature a target requires is one the runtime checks", "[aot][target]") {
#if defined(__clang__)
  WARN("a clang-built runtime checks fewer feature names; see runtime/cpu_features.cpp");
#else
  for (const char* cpu : {"native", "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4", "znver4",
                          "sapphirerapids", "skylake-avx512", "haswell", "bdver4"}) {
    Expected<llvmgen::TargetSpec> t = llvmgen::parse_target(cpu);
    INFO(cpu);
    REQUIRE(t.ok());
    for (const std::string& f : t->required_features) {
      INFO(f);
      CHECK(known_cpu_feature(f));
    }
  }
#endif
}

TEST_CASE("compile_aot refuses bad prefixes and targets", "[aot]") {
  const ModelFile model = small_model();
  AotOptions o;
  for (const char* bad : {"", "9lives", "a-b", "x y"}) {
    o.prefix = bad;
    Expected<AotOutput> m = compile_aot(model, o);
    REQUIRE_FALSE(m.ok());
    CHECK_THAT(m.error().message(), Catch::Contains("not a C identifier"));
  }
  o.prefix = "ok";
  o.target_cpu = "pentium9";
  Expected<AotOutput> m = compile_aot(model, o);
  REQUIRE_FALSE(m.ok());
  CHECK_THAT(m.error().message(), Catch::Contains("pentium9"));
  CHECK(is_c_identifier("_a1"));
  CHECK_FALSE(is_c_identifier("1a"));
}
