// `kiln train --device cuda` through the device runtime, with the emulated driver
// selected by $KILN_CUDA_DRIVER=kiln-emulator (tools/device_flag.h): the command trains
// mlp on a slice of Fashion-MNIST, saves a checkpoint from the device's weights, and
// gets the CPU's metrics (compile_cuda_cli_test.cpp has `kiln compile --device cuda`).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "tools/run_tool.h"

namespace {

using kiln::testing::ToolResult;

ToolResult kiln_on_emulator(const std::string& args) {
  return kiln::testing::run_tool("kiln", args);
}

nlohmann::json last_json(const ToolResult& r) {
  const size_t start = r.out.rfind("\n{");
  return nlohmann::json::parse(r.out.substr(start == std::string::npos ? 0 : start + 1));
}

}  // namespace

TEST_CASE("kiln train --device cuda on the emulated driver matches the CPU", "[cuda][device][cli]") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    WARN("no Fashion-MNIST");
    return;
  }
  ::setenv("KILN_CUDA_DRIVER", "kiln-emulator", 1);
  const std::string dir = kiln::testing::temp_dir("kiln_device_cli");
  const std::string args = "train mlp --epochs 1 --limit 64 --batch-size 32 --quiet --json --save " + dir;
  ToolResult dev = kiln_on_emulator(args + "/dev.ckpt --device cuda");
  ::unsetenv("KILN_CUDA_DRIVER");
  INFO(dev.out);
  REQUIRE(dev.code == 0);
  ToolResult cpu = kiln_on_emulator(args + "/cpu.ckpt");
  INFO(cpu.out);
  REQUIRE(cpu.code == 0);
  const nlohmann::json d = last_json(dev), c = last_json(cpu);
  CHECK(d["train_loss"].get<double>() == Approx(c["train_loss"].get<double>()).epsilon(1e-4));
  CHECK(d["test_loss"].get<double>() == Approx(c["test_loss"].get<double>()).epsilon(1e-4));
  CHECK(d["test_acc"].get<double>() == Approx(c["test_acc"].get<double>()).margin(1e-9));
  // The checkpoint written from the device holds the device's trained weights: the CPU
  // evaluates it as it evaluates the CPU's own.
  ToolResult dev_eval = kiln_on_emulator("eval mlp --checkpoint " + dir + "/dev.ckpt --json --quiet");
  ToolResult cpu_eval = kiln_on_emulator("eval mlp --checkpoint " + dir + "/cpu.ckpt --json --quiet");
  INFO(dev_eval.out << cpu_eval.out);
  REQUIRE(dev_eval.code == 0);
  REQUIRE(cpu_eval.code == 0);
  CHECK(last_json(dev_eval)["test_loss"].get<double>() ==
        Approx(last_json(cpu_eval)["test_loss"].get<double>()).epsilon(1e-4));
  std::filesystem::remove_all(dir);
}
