// `--device cuda` on bench, run, generate and translate (issue 11) on the emulated driver
// ($KILN_CUDA_DRIVER=kiln-emulator): each must give the CPU's results, and bench prints
// the device profile, one row per plan kernel of the CPU's plan. (Compares with the CPU:
// not in the -DKILN_LLVM=OFF build; device_inspect_test.cpp is.)
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "shared_data.h"
#include "tools/run_tool.h"

namespace {

using kiln::testing::ToolResult;

// $KILN_CUDA_DRIVER for the guard's life.
struct DriverEnv {
  explicit DriverEnv(const std::string& driver) { ::setenv("KILN_CUDA_DRIVER", driver.c_str(), 1); }
  ~DriverEnv() { ::unsetenv("KILN_CUDA_DRIVER"); }
};

ToolResult run_kiln(const std::string& args, bool with_stderr = true) {
  return kiln::testing::run_tool("kiln", args, with_stderr);
}

ToolResult on_emulator(const std::string& args, bool with_stderr = true) {
  DriverEnv env("kiln-emulator");
  return run_kiln(args + " --device cuda", with_stderr);
}

nlohmann::json last_json(const ToolResult& r) {
  const size_t start = r.out.rfind("\n{");
  return nlohmann::json::parse(r.out.substr(start == std::string::npos ? 0 : start + 1));
}

bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

}  // namespace

TEST_CASE("kiln bench --device cuda prints a device profile of the plan's kernels", "[cuda][cli]") {
  ToolResult dev = on_emulator("bench mlp --batch-size 8 --steps 2 --json");
  INFO(dev.out);
  REQUIRE(dev.code == 0);
  ToolResult cpu = run_kiln("bench mlp --batch-size 8 --steps 1 --json");
  INFO(cpu.out);
  REQUIRE(cpu.code == 0);
  const nlohmann::json d = last_json(dev), c = last_json(cpu);
  CHECK(d["device"] == "cuda:0 (kiln emulated GPU, sm_90)");
  CHECK_FALSE(d.contains("limit_ms"));  // the host's roofline does not apply
  CHECK(d["steps"] == 2);
  // One row per plan kernel, the same plan as the CPU's, each timed by its events.
  REQUIRE(d["profile"].size() == d["kernels"].get<size_t>());
  REQUIRE(d["profile"].size() == c["profile"].size());
  for (size_t i = 0; i < d["profile"].size(); ++i) {
    INFO("kernel " << i);
    CHECK(d["profile"][i]["name"] == c["profile"][i]["name"]);
    CHECK(d["profile"][i]["flops"] == c["profile"][i]["flops"]);
    CHECK(d["profile"][i]["us"].get<double>() > 0);
    CHECK(d["profile"][i]["us_least"].get<double>() > 0);
  }
  // The CUDA source is inspect's with --device cuda only.
  ToolResult cpu_inspect = run_kiln("inspect mlp --batch-size 8 --print-after cuda");
  CHECK(cpu_inspect.code == 1);
  CHECK_THAT(cpu_inspect.out, Catch::Contains("--print-after cuda goes with --device cuda"));
  ToolResult table = on_emulator("bench softmax --batch-size 4 --steps 1");
  INFO(table.out);
  REQUIRE(table.code == 0);
  CHECK_THAT(table.out, Catch::Contains("cuda:0 (kiln emulated GPU, sm_90)") &&
                            Catch::Contains("device profile: each launch between CUDA events") &&
                            Catch::Contains("k0 ") && !Catch::Contains("roofline"));
}

TEST_CASE("kiln run --device cuda gives the CPU's outputs", "[cuda][cli]") {
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST");
    return;
  }
  const std::string dir = kiln::testing::temp_dir("kiln_device_run");
  REQUIRE(run_kiln("train mlp --epochs 1 --limit 64 --batch-size 32 --quiet --save " + dir + "/m.ckpt").code == 0);
  REQUIRE(run_kiln("export mlp --checkpoint " + dir + "/m.ckpt -o " + dir + "/m.kiln --batch-size 2").code == 0);
  ToolResult dev = on_emulator("run " + dir + "/m.kiln --repeat 2 --json");
  ToolResult cpu = run_kiln("run " + dir + "/m.kiln --repeat 2 --json");
  INFO(dev.out << cpu.out);
  REQUIRE(dev.code == 0);
  REQUIRE(cpu.code == 0);
  const nlohmann::json d = last_json(dev)["outputs"], c = last_json(cpu)["outputs"];
  REQUIRE(c.size() == 1);
  REQUIRE(d.size() == 1);
  REQUIRE(c.contains("pred"));
  const double abs_sum = c["pred"]["abs_sum"].get<double>();
  CHECK(abs_sum > 0);
  CHECK(d["pred"]["abs_sum"].get<double>() == Approx(abs_sum).epsilon(1e-5));
  CHECK(d["pred"]["sum"].get<double>() == Approx(c["pred"]["sum"].get<double>()).margin(1e-5 * abs_sum));
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln generate --device cuda samples the CPU's text", "[cuda][cli]") {
  const std::string dir = kiln::testing::temp_dir("kiln_device_generate");
  ToolResult lm = run_kiln("train char_gru --epochs 1 --max-tokens 2000 --hidden 32 --quiet --save " + dir +
                           "/gru.kckpt --corpus " + kiln::testing::shared_data_dir() + "/timemachine.txt");
  INFO(lm.out);
  REQUIRE(lm.code == 0);
  // Sampled, not greedy: every draw compares the two devices' probabilities.
  const std::string gen = "generate char_gru --checkpoint " + dir +
                          "/gru.kckpt --prefix 'the ' --len 12 --temperature 1 --seed 3";
  ToolResult dev = on_emulator(gen, false), cpu = run_kiln(gen, false);
  INFO(dev.out << cpu.out);
  REQUIRE(dev.code == 0);
  REQUIRE(cpu.code == 0);
  CHECK(dev.out.size() == 4 + 12 + 1);  // prefix, twelve characters, newline
  CHECK(dev.out == cpu.out);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln translate --device cuda gives the CPU's translations", "[cuda][cli]") {
  const std::string dir = kiln::testing::temp_dir("kiln_device_translate");
  ToolResult s2s = run_kiln("train seq2seq --epochs 1 --min-freq 1 --quiet --save " + dir + "/s2s.kckpt --data " +
                            kiln::testing::shared_data_dir() + "/fr-en-small.txt");
  INFO(s2s.out);
  REQUIRE(s2s.code == 0);
  const std::string tr = "translate seq2seq --checkpoint " + dir + "/s2s.kckpt 'ils regardent .' 'il est riche .'";
  ToolResult dev = on_emulator(tr, false), cpu = run_kiln(tr, false);
  INFO(dev.out << cpu.out);
  REQUIRE(dev.code == 0);
  REQUIRE(cpu.code == 0);
  CHECK(std::count(dev.out.begin(), dev.out.end(), '\n') == 2);
  CHECK(dev.out == cpu.out);
  std::filesystem::remove_all(dir);
}
