// Convolutional layers (frontend/conv_layers.h): parameters with the right names, shapes
// and inits, reuse by name, LazyConv2d's channel inference, the bias as a broadcast add,
// errors pointing at the layer call, pooling layers' defaults, and a LeNet-shaped stack
// evaluated by the reference interpreter.
#include <catch2/catch.hpp>

#include <cmath>

#include "frontend/conv_layers.h"
#include "ir/interpreter.h"

using namespace kiln;

namespace {

TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }

const Node* leaf(const Graph& g, const std::string& name) {
  Value v = g.find_leaf(name);
  return v.valid() ? &g.node(v) : nullptr;
}

int count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

}  // namespace

TEST_CASE("Conv2d creates its parameters once, with the right shapes and inits", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  nn::Conv2d conv(3, 8, {3, 5}, {.padding = {1, 2}}, nn::Init::xavier_uniform(), true, "c1");
  Tensor x = b.input("x", f32({2, 3, 10, 12}));
  Tensor y1 = conv(ctx, x);
  Tensor y2 = conv(ctx, x);
  REQUIRE(b.ok());
  CHECK(y1.shape() == Shape{2, 8, 10, 12});
  CHECK(y2.shape() == Shape{2, 8, 10, 12});
  CHECK(count(g, OpKind::Parameter) == 2);
  REQUIRE(leaf(g, "c1.weight"));
  CHECK(leaf(g, "c1.weight")->type == f32({8, 3, 3, 5}));
  CHECK(leaf(g, "c1.weight")->attrs.s("init") == "xavier_uniform");
  REQUIRE(leaf(g, "c1.bias"));
  CHECK(leaf(g, "c1.bias")->type == f32({8}));
  // PyTorch's nn.Conv2d bias: uniform in +-1/sqrt(fan_in), fan_in = 3 * 3 * 5.
  CHECK(leaf(g, "c1.bias")->attrs.s("init") == "uniform");
  CHECK(leaf(g, "c1.bias")->attrs.f("init_a") == Approx(-1.0 / std::sqrt(45.0)));
  CHECK(leaf(g, "c1.bias")->attrs.f("init_b") == Approx(1.0 / std::sqrt(45.0)));
  CHECK(conv.describe() == "Conv2d(3, 8, kernel=3x5, stride=1x1, padding=1x2)");

  // Groups: C/groups input channels per filter. No bias: one parameter. Another init.
  nn::Conv2d grouped(4, 6, 3, {.stride = {2, 2}, .groups = 2}, nn::Init::kaiming_normal(),
                     false, "g");
  Tensor z = grouped(ctx, b.input("z", f32({1, 4, 9, 9})));
  REQUIRE(b.ok());
  CHECK(z.shape() == Shape{1, 6, 4, 4});
  CHECK(leaf(g, "g.weight")->type == f32({6, 2, 3, 3}));
  CHECK(leaf(g, "g.weight")->attrs.s("init") == "kaiming_normal");
  CHECK_FALSE(leaf(g, "g.bias"));
  CHECK(grouped.describe() ==
        "Conv2d(4, 6, kernel=3x3, stride=2x2, padding=0x0, groups=2, bias=false)");
}

TEST_CASE("unnamed Conv2d layers take deterministic names", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0, "net"};
  nn::Conv2d a(1, 2, 3), c(2, 2, 3);
  Tensor x = b.input("x", f32({1, 1, 8, 8}));
  c(ctx, a(ctx, x));
  REQUIRE(b.ok());
  CHECK(a.weight_name() == "net.conv0.weight");
  CHECK(c.bias_name() == "net.conv1.bias");
  CHECK(leaf(g, "net.conv1.weight")->type == f32({2, 2, 3, 3}));
}

TEST_CASE("LazyConv2d infers in_channels at its first call", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  nn::Conv2d lazy(0, 6, 5, {.padding = {2, 2}}, nn::Init::xavier_uniform(), true, "lazy");
  Tensor y = lazy(ctx, b.input("x", f32({2, 3, 8, 8})));
  REQUIRE(b.ok());
  CHECK(y.shape() == Shape{2, 6, 8, 8});
  CHECK(leaf(g, "lazy.weight")->type == f32({6, 3, 5, 5}));
  CHECK(lazy.describe() == "Conv2d(3, 6, kernel=5x5, stride=1x1, padding=2x2)");
  // Fixed from then on: a 4-channel input is an error naming the layer and the call.
  int line = __LINE__ + 1;
  Tensor bad = lazy(ctx, b.input("x4", f32({2, 4, 8, 8})));
  CHECK_FALSE(bad.valid());
  const std::string msg = b.status().error().message();
  CHECK_THAT(msg, Catch::Contains("Conv2d(3, 6, kernel=5x5"));
  CHECK_THAT(msg, Catch::Contains("applied to input of type f32[2,4,8,8] (expected [N, 3, H, W])"));
  CHECK_THAT(msg, Catch::Contains("conv_layers_test.cpp:" + std::to_string(line)));
}

TEST_CASE("Conv2d needs an NCHW input", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  nn::Conv2d conv(0, 6, 5);
  CHECK_FALSE(conv(ctx, b.input("x", f32({2, 28, 28}))).valid());
  CHECK_THAT(b.status().error().message(),
             Catch::Contains("applied to input of type f32[2,28,28] (expected [N, C, H, W])"));
}

TEST_CASE("Conv2d adds its bias as a broadcast, elementwise add", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  nn::Conv2d conv(1, 2, 2, {}, nn::Init::xavier_uniform(), true, "c");
  Tensor y = conv(ctx, b.input("x", f32({1, 1, 2, 2})));
  REQUIRE(b.ok());
  // add(conv2d(x, w), broadcast(reshape(bias, [2, 1, 1]), [1, 2, 1, 1])).
  const Node& add = y.node();
  REQUIRE(add.op == OpKind::Add);
  CHECK(g.node(add.inputs[0]).op == OpKind::Conv2d);
  const Node& bc = g.node(add.inputs[1]);
  REQUIRE(bc.op == OpKind::Broadcast);
  const Node& rs = g.node(bc.inputs[0]);
  REQUIRE(rs.op == OpKind::Reshape);
  CHECK(rs.type.shape == Shape{2, 1, 1});
  CHECK(g.node(rs.inputs[0]).name == "c.bias");

  // Values: filter 0 sums the 2x2 input, filter 1 picks its last element; biases 10, 20.
  b.output("y", y);
  std::map<std::string, RefTensor> feeds = {
      {"x", {f32({1, 1, 2, 2}), {1, 2, 3, 4}}},
      {"c.weight", {f32({2, 1, 2, 2}), {1, 1, 1, 1, 0, 0, 0, 1}}},
      {"c.bias", {f32({2}), {10, 20}}}};
  Expected<InterpreterResult> r = interpret(g, feeds);
  REQUIRE(r.ok());
  CHECK(r->outputs["y"].data == std::vector<double>{20, 24});
}

TEST_CASE("pooling layers: defaults, shapes and descriptions", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  Tensor x = b.input("x", f32({2, 3, 9, 9}));
  nn::MaxPool2d max2(2), max3(3, 2, 1);
  nn::AvgPool2d avg({3, 3}, {2, 2}, 1, false);
  nn::AdaptiveAvgPool2d adaptive({3, 4});
  nn::GlobalAvgPool2d global;
  CHECK(max2(ctx, x).shape() == Shape{2, 3, 4, 4});  // stride = kernel
  CHECK(max3(ctx, x).shape() == Shape{2, 3, 5, 5});
  CHECK(avg(ctx, x).shape() == Shape{2, 3, 5, 5});
  CHECK(adaptive(ctx, x).shape() == Shape{2, 3, 3, 4});
  CHECK(global(ctx, x).shape() == Shape{2, 3, 1, 1});
  REQUIRE(b.ok());
  CHECK(max2.describe() == "MaxPool2d(kernel=2x2, stride=2x2, padding=0x0)");
  CHECK(max3.describe() == "MaxPool2d(kernel=3x3, stride=2x2, padding=1x1)");
  CHECK(avg.describe() ==
        "AvgPool2d(kernel=3x3, stride=2x2, padding=1x1, count_include_pad=false)");
  CHECK(adaptive.describe() == "AdaptiveAvgPool2d(3x4)");
  CHECK(global.describe() == "GlobalAvgPool2d");
}

TEST_CASE("a LeNet-shaped stack has d2l's shapes and runs in the interpreter", "[conv_layers]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0, "lenet"};
  nn::Conv2d conv1(0, 6, 5, {.padding = {2, 2}});
  nn::Conv2d conv2(0, 16, 5);
  nn::AvgPool2d pool1(2), pool2(2);
  nn::Activation sigmoid(nn::Activation::Sigmoid);
  nn::Linear fc1(0, 120), fc2(0, 84), fc3(0, 10);
  nn::Flatten flatten;
  Tensor x = b.input("x", f32({2, 1, 28, 28}));
  Tensor h = sigmoid(ctx, conv1(ctx, x));
  CHECK(h.shape() == Shape{2, 6, 28, 28});
  h = pool1(ctx, h);
  CHECK(h.shape() == Shape{2, 6, 14, 14});
  h = sigmoid(ctx, conv2(ctx, h));
  CHECK(h.shape() == Shape{2, 16, 10, 10});
  h = pool2(ctx, h);
  CHECK(h.shape() == Shape{2, 16, 5, 5});
  h = flatten(ctx, h);
  CHECK(h.shape() == Shape{2, 400});
  Tensor logits = fc3(ctx, sigmoid(ctx, fc2(ctx, sigmoid(ctx, fc1(ctx, h)))));
  REQUIRE(b.ok());
  CHECK(logits.shape() == Shape{2, 10});
  CHECK(leaf(g, "lenet.conv1.weight")->type == f32({16, 6, 5, 5}));
  b.output("logits", logits);

  std::vector<double> pixels(2 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<double>(i % 29) / 29.0;
  Expected<InterpreterResult> r = interpret(g, {{"x", {f32({2, 1, 28, 28}), pixels}}}, 1);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  const std::vector<double>& out = r->outputs["logits"].data;
  REQUIRE(out.size() == 20);
  for (double v : out) CHECK(std::isfinite(v));
  CHECK(out != std::vector<double>(20, out[0]));  // the weights were initialised at random
}
