// one_hot(i, V) @ W => rows of [W; 0] gathered (passes/simplify.h, one_hot_products): the
// same values as the product, zero rows for indices outside [0, V) as one_hot gives,
// and, simplified before autodiff, the same training step (the weight gradient a
// scatter-add instead of one_hot^T @ dY).
#include <catch2/catch.hpp>

#include <cmath>

#include "ir/builder.h"
#include "ir/interpreter.h"
#include "ir/tensor_ops.h"
#include "passes/simplify.h"
#include "passes/training.h"

using namespace kiln;

namespace {

constexpr int64_t kDepth = 4;

// loss = sum((one_hot(i) @ W) * c) with i [3, 5] and W [kDepth, 6].
Graph one_hot_model() {
  Graph g("one_hot");
  Builder b(g);
  Tensor i = b.input("i", {DType::i32, Shape{3, 5}});
  Tensor c = b.input("c", {DType::f32, Shape{15, 6}});
  Tensor w = b.parameter("w", {DType::f32, Shape{kDepth, 6}}, InitSpec::uniform(-1, 1));
  Tensor y = matmul(reshape(one_hot(i, kDepth), Shape{15, kDepth}), w);
  b.output("y", y);
  b.output("loss", sum(y * c));
  REQUIRE(b.status().ok());
  return g;
}

int count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

std::map<std::string, RefTensor> feeds() {
  RefTensor i{{DType::i32, Shape{3, 5}}, {}};
  for (int k = 0; k < 15; ++k) i.data.push_back(k % 7 - 2);  // -2..4: some outside [0, 4)
  RefTensor c{{DType::f32, Shape{15, 6}}, {}};
  for (int k = 0; k < 90; ++k) c.data.push_back(std::sin(0.3 * k));
  RefTensor w{{DType::f32, Shape{kDepth, 6}}, {}};
  for (int k = 0; k < kDepth * 6; ++k) w.data.push_back(std::cos(0.7 * k));
  return {{"i", i}, {"c", c}, {"w", w}};
}

void check_same(const RefTensor& got, const RefTensor& want) {
  REQUIRE(got.data.size() == want.data.size());
  for (size_t k = 0; k < got.data.size(); ++k) {
    INFO("element " << k);
    CHECK(got.data[k] == Approx(want.data[k]).margin(1e-12));
  }
}

}  // namespace

TEST_CASE("simplify turns a product with a one-hot matrix into a row gather", "[simplify]") {
  Graph original = one_hot_model();
  Graph g = original;
  REQUIRE(*SimplifyPass().run(g));
  CHECK(count(g, OpKind::Matmul) == 0);
  CHECK(count(g, OpKind::OneHot) == 0);
  CHECK(count(g, OpKind::Gather) == 1);
  Expected<InterpreterResult> want = interpret(original, feeds());
  Expected<InterpreterResult> got = interpret(g, feeds());
  REQUIRE(want.ok());
  REQUIRE(got.ok());
  check_same(got->outputs.at("y"), want->outputs.at("y"));
}

TEST_CASE("the gathered product trains as the one-hot product does", "[simplify]") {
  OptimizerConfig sgd;
  sgd.lr = 0.5;
  Graph plain = one_hot_model();
  REQUIRE(TrainingStepPass("loss", sgd).run(plain).ok());
  Graph gathered = one_hot_model();
  REQUIRE(SimplifyPass().run(gathered).ok());
  REQUIRE(TrainingStepPass("loss", sgd).run(gathered).ok());
  CHECK(count(gathered, OpKind::ScatterAdd) == 1);
  Expected<InterpreterResult> want = interpret(plain, feeds());
  Expected<InterpreterResult> got = interpret(gathered, feeds());
  REQUIRE(want.ok());
  REQUIRE(got.ok());
  check_same(got->states.at("w"), want->states.at("w"));
}

TEST_CASE("a product with one_hot as its right operand, or of another depth, stays",
          "[simplify]") {
  Graph g("other");
  Builder b(g);
  Tensor i = b.input("i", {DType::i32, Shape{4}});
  Tensor x = b.input("x", {DType::f32, Shape{3, 4}});
  b.output("y", matmul(x, one_hot(i, 5)));
  REQUIRE(b.status().ok());
  Graph s = g;
  SimplifyPass().run(s);
  CHECK(count(s, OpKind::Matmul) == 1);
}
