// The DSL: broadcasting, shapes, sticky errors that name the op, the shapes and the
// user's file:line, and layers.
#include <catch2/catch.hpp>

#include "frontend/losses.h"
#include "frontend/nn.h"
#include "ir/interpreter.h"

using namespace kiln;

TEST_CASE("binary ops broadcast NumPy-style", "[dsl]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{4, 1, 3}});
  Tensor y = b.input("y", TensorType{DType::f32, Shape{5, 1}});
  Tensor z = x + y;
  REQUIRE(b.ok());
  CHECK(z.shape() == Shape{4, 5, 3});
  Tensor s = z * 2.0 - 1.0;
  CHECK(s.shape() == Shape{4, 5, 3});
  CHECK(sum(s, {1}, true).shape() == Shape{4, 1, 3});
  CHECK(mean(s).shape() == Shape{});
}

TEST_CASE("a shape error names the op, both shapes and the user's line", "[dsl]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{2, 3}});
  Tensor w = b.input("w", TensorType{DType::f32, Shape{4, 5}});
  int line = __LINE__ + 1;
  Tensor y = matmul(x, w);
  CHECK_FALSE(y.valid());
  REQUIRE_FALSE(b.ok());
  const std::string msg = b.status().error().message();
  CHECK_THAT(msg, Catch::Contains("matmul"));
  CHECK_THAT(msg, Catch::Contains("f32[2,3]"));
  CHECK_THAT(msg, Catch::Contains("f32[4,5]"));
  CHECK_THAT(msg, Catch::Contains("dsl_test.cpp:" + std::to_string(line)));
  // Later ops on the invalid tensor are silent no-ops; the first error is kept.
  Tensor z = relu(y) + x;
  CHECK_FALSE(z.valid());
  CHECK(b.status().error().message() == msg);
}

TEST_CASE("operators record the caller's location", "[dsl]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{2, 3}});
  Tensor y = b.input("y", TensorType{DType::f32, Shape{3, 2}});
  int line = __LINE__ + 1;
  Tensor z = x + y;
  REQUIRE_FALSE(b.ok());
  CHECK_THAT(b.status().error().message(), Catch::Contains("dsl_test.cpp:" + std::to_string(line)));
  CHECK_THAT(b.status().error().message(), Catch::Contains("cannot be broadcast"));
}

TEST_CASE("layers point errors at the layer call", "[dsl]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  nn::Linear layer(10, 4, {}, true, "l");
  Tensor x = b.input("x", TensorType{DType::f32, Shape{8, 7}});
  int line = __LINE__ + 1;
  Tensor y = layer(ctx, x);
  CHECK_FALSE(y.valid());
  REQUIRE_FALSE(b.ok());
  CHECK_THAT(b.status().error().message(), Catch::Contains("dsl_test.cpp:" + std::to_string(line)));
  CHECK_THAT(b.status().error().message(), Catch::Contains("Linear(10, 4)"));
}

TEST_CASE("Linear creates parameters once and reuses them by name", "[dsl]") {
  Graph g;
  Builder b(g);
  nn::Context ctx{b, true, 0};
  nn::Linear layer(0, 4, {}, true, "lazy");
  Tensor x = b.input("x", TensorType{DType::f32, Shape{8, 6}});
  Tensor y1 = layer(ctx, x);
  Tensor y2 = layer(ctx, x);
  REQUIRE(b.ok());
  CHECK(y1.shape() == Shape{8, 4});
  CHECK(g.parameters().size() == 2);
  CHECK(g.node(g.find_leaf("lazy.weight")).type.shape == Shape{6, 4});
  (void)y2;
}

TEST_CASE("softmax cross-entropy is stable and matches the definition", "[dsl]") {
  Graph g;
  Builder b(g);
  Tensor logits = b.input("z", TensorType{DType::f64, Shape{2, 3}});
  Tensor labels = b.input("y", TensorType{DType::i32, Shape{2}});
  b.output("loss", softmax_cross_entropy(logits, labels));
  b.output("correct", correct_count(logits, labels));
  REQUIRE(b.ok());
  RefTensor z{TensorType{DType::f64, Shape{2, 3}}, {1000.0, 0.0, -1000.0, 1.0, 2.0, 3.0}};
  RefTensor y{TensorType{DType::i32, Shape{2}}, {0, 1}};
  Expected<InterpreterResult> r = interpret(g, {{"z", z}, {"y", y}});
  REQUIRE(r.ok());
  double lse2 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  double want = (0.0 + (lse2 - 2.0)) / 2.0;
  CHECK(r->outputs.at("loss").data[0] == Approx(want));
  CHECK(r->outputs.at("correct").data[0] == 1.0);  // row 0 right, row 1 wrong
}

TEST_CASE("cross-entropy rejects mismatched labels with a clear error", "[dsl]") {
  Graph g;
  Builder b(g);
  Tensor logits = b.input("z", TensorType{DType::f32, Shape{4, 3}});
  Tensor labels = b.input("y", TensorType{DType::i32, Shape{5}});
  Tensor l = softmax_cross_entropy(logits, labels);
  CHECK_FALSE(l.valid());
  CHECK_THAT(b.status().error().message(), Catch::Contains("integer labels [N]"));
}

TEST_CASE("dropout is identity in eval and scales kept units in training", "[dsl]") {
  for (bool training : {false, true}) {
    Graph g;
    Builder b(g);
    nn::Context ctx{b, training, 7};
    nn::Dropout drop(0.5);
    Tensor x = b.input("x", TensorType{DType::f64, Shape{1000}});
    b.output("y", drop(ctx, x));
    REQUIRE(b.ok());
    RefTensor ones{TensorType{DType::f64, Shape{1000}}, std::vector<double>(1000, 1.0)};
    Expected<InterpreterResult> r = interpret(g, {{"x", ones}});
    REQUIRE(r.ok());
    const auto& y = r->outputs.at("y").data;
    int zeros = 0;
    for (double v : y) {
      if (v == 0.0) ++zeros;
      else CHECK(v == Approx(training ? 2.0 : 1.0));
    }
    if (training) {
      CHECK(zeros > 400);
      CHECK(zeros < 600);
      CHECK(r->states.at("rng_step").data[0] == 1.0);  // counter advances per run
    } else {
      CHECK(zeros == 0);
    }
  }
}

TEST_CASE("a shape whose element count overflows is a builder error naming it", "[dsl][hardening]") {
  // Shape{2^32, 2^32} has numel() 0 (2^64 wraps): it used to be accepted, compiled, and
  // crash in run().
  const int64_t big = int64_t{1} << 32;
  Graph g;
  Builder b(g);
  int line = __LINE__ + 1;
  Tensor x = b.input("x", TensorType{DType::f32, Shape{big, big}});
  CHECK_FALSE(x.valid());
  REQUIRE_FALSE(b.ok());
  const std::string msg = b.status().error().message();
  CHECK_THAT(msg, Catch::Contains("dsl_test.cpp:" + std::to_string(line)) && Catch::Contains("input 'x'") &&
                      Catch::Contains("f32[4294967296,4294967296]") && Catch::Contains("limit"));
  // Later ops are no-ops, as for every builder error.
  b.output("y", relu(x) * 2.0);
  CHECK(b.status().error().message() == msg);
  CHECK(g.outputs().empty());

  // An op whose result would overflow: reshape and broadcast_to of legal tensors.
  Graph g2;
  Builder b2(g2);
  Tensor v = b2.input("v", TensorType{DType::f32, Shape{big}});
  REQUIRE(b2.ok());
  Tensor outer = broadcast_to(reshape(v, Shape{big, 1}), Shape{big, big});
  CHECK_FALSE(outer.valid());
  REQUIRE_FALSE(b2.ok());
  CHECK_THAT(b2.status().error().message(), Catch::Contains("[4294967296,4294967296]"));
}

TEST_CASE("output and update_state refuse a tensor of another graph", "[dsl]") {
  Graph g1, g2;
  Builder b1(g1), b2(g2);
  Tensor x = b1.input("x", TensorType{DType::f32, Shape{2}});
  Tensor s = b2.state("s", TensorType{DType::f32, Shape{2}}, StateKind::Carried);
  b2.output("y", x);
  REQUIRE_FALSE(b2.ok());
  CHECK_THAT(b2.status().error().message(), Catch::Contains("output 'y': tensor belongs to another graph"));
  CHECK(g2.outputs().empty());
  Graph g3;
  Builder b3(g3);
  Tensor t = b3.state("t", TensorType{DType::f32, Shape{2}}, StateKind::Carried);
  b3.update_state(t, x);
  REQUIRE_FALSE(b3.ok());
  CHECK_THAT(b3.status().error().message(), Catch::Contains("update_state: tensor belongs to another graph"));
  CHECK(g3.state_updates().empty());
  (void)s;
}
