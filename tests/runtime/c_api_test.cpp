// The C API (include/kiln/c_api.h) on JIT-compiled code presented as linked-in AOT code:
// a small graph is compiled with the JIT, its plan and weights become a manifest, and
// kiln_model_open_linked runs it with the JIT's entry function; its outputs must be the
// JIT executable's bit for bit. Then every refusal: NULL arguments, bad indices and
// names, wrong byte sizes, bad manifests, ABI and CPU mismatches, missing libraries, and
// external weights from a model file.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

#include "codegen/compile.h"
#include "ir/builder.h"
#include "ir/serialize.h"
#include "ir/tensor_ops.h"
#include "kiln/c_api.h"
#include "module_generated.h"
#include "runtime/aot_module.h"
#include "runtime/atomic_file.h"
#include "runtime/host_buffer.h"
#include "runtime/module_format.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

const TensorType kX{DType::f32, Shape{2, 3}};
const TensorType kW{DType::f32, Shape{3, 4}};
const TensorType kB{DType::f32, Shape{4}};

// y = relu(x @ w + b), s = sum(y); a step counter counts runs.
Graph small_graph() {
  Graph g("capi");
  Builder b(g);
  Tensor x = b.input("x", kX);
  Tensor w = b.parameter("fc.weight", kW, InitSpec::normal(0, 0.5));
  Tensor bias = b.parameter("fc.bias", kB, InitSpec::zeros());
  Tensor count = b.state("runs", TensorType{DType::f32, Shape{}}, StateKind::StepCounter);
  Tensor y = relu(matmul(x, w) + bias);
  b.update_state(count, count + 1.0);
  b.output("y", y);
  b.output("s", sum(y));
  REQUIRE(b.ok());
  return g;
}

std::vector<uint8_t> floats(std::vector<float> v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

const std::vector<float> kXValues = {1, -2, 0.5f, 3, 0.25f, -1};

std::vector<ModuleWeight> weights(float scale) {
  std::vector<float> w(12), b(4);
  for (int i = 0; i < 12; ++i) w[i] = scale * static_cast<float>(i % 5 - 2);
  for (int i = 0; i < 4; ++i) b[i] = scale * 0.125f * static_cast<float>(i);
  return {{"fc.weight", kW, floats(w)}, {"fc.bias", kB, floats(b)}};
}

struct Compiled {
  CompiledPlan cp;
  EntryFn entry = nullptr;
};

Compiled compile_small() {
  Expected<CompiledPlan> cp = compile_plan(small_graph());
  INFO((cp.ok() ? "" : cp.error().message()));
  REQUIRE(cp.ok());
  Compiled c{std::move(*cp)};
  c.entry = reinterpret_cast<EntryFn>(c.cp.code->lookup(c.cp.plan.entry_symbol));
  REQUIRE(c.entry);
  return c;
}

// The JIT executable's outputs y and s after `runs` runs with `ws` as weights.
std::pair<std::vector<float>, float> jit_outputs(const Compiled& c,
                                                 const std::vector<ModuleWeight>& ws) {
  auto store = std::make_shared<StateStore>();
  auto exe = Executable::bind(c.cp.plan, c.cp.code, store);
  REQUIRE(exe.ok());
  for (const ModuleWeight& w : ws) std::memcpy(store->find(w.name)->data(), w.bytes.data(), w.bytes.size());
  std::memcpy((*exe)->input("x")->data(), kXValues.data(), kX.bytes());
  (*exe)->run();
  const float* y = (*exe)->output("y")->as<float>();
  return {std::vector<float>(y, y + 8), *(*exe)->output("s")->as<float>()};
}

std::vector<uint8_t> manifest(const Compiled& c, std::vector<ModuleWeight> ws) {
  CompiledModuleFile m;
  m.target.triple = "x86_64-pc-linux-gnu";
  m.target.cpu = "native";
  m.plan = c.cp.plan;
  m.weights = std::move(ws);
  m.metadata = {{"image_size", "28x28"}, {"labels", "fashion-mnist"}};
  return serialize_module(m);
}

struct ModelCloser {
  void operator()(kiln_model* m) const { kiln_model_close(m); }
};
using ModelPtr = std::unique_ptr<kiln_model, ModelCloser>;

ModelPtr open(const Compiled& c, const std::vector<uint8_t>& bytes) {
  kiln_model* m = nullptr;
  kiln_status st = kiln_model_open_linked(bytes.data(), bytes.size(), c.entry, &m);
  INFO(kiln_last_error());
  REQUIRE(st == KILN_OK);
  REQUIRE(m);
  return ModelPtr(m);
}

std::vector<float> output_y(const kiln_model* m) {
  const void* data = nullptr;
  size_t bytes = 0;
  REQUIRE(kiln_model_output_data(m, 0, &data, &bytes) == KILN_OK);
  REQUIRE(bytes == 32);
  const float* y = static_cast<const float*>(data);
  return std::vector<float>(y, y + 8);
}

}  // namespace

TEST_CASE("C API: linked code runs like the JIT executable", "[c_api]") {
  Compiled c = compile_small();
  auto [y_jit, s_jit] = jit_outputs(c, weights(1.0f));
  ModelPtr m = open(c, manifest(c, weights(1.0f)));

  int n = -1;
  REQUIRE(kiln_model_num_inputs(m.get(), &n) == KILN_OK);
  CHECK(n == 1);
  REQUIRE(kiln_model_num_outputs(m.get(), &n) == KILN_OK);
  CHECK(n == 2);
  kiln_tensor_info info{};
  REQUIRE(kiln_model_input_info(m.get(), 0, &info) == KILN_OK);
  CHECK(std::string(info.name) == "x");
  CHECK(info.dtype == KILN_F32);
  REQUIRE(info.rank == 2);
  CHECK(info.dims[0] == 2);
  CHECK(info.dims[1] == 3);
  CHECK(info.bytes == 24);
  REQUIRE(kiln_model_output_info(m.get(), 1, &info) == KILN_OK);
  CHECK(std::string(info.name) == "s");
  CHECK(info.rank == 0);
  CHECK(info.bytes == 4);
  int index = -1;
  REQUIRE(kiln_model_input_index(m.get(), "x", &index) == KILN_OK);
  CHECK(index == 0);
  REQUIRE(kiln_model_output_index(m.get(), "s", &index) == KILN_OK);
  CHECK(index == 1);

  REQUIRE(kiln_model_set_input(m.get(), 0, kXValues.data(), 24) == KILN_OK);
  REQUIRE(kiln_model_run(m.get()) == KILN_OK);
  CHECK(output_y(m.get()) == y_jit);
  const void* s = nullptr;
  REQUIRE(kiln_model_output_data(m.get(), 1, &s, nullptr) == KILN_OK);
  CHECK(*static_cast<const float*>(s) == s_jit);

  // Zero-copy input: write in place, run again, same result.
  void* x = nullptr;
  REQUIRE(kiln_model_input_data(m.get(), 0, &x) == KILN_OK);
  CHECK(reinterpret_cast<uintptr_t>(x) % 64 == 0);
  std::memset(x, 0, 24);
  REQUIRE(kiln_model_run(m.get()) == KILN_OK);
  CHECK(output_y(m.get()) != y_jit);
  std::memcpy(x, kXValues.data(), 24);
  REQUIRE(kiln_model_run(m.get()) == KILN_OK);
  CHECK(output_y(m.get()) == y_jit);

  const char* value = nullptr;
  REQUIRE(kiln_model_metadata(m.get(), "image_size", &value) == KILN_OK);
  CHECK(std::string(value) == "28x28");
  CHECK(kiln_model_metadata(m.get(), "mean", &value) == KILN_NOT_FOUND);
  CHECK(std::string(kiln_last_error()) == "the model has no metadata key 'mean'");
  CHECK(kiln_abi_version() == KILN_ABI_VERSION);
}

TEST_CASE("C API: refuses bad arguments with a status and a message", "[c_api]") {
  Compiled c = compile_small();
  std::vector<uint8_t> bytes = manifest(c, weights(1.0f));
  ModelPtr m = open(c, bytes);
  kiln_model* out = reinterpret_cast<kiln_model*>(&bytes);  // must be reset to NULL

  CHECK(kiln_model_open_linked(nullptr, 10, c.entry, &out) == KILN_INVALID_ARGUMENT);
  CHECK(out == nullptr);
  CHECK(std::string(kiln_last_error()) == "kiln_model_open_linked: manifest is NULL");
  CHECK(kiln_model_open_linked(bytes.data(), bytes.size(), nullptr, &out) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_open_linked(bytes.data(), bytes.size(), c.entry, nullptr) ==
        KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_open_library(nullptr, "p", &out) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_open_library("x.so", nullptr, &out) == KILN_INVALID_ARGUMENT);
  CHECK(std::string(kiln_last_error()) == "kiln_model_open_library: prefix is NULL");

  int n = 0;
  kiln_tensor_info info{};
  const void* data = nullptr;
  void* in = nullptr;
  const char* value = nullptr;
  CHECK(kiln_model_num_inputs(nullptr, &n) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_num_outputs(m.get(), nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_input_info(m.get(), 0, nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_input_info(m.get(), 1, &info) == KILN_INVALID_ARGUMENT);
  CHECK(std::string(kiln_last_error()) ==
        "kiln_model_input_info: index 1 out of range (the model has 1)");
  CHECK(kiln_model_output_info(m.get(), -1, &info) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_input_index(m.get(), nullptr, &n) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_input_index(m.get(), "y", &n) == KILN_NOT_FOUND);
  CHECK(std::string(kiln_last_error()) == "the model has no input named 'y'");
  CHECK(kiln_model_output_index(m.get(), "x", &n) == KILN_NOT_FOUND);
  CHECK(kiln_model_set_input(m.get(), 0, kXValues.data(), 20) == KILN_INVALID_ARGUMENT);
  CHECK(std::string(kiln_last_error()) ==
        "kiln_model_set_input: input 'x' is f32[2,3], 24 bytes; got 20");
  CHECK(kiln_model_set_input(m.get(), 0, nullptr, 24) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_set_input(m.get(), 3, kXValues.data(), 24) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_input_data(m.get(), 0, nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_input_data(nullptr, 0, &in) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_run(nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_output_data(m.get(), 2, &data, nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_output_data(m.get(), 0, nullptr, nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_metadata(m.get(), nullptr, &value) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_metadata(nullptr, "k", &value) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_model_load_weights(m.get(), nullptr) == KILN_INVALID_ARGUMENT);
  CHECK(kiln_set_num_threads(-1) == KILN_INVALID_ARGUMENT);
  kiln_model_close(nullptr);
}

TEST_CASE("C API: refuses bad modules with the status of the problem", "[c_api]") {
  Compiled c = compile_small();
  std::vector<uint8_t> bytes = manifest(c, weights(1.0f));
  kiln_model* out = nullptr;

  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + 100);
  CHECK(kiln_model_open_linked(cut.data(), cut.size(), c.entry, &out) == KILN_FORMAT);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith("linked module: corrupt or truncated module"));
  CHECK(kiln_model_open_linked(bytes.data(), 0, c.entry, &out) == KILN_FORMAT);
  CHECK_THAT(kiln_last_error(), Catch::Contains("empty file (expected a kiln module)"));

  std::vector<uint8_t> abi = bytes;
  fb::GetMutableModule(abi.data())->mutate_abi_version(KILN_ABI_VERSION - 1);
  CHECK(kiln_model_open_linked(abi.data(), abi.size(), c.entry, &out) == KILN_ABI_MISMATCH);
  CHECK_THAT(kiln_last_error(), Catch::Contains("code generated for kiln ABI version " +
                                                std::to_string(KILN_ABI_VERSION - 1)));

  CompiledModuleFile cpu = *deserialize_module(bytes, "m");
  cpu.target.features = {"avx512fp16x"};
  std::vector<uint8_t> cpu_bytes = serialize_module(cpu);
  CHECK(kiln_model_open_linked(cpu_bytes.data(), cpu_bytes.size(), c.entry, &out) ==
        KILN_CPU_UNSUPPORTED);
  CHECK_THAT(kiln_last_error(), Catch::Contains("avx512fp16x"));

  // A checked manifest fails to bind only for lack of memory.
  set_host_buffer_limit(16);
  kiln_status st = kiln_model_open_linked(bytes.data(), bytes.size(), c.entry, &out);
  set_host_buffer_limit(0);
  CHECK(st == KILN_OUT_OF_MEMORY);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith("linked module: ") &&
                                    Catch::Contains("more than the limit of 16"));

  CHECK(kiln_model_open_library("/nonexistent/model.so", "model", &out) == KILN_IO);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith("/nonexistent/model.so: ") &&
                                    Catch::Contains("No such file"));
  CHECK(kiln_model_open_library("/nonexistent/model.so", "2bad prefix", &out) == KILN_NOT_FOUND);
  CHECK_THAT(kiln_last_error(), Catch::Contains("symbol prefix '2bad prefix' is not a C identifier"));
  CHECK(out == nullptr);
}

TEST_CASE("C API: weights from a model file replace the embedded ones", "[c_api]") {
  testing::TempDir dir;
  Compiled c = compile_small();
  ModelPtr m = open(c, manifest(c, {}));  // no embedded weights: initializers
  ModelFile mf;
  mf.graph = small_graph();
  for (const ModuleWeight& w : weights(-0.5f)) mf.parameters.push_back({w.name, w.type, w.bytes});
  std::vector<uint8_t> model_bytes = serialize_model(mf);
  std::string path = dir.file("capi.kiln");
  REQUIRE(write_file_atomic(path, model_bytes.data(), model_bytes.size()).ok());

  REQUIRE(kiln_model_load_weights(m.get(), path.c_str()) == KILN_OK);
  REQUIRE(kiln_model_set_input(m.get(), 0, kXValues.data(), 24) == KILN_OK);
  REQUIRE(kiln_model_run(m.get()) == KILN_OK);
  CHECK(output_y(m.get()) == jit_outputs(c, weights(-0.5f)).first);

  CHECK(kiln_model_load_weights(m.get(), dir.file("none.kiln").c_str()) == KILN_IO);
  CHECK_THAT(kiln_last_error(), Catch::Contains("none.kiln"));
  mf.parameters.pop_back();  // no fc.bias
  model_bytes = serialize_model(mf);
  REQUIRE(write_file_atomic(path, model_bytes.data(), model_bytes.size()).ok());
  CHECK(kiln_model_load_weights(m.get(), path.c_str()) == KILN_FORMAT);
  CHECK(std::string(kiln_last_error()) ==
        path + ": no value for parameter 'fc.bias' of plan 'capi'");
  model_bytes.resize(model_bytes.size() / 2);
  REQUIRE(write_file_atomic(path, model_bytes.data(), model_bytes.size()).ok());
  CHECK(kiln_model_load_weights(m.get(), path.c_str()) == KILN_FORMAT);
}

TEST_CASE("C API: a shared library opened by path and prefix", "[c_api]") {
  // tests/aot_fixture: y = x * {1,2,3,4} + {10,20,30,40}, through kiln_parallel_for.
  kiln_model* raw = nullptr;
  REQUIRE(kiln_model_open_library(KILN_AOT_FIXTURE, "fixture", &raw) == KILN_OK);
  ModelPtr m(raw);
  const float x[4] = {1, 1, 2, -1};
  REQUIRE(kiln_model_set_input(m.get(), 0, x, sizeof x) == KILN_OK);
  REQUIRE(kiln_model_run(m.get()) == KILN_OK);
  const void* y = nullptr;
  REQUIRE(kiln_model_output_data(m.get(), 0, &y, nullptr) == KILN_OK);
  CHECK(std::vector<float>(static_cast<const float*>(y), static_cast<const float*>(y) + 4) ==
        std::vector<float>{11, 22, 36, 36});
  const char* value = nullptr;
  REQUIRE(kiln_model_metadata(m.get(), "image_size", &value) == KILN_OK);
  CHECK(std::string(value) == "2x2");

  // The same library through AotModule: the manifest and the resolved entry.
  ModuleError why = ModuleError::Format;
  auto module = AotModule::open_library(KILN_AOT_FIXTURE, "fixture", &why);
  REQUIRE(module.ok());
  CHECK((*module)->manifest().plan.entry_symbol == "fixture_entry");
  CHECK((*module)->lookup("fixture_entry") != nullptr);
  CHECK((*module)->lookup("fixture_kernel") == nullptr);  // kernels are internal

  kiln_model* none = nullptr;
  CHECK(kiln_model_open_library(KILN_AOT_FIXTURE, "other", &none) == KILN_NOT_FOUND);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith(std::string(KILN_AOT_FIXTURE) + ": ") &&
                                    Catch::Contains("other_module"));
  // A bare name is a file in the current folder, not a library search.
  CHECK(kiln_model_open_library("libc.so.6", "fixture", &none) == KILN_IO);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith("libc.so.6: ./libc.so.6: "));
  testing::TempDir dir;
  std::string text = dir.file("not_a_library.so");
  REQUIRE(write_file_atomic(text, "just text").ok());
  CHECK(kiln_model_open_library(text.c_str(), "fixture", &none) == KILN_IO);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith(text + ": "));
  CHECK(none == nullptr);
}
