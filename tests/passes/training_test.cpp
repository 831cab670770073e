// training pass: the step graph computes the optimizer update rules exactly
// (checked through the reference interpreter against hand-derived values).
#include <catch2/catch.hpp>

#include <cmath>

#include "frontend/ops.h"
#include "ir/interpreter.h"
#include "passes/training.h"

using namespace kiln;

namespace {

RefTensor tensor(Shape s, std::vector<double> v) {
  RefTensor t;
  t.type = TensorType{DType::f32, std::move(s)};
  t.data = std::move(v);
  return t;
}

// loss = sum(x * w) for w [3]: dloss/dw = x.
Graph linear_graph() {
  Graph g("lin");
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{3}});
  Tensor w = b.parameter("w", TensorType{DType::f32, Shape{3}}, InitSpec::zeros());
  b.output("loss", sum(x * w));
  REQUIRE(b.ok());
  return g;
}

std::map<std::string, RefTensor> feeds() {
  return {{"x", tensor({3}, {1.0, -2.0, 0.5})}, {"w", tensor({3}, {0.1, 0.2, 0.3})}};
}

}  // namespace

TEST_CASE("SGD step with weight decay updates w in place", "[training]") {
  Graph g = linear_graph();
  OptimizerConfig c;
  c.lr = 0.5;
  c.weight_decay = 0.1;
  TrainingStepPass pass("loss", c);
  REQUIRE(pass.run(g).ok());
  Expected<InterpreterResult> r = interpret(g, feeds());
  REQUIRE(r.ok());
  const RefTensor& w = r->states.at("w");
  std::vector<double> x = {1.0, -2.0, 0.5}, w0 = {0.1, 0.2, 0.3};
  for (int i = 0; i < 3; ++i) CHECK(w.data[i] == Approx(w0[i] - 0.5 * (x[i] + 0.1 * w0[i])));
}

TEST_CASE("SGD with momentum keeps a velocity state", "[training]") {
  Graph g = linear_graph();
  OptimizerConfig c;
  c.lr = 0.1;
  c.momentum = 0.9;
  REQUIRE(TrainingStepPass("loss", c).run(g).ok());
  REQUIRE(g.find_leaf("w.momentum").valid());
  auto f = feeds();
  f["w.momentum"] = tensor({3}, {1.0, 1.0, 1.0});
  Expected<InterpreterResult> r = interpret(g, f);
  REQUIRE(r.ok());
  std::vector<double> x = {1.0, -2.0, 0.5}, w0 = {0.1, 0.2, 0.3};
  for (int i = 0; i < 3; ++i) {
    double v = 0.9 * 1.0 + x[i];
    CHECK(r->states.at("w.momentum").data[i] == Approx(v));
    CHECK(r->states.at("w").data[i] == Approx(w0[i] - 0.1 * v));
  }
}

TEST_CASE("Adam's first step moves each weight by about lr against its gradient sign",
          "[training]") {
  Graph g = linear_graph();
  OptimizerConfig c;
  c.kind = OptimizerConfig::Adam;
  c.lr = 0.01;
  REQUIRE(TrainingStepPass("loss", c).run(g).ok());
  Expected<InterpreterResult> r = interpret(g, feeds());
  REQUIRE(r.ok());
  std::vector<double> x = {1.0, -2.0, 0.5}, w0 = {0.1, 0.2, 0.3};
  for (int i = 0; i < 3; ++i)
    CHECK(r->states.at("w").data[i] == Approx(w0[i] - 0.01 * (x[i] > 0 ? 1 : -1)).epsilon(1e-4));
  CHECK(r->states.at("adam.t").data[0] == 1.0);
  // Second step from the returned state: bias correction uses t = 2.
  auto f = feeds();
  for (const char* s : {"w", "w.adam_m", "w.adam_v", "adam.t"}) f[s] = r->states.at(s);
  Expected<InterpreterResult> r2 = interpret(g, f);
  REQUIRE(r2.ok());
  for (int i = 0; i < 3; ++i)
    CHECK(r2->states.at("w").data[i] ==
          Approx(w0[i] - 0.02 * (x[i] > 0 ? 1 : -1)).epsilon(1e-4));
}

TEST_CASE("gradient clipping bounds the global norm", "[training]") {
  Graph g = linear_graph();
  OptimizerConfig c;
  c.lr = 1.0;
  c.clip_norm = 0.5;  // |x| = sqrt(1 + 4 + 0.25) = 2.29 > 0.5
  REQUIRE(TrainingStepPass("loss", c).run(g).ok());
  Expected<InterpreterResult> r = interpret(g, feeds());
  REQUIRE(r.ok());
  std::vector<double> x = {1.0, -2.0, 0.5}, w0 = {0.1, 0.2, 0.3};
  double norm = std::sqrt(5.25);
  for (int i = 0; i < 3; ++i)
    CHECK(r->states.at("w").data[i] == Approx(w0[i] - x[i] * 0.5 / (norm + 1e-6)).epsilon(1e-5));
}

TEST_CASE("training pass rejects a missing or non-scalar loss", "[training]") {
  Graph g = linear_graph();
  Expected<bool> r = TrainingStepPass("nope", OptimizerConfig{}).run(g);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("no output named 'nope'"));

  Graph g2("vec");
  Builder b(g2);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{3}});
  Tensor w = b.parameter("w", TensorType{DType::f32, Shape{3}}, InitSpec::zeros());
  b.output("loss", x * w);
  Expected<bool> r2 = TrainingStepPass("loss", OptimizerConfig{}).run(g2);
  REQUIRE_FALSE(r2.ok());
  CHECK_THAT(r2.error().message(), Catch::Contains("must be a float scalar"));
  CHECK_THAT(r2.error().message(), Catch::Contains("training_test.cpp"));
}

TEST_CASE("optimizer names parse", "[training]") {
  CHECK(*parse_optimizer("SGD") == OptimizerConfig::SGD);
  CHECK(*parse_optimizer("adam") == OptimizerConfig::Adam);
  CHECK_FALSE(parse_optimizer("rmsprop").ok());
}
