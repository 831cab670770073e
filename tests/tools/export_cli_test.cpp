// `kiln export`: writes the model file and prints its signature; bad input (unknown
// model, foreign or missing checkpoint, unwritable output, a flag the model does not
// take) exits non-zero with one clear line and leaves no file behind.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include "run_tool.h"

namespace {

using Result = kiln::testing::ToolResult;

Result run_kiln(const std::string& args) { return kiln::testing::run_tool("kiln", args); }

}  // namespace

TEST_CASE("kiln export writes a model file and refuses bad input", "[cli][export]") {
  const std::string dir = kiln::testing::temp_dir("kiln_export_cli");
  const std::string ck = dir + "/mlp.ckpt", out = dir + "/mlp.kiln";
  REQUIRE(run_kiln("train mlp --epochs 1 --limit 256 --quiet --save " + ck).code == 0);

  Result ok = run_kiln("export mlp --checkpoint " + ck + " -o " + out + " --batch-size 4");
  INFO(ok.out);
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.out, Catch::Contains("inference graph of mlp, batch 4") &&
                         Catch::Contains("input  x f32[4,1,28,28]") &&
                         Catch::Contains("output pred f32[4,10]"));
  CHECK(std::filesystem::file_size(out) > 784 * 256 * 4);

  Result train = run_kiln("export mlp --train --checkpoint " + ck + " -o " + dir + "/t.kiln");
  CHECK(train.code == 0);
  CHECK_THAT(train.out, Catch::Contains("training graph") && Catch::Contains("input  y i32[1]"));

  const std::string bad = dir + "/bad.kiln";
  auto refused = [&](const std::string& args, const std::string& says) {
    Result r = run_kiln(args);
    INFO(args << "\n" << r.out);
    CHECK(r.code != 0);
    CHECK_THAT(r.out, Catch::Contains(says));
    CHECK_FALSE(std::filesystem::exists(bad));
  };
  refused("export nosuch --checkpoint " + ck + " -o " + bad, "unknown model 'nosuch'");
  refused("export lenet --checkpoint " + ck + " -o " + bad, "checkpoint of model 'mlp', not 'lenet'");
  refused("export mlp --checkpoint " + dir + "/none.ckpt -o " + bad, "none.ckpt");
  refused("export mlp --checkpoint " + ck + " -o " + bad + " --size 32", "does not use --size");
  refused("export mlp --checkpoint " + ck + " -o " + bad + " --batch-size 0", "--batch-size");
  refused("export mlp --checkpoint " + ck, "--output");
  Result unwritable = run_kiln("export mlp --checkpoint " + ck + " -o " + dir + "/no/such/dir/m.kiln");
  CHECK(unwritable.code == 1);
  CHECK_THAT(unwritable.out, Catch::Contains("cannot write"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln compile writes objects, headers, libraries and bundles and refuses bad input",
          "[cli][compile]") {
  const std::string dir = kiln::testing::temp_dir("kiln_compile_cli");
  const std::string ck = dir + "/softmax.ckpt", model = dir + "/softmax.kiln";
  REQUIRE(run_kiln("train softmax --epochs 1 --limit 256 --quiet --save " + ck).code == 0);
  REQUIRE(run_kiln("export softmax --checkpoint " + ck + " -o " + model).code == 0);

  Result obj = run_kiln("compile " + model + " --emit obj -o " + dir + "/s.o --target-cpu x86-64-v3");
  INFO(obj.out);
  REQUIRE(obj.code == 0);
  CHECK_THAT(obj.out, Catch::Contains("entry softmax_entry") && Catch::Contains("avx2") &&
                          Catch::Contains("weights embedded"));
  CHECK(std::filesystem::file_size(dir + "/s.o") > 784 * 10 * 4);

  Result header = run_kiln("compile " + model + " --emit header --name clf -o " + dir + "/clf.h");
  REQUIRE(header.code == 0);
  Result bundle = run_kiln("compile " + model + " --emit bundle --weights external -o " + dir + "/b");
  REQUIRE(bundle.code == 0);
  CHECK_THAT(bundle.out, Catch::Contains("weights external"));
  CHECK(std::filesystem::exists(dir + "/b/softmax.o"));
  CHECK(std::filesystem::exists(dir + "/b/softmax.h"));
  CHECK(std::filesystem::file_size(dir + "/b/softmax.o") < 784 * 10 * 4);  // no weights inside
  Result so = run_kiln("compile " + model + " --emit so -o " + dir + "/s.so");
  INFO(so.out);
  CHECK(so.code == 0);
  CHECK(std::filesystem::exists(dir + "/s.so"));
  CHECK_FALSE(std::filesystem::exists(dir + "/s.so.o.tmp"));

  // kiln run: the same model file JIT-compiled and timed.
  Result ran = run_kiln("run " + model + " --repeat 5 --json");
  INFO(ran.out);
  REQUIRE(ran.code == 0);
  CHECK_THAT(ran.out, Catch::Contains("\"graph\":\"softmax.predict\"") &&
                          Catch::Contains("\"runs\":5") && Catch::Contains("first_result_seconds"));

  auto refused = [&](const std::string& args, const std::string& says, int code = 1) {
    Result r = run_kiln(args);
    INFO(args << "\n" << r.out);
    CHECK(r.code == code);
    CHECK_THAT(r.out, Catch::Contains(says));
  };
  refused("run " + ck, "softmax.ckpt");
  refused("compile " + dir + "/none.kiln -o " + dir + "/x.o", "none.kiln");
  refused("compile " + ck + " -o " + dir + "/x.o", "softmax.ckpt");  // a checkpoint, not a model
  refused("compile " + model + " -o " + dir + "/x.o --target-cpu pentium9", "unknown target CPU 'pentium9'");
  refused("compile " + model + " -o " + dir + "/x.o --name 9x", "not a C identifier");
  refused("compile " + model + " -o " + dir + "/x.o --emit exe", "--emit");
  refused("compile " + model + " -o " + dir + "/no/such/x.o", "cannot write");
  CHECK_FALSE(std::filesystem::exists(dir + "/x.o"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("device cuda without a usable GPU exits non-zero with one clear line", "[cli][cuda]") {
  for (const char* cmd : {"train mlp --epochs 1", "eval mlp --checkpoint x.ckpt",
                          "inspect lenet", "compile x.kiln -o x.o"}) {
    Result r = run_kiln(std::string(cmd) + " --device cuda");
    INFO(cmd << "\n" << r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("kiln: error: --device cuda: "));
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  }
  Result cpu = run_kiln("train linreg --epochs 1 --quiet --device cpu");
  CHECK(cpu.code == 0);
  Result bad = run_kiln("train linreg --device tpu");
  CHECK(bad.code != 0);
  CHECK_THAT(bad.out, Catch::Contains("unknown device 'tpu'"));
}
