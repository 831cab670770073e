// Every kernel the op harness and the zoo's training steps generate compiles with NVRTC
// and assembles (nvJitLink) for sm_80 and sm_90 (issue 11, testing item (a)). The
// programs are rendered with distinct prefixes and batched into one translation unit
// per architecture, so the whole check is two NVRTC compiles. Also: a compile error
// carries NVRTC's log and the numbered source.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <set>

#include "codegen/conv_parity_cases.h"
#include "codegen/cuda/prelude.h"
#include "codegen/op_parity_cases.h"
#include "cuda_plans.h"
#include "runtime/nvrtc.h"

using namespace kiln;
using namespace kiln::test;

namespace {

std::vector<std::function<Cases()>> all_families() {
  return {unary_cases, binary_cases, compare_cases, chain_cases, reduction_cases, shape_cases,
          pad_and_stop_gradient_cases, leaf_and_indexing_cases, matmul_cases, rng_cases,
          gradient_cases, conv_cases, pool_cases, conv_epilogue_cases, conv_prologue_cases, [] {
            Cases cs;
            cs.push_back(i32_wrap_case());
            cs.push_back(state_update_case());
            return cs;
          }};
}

// `__global__ void <name>(` occurrences: the kernels a source defines.
std::set<std::string> defined_kernels(const std::string& src) {
  std::set<std::string> names;
  const std::string key = "KILN_GLOBAL void ";
  for (size_t p = src.find(key); p != std::string::npos; p = src.find(key, p + 1)) {
    size_t b = p + key.size();
    if (src.compare(b, 12, "KILN_BOUNDS(") == 0) b = src.find(") ", b) + 2;  // launch bounds
    names.insert(src.substr(b, src.find('(', b) - b));
  }
  return names;
}

// Plans and renders every program, checks the launch tables against the source, and
// compiles it all as one translation unit for `arch` (one test per architecture, so
// ctest -j runs them side by side).
void check_all_kernels_compile(const std::string& arch) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<CudaPlan> plans;
  int n = 0;
  for (const auto& family : all_families())
    for (const ParityCase& c : family()) plans.push_back(cuda_plan(c.name, c.graph, "p" + std::to_string(n++) + "_"));
  for (const char* model : {"mlp", "lenet", "char_gru"})
    plans.push_back(cuda_plan(model, zoo_step_graph(model, 4), std::string(model) + "_"));
  std::vector<const cudagen::CudaProgram*> progs;
  size_t launches = 0;
  std::set<std::string> launched;
  for (const CudaPlan& p : plans) {
    progs.push_back(&p.cuda);
    launches += p.cuda.launches.size();
    for (const cudagen::CudaLaunch& l : p.cuda.launches) launched.insert(l.kernel);
  }
  const std::string src = cudagen::nvrtc_source(progs);
  // Every launch names a kernel the source defines, and every kernel is launched.
  CHECK(defined_kernels(src) == launched);
  CHECK(launches > 500);
  const auto t1 = std::chrono::steady_clock::now();
  Expected<CudaCompiled> out = compile_cuda(src, "kiln_all", {arch});
  const auto t2 = std::chrono::steady_clock::now();
  std::cout << "cuda: " << launches << " launches, " << src.size() / 1024 << " KiB of CUDA C++; planned and rendered in "
            << std::chrono::duration<double>(t1 - t0).count() << " s, NVRTC + nvJitLink for " << arch << " in "
            << std::chrono::duration<double>(t2 - t1).count() << " s\n";
  INFO((out.ok() ? std::string() : out.error().message().substr(0, 20000)));
  REQUIRE(out.ok());
  // Each kernel is an entry of the PTX, and the assembled cubin is an ELF image naming them.
  const std::string cubin(out->cubin.begin(), out->cubin.end());
  REQUIRE(cubin.size() > 4);
  CHECK(cubin.substr(0, 4) == "\x7f" "ELF");
  for (const std::string& k : launched) {
    INFO(k);
    CHECK(out->ptx.find(".entry " + k + "(") != std::string::npos);
    CHECK(cubin.find(k) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("every op harness and zoo training-step kernel compiles for sm_80", "[cuda][nvrtc]") {
  check_all_kernels_compile("sm_80");
}

TEST_CASE("every op harness and zoo training-step kernel compiles for sm_90", "[cuda][nvrtc]") {
  check_all_kernels_compile("sm_90");
}

TEST_CASE("an NVRTC error carries the log and the numbered source", "[cuda][nvrtc]") {
  std::string src = std::string(cudagen::nvrtc_prelude()) + cudagen::common_prelude() +
                    "KILN_GLOBAL void broken(void* const* bufs) {\n  float x = undefined_name;\n}\n";
  Expected<CudaCompiled> out = compile_cuda(src, "broken", {"sm_80"});
  REQUIRE_FALSE(out.ok());
  const std::string& msg = out.error().message();
  CHECK_THAT(msg, Catch::Contains("undefined_name"));
  CHECK_THAT(msg, Catch::Contains("broken.cu("));
  CHECK_THAT(msg, Catch::Contains("  float x = undefined_name;"));
  // The offending line is marked with '>' and its number.
  const size_t at = msg.rfind("  float x = undefined_name;\n");  // the source follows the log
  REQUIRE(at != std::string::npos);
  const size_t bol = msg.rfind('\n', at) + 1;
  CHECK(msg[bol] == '>');
  CHECK(std::atoi(msg.c_str() + bol + 1) > 100);  // after the prelude
  // A bad architecture is an error, not an abort.
  CHECK_FALSE(compile_cuda("", "x", {"compute_80"}).ok());
  CHECK_FALSE(compile_cuda(src, "x", {"sm_1"}).ok());
}

TEST_CASE("a missing NVRTC library is an error naming it", "[cuda][nvrtc]") {
  Expected<std::string> v = nvrtc_version_of("/nonexistent/libnvrtc.so.13");
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message(), Catch::Contains("/nonexistent/libnvrtc.so.13"));
  Expected<std::string> real = nvrtc_version();
  INFO((real.ok() ? std::string() : real.error().message()));
  REQUIRE(real.ok());
  CHECK(real->rfind("1", 0) == 0);  // 12.x or 13.x
}
