// Serialized CUDA modules (runtime/module_format.h `cuda`, runtime/cuda_module.h,
// codegen/cuda/module_file.h; issue 11 item 4): a module round-trips through its bytes,
// every malformed part is refused naming the file and the field, a CPU module carries no
// CUDA part, the image picked for a device follows the cubin/PTX compatibility rules,
// and a module file loaded from disk, bound on the emulated driver and run computes what
// the reference interpreter (and, where built, the JIT) computes. The image here is the
// emulator's (only this process's emulated driver loads it); tests/cuda/
// compile_cuda_cli_test.cpp covers real cubins from `kiln compile`.
#include <catch2/catch.hpp>

#include <algorithm>
#include <flatbuffers/flatbuffers.h>

#include "codegen/compile.h"
#include "codegen/cuda/module_file.h"
#include "device_fixture.h"
#include "kiln/c_api.h"
#include "module_generated.h"
#include "runtime/atomic_file.h"
#include "runtime/cuda_module.h"
#include "small_model.h"
#include "temp_dir.h"

using namespace kiln;
using namespace kiln::test;

namespace {

// The small model compiled for the emulated device (sm_90), once per test binary.
const CompiledModuleFile& emulated_module() {
  static const CompiledModuleFile m = [] {
    cudagen::CudaModuleOptions o;
    o.arch = "sm_90";
    o.build = cudagen::emulated_image_builder();
    o.source = "small.kiln";
    Expected<CompiledModuleFile> c = cudagen::compile_cuda_module(small_model(), o);
    INFO((c.ok() ? std::string() : c.error().message()));
    REQUIRE(c.ok());
    c->cuda->ptx = "// PTX stand-in\n.version 8.0\n.target sm_90\n";  // the emulator has none
    return std::move(*c);
  }();
  return m;
}

// The error deserialize_module gives for `m` named "m.kmod" ("" when it is accepted).
std::string refusal(const CompiledModuleFile& m) {
  Expected<CompiledModuleFile> back = deserialize_module(serialize_module(m), "m.kmod");
  return back.ok() ? "" : back.error().message();
}

std::vector<float> run_on(Executable& exe) {
  const std::vector<float> x = small_input();
  std::memcpy(exe.input("x")->data(), x.data(), x.size() * 4);
  Status st = exe.run_checked();
  INFO((st.ok() ? std::string() : st.error().message()));
  REQUIRE(st.ok());
  const float* p = exe.output("pred")->as<float>();
  return {p, p + 20};
}

void check_close(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-5).margin(1e-5));
}

}  // namespace

TEST_CASE("cuda module: serialize and deserialize give back every field", "[cuda][module]") {
  const CompiledModuleFile& m = emulated_module();
  REQUIRE(m.cuda);
  CHECK(m.cuda->launches.size() >= m.plan.launches.size());
  CHECK_FALSE(m.cuda->source.empty());
  CHECK(m.weights.size() == 4);  // two layers' weights and biases, embedded
  const std::vector<uint8_t> bytes = serialize_module(m);
  Expected<CompiledModuleFile> back = deserialize_module(bytes, "m.kmod");
  INFO((back.ok() ? std::string() : back.error().message()));
  REQUIRE(back.ok());
  REQUIRE(back->cuda);
  CHECK(back->cuda->arch == "sm_90");
  CHECK(back->cuda->image == m.cuda->image);
  CHECK(back->cuda->ptx == m.cuda->ptx);
  CHECK(back->cuda->source == m.cuda->source);
  REQUIRE(back->cuda->launches.size() == m.cuda->launches.size());
  for (size_t i = 0; i < m.cuda->launches.size(); ++i) {
    const CudaKernelLaunch &a = back->cuda->launches[i], &b = m.cuda->launches[i];
    CHECK(a.kernel == b.kernel);
    CHECK(a.grid == b.grid);
    CHECK(a.block == b.block);
    CHECK(a.shared_bytes == b.shared_bytes);
    CHECK(a.plan_launch == b.plan_launch);
  }
  CHECK(back->plan.launches.size() == m.plan.launches.size());
  CHECK(back->weights.size() == m.weights.size());
  CHECK(back->object.empty());
  CHECK(serialize_module(*back) == bytes);  // nothing lost or added
}

TEST_CASE("cuda module: a CPU module has no CUDA part, and a module cannot hold both", "[cuda][module]") {
  CompiledModuleFile cpu = emulated_module();
  cpu.cuda.reset();
  const std::vector<uint8_t> bytes = serialize_module(cpu);
  const fb::Module* root = fb::GetModule(bytes.data());
  CHECK(root->cuda() == nullptr);
  Expected<CompiledModuleFile> back = deserialize_module(bytes, "cpu.kmod");
  REQUIRE(back.ok());
  CHECK_FALSE(back->cuda);

  CompiledModuleFile both = emulated_module();
  both.object = {1, 2, 3};
  CHECK_THAT(refusal(both), Catch::StartsWith("m.kmod: cuda: a module holds CPU code") &&
                                Catch::Contains("not both"));
}

TEST_CASE("cuda module: every malformed CUDA part is refused, naming the file and field", "[cuda][module]") {
  const CompiledModuleFile& good = emulated_module();
  REQUIRE(refusal(good).empty());
  auto with = [&](auto change) {
    CompiledModuleFile m = good;
    change(*m.cuda);
    return refusal(m);
  };
  CHECK(with([](ModuleCudaCode& c) { c.arch = "sm_9"; }) ==
        "m.kmod: cuda arch: 'sm_9' is not sm_NN (e.g. sm_90)");
  CHECK_THAT(with([](ModuleCudaCode& c) { c.arch = "compute_90"; }), Catch::StartsWith("m.kmod: cuda arch:"));
  CHECK_THAT(with([](ModuleCudaCode& c) { c.arch = ""; }), Catch::StartsWith("m.kmod: cuda arch:"));
  CHECK(with([](ModuleCudaCode& c) { c.image.clear(); }) == "m.kmod: cuda image: missing (no cubin for sm_90)");
  CHECK_THAT(with([](ModuleCudaCode& c) { c.launches[0].kernel = ""; }),
             Catch::StartsWith("m.kmod: cuda launch 0: kernel name '' is not a C identifier"));
  CHECK_THAT(with([](ModuleCudaCode& c) { c.launches[1].block = 2048; }),
             Catch::StartsWith("m.kmod: cuda launch 1: ") && Catch::Contains("block of 2048 threads"));
  CHECK_THAT(with([](ModuleCudaCode& c) { c.launches[0].grid = 0; }), Catch::Contains("grid of 0 blocks"));
  CHECK_THAT(with([](ModuleCudaCode& c) { c.launches[0].shared_bytes = -4; }),
             Catch::Contains("-4 bytes of dynamic shared memory"));
  // The launch table must cover the plan, in its order.
  const int last = good.cuda->launches.back().plan_launch;
  CHECK_THAT(with([&](ModuleCudaCode& c) {
               std::erase_if(c.launches, [&](const CudaKernelLaunch& l) { return l.plan_launch == last; });
             }),
             Catch::Equals("m.kmod: cuda launches: cover " + std::to_string(last) + " of the plan's " +
                           std::to_string(good.plan.launches.size()) + " kernels"));
  CHECK_THAT(with([](ModuleCudaCode& c) { c.launches.clear(); }), Catch::Contains("cover 0 of the plan's"));
  CHECK_THAT(with([](ModuleCudaCode& c) { std::reverse(c.launches.begin(), c.launches.end()); }),
             Catch::StartsWith("m.kmod: cuda launch 0: ") && Catch::Contains("launches follow the plan's order"));
  CHECK_THAT(with([](ModuleCudaCode& c) { c.launches[0].plan_launch = -1; }),
             Catch::Contains("belongs to plan launch -1, expected 0"));

  // Truncated on disk: the file's name leads.
  testing::TempDir dir;
  const std::string path = dir.file("cut.kmod");
  std::vector<uint8_t> bytes = serialize_module(good);
  bytes.resize(bytes.size() / 2);
  REQUIRE(write_file_atomic(path, bytes.data(), bytes.size()).ok());
  Expected<CompiledModuleFile> cut = load_module(path);
  REQUIRE_FALSE(cut.ok());
  CHECK_THAT(cut.error().message(), Catch::StartsWith(path + ": corrupt or truncated module"));
}

TEST_CASE("cuda module: the image for a device follows cubin and PTX compatibility", "[cuda][module]") {
  ModuleCudaCode code;
  code.arch = "sm_80";
  code.image = {0x7f, 'E', 'L', 'F'};
  code.ptx = ".target sm_80";
  auto device = [](int major, int minor) { return CudaDevice{0, "test", major, minor}; };
  // A cubin runs on its own major version at the same or a newer minor.
  for (auto [major, minor] : {std::pair{8, 0}, std::pair{8, 6}, std::pair{8, 9}}) {
    Expected<std::shared_ptr<CudaCodeModule>> m = cuda_code_for_device(code, device(major, minor), "m.kmod");
    REQUIRE(m.ok());
    CHECK((*m)->arch() == "sm_80");
    CHECK((*m)->image() == code.image);
  }
  // A newer major version takes the PTX (NUL-terminated for cuModuleLoadData).
  Expected<std::shared_ptr<CudaCodeModule>> jit = cuda_code_for_device(code, device(9, 0), "m.kmod");
  REQUIRE(jit.ok());
  CHECK((*jit)->arch() == "compute_80");
  std::vector<uint8_t> text(code.ptx.begin(), code.ptx.end());
  text.push_back(0);
  CHECK((*jit)->image() == text);
  // Without PTX, or older than the code, it is refused in one line.
  code.ptx.clear();
  Expected<std::shared_ptr<CudaCodeModule>> no_ptx = cuda_code_for_device(code, device(9, 0), "m.kmod");
  REQUIRE_FALSE(no_ptx.ok());
  CHECK(no_ptx.error().message() ==
        "m.kmod: the CUDA module was built for sm_80, which a sm_90 device cannot run (a cubin runs "
        "only on its own major version, at the same or a newer minor), and the module carries no PTX");
  code.arch = "sm_86";
  code.ptx = ".target sm_86";
  Expected<std::shared_ptr<CudaCodeModule>> older = cuda_code_for_device(code, device(8, 0), "m.kmod");
  REQUIRE_FALSE(older.ok());
  CHECK_THAT(older.error().message(),
             Catch::StartsWith("m.kmod: the CUDA module was built for sm_86") &&
                 Catch::EndsWith("PTX was built for compute_86, newer than the device (sm_80)"));
}

TEST_CASE("cuda module: loaded from disk and run on the emulated driver, it computes the model",
          "[cuda][module][device]") {
  const ModelFile model = small_model();
  const std::vector<float> want = reference_prediction(model);
  testing::TempDir dir;
  const std::string path = dir.file("small.kmod");
  REQUIRE(save_module(path, emulated_module()).ok());
  Expected<CompiledModuleFile> loaded = load_module(path);
  INFO((loaded.ok() ? std::string() : loaded.error().message()));
  REQUIRE(loaded.ok());
  cudagen::reset_emulated_driver();
  {
    std::shared_ptr<CudaRuntime> rt = emulated_runtime();
    Expected<std::unique_ptr<Executable>> exe = bind_cuda_module(*loaded, path, rt);
    INFO((exe.ok() ? std::string() : exe.error().message()));
    REQUIRE(exe.ok());
    const std::vector<float> got = run_on(**exe);
    check_close(got, want);
    if (llvm_backend_built()) {  // and what the JIT computes on the CPU
      Expected<std::unique_ptr<Executable>> jit = compile(model.graph, std::make_shared<StateStore>());
      REQUIRE(jit.ok());
      for (const NamedTensor& t : model.parameters)
        std::memcpy((*jit)->state_buffer(t.name)->data(), t.bytes.data(), t.bytes.size());
      check_close(got, run_on(**jit));
    }
    CHECK(cudagen::emulated_driver_state().kernel_runs.size() == loaded->cuda->launches.size());

    // External weights: the module has none, the model file's go in at bind.
    CompiledModuleFile external = *loaded;
    external.weights.clear();
    std::vector<ModuleWeight> weights;
    for (const NamedTensor& t : model.parameters) weights.push_back({t.name, t.type, t.bytes});
    Expected<std::unique_ptr<Executable>> ext = bind_cuda_module(external, path, rt, nullptr, &weights);
    REQUIRE(ext.ok());
    check_close(run_on(**ext), want);

    // A module the device (sm_90) cannot run is refused before anything is loaded.
    CompiledModuleFile old = *loaded;
    old.cuda->arch = "sm_80";
    old.cuda->ptx.clear();
    Expected<std::unique_ptr<Executable>> refused = bind_cuda_module(old, path, rt);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message(),
               Catch::StartsWith(path + ": the CUDA module was built for sm_80, which a sm_90 device cannot run"));
    // A CPU module is not CUDA code.
    CompiledModuleFile cpu = *loaded;
    cpu.cuda.reset();
    CHECK_THAT(bind_cuda_module(cpu, path, rt).error().message(),
               Catch::Contains("holds CPU code, not CUDA code"));
  }
  CHECK(cudagen::emulated_driver_state().violations.empty());
  CHECK(cudagen::emulated_driver_state().allocations == 0);
  CHECK(cudagen::emulated_driver_state().modules == 0);
}

TEST_CASE("cuda module: kiln_model_open_cuda refuses, naming the file, with a status per cause",
          "[cuda][module][c_api]") {
  testing::TempDir dir;
  const std::string cuda_path = dir.file("small.kmod"), cpu_path = dir.file("cpu.kmod");
  REQUIRE(save_module(cuda_path, emulated_module()).ok());
  CompiledModuleFile cpu = emulated_module();
  cpu.cuda.reset();
  REQUIRE(save_module(cpu_path, cpu).ok());
  ::setenv("KILN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  kiln_model* m = reinterpret_cast<kiln_model*>(&cpu);  // must be reset to NULL
  CHECK(kiln_model_open_cuda(dir.file("missing.kmod").c_str(), 0, &m) == KILN_IO);
  CHECK(m == nullptr);
  CHECK(kiln_model_open_cuda(cpu_path.c_str(), 0, &m) == KILN_FORMAT);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith(cpu_path + ": the module holds CPU code, not CUDA code"));
  CHECK(kiln_model_open_cuda(cuda_path.c_str(), 0, &m) == KILN_DEVICE_ERROR);
  CHECK_THAT(kiln_last_error(), Catch::StartsWith(cuda_path + ": ") && Catch::Contains("/nonexistent/libcuda.so.1"));
  ::unsetenv("KILN_CUDA_DRIVER");
  CHECK(kiln_model_open_cuda(nullptr, 0, &m) == KILN_INVALID_ARGUMENT);
  CHECK(m == nullptr);
}
