// `kiln compile --device cuda` (tools/cmd_compile.cpp, codegen/cuda/module_file.h): with
// --arch it needs NVRTC only, no GPU or driver; the module it writes holds a real cubin
// (an ELF file naming every kernel of its launch table), the PTX and a launch table that
// covers the plan, and the device runtime binds it on the emulated driver, which loads
// the cubin's kernels by name and records the launches it makes (it cannot execute a
// cubin: tests/cuda/cuda_module_test.cpp runs modules with emulator images). Bad flags
// and a missing GPU without --arch are refused in one line.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include "codegen/compile.h"
#include "device_fixture.h"
#include "runtime/atomic_file.h"
#include "runtime/cuda_module.h"
#include "small_model.h"
#include "temp_dir.h"
#include "tools/run_tool.h"

using namespace kiln;
using namespace kiln::test;
using kiln::testing::run_tool;
using kiln::testing::ToolResult;

namespace {

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

bool contains(const std::vector<uint8_t>& bytes, const std::string& text) {
  return std::search(bytes.begin(), bytes.end(), text.begin(), text.end()) != bytes.end();
}

// small_model() as the model file `path`.
void write_small_model(const std::string& path) {
  const std::vector<uint8_t> bytes = serialize_model(small_model());
  REQUIRE(write_file_atomic(path, bytes.data(), bytes.size()).ok());
}

}  // namespace

TEST_CASE("kiln compile --device cuda --arch sm_90 writes a module with a real cubin", "[cuda][module][cli]") {
  testing::TempDir dir;
  const std::string model = dir.file("small.kiln"), out = dir.file("small.kmod");
  write_small_model(model);
  // No driver at all: --arch is all compile needs.
  ::setenv("KILN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  ToolResult r = run_tool("kiln", "compile " + model + " --device cuda --arch sm_90 -o " + out);
  ::unsetenv("KILN_CUDA_DRIVER");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::StartsWith(out + ": cuda module for sm_90, "));
  CHECK_THAT(r.out, Catch::Contains("weights embedded (4 tensors, "));

  Expected<CompiledModuleFile> m = load_module(out);
  INFO((m.ok() ? std::string() : m.error().message()));
  REQUIRE(m.ok());
  REQUIRE(m->cuda);
  CHECK(m->cuda->arch == "sm_90");
  const std::vector<uint8_t>& image = m->cuda->image;
  REQUIRE(image.size() > 4);
  CHECK(std::equal(image.begin(), image.begin() + 4, std::begin({uint8_t{0x7f}, uint8_t{'E'}, uint8_t{'L'}, uint8_t{'F'}})));
  CHECK_THAT(m->cuda->ptx, Catch::Contains(".target sm_90"));
  CHECK(m->cuda->launches.size() >= m->plan.launches.size());
  CHECK(m->cuda->launches.back().plan_launch == static_cast<int>(m->plan.launches.size()) - 1);
  for (const CudaKernelLaunch& l : m->cuda->launches) {
    CHECK(contains(image, l.kernel));
    CHECK_THAT(m->cuda->ptx, Catch::Contains(".entry " + l.kernel));
  }
  CHECK(m->weights.size() == 4);
  CHECK(m->object.empty());

  // Bound on the emulated driver (compute capability 9.0): the cubin is loaded, every
  // kernel is found in it by name, and the step launches the table's kernels in order.
  cudagen::reset_emulated_driver();
  {
    std::shared_ptr<CudaRuntime> rt = emulated_runtime();
    Expected<std::unique_ptr<Executable>> exe = bind_cuda_module(*m, out, rt);
    INFO((exe.ok() ? std::string() : exe.error().message()));
    REQUIRE(exe.ok());
    REQUIRE((*exe)->run_checked().ok());
    const cudagen::EmulatedDriverState& st = cudagen::emulated_driver_state();
    CHECK(st.count("cuModuleLoadData") == 1);
    REQUIRE(st.kernel_runs.size() == m->cuda->launches.size());
    for (size_t i = 0; i < st.kernel_runs.size(); ++i) {
      CHECK(st.kernel_runs[i].kernel == m->cuda->launches[i].kernel);
      CHECK(st.kernel_runs[i].grid == m->cuda->launches[i].grid);
      CHECK(st.kernel_runs[i].block == static_cast<unsigned>(m->cuda->launches[i].block));
    }
  }
  CHECK(cudagen::emulated_driver_state().violations.empty());
  CHECK(cudagen::emulated_driver_state().modules == 0);

  // sm_80 code on that sm_90 device: the cubin cannot run there, the PTX can.
  ToolResult r80 = run_tool("kiln", "compile " + model + " --device cuda --arch sm_80 --weights external -o " + out);
  INFO(r80.out);
  REQUIRE(r80.code == 0);
  CHECK_THAT(r80.out, Catch::Contains("weights external"));
  Expected<CompiledModuleFile> m80 = load_module(out);
  REQUIRE(m80.ok());
  CHECK(m80->weights.empty());
  Expected<std::shared_ptr<CudaCodeModule>> code = cuda_code_for_device(*m80->cuda, CudaDevice{0, "gpu", 9, 0}, out);
  REQUIRE(code.ok());
  CHECK((*code)->arch() == "compute_80");
  m80->cuda->ptx.clear();
  code = cuda_code_for_device(*m80->cuda, CudaDevice{0, "gpu", 9, 0}, out);
  REQUIRE_FALSE(code.ok());
  CHECK_THAT(code.error().message(), Catch::StartsWith(out + ": the CUDA module was built for sm_80"));
}

TEST_CASE("kiln compile --device cuda refuses bad flags and a missing GPU in one line", "[cuda][module][cli]") {
  testing::TempDir dir;
  const std::string model = dir.file("small.kiln"), out = dir.file("small.kmod");
  write_small_model(model);
  ::setenv("KILN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  // Without the LLVM backend, --device cpu (the default) is refused before compile runs.
  const bool cpu = llvm_backend_built();
  const std::pair<std::string, std::string> cases[] = {
      {"--device cuda", "--device cuda: no --arch given, and no GPU to take it from ("},
      {"--device cuda --arch sm_9", "--arch: 'sm_9' is not a CUDA architecture (sm_ and its number: sm_80, sm_90)"},
      {"--device cuda --arch compute_90", "--arch: 'compute_90' is not a CUDA architecture"},
      {"--device cuda --arch sm_90 --emit obj", "--device cuda writes a module file: use --emit kmod"},
      {"--device cuda --arch sm_90 --target-cpu x86-64-v3", "--target-cpu and --name are for CPU code"},
      {"--arch sm_90", "--arch sm_90 goes with --device cuda"},
      {"--emit kmod", cpu ? "--emit kmod is for --device cuda" : "--device cpu: this kiln was built without"},
  };
  for (const auto& [flags, why] : cases) {
    ToolResult r = run_tool("kiln", "compile " + model + " " + flags + " -o " + out);
    INFO(flags << "\n" << r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("kiln: error: ") && Catch::Contains(why));
    CHECK(lines(r.out) == 1);
  }
  ::unsetenv("KILN_CUDA_DRIVER");
  CHECK(dir.list() == std::vector<std::string>{"small.kiln"});  // nothing written
}
