// d2l chapter 7's blocks (frontend/blocks.h): output shapes and parameter counts of
// Residual, Inception, DenseBlock and TransitionBlock; the skip connection and the
// branch concatenation evaluated by the reference interpreter; errors recorded, not
// thrown; train and eval graphs naming the same parameters.
#include "frontend/blocks.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "ir/interpreter.h"

using namespace kiln;

namespace {

TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }

// A graph with input x of `shape` for applying blocks to.
struct Net {
  Graph g{"m"};
  Builder b{g};
  nn::Context ctx;
  Tensor x;
  Net(std::vector<int64_t> shape, bool training = true) : ctx(b, training, 0, "m") {
    x = b.input("x", f32(std::move(shape)));
  }
  std::set<std::string> parameters() const {
    std::set<std::string> names;
    for (Value v : g.parameters()) names.insert(g.node(v).name);
    return names;
  }
};

}  // namespace

TEST_CASE("Residual keeps the shape, or changes channels and size through a 1x1 shortcut",
          "[blocks]") {
  Net n({2, 4, 6, 6});
  nn::Residual same(4), down(8, true, 2);
  Tensor y = same(n.ctx, n.x);
  REQUIRE(n.b.ok());
  CHECK(y.shape() == Shape{2, 4, 6, 6});
  CHECK(n.parameters().size() == 8);  // two convolutions and two batch norms
  Tensor z = down(n.ctx, y);
  REQUIRE(n.b.ok());
  CHECK(z.shape() == Shape{2, 8, 3, 3});
  CHECK(n.parameters().size() == 8 + 10);  // and the shortcut's convolution
  CHECK(same.describe() == "Residual(4)");
  CHECK(down.describe() == "Residual(8, 1x1 conv, stride 2)");

  // Without the 1x1 convolution the input cannot be added to 8 channels.
  nn::Residual mismatched(8);
  CHECK_FALSE(mismatched(n.ctx, n.x).valid());
  CHECK_THAT(n.b.status().error().message(), Catch::Contains("add"));
}

TEST_CASE("Residual adds its input to the residual branch", "[blocks]") {
  // Eval mode with zeroed convolution weights and biases: the branch is bn2's shift alone, so the
  // block computes relu(x + beta2).
  Net n({1, 2, 3, 3}, /*training=*/false);
  nn::Residual block(2);
  n.b.output("y", block(n.ctx, n.x));
  REQUIRE(n.b.ok());
  std::vector<double> pixels(18);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<double>(i) - 9.0;
  std::map<std::string, RefTensor> feeds{{"x", {f32({1, 2, 3, 3}), pixels}},
                                         {"m.batchnorm1.bias", {f32({2}), {0.5, 0.5}}}};
  for (const char* w : {"m.conv0.weight", "m.conv1.weight"})
    feeds[w] = RefTensor{f32({2, 2, 3, 3}), std::vector<double>(36, 0.0)};
  for (const char* b : {"m.conv0.bias", "m.conv1.bias"}) feeds[b] = RefTensor{f32({2}), {0.0, 0.0}};
  Expected<InterpreterResult> r = interpret(n.g, feeds);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  const std::vector<double>& y = r->outputs["y"].data;
  REQUIRE(y.size() == pixels.size());
  for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == Approx(std::max(0.0, pixels[i] + 0.5)));
}

TEST_CASE("Branches concatenate their outputs on the channel axis in order", "[blocks]") {
  Net n({1, 1, 1, 2});
  nn::Branches branches;
  branches.add_branch().emplace<nn::Activation>(nn::Activation::ReLU);
  branches.add_branch().emplace<nn::Activation>(nn::Activation::Sigmoid);
  n.b.output("y", branches(n.ctx, n.x));
  REQUIRE(n.b.ok());
  Expected<InterpreterResult> r = interpret(n.g, {{"x", {f32({1, 1, 1, 2}), {-1.0, 2.0}}}});
  REQUIRE(r.ok());
  CHECK(r->outputs["y"].type.shape == Shape{1, 2, 1, 2});
  const std::vector<double>& y = r->outputs["y"].data;
  REQUIRE(y.size() == 4);
  CHECK(y[0] == 0.0);
  CHECK(y[1] == 2.0);
  CHECK(y[2] == Approx(1.0 / (1.0 + std::exp(1.0))));
  CHECK(y[3] == Approx(1.0 / (1.0 + std::exp(-2.0))));
}

TEST_CASE("Inception concatenates four branches of the same size", "[blocks]") {
  Net n({2, 3, 8, 8});
  nn::Inception block(2, {3, 4}, {1, 2}, 3);
  Tensor y = block(n.ctx, n.x);
  REQUIRE(n.b.ok());
  CHECK(y.shape() == Shape{2, 2 + 4 + 2 + 3, 8, 8});
  CHECK(n.parameters().size() == 12);  // six convolutions
  CHECK(block.describe() == "Inception(2, (3, 4), (1, 2), 3)");
}

TEST_CASE("DenseBlock grows the channels; TransitionBlock sets them and halves the size",
          "[blocks]") {
  Net n({2, 4, 6, 6});
  nn::DenseBlock dense(2, 3);
  nn::TransitionBlock transition(5);
  Tensor y = dense(n.ctx, n.x);
  REQUIRE(n.b.ok());
  CHECK(y.shape() == Shape{2, 4 + 2 * 3, 6, 6});
  Tensor z = transition(n.ctx, y);
  REQUIRE(n.b.ok());
  CHECK(z.shape() == Shape{2, 5, 3, 3});
  CHECK(n.parameters().size() == 2 * 4 + 4);
  CHECK(dense.describe() == "DenseBlock(2 convs, growth 3)");
  CHECK(transition.describe() == "TransitionBlock(5)");
}

TEST_CASE("train and eval graphs of the same blocks name the same parameters", "[blocks]") {
  nn::Sequential net;
  net.emplace<nn::Residual>(4, true, 2).emplace<nn::DenseBlock>(2, 2);
  net.emplace<nn::TransitionBlock>(3).emplace<nn::Inception>(1, std::pair{1, 1}, std::pair{1, 1}, 1);
  Net train({2, 3, 8, 8}, true), eval({2, 3, 8, 8}, false);
  net(train.ctx, train.x);
  net(eval.ctx, eval.x);
  REQUIRE(train.b.ok());
  REQUIRE(eval.b.ok());
  CHECK(train.parameters() == eval.parameters());
  // Five batch norms; training moves each one's running mean and variance.
  CHECK(train.g.state_updates().size() == 10);
  CHECK(eval.g.state_updates().empty());
}
