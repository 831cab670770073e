// `kiln export`: writes the model file and prints its signature; bad input (unknown
// model, foreign or missing checkpoint, unwritable output, a flag the model does not
// take) exits non-zero with one clear line and leaves no file behind.
#include <catch2/catch.hpp>

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
