// Options a model does not read are refused before training; unwritable output paths
// are refused before training; a diverging run stops at the first non-finite loss with
// the epoch and step, unless allow_nan.
#include <catch2/catch.hpp>

#include <cmath>

#include "models/run_common.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

const ModelEntry& model(const std::string& name) {
  const ModelEntry* m = find_model(name);
  REQUIRE(m != nullptr);
  return *m;
}

std::string refusal(const std::string& name, const RunOptions& o) {
  Status st = check_run_options(model(name), o);
  return st.ok() ? "" : st.error().message();
}

}  // namespace

TEST_CASE("options a model does not read are refused, naming the model", "[options]") {
  RunOptions data;
  data.data = "/tmp";
  CHECK_THAT(refusal("linreg", data), Catch::Contains("model 'linreg' does not use --data"));
  CHECK(refusal("mlp", data).empty());
  RunOptions out;
  out.output = "sub.csv";
  CHECK_THAT(refusal("softmax", out), Catch::Contains("does not use --output"));
  RunOptions plot;
  plot.plot = "/tmp/kiln-plot.svg";
  CHECK_THAT(refusal("polyfit", plot), Catch::Contains("does not use --plot"));
  CHECK_THAT(refusal("house_prices", plot), Catch::Contains("does not use --plot"));
  RunOptions save;
  save.save = "/tmp/kiln-x.ckpt";
  CHECK_THAT(refusal("nw_regression", save), Catch::Contains("does not use --save"));
  CHECK(refusal("house_prices", save).empty());  // its final fit, for export
  RunOptions resume;
  resume.resume = "/tmp/kiln-x.ckpt";
  CHECK_THAT(refusal("house_prices", resume), Catch::Contains("does not use --resume"));
  CHECK_THAT(refusal("polyfit", save), Catch::Contains("(it takes --wd, --optimizer, --momentum)"));
  RunOptions limit;
  limit.limit = 10;
  CHECK_THAT(refusal("weight_decay", limit), Catch::Contains("does not use --limit"));
  // Every model accepts the common options.
  RunOptions common;
  common.epochs = 2;
  common.lr = 0.5;
  common.seed = 3;
  for (const ModelEntry* m : all_models()) CHECK(check_run_options(*m, common).ok());
}

TEST_CASE("output paths are checked before training", "[options]") {
  testing::TempDir dir;
  RunOptions o;
  o.plot = dir.file("missing/curves.svg");
  CHECK_THAT(refusal("mlp", o), Catch::Contains("cannot write " + dir.file("missing/curves.svg")));
  o.plot = dir.path();  // a directory
  CHECK_THAT(refusal("mlp", o), Catch::Contains("is a directory"));
  o.plot = dir.file("curves.svg");
  CHECK(refusal("mlp", o).empty());
  CHECK(dir.list().empty());  // the probe leaves nothing behind
  RunOptions s;
  s.save = dir.file("no/such/dir/a.ckpt");
  CHECK_THAT(refusal("softmax", s), Catch::Contains("cannot write"));
  RunOptions h;
  h.output = dir.file("nope/submission.csv");
  CHECK_THAT(refusal("house_prices", h), Catch::Contains("cannot write"));
}

TEST_CASE("a diverging run stops at the first non-finite loss", "[options][fashion]") {
  RunOptions o;
  o.epochs = 2;
  o.limit = 1024;
  o.lr = 1e10;
  o.progress = false;
  Expected<RunReport> r = model("mlp").run(o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("training diverged: the loss is"));
  CHECK_THAT(r.error().message(), Catch::Contains("at epoch 1, step"));
  CHECK_THAT(r.error().message(), Catch::Contains("--allow-nan"));
  o.allow_nan = true;
  Expected<RunReport> kept = model("mlp").run(o);
  REQUIRE(kept.ok());
  CHECK(kept->get("epochs") == 2);
  CHECK_FALSE(std::isfinite(kept->get("train_loss")));
}
