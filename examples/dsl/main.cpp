// A C++ application that uses kiln as a library (the kiln::kiln package target): it
// defines a small Fashion-MNIST classifier with the DSL, JIT-compiles its training step,
// trains it for a few epochs on a part of the training set, reports test accuracy, and
// exports the inference graph with the trained weights as a model file that
// `kiln compile` turns into an object for embedding (../embed).
//
//   dsl_example [OUT.kiln] [--data DIR] [--epochs N] [--examples N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "ir/serialize.h"
#include "runtime/atomic_file.h"
#include "runtime/train/idx.h"

using namespace kiln;

namespace {

constexpr int64_t kBatch = 128;

// The network, built once and applied to any batch: the same layer objects give the
// training and the inference graph the same parameter names.
std::shared_ptr<nn::Sequential> make_net() {
  auto net = std::make_shared<nn::Sequential>();
  net->emplace<nn::Flatten>();
  net->emplace<nn::Linear>(784, 128, nn::Init::normal(0.0, 0.01), true, "example.hidden");
  net->emplace<nn::Activation>(nn::Activation::ReLU);
  net->emplace<nn::Linear>(128, 10, nn::Init::normal(0.0, 0.01), true, "example.out");
  return net;
}

Expected<Graph> training_step(nn::Sequential& net) {
  Graph g("example.train");
  Builder b(g);
  nn::Context ctx{b, /*training=*/true};
  Tensor x = b.input("x", {DType::f32, Shape{kBatch, 1, 28, 28}});
  Tensor y = b.input("y", {DType::i32, Shape{kBatch}});
  b.output("loss", softmax_cross_entropy(net(ctx, x), y));
  KILN_RETURN_IF_ERROR(b.status());
  OptimizerConfig sgd;
  sgd.lr = 0.1;
  KILN_TRY(TrainingStepPass("loss", sgd).run(g));
  return g;
}

Expected<Graph> inference(nn::Sequential& net, int64_t batch) {
  Graph g("example.predict");
  Builder b(g);
  nn::Context ctx{b, /*training=*/false};
  Tensor x = b.input("x", {DType::f32, Shape{batch, 1, 28, 28}});
  b.output("pred", net(ctx, x));
  KILN_RETURN_IF_ERROR(b.status());
  return g;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "dsl_example: error: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "example.kiln", data;
  int epochs = 2;
  int64_t examples = 12800;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--data" || a == "--epochs" || a == "--examples") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--data") data = v;
      else if (a == "--epochs") epochs = std::atoi(v.c_str());
      else examples = std::atoll(v.c_str());
    } else if (!a.empty() && a[0] != '-') {
      out = a;
    } else {
      return fail("unknown argument '" + a + "' (usage: dsl_example [OUT.kiln] [--data DIR] "
                  "[--epochs N] [--examples N])");
    }
  }
  if (epochs < 1 || examples < kBatch) return fail("--epochs must be >= 1, --examples >= 128");

  Expected<ImageDataset> train = load_fashion_mnist(data, true);
  if (!train.ok()) return fail(train.error().message());
  Expected<ImageDataset> test = load_fashion_mnist(data, false);
  if (!test.ok()) return fail(test.error().message());

  std::shared_ptr<nn::Sequential> net = make_net();
  auto weights = std::make_shared<StateStore>();
  Expected<Graph> step_graph = training_step(*net);
  if (!step_graph.ok()) return fail(step_graph.error().message());
  Expected<std::unique_ptr<Executable>> step = compile(*step_graph, weights);
  if (!step.ok()) return fail(step.error().message());

  // Minibatch SGD over the first `examples` images, in order (a real application would
  // shuffle; the trainer in runtime/train/trainer.h does).
  const int64_t steps = std::min(examples, train->size()) / kBatch;
  std::vector<int64_t> idx(kBatch);
  for (int e = 0; e < epochs; ++e) {
    double loss = 0;
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t i = 0; i < kBatch; ++i) idx[i] = s * kBatch + i;
      train->gather(idx.data(), kBatch, (*step)->input("x")->as<float>(),
                    (*step)->input("y")->as<int32_t>());
      (*step)->run();
      loss += *(*step)->output("loss")->as<float>();
    }
    std::printf("epoch %d: train loss %.4f\n", e + 1, loss / double(steps));
  }

  // Test accuracy with the inference graph (sharing the trained weights).
  Expected<Graph> predict_graph = inference(*net, kBatch);
  if (!predict_graph.ok()) return fail(predict_graph.error().message());
  Expected<std::unique_ptr<Executable>> predict = compile(*predict_graph, weights);
  if (!predict.ok()) return fail(predict.error().message());
  int64_t correct = 0, seen = 0;
  for (int64_t s = 0; (s + 1) * kBatch <= test->size(); ++s) {
    std::vector<int32_t> labels(kBatch);
    for (int64_t i = 0; i < kBatch; ++i) idx[i] = s * kBatch + i;
    test->gather(idx.data(), kBatch, (*predict)->input("x")->as<float>(), labels.data());
    (*predict)->run();
    const float* p = (*predict)->output("pred")->as<float>();
    for (int64_t i = 0; i < kBatch; ++i) {
      int best = 0;
      for (int c = 1; c < 10; ++c)
        if (p[i * 10 + c] > p[i * 10 + best]) best = c;
      correct += best == labels[i];
      ++seen;
    }
  }
  std::printf("test accuracy %.4f (%lld images)\n", double(correct) / double(seen), (long long)seen);

  // Export the single-image inference graph with the trained weights.
  Expected<Graph> single = inference(*net, 1);
  if (!single.ok()) return fail(single.error().message());
  ModelFile file;
  file.graph = std::move(*single);
  for (const Value v : file.graph.parameters()) {
    const std::string& name = file.graph.node(v.id).name;
    const HostBuffer* w = weights->find(name);
    if (!w) return fail("no trained value for '" + name + "'");
    const auto* bytes = static_cast<const uint8_t*>(w->data());
    file.parameters.push_back({name, w->type(), std::vector<uint8_t>(bytes, bytes + w->bytes())});
  }
  file.metadata = {{"kiln.model", "dsl_example"}, {"kiln.graph", "predict"}, {"kiln.batch", "1"},
                   {"input.scale", "0.0039215688593685627"}, {"input.side", "28"}};
  const std::vector<uint8_t> bytes = serialize_model(file);
  Status saved = write_file_atomic(out, bytes.data(), bytes.size());
  if (!saved.ok()) return fail(saved.error().message());
  std::printf("wrote %s (%zu bytes)\n", out.c_str(), bytes.size());
  return 0;
}
