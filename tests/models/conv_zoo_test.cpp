// The convolutional zoo (d2l chapters 6-7) at small input sizes: every model's training
// step compiles and a few SGD steps on one batch of real images lower the loss;
// evaluation is deterministic and, in the batch-norm models, uses the running
// statistics that the training steps moved; a size too small for a network is refused
// before any data is loaded, naming the layer whose output would be empty.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <utility>

#include "models/run_common.h"

using namespace kiln;

namespace {

constexpr int64_t kBatch = 8;
constexpr int kSteps = 5;

struct ZooCase {
  const char* name;
  int size;      // a small size the model accepts, for quick steps
  int min_size;  // the smallest size it accepts
  bool batch_norm;
  double lr = 0;  // 0: the model's
};

// d2l's learning rates suit batches of 128-256; on one batch of 8, ResNet-18's 0.05
// overshoots for its first steps (the loss rises, then falls far below the start).
const ZooCase kZoo[] = {
    {"lenet", 12, 12, false},         {"lenet_bn", 16, 16, true},
    {"alexnet", 65, 65, false},       {"vgg11", 32, 32, false},
    {"vgg11_small", 32, 32, false},   {"nin", 67, 67, false},
    {"googlenet", 8, 1, false},       {"resnet18", 8, 1, true, 0.01},
    {"densenet", 32, 29, true},
};

const ZooCase& zoo_case(const std::string& name) {
  for (const ZooCase& c : kZoo)
    if (name == c.name) return c;
  FAIL("no test case for " << name);
  return kZoo[0];
}

RunOptions at_size(int size) {
  RunOptions o;
  o.size = size;
  o.progress = false;
  return o;
}

// Writes the first kBatch training images (resized) and their labels into e's inputs.
void feed(Executable& e, const ImageDataset& data) {
  std::vector<int64_t> idx(kBatch);
  std::iota(idx.begin(), idx.end(), 0);
  data.gather(idx.data(), kBatch, e.input("x")->as<float>(), e.input("y")->as<int32_t>());
}

double run_loss(Executable& e) {
  e.run();
  return e.output("loss")->as<float>()[0];
}

std::vector<char> output_bytes(const Executable& e, const char* name) {
  const HostBuffer* b = e.output(name);
  const char* p = static_cast<const char*>(b->data());
  return std::vector<char>(p, p + b->bytes());
}

// Every running mean has moved away from 0 and every running variance from 1.
void check_running_stats_moved(StateStore& state) {
  int stats = 0;
  for (const StateEntry* s : std::as_const(state).entries()) {
    if (s->kind != StateKind::RunningStat) continue;
    ++stats;
    const bool is_mean = s->name.ends_with(".running_mean");
    const float init = is_mean ? 0.0f : 1.0f;
    const float* v = s->buffer.as<float>();
    const int64_t n = s->buffer.type().shape.numel();
    bool moved = false;
    for (int64_t i = 0; i < n; ++i) {
      REQUIRE(std::isfinite(v[i]));
      moved = moved || v[i] != init;
    }
    INFO(s->name);
    CHECK(moved);
  }
  CHECK(stats > 0);
}

void check_trains(const std::string& name) {
  const ZooCase& c = zoo_case(name);
  RunOptions o = at_size(c.size);
  o.limit = kBatch;
  if (c.lr > 0) o.lr = c.lr;
  const ModelEntry* entry = find_model(name);
  REQUIRE(entry != nullptr);
  Expected<SupervisedSpec> spec = entry->spec(o);
  INFO((spec.ok() ? "" : spec.error().message()));
  REQUIRE(spec.ok());
  Expected<FashionMnist> data = load_fashion(o, c.size);
  REQUIRE(data.ok());

  CompiledModel model(std::move(*spec), 0);
  Expected<Executable*> train = model.get(GraphKind::Train, kBatch);
  INFO((train.ok() ? "" : train.error().message()));
  REQUIRE(train.ok());
  Expected<Executable*> eval = model.get(GraphKind::Eval, kBatch);
  REQUIRE(eval.ok());
  feed(**train, data->train);
  feed(**eval, data->train);

  const double eval_before = run_loss(**eval);
  std::vector<double> losses;
  for (int i = 0; i < kSteps; ++i) losses.push_back(run_loss(**train));
  for (double l : losses) REQUIRE(std::isfinite(l));
  INFO("training losses " << Catch::Detail::stringify(losses));
  CHECK(losses.back() < losses.front());

  // Evaluation: no dropout, no batch statistics, so two runs agree bit for bit.
  const double eval_after = run_loss(**eval);
  const std::vector<char> correct = output_bytes(**eval, "correct");
  CHECK(run_loss(**eval) == eval_after);
  CHECK(output_bytes(**eval, "correct") == correct);

  // With batch norm, five steps move the running statistics only part of the way
  // (momentum 0.1): the evaluation loss need not have fallen yet.
  if (!c.batch_norm) CHECK(eval_after < eval_before);
  if (c.batch_norm) {
    check_running_stats_moved(model.state());
    // The training step normalizes with the batch's statistics, evaluation with the
    // running ones: the same weights and batch give different losses.
    CHECK(run_loss(**train) != eval_after);
  }
}

}  // namespace

TEST_CASE("LeNet trains at 12x12", "[conv_zoo]") { check_trains("lenet"); }
TEST_CASE("LeNet with batch norm trains at 16x16", "[conv_zoo]") { check_trains("lenet_bn"); }
TEST_CASE("AlexNet trains at 65x65", "[conv_zoo]") { check_trains("alexnet"); }
TEST_CASE("VGG-11 trains at 32x32", "[conv_zoo]") { check_trains("vgg11"); }
TEST_CASE("the narrow VGG-11 trains at 32x32", "[conv_zoo]") { check_trains("vgg11_small"); }
TEST_CASE("NiN trains at 67x67", "[conv_zoo]") { check_trains("nin"); }
TEST_CASE("GoogLeNet trains at 8x8", "[conv_zoo]") { check_trains("googlenet"); }
TEST_CASE("ResNet-18 trains at 8x8", "[conv_zoo]") { check_trains("resnet18"); }
TEST_CASE("DenseNet trains at 32x32", "[conv_zoo]") { check_trains("densenet"); }

TEST_CASE("a size too small for a network is refused naming the layer", "[conv_zoo]") {
  for (const ZooCase& c : kZoo) {
    INFO(c.name);
    const ModelEntry* entry = find_model(c.name);
    REQUIRE(entry != nullptr);
    CHECK(entry->options & kOptSize);
    CHECK(entry->spec(at_size(c.min_size)).ok());
    if (c.min_size == 1) continue;  // every size fits
    RunOptions o = at_size(c.min_size - 1);
    o.data = "/nonexistent/kiln-data";  // refused before loading: no data error
    for (Expected<RunReport> r : {entry->run(o), entry->evaluate(o)}) {
      REQUIRE_FALSE(r.ok());
      const std::string& msg = r.error().message();
      CHECK_THAT(msg, Catch::Contains(std::string(c.name) + ": --size " +
                                      std::to_string(c.min_size - 1) + " is too small"));
      CHECK_THAT(msg, Catch::Contains("the smallest valid size is " + std::to_string(c.min_size)));
      CHECK_THAT(msg, Catch::Contains("the output of layer "));
      CHECK_THAT(msg, !Catch::Contains("nonexistent"));
    }
  }
  // The layer: LeNet's second convolution sees 2x2 maps at size 5.
  Expected<SupervisedSpec> lenet = find_model("lenet")->spec(at_size(5));
  REQUIRE_FALSE(lenet.ok());
  CHECK_THAT(lenet.error().message(),
             Catch::Contains("layer 4 (Conv2d(6, 16, kernel=5x5") &&
                 Catch::Contains("kernel 5x5 (dilation 1x1) is larger than the padded input 2x2"));
  // In a block: the path names the block and the layer in it.
  Expected<SupervisedSpec> vgg = find_model("vgg11")->spec(at_size(16));
  REQUIRE_FALSE(vgg.ok());
  CHECK_THAT(vgg.error().message(),
             Catch::Contains("layer 5.5 (vgg_block(2, 512) > MaxPool2d(kernel=2x2"));
}

TEST_CASE("the layer summary follows d2l's walk-through", "[conv_zoo]") {
  Expected<std::vector<LayerSummary>> rows = find_model("resnet18")->summary(at_size(96));
  REQUIRE(rows.ok());
  std::vector<std::string> got;
  int64_t total = 0;
  for (const LayerSummary& r : *rows) {
    got.push_back(r.layer + " " + r.output.to_string());
    total += r.parameters;
  }
  CHECK(got == std::vector<std::string>{
                   "input [1,96,96]", "b1 [64,24,24]", "b2 [64,24,24]", "b3 [128,12,12]",
                   "b4 [256,6,6]", "b5 [512,3,3]", "GlobalAvgPool2d [512,1,1]", "Flatten [512]",
                   "Linear(512, 10) [10]"});
  CHECK(total == 11178378);  // PyTorch's count for d2l's ResNet-18 on 1 channel, 10 classes
}
