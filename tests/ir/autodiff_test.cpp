// Autodiff driver: hand-computed gradients, summing of contributions, zeros for values
// the loss does not depend on, errors for a non-scalar loss and for a missing rule (the
// message names the op and the user's line), and no NaN from pow's guarded log.
#include <cmath>

#include "ir/test_util.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"

namespace kiln {
namespace {

TensorType f64(std::vector<int64_t> d) { return TensorType{DType::f64, Shape(std::move(d))}; }

GradFn no_tanh_rule(OpKind k) { return k == OpKind::Tanh ? nullptr : op_def(k).grad; }

}  // namespace

TEST_CASE("autodiff: hand-computed gradient with fan-out", "[autodiff]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f64({3}));
  Tensor y = b.input("y", f64({3}));
  Tensor unused = b.input("u", f64({2}));
  // L = sum(x*x + x*y): dL/dx = 2x + y, dL/dy = x.
  Tensor loss = sum(x * x + x * y);
  REQUIRE(b.ok());
  Expected<std::vector<Value>> grads =
      gradients(g, loss.value(), {x.value(), y.value(), unused.value()});
  REQUIRE(grads.ok());
  REQUIRE(grads->size() == 3);
  g.add_output("dx", (*grads)[0]);
  g.add_output("dy", (*grads)[1]);
  g.add_output("du", (*grads)[2]);
  REQUIRE(verify(g).ok());
  Expected<InterpreterResult> r = interpret(g, {{"x", test::ref(f64({3}), {1, 2, 3})},
                                                {"y", test::ref(f64({3}), {10, 20, 30})},
                                                {"u", test::ref(f64({2}), {5, 5})}});
  REQUIRE(r.ok());
  CHECK(r->outputs["dx"].data == std::vector<double>{12, 24, 36});
  CHECK(r->outputs["dy"].data == std::vector<double>{1, 2, 3});
  CHECK(r->outputs["du"].data == std::vector<double>{0, 0});
  CHECK(r->outputs["du"].type == f64({2}));
}

TEST_CASE("autodiff: loss must be a float scalar", "[autodiff]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f64({3}));
  Tensor y = exp(x);
  Expected<std::vector<Value>> r = gradients(g, y.value(), {x.value()}, SourceLoc{"train.cpp", 7});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("train.cpp:7"));
  CHECK_THAT(r.error().message(), Catch::Contains("loss must be a float scalar, got f64[3]"));
  Tensor n = cast(sum(x), DType::i64);
  CHECK_FALSE(gradients(g, n.value(), {x.value()}).ok());
}

TEST_CASE("autodiff: a missing rule names the op and the user's line", "[autodiff]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f64({3}));
  int line = __LINE__ + 1;
  Tensor t = tanh(x);
  Tensor loss = sum(t * t);
  REQUIRE(b.ok());
  Expected<std::vector<Value>> r = gradients_with_rules(g, loss.value(), {x.value()}, no_tanh_rule);
  REQUIRE_FALSE(r.ok());
  std::string msg = r.error().message();
  CHECK_THAT(msg, Catch::Contains("no gradient rule for op 'tanh'"));
  CHECK_THAT(msg, Catch::Contains("autodiff_test.cpp:" + std::to_string(line)));
  // The same graph differentiates fine with the registry's rules.
  CHECK(gradients(g, loss.value(), {x.value()}).ok());
  // A missing rule off the path from x to the loss is not an error.
  Graph g2;
  Builder b2(g2);
  Tensor a = b2.input("a", f64({3}));
  Tensor c = b2.input("c", f64({3}));
  Tensor l2 = sum(a * tanh(c));
  CHECK(gradients_with_rules(g2, l2.value(), {a.value()}, no_tanh_rule).ok());
}

TEST_CASE("autodiff: no-grad paths give zeros, not errors", "[autodiff]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f64({3}));
  // argmax-like path: compare -> cast -> float; only the direct term carries gradient.
  Tensor mask = cast(greater(x, b.constant(0.0, x.type())), DType::f64);
  Tensor loss = sum(mask * 3.0 + x);
  REQUIRE(b.ok());
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), {x.value()});
  REQUIRE(grads.ok());
  g.add_output("dx", (*grads)[0]);
  Expected<InterpreterResult> r = interpret(g, {{"x", test::ref(f64({3}), {-1, 0.5, 2})}});
  REQUIRE(r.ok());
  CHECK(r->outputs["dx"].data == std::vector<double>{1, 1, 1});
}

TEST_CASE("autodiff: pow exponent gradient is 0, not NaN, for non-positive bases", "[autodiff]") {
  Graph g;
  Builder b(g);
  Tensor a = b.input("a", f64({3}));
  Tensor e = b.input("e", f64({3}));
  Tensor loss = sum(pow(a, e));
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), {a.value(), e.value()});
  REQUIRE(grads.ok());
  g.add_output("da", (*grads)[0]);
  g.add_output("de", (*grads)[1]);
  Expected<InterpreterResult> r = interpret(
      g, {{"a", test::ref(f64({3}), {-2, 0, 2})}, {"e", test::ref(f64({3}), {2, 2, 2})}});
  REQUIRE(r.ok());
  CHECK(r->outputs["da"].data == std::vector<double>{-4, 0, 4});
  const std::vector<double>& de = r->outputs["de"].data;
  CHECK(de[0] == 0.0);
  CHECK(de[1] == 0.0);
  CHECK(de[2] == Approx(4 * std::log(2.0)));
}

TEST_CASE("autodiff: gradient nodes carry the forward node's location", "[autodiff]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f64({3}));
  int line = __LINE__ + 1;
  Tensor y = sigmoid(x);
  Tensor loss = sum(y);
  int before = g.size();
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), {x.value()});
  REQUIRE(grads.ok());
  bool found = false;
  for (int id = before; id < g.size(); ++id)
    found |= g.node(id).loc.line == static_cast<uint32_t>(line);
  CHECK(found);
}

}  // namespace kiln
