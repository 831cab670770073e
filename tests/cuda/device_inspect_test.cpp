// `kiln inspect --device cuda --arch sm_XX` (issue 11): compiles the step for the
// architecture with NVRTC and no driver, printing the CUDA source on request, the launch
// table beside the plan's kernels with ptxas's registers and spills, and refusing a bad
// architecture cleanly; and without a GPU every computing command's `--device cuda` is
// one line. Needs no CPU backend: runs in the -DKILN_LLVM=OFF build too.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tools/run_tool.h"

namespace {

using kiln::testing::ToolResult;

ToolResult run_kiln(const std::string& args) { return kiln::testing::run_tool("kiln", args); }

// The launch-table rows of `kiln inspect --device cuda`: the lines after its header.
std::vector<std::string> launch_rows(const std::string& out) {
  std::vector<std::string> rows;
  std::istringstream in(out.substr(std::min(out.size(), out.find("launch plan kernel"))));
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line) && !line.empty() && std::isdigit(static_cast<unsigned char>(line[0])))
    rows.push_back(line);
  return rows;
}

}  // namespace

TEST_CASE("kiln inspect --device cuda --arch compiles with NVRTC and no driver", "[cuda][cli]") {
  // No $KILN_CUDA_DRIVER and no libcuda here: --arch needs none.
  ToolResult r = run_kiln("inspect mlp --device cuda --arch sm_90 --batch-size 8 --print-after cuda");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("// cuda\n") && Catch::Contains("KILN_GLOBAL void kiln_k0("));
  CHECK_THAT(r.out, Catch::Contains("cuda sm_90 (NVRTC 13.") && Catch::Contains("cubin"));
  const std::vector<std::string> rows = launch_rows(r.out);
  REQUIRE(rows.size() >= 4);
  for (const std::string& row : rows) {
    INFO(row);
    CHECK_THAT(row, Catch::Contains(" kiln_k"));
    CHECK_THAT(row, !Catch::Contains("?"));  // ptxas reported registers and spills for each
  }
  CHECK_THAT(rows[0], Catch::StartsWith("0      k0 "));
  // Without --print-after the source stays out; the plan's kernels are listed as on the CPU.
  ToolResult quiet = run_kiln("inspect mlp --device cuda --arch sm_80 --batch-size 8");
  INFO(quiet.out);
  REQUIRE(quiet.code == 0);
  CHECK_THAT(quiet.out, !Catch::Contains("KILN_GLOBAL") && Catch::Contains("cuda sm_80"));
  CHECK(launch_rows(quiet.out).size() == rows.size());

  auto refused = [](const std::string& args, int code, const std::string& says) {
    ToolResult bad = run_kiln("inspect mlp --batch-size 8 " + args);
    INFO(args << "\n" << bad.out);
    CHECK(bad.code == code);
    CHECK_THAT(bad.out, Catch::StartsWith("kiln: error: ") && Catch::Contains(says));
  };
  refused("--device cuda --arch sm_9x", 1, "'sm_9x' is not a CUDA architecture");
  refused("--device cuda --arch compute_90", 1, "'compute_90' is not a CUDA architecture");
  refused("--arch sm_90", 1, "--arch sm_90 goes with --device cuda");
  refused("--device cuda --arch sm_99", 1, "sm_99");  // well-formed, unknown to NVRTC
  refused("--device cuda --arch sm_90 --print-after llvm", 1, "--print-after llvm goes with --device cpu");
  refused("--device cuda --arch sm_90 --summary", 1, "--device cuda shows the kernels of a step");
}

TEST_CASE("kiln COMMAND --device cuda without a GPU is one line for every command", "[cuda][cli]") {
  const std::string stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (!std::filesystem::exists(stub)) {
    WARN("no CUDA toolkit stub driver");
    return;
  }
  ::setenv("KILN_CUDA_DRIVER", stub.c_str(), 1);
  for (const char* cmd : {"bench mlp", "run x.kiln", "generate char_gru --checkpoint x --prefix a",
                          "translate seq2seq --checkpoint x a", "inspect mlp"}) {
    ToolResult r = run_kiln(std::string(cmd) + " --device cuda");
    INFO(cmd << "\n" << r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("kiln: error: --device cuda: no CUDA driver: " + stub +
                                        " is the CUDA toolkit's stub library"));
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  }
  ::unsetenv("KILN_CUDA_DRIVER");
}
