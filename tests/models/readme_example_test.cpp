// The DSL example from README.md, compiled and run: if this stops compiling, the README
// is wrong too.
#include <catch2/catch.hpp>

#include <random>

#include "kiln/kiln.h"

using namespace kiln;

TEST_CASE("the README's DSL example builds, compiles and trains", "[readme]") {
  Graph g("mlp");
  Builder b(g);
  nn::Context ctx{b, /*training=*/true};
  nn::Sequential net;
  net.emplace<nn::Flatten>();
  net.emplace<nn::Linear>(784, 256, nn::Init::normal(0.0, 0.01));
  net.emplace<nn::Activation>(nn::Activation::ReLU);
  net.emplace<nn::Dropout>(0.5);
  net.emplace<nn::Linear>(256, 10, nn::Init::normal(0.0, 0.01));

  Tensor x = b.input("x", {DType::f32, Shape{256, 1, 28, 28}});
  Tensor y = b.input("y", {DType::i32, Shape{256}});
  Tensor logits = net(ctx, x);
  b.output("loss", softmax_cross_entropy(logits, y));
  REQUIRE(b.ok());

  OptimizerConfig sgd;
  sgd.lr = 0.1;
  REQUIRE(TrainingStepPass("loss", sgd).run(g).ok());
  auto weights = std::make_shared<StateStore>();
  auto step = compile(g, weights).value();

  // A fixed batch: the loss must fall as the step runs repeatedly.
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  HostBuffer* xb = step->input("x");
  for (int64_t i = 0; i < xb->type().shape.numel(); ++i) xb->as<float>()[i] = u(rng);
  for (int i = 0; i < 256; ++i) step->input("y")->as<int32_t>()[i] = i % 10;
  step->run();
  float first = *step->output("loss")->as<float>();
  for (int i = 0; i < 50; ++i) step->run();
  float last = *step->output("loss")->as<float>();
  CHECK(first == Approx(std::log(10.0)).epsilon(0.05));
  CHECK(last < first);
}
