// ptxas's per-kernel report (codegen/cuda/kernel_resources.h): read from a recorded
// nvJitLink -verbose log, and from a real compile with CudaCompileOptions::resource_usage.
#include <catch2/catch.hpp>

#include "codegen/cuda/kernel_resources.h"
#include "runtime/nvrtc.h"

using namespace kiln;
using cudagen::KernelResources;
using cudagen::parse_kernel_resources;

TEST_CASE("kernel resources: ptxas's lines are read per kernel", "[cuda][nvrtc]") {
  // As nvJitLink 13.0 writes them (its own "info :" summary lines are skipped).
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'kiln_k1' for 'sm_90'\n"
      "ptxas info    : Function properties for kiln_k1\n"
      "ptxas         .     16 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads\n"
      "ptxas info    : Used 255 registers, used 0 barriers\n"
      "ptxas info    : Compile time = 14.391 ms\n"
      "ptxas info    : Function properties for kiln_k0\n"
      "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 10 registers, used 1 barriers, 256 bytes smem\n"
      "info    : Function properties for 'kiln_k0':\n"
      "info    : used 99 registers, used 1 barriers, 0 stack, 1280 bytes smem\n";
  const std::map<std::string, KernelResources> r = parse_kernel_resources(log);
  REQUIRE(r.size() == 2);
  const KernelResources& k1 = r.at("kiln_k1");
  CHECK(k1.registers == 255);
  CHECK(k1.stack_bytes == 16);
  CHECK(k1.spill_store_bytes == 8);
  CHECK(k1.spill_load_bytes == 12);
  CHECK(k1.shared_bytes == 0);
  const KernelResources& k0 = r.at("kiln_k0");
  CHECK(k0.registers == 10);
  CHECK(k0.shared_bytes == 256);
  CHECK(parse_kernel_resources("").empty());
  CHECK(parse_kernel_resources("error: something else\n").empty());
}

TEST_CASE("kernel resources: nvJitLink reports them for every kernel of a compile", "[cuda][nvrtc]") {
  const std::string source =
      "extern \"C\" __global__ void twice(float* a) { a[threadIdx.x] *= 2.0f; }\n"
      "extern \"C\" __global__ void shared_sum(float* a) {\n"
      "  __shared__ float s[128];\n"
      "  s[threadIdx.x] = a[threadIdx.x];\n"
      "  __syncthreads();\n"
      "  a[threadIdx.x] = s[127 - threadIdx.x];\n"
      "}\n";
  CudaCompileOptions o;
  o.arch = "sm_90";
  o.resource_usage = true;
  Expected<CudaCompiled> c = compile_cuda(source, "resources.cu", o);
  INFO((c.ok() ? std::string() : c.error().message()));
  REQUIRE(c.ok());
  const std::map<std::string, KernelResources> r = parse_kernel_resources(c->log);
  INFO(c->log);
  REQUIRE(r.count("twice") == 1);
  REQUIRE(r.count("shared_sum") == 1);
  CHECK(r.at("twice").registers > 0);
  CHECK(r.at("shared_sum").shared_bytes == 512);
  // Without the option the log carries no report.
  o.resource_usage = false;
  Expected<CudaCompiled> quiet = compile_cuda(source, "resources.cu", o);
  REQUIRE(quiet.ok());
  CHECK(parse_kernel_resources(quiet->log).empty());
}
