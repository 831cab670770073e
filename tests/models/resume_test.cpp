// Checkpoints: a resumed run equals an uninterrupted one bit for bit (dropout masks, Adam
// moments and step counter travel), and bad checkpoints are refused with messages that
// name the file.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include "models/run_common.h"
#include "runtime/checkpoint.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

RunOptions run_opts(int epochs, const std::string& save, const std::string& resume = "") {
  RunOptions o;
  o.epochs = epochs;
  o.limit = 1500;
  o.seed = 7;
  o.progress = false;
  o.save = save;
  o.resume = resume;
  return o;
}

RunReport train(const std::string& model, RunOptions o) {
  const ModelEntry* m = find_model(model);
  REQUIRE(m != nullptr);
  Expected<RunReport> r = m->run(o);
  INFO((r.ok() ? "" : r.error().message()));
  REQUIRE(r.ok());
  return *r;
}

std::map<std::string, uint64_t> hashes(const std::string& path) {
  Expected<CheckpointData> ck = load_checkpoint(path);
  REQUIRE(ck.ok());
  std::map<std::string, uint64_t> out;
  for (const CheckpointTensor& t : ck->tensors) out[t.name] = content_hash(t);
  return out;
}

void check_resume_is_exact(const std::string& model, const std::string& optimizer) {
  testing::TempDir dir;
  RunOptions full = run_opts(3, dir.file("a.ckpt"));
  full.optimizer = optimizer;
  RunReport a = train(model, full);
  RunOptions first = run_opts(1, dir.file("b.ckpt"));
  first.optimizer = optimizer;
  train(model, first);
  RunOptions rest = run_opts(3, dir.file("c.ckpt"), dir.file("b.ckpt"));
  rest.optimizer = optimizer;
  RunReport c = train(model, rest);
  for (const char* k : {"epochs", "train_loss", "train_acc", "test_acc", "test_loss"}) {
    INFO(model << " " << k);
    CHECK(a.get(k) == c.get(k));  // exact, not approximate
  }
  std::map<std::string, uint64_t> ha = hashes(dir.file("a.ckpt")), hc = hashes(dir.file("c.ckpt"));
  CHECK(ha == hc);
  CHECK(ha.size() >= 4);
  CHECK(ha != hashes(dir.file("b.ckpt")));
}

}  // namespace

TEST_CASE("resume: mlp_dropout resumed after one epoch equals three straight epochs",
          "[checkpoint][fashion]") {
  check_resume_is_exact("mlp_dropout", "");
}

TEST_CASE("resume: Adam's moments and step counter travel in the checkpoint",
          "[checkpoint][fashion]") {
  check_resume_is_exact("mlp", "adam");
  testing::TempDir dir;
  RunOptions o = run_opts(1, dir.file("adam.ckpt"));
  o.optimizer = "adam";
  train("mlp", o);
  Expected<CheckpointData> ck = load_checkpoint(dir.file("adam.ckpt"));
  REQUIRE(ck.ok());
  std::map<StateKind, int> kinds;
  for (const CheckpointTensor& t : ck->tensors) kinds[t.kind]++;
  CHECK(kinds[StateKind::Parameter] == 4);
  CHECK(kinds[StateKind::OptimizerSlot] == 8);
  CHECK(kinds[StateKind::StepCounter] == 1);
  CHECK(kinds[StateKind::Hyperparameter] == 1);  // the learning rate
  CHECK(ck->epoch == 1);
  CHECK(ck->epoch_metrics.size() == 1);
  CHECK(ck->model == "mlp");
}

TEST_CASE("resume: bad checkpoints are refused with a message naming the file",
          "[checkpoint][fashion]") {
  testing::TempDir dir;
  train("softmax", run_opts(1, dir.file("softmax.ckpt")));
  std::string good;
  {
    std::ifstream in(dir.file("softmax.ckpt"), std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(good.size() > 1000);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir.file(name), std::ios::binary) << bytes;
    return dir.file(name);
  };
  std::mt19937 rng(3);
  std::string random(4096, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  struct Case {
    std::string model, file, message;
  };
  std::vector<Case> cases = {
      {"softmax", write("truncated.ckpt", good.substr(0, good.size() / 2)), "truncated.ckpt"},
      {"softmax", write("random.ckpt", random), "random.ckpt"},
      {"softmax", write("empty.ckpt", ""), "empty.ckpt"},
      {"mlp", dir.file("softmax.ckpt"), "checkpoint of model 'softmax', not 'mlp'"},
      {"softmax", dir.file("missing.ckpt"), "missing.ckpt"},
  };
  for (const Case& c : cases) {
    INFO(c.file);
    RunOptions o = run_opts(2, "", c.file);
    Expected<RunReport> r = find_model(c.model)->run(o);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains(c.message));
  }
  // A run that already has its epochs, and one with another seed.
  RunOptions done = run_opts(1, "", dir.file("softmax.ckpt"));
  Expected<RunReport> r = find_model("softmax")->run(done);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("already trained 1 epochs"));
  RunOptions seed = run_opts(2, "", dir.file("softmax.ckpt"));
  seed.seed = 8;
  r = find_model("softmax")->run(seed);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("--seed 7"));
}

TEST_CASE("restore_state: wrong shape, wrong kind and unknown names are named", "[checkpoint]") {
  StateStore store;
  REQUIRE(store.get_or_create("w", TensorType{DType::f32, Shape{2, 3}}, StateKind::Parameter,
                              StateScope::Model, InitSpec::constant(1.0), 0).ok());
  CheckpointData ck;
  ck.model = "m";
  CheckpointTensor t;
  t.name = "w";
  t.kind = StateKind::Parameter;
  t.type = TensorType{DType::f32, Shape{3, 2}};
  t.bytes.assign(24, 0);
  ck.tensors = {t};
  Status st = restore_state(store, ck, "x.ckpt", RestoreMode::Exact);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("x.ckpt: state 'w' is f32[3,2], the model has f32[2,3]"));
  ck.tensors[0].type = TensorType{DType::f32, Shape{2, 3}};
  ck.tensors[0].kind = StateKind::OptimizerSlot;
  st = restore_state(store, ck, "x.ckpt", RestoreMode::Exact);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("optimizer_slot"));
  ck.tensors[0].kind = StateKind::Parameter;
  CheckpointTensor extra = ck.tensors[0];
  extra.name = "v";
  ck.tensors.push_back(extra);
  st = restore_state(store, ck, "x.ckpt", RestoreMode::Exact);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("'v' is not part of this model"));
  CHECK(*store.find("w")->as<float>() == 1.0f);  // nothing written on failure
  REQUIRE(restore_state(store, ck, "x.ckpt", RestoreMode::Subset).ok());
  CHECK(*store.find("w")->as<float>() == 0.0f);
  ck.tensors.erase(ck.tensors.begin());
  st = restore_state(store, ck, "x.ckpt", RestoreMode::Subset);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("no state 'w'"));
}
