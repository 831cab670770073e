// kiln export (models/export.h): the exported inference graph with the exported weights
// computes what the trained model computes, bit for bit; the training step exports with
// its optimizer state; bad checkpoints are refused with messages that name the file.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "codegen/compile.h"
#include "models/export.h"
#include "models/run_common.h"
#include "runtime/checkpoint.h"
#include "shared_data.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

// Trains `model` briefly and saves its checkpoint at `path`.
void train_briefly(const std::string& model, const std::string& path) {
  const ModelEntry* m = find_model(model);
  REQUIRE(m != nullptr);
  RunOptions o;
  o.epochs = 1;
  o.limit = 512;
  o.progress = false;
  o.save = path;
  Expected<RunReport> r = m->run(o);
  INFO((r.ok() ? "" : r.error().message()));
  REQUIRE(r.ok());
}

// Runs the model file's graph on `x` with its own weights and returns output `out`.
std::vector<float> run_file(const ModelFile& f, const std::vector<float>& x, const char* out) {
  auto exe = compile(f.graph, std::make_shared<StateStore>());
  REQUIRE(exe.ok());
  for (const NamedTensor& t : f.parameters) {
    HostBuffer* b = (*exe)->state_buffer(t.name);
    REQUIRE(b != nullptr);
    REQUIRE(b->bytes() == t.bytes.size());
    std::memcpy(b->data(), t.bytes.data(), t.bytes.size());
  }
  HostBuffer* in = (*exe)->input("x");
  REQUIRE(in != nullptr);
  REQUIRE(in->bytes() == x.size() * sizeof(float));
  std::memcpy(in->data(), x.data(), in->bytes());
  (*exe)->run();
  const HostBuffer* o = (*exe)->output(out);
  REQUIRE(o != nullptr);
  return {o->as<float>(), o->as<float>() + o->bytes() / sizeof(float)};
}

std::vector<float> random_images(int64_t n, int64_t numel) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> px(0, 255);
  std::vector<float> x(n * numel);
  for (float& v : x) v = ImageDataset::byte_value(static_cast<uint8_t>(px(rng)));
  return x;
}

}  // namespace

TEST_CASE("an exported model predicts what the trained model predicts", "[export]") {
  testing::TempDir dir;
  train_briefly("mlp", dir.file("mlp.ckpt"));
  const ModelEntry* m = find_model("mlp");
  ExportOptions eo;
  eo.checkpoint = dir.file("mlp.ckpt");
  eo.batch = 8;
  Expected<ModelFile> file = export_model(*m, eo);
  INFO((file.ok() ? "" : file.error().message()));
  REQUIRE(file.ok());
  // Through the file format and back.
  Expected<ModelFile> back = deserialize_model(serialize_model(*file), "mlp.kiln");
  REQUIRE(back.ok());
  CHECK(model_inputs(back->graph) ==
        std::vector<TensorSignature>{{"x", TensorType{DType::f32, Shape{8, 1, 28, 28}}}});
  auto meta = [&](const std::string& key) {
    for (const auto& [k, v] : back->metadata)
      if (k == key) return v;
    return std::string("(missing)");
  };
  CHECK(meta("kiln.model") == "mlp");
  CHECK(meta("kiln.graph") == "predict");
  CHECK(meta("kiln.batch") == "8");
  CHECK(meta("input.side") == "28");
  CHECK(std::stod(meta("input.scale")) == double(1.0f / 255.0f));
  CHECK(meta("labels").rfind("t-shirt,trouser,", 0) == 0);
  CHECK(meta("example_shape") == "[1,28,28]");  // the checkpoint's own metadata travels

  // The trained model's own predictor, restored from the same checkpoint.
  SupervisedSpec spec = *m->spec(RunOptions{});
  CompiledModel model(std::move(spec), 0);
  Executable* predict = *model.get(GraphKind::Predict, 8);
  Expected<CheckpointData> ck = load_checkpoint(dir.file("mlp.ckpt"));
  REQUIRE(ck.ok());
  REQUIRE(restore_state(model.state(), *ck, "mlp.ckpt", RestoreMode::Subset).ok());
  const std::vector<float> x = random_images(8, 784);
  std::memcpy(predict->input("x")->data(), x.data(), x.size() * sizeof(float));
  predict->run();
  const float* want = predict->output("pred")->as<float>();
  const std::vector<float> got = run_file(*back, x, "pred");
  REQUIRE(got.size() == 80);
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
  // And not what untrained weights predict.
  ModelFile fresh = *back;
  fresh.parameters.clear();
  const std::vector<float> untrained = run_file(fresh, x, "pred");
  CHECK(untrained != got);
}

TEST_CASE("the training step exports with its optimizer state", "[export]") {
  testing::TempDir dir;
  train_briefly("lenet", dir.file("lenet.ckpt"));
  ExportOptions eo;
  eo.checkpoint = dir.file("lenet.ckpt");
  eo.batch = 4;
  eo.train = true;
  Expected<ModelFile> file = export_model(*find_model("lenet"), eo);
  INFO((file.ok() ? "" : file.error().message()));
  REQUIRE(file.ok());
  std::vector<std::string> inputs;
  for (const TensorSignature& s : model_inputs(file->graph)) inputs.push_back(s.name);
  CHECK(inputs == std::vector<std::string>{"x", "y"});
  CHECK(deserialize_model(serialize_model(*file), "lenet.kiln").ok());
  // Every parameter of the step comes from the checkpoint.
  Expected<CheckpointData> ck = load_checkpoint(dir.file("lenet.ckpt"));
  REQUIRE(ck.ok());
  for (const Value p : file->graph.parameters()) {
    const std::string& name = file->graph.node(p.id).name;
    bool found = false;
    for (const NamedTensor& t : file->parameters) found = found || t.name == name;
    INFO(name);
    CHECK(found);
  }
}

TEST_CASE("export refuses checkpoints that do not fit, naming the file", "[export]") {
  testing::TempDir dir;
  train_briefly("softmax", dir.file("softmax.ckpt"));
  ExportOptions eo;
  eo.checkpoint = dir.file("softmax.ckpt");
  auto message = [&](const std::string& model) {
    Expected<ModelFile> f = export_model(*find_model(model), eo);
    REQUIRE_FALSE(f.ok());
    return f.error().message();
  };
  CHECK_THAT(message("mlp"), Catch::Contains("softmax.ckpt") &&
                                 Catch::Contains("checkpoint of model 'softmax', not 'mlp'"));
  Expected<CheckpointData> ck = load_checkpoint(eo.checkpoint);
  REQUIRE(ck.ok());
  // A weight missing from the checkpoint.
  size_t w = 0;
  while (w < ck->tensors.size() && ck->tensors[w].kind != StateKind::Parameter) ++w;
  REQUIRE(w < ck->tensors.size());
  const std::string dropped = ck->tensors[w].name;
  CheckpointData missing = *ck;
  missing.tensors.erase(missing.tensors.begin() + w);
  REQUIRE(save_checkpoint(dir.file("missing.ckpt"), missing).ok());
  eo.checkpoint = dir.file("missing.ckpt");
  CHECK_THAT(message("softmax"), Catch::Contains("missing.ckpt") &&
                                     Catch::Contains("no value for '" + dropped + "'"));
  // A weight of another shape.
  CheckpointData reshaped = *ck;
  reshaped.tensors[w].type.shape = Shape{1, int64_t(reshaped.tensors[w].bytes.size() / 4)};
  REQUIRE(save_checkpoint(dir.file("reshaped.ckpt"), reshaped).ok());
  eo.checkpoint = dir.file("reshaped.ckpt");
  CHECK_THAT(message("softmax"), Catch::Contains("reshaped.ckpt") && Catch::Contains(dropped));
  eo.checkpoint = dir.file("absent.ckpt");
  CHECK_THAT(message("softmax"), Catch::Contains("absent.ckpt"));
}

TEST_CASE("house_prices exports with the preprocessing of its feature columns", "[export]") {
  testing::TempDir dir;
  const ModelEntry* m = find_model("house_prices");
  REQUIRE(m != nullptr);
  RunOptions o;
  o.epochs = 2;
  o.progress = false;
  o.data = testing::shared_data_dir();
  o.output = dir.file("submission.csv");
  o.save = dir.file("hp.ckpt");
  Expected<RunReport> r = m->run(o);
  INFO((r.ok() ? "" : r.error().message()));
  REQUIRE(r.ok());
  ExportOptions eo;
  eo.checkpoint = o.save;
  Expected<ModelFile> file = export_model(*m, eo);
  INFO((file.ok() ? "" : file.error().message()));
  REQUIRE(file.ok());
  std::string columns;
  for (const auto& [k, v] : file->metadata)
    if (k == "input.columns") columns = v;
  CHECK_THAT(columns, Catch::StartsWith("MSSubClass numeric ") &&
                          Catch::Contains("\nMSZoning onehot C (all)|FV|RH|RL|RM\n"));
  CHECK(std::count(columns.begin(), columns.end(), '\n') == 79);  // the CSV's feature columns
  // --resume makes no sense for a cross-validated run, and is refused.
  RunOptions resume = o;
  resume.save.clear();
  resume.resume = o.save;
  CHECK_THAT(check_run_options(*m, resume).error().message(),
             Catch::Contains("does not use --resume"));
}
