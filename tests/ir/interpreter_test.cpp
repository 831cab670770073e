// Reference interpreter: hand-computed results for every op family, dtype rounding
// (f32 rounding, integer truncation, bool 0/1), leaf binding and initial values, state
// updates, and errors that name the node.
#include <cmath>
#include <limits>

#include "ir/test_util.h"

namespace kiln {
namespace {

using test::eval_op;
using test::ref;

TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }
TensorType f64(std::vector<int64_t> d) { return TensorType{DType::f64, Shape(std::move(d))}; }
TensorType i32(std::vector<int64_t> d) { return TensorType{DType::i32, Shape(std::move(d))}; }
TensorType bools(std::vector<int64_t> d) { return TensorType{DType::boolean, Shape(std::move(d))}; }

std::vector<double> eval(OpKind op, const std::vector<RefTensor>& ins, AttrMap attrs = {}) {
  Expected<RefTensor> r = eval_op(op, ins, std::move(attrs));
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  return r->data;
}

using V = std::vector<double>;

}  // namespace

TEST_CASE("interpreter: unary and binary elementwise", "[interp]") {
  RefTensor x = ref(f64({4}), {-2, -0.5, 0, 3});
  CHECK(eval(OpKind::Neg, {x}) == V{2, 0.5, -0.0, -3});
  CHECK(eval(OpKind::Abs, {x}) == V{2, 0.5, 0, 3});
  CHECK(eval(OpKind::Relu, {x}) == V{0, 0, 0, 3});
  CHECK(eval(OpKind::Exp, {ref(f64({1}), {1})})[0] == Approx(std::exp(1.0)));
  CHECK(eval(OpKind::Log, {ref(f64({1}), {std::exp(2.0)})})[0] == Approx(2.0));
  CHECK(eval(OpKind::Sqrt, {ref(f64({2}), {9, 2})}) == V{3, std::sqrt(2.0)});
  CHECK(eval(OpKind::Tanh, {ref(f64({1}), {0.5})})[0] == Approx(std::tanh(0.5)));
  CHECK(eval(OpKind::Sigmoid, {ref(f64({1}), {0})})[0] == 0.5);

  RefTensor a = ref(f64({3}), {1, 5, -3});
  RefTensor b = ref(f64({3}), {2, 5, 4});
  CHECK(eval(OpKind::Add, {a, b}) == V{3, 10, 1});
  CHECK(eval(OpKind::Sub, {a, b}) == V{-1, 0, -7});
  CHECK(eval(OpKind::Mul, {a, b}) == V{2, 25, -12});
  CHECK(eval(OpKind::Div, {a, b}) == V{0.5, 1, -0.75});
  CHECK(eval(OpKind::Pow, {b, ref(f64({3}), {3, 0.5, -1})}) == V{8, std::sqrt(5.0), 0.25});
  CHECK(eval(OpKind::Max, {a, b}) == V{2, 5, 4});
  CHECK(eval(OpKind::Min, {a, b}) == V{1, 5, -3});
  CHECK(eval(OpKind::Lt, {a, b}) == V{1, 0, 1});
  CHECK(eval(OpKind::Le, {a, b}) == V{1, 1, 1});
  CHECK(eval(OpKind::Gt, {a, b}) == V{0, 0, 0});
  CHECK(eval(OpKind::Ge, {a, b}) == V{0, 1, 0});
  CHECK(eval(OpKind::Eq, {a, b}) == V{0, 1, 0});
  CHECK(eval(OpKind::Ne, {a, b}) == V{1, 0, 1});
  RefTensor p = ref(bools({4}), {0, 0, 1, 1}), q = ref(bools({4}), {0, 1, 0, 1});
  CHECK(eval(OpKind::And, {p, q}) == V{0, 0, 0, 1});
  CHECK(eval(OpKind::Or, {p, q}) == V{0, 1, 1, 1});
  CHECK(eval(OpKind::Not, {p}) == V{1, 1, 0, 0});
  CHECK(eval(OpKind::Select, {ref(bools({3}), {1, 0, 1}), a, b}) == V{1, 5, -3});
  // NaN propagates through max.
  double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(eval(OpKind::Max, {ref(f64({1}), {nan}), ref(f64({1}), {1})})[0]));
  CHECK(std::isnan(eval(OpKind::Max, {ref(f64({1}), {1}), ref(f64({1}), {nan})})[0]));
}

TEST_CASE("interpreter: dtype rounding and casts", "[interp]") {
  // f32 results are rounded to float after every op.
  std::vector<double> r = eval(OpKind::Add, {ref(f32({1}), {0.1}), ref(f32({1}), {0.2})});
  CHECK(r[0] == static_cast<double>(0.1f + 0.2f));
  CHECK(r[0] != 0.1 + 0.2);
  // Integer division truncates toward zero.
  CHECK(eval(OpKind::Div, {ref(i32({2}), {7, -7}), ref(i32({2}), {2, 2})}) == V{3, -3});
  Expected<RefTensor> div0 = eval_op(OpKind::Div, {ref(i32({1}), {1}), ref(i32({1}), {0})});
  REQUIRE_FALSE(div0.ok());
  CHECK_THAT(div0.error().message(), Catch::Contains("division by zero"));
  CHECK_THAT(div0.error().message(), Catch::Contains("div"));
  RefTensor x = ref(f64({4}), {-2.7, -0.5, 0, 3.9});
  CHECK(eval(OpKind::Cast, {x}, {{"dtype", DType::i32}}) == V{-2, 0, 0, 3});
  CHECK(eval(OpKind::Cast, {x}, {{"dtype", DType::boolean}}) == V{1, 1, 0, 1});
  CHECK(eval(OpKind::Cast, {ref(f64({1}), {0.1})}, {{"dtype", DType::f32}})[0] ==
        static_cast<double>(0.1f));
  CHECK(eval(OpKind::Cast, {ref(bools({2}), {1, 0})}, {{"dtype", DType::f64}}) == V{1, 0});
}

TEST_CASE("interpreter: data movement", "[interp]") {
  RefTensor m = ref(f64({2, 3}), {1, 2, 3, 4, 5, 6});
  CHECK(eval(OpKind::Broadcast, {ref(f64({3}), {1, 2, 3})},
             {{"shape", std::vector<int64_t>{2, 3}}}) == V{1, 2, 3, 1, 2, 3});
  CHECK(eval(OpKind::Broadcast, {ref(f64({2, 1}), {1, 2})},
             {{"shape", std::vector<int64_t>{2, 2}}}) == V{1, 1, 2, 2});
  CHECK(eval(OpKind::Reshape, {m}, {{"shape", std::vector<int64_t>{3, 2}}}) == m.data);
  CHECK(eval(OpKind::Permute, {m}, {{"perm", std::vector<int64_t>{1, 0}}}) ==
        V{1, 4, 2, 5, 3, 6});
  RefTensor c = ref(f64({2, 3, 2}), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  // out[i,j,k] = c[j,k,i] for perm [2,0,1]: out shape [2,2,3].
  CHECK(eval(OpKind::Permute, {c}, {{"perm", std::vector<int64_t>{2, 0, 1}}}) ==
        V{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11});
  CHECK(eval(OpKind::Slice, {m},
             {{"start", std::vector<int64_t>{0, 0}},
              {"stop", std::vector<int64_t>{2, 3}},
              {"step", std::vector<int64_t>{1, 2}}}) == V{1, 3, 4, 6});
  CHECK(eval(OpKind::Slice, {m},
             {{"start", std::vector<int64_t>{1, 1}},
              {"stop", std::vector<int64_t>{2, 3}},
              {"step", std::vector<int64_t>{1, 1}}}) == V{5, 6});
  // m = [[1,2,3],[4,5,6]] padded by one row above, one column left and two right.
  CHECK(eval(OpKind::Pad, {m},
             {{"low", std::vector<int64_t>{1, 1}},
              {"high", std::vector<int64_t>{0, 2}},
              {"value", -1.0}}) == V{-1, -1, -1, -1, -1, -1,  //
                                     -1, 1, 2, 3, -1, -1,     //
                                     -1, 4, 5, 6, -1, -1});
  CHECK(eval(OpKind::Pad, {ref(f64({0}), {})},
             {{"low", std::vector<int64_t>{1}}, {"high", std::vector<int64_t>{2}},
              {"value", 7.0}}) == V{7, 7, 7});
  // The fill value is rounded like any other result: 2.7 in i32 is 2.
  CHECK(eval(OpKind::Pad, {ref(i32({1}), {5})},
             {{"low", std::vector<int64_t>{0}}, {"high", std::vector<int64_t>{1}},
              {"value", 2.7}}) == V{5, 2});
  CHECK(eval(OpKind::StopGradient, {m}) == m.data);
  CHECK(eval(OpKind::Concat, {m, ref(f64({2, 1}), {7, 8})}, {{"axis", int64_t{1}}}) ==
        V{1, 2, 3, 7, 4, 5, 6, 8});
  CHECK(eval(OpKind::Concat, {ref(f64({1, 2}), {1, 2}), ref(f64({2, 2}), {3, 4, 5, 6})},
             {{"axis", int64_t{0}}}) == V{1, 2, 3, 4, 5, 6});
}

TEST_CASE("interpreter: reductions and matmul", "[interp]") {
  RefTensor m = ref(f64({2, 3}), {1, 5, 3, 4, 2, 6});
  CHECK(eval(OpKind::ReduceSum, {m}, {{"axes", std::vector<int64_t>{0}}}) == V{5, 7, 9});
  CHECK(eval(OpKind::ReduceSum, {m}, {{"axes", std::vector<int64_t>{1}}}) == V{9, 12});
  CHECK(eval(OpKind::ReduceSum, {m}, {{"axes", std::vector<int64_t>{0, 1}}}) == V{21});
  CHECK(eval(OpKind::ReduceMax, {m}, {{"axes", std::vector<int64_t>{1}}}) == V{5, 6});
  CHECK(eval(OpKind::ReduceMax, {m}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{1}}}) ==
        V{4, 5, 6});
  CHECK(eval(OpKind::ReduceMean, {m}, {{"axes", std::vector<int64_t>{1}}}) == V{3, 4});
  CHECK(eval(OpKind::ReduceMax, {ref(f64({2, 0}), {})}, {{"axes", std::vector<int64_t>{1}}}) ==
        V{-INFINITY, -INFINITY});

  RefTensor a = ref(f64({2, 2}), {1, 2, 3, 4});
  RefTensor b = ref(f64({2, 3}), {5, 6, 7, 8, 9, 10});
  CHECK(eval(OpKind::Matmul, {a, b}) == V{21, 24, 27, 47, 54, 61});
  // Batched: two independent 1x2 x 2x1 products.
  CHECK(eval(OpKind::Matmul, {ref(f64({2, 1, 2}), {1, 2, 3, 4}), ref(f64({2, 2, 1}), {5, 6, 7, 8})}) ==
        V{17, 53});
}

TEST_CASE("interpreter: indexing", "[interp]") {
  RefTensor table = ref(f64({3, 2}), {1, 2, 3, 4, 5, 6});
  CHECK(eval(OpKind::Gather, {table, ref(i32({3}), {2, 0, 2})}) == V{5, 6, 1, 2, 5, 6});
  Expected<RefTensor> oob = eval_op(OpKind::Gather, {table, ref(i32({2}), {0, 3})});
  REQUIRE_FALSE(oob.ok());
  CHECK_THAT(oob.error().message(), Catch::Contains("gather: index 3 out of range [0, 3)"));
  CHECK(eval(OpKind::OneHot, {ref(i32({3}), {1, 0, 5})},
             {{"depth", int64_t{3}}, {"dtype", DType::f32}}) == V{0, 1, 0, 1, 0, 0, 0, 0, 0});
  CHECK(eval(OpKind::ScatterAdd, {ref(i32({3}), {1, 0, 1}), ref(f64({3, 2}), {1, 2, 3, 4, 5, 6})},
             {{"rows", int64_t{3}}}) == V{3, 4, 6, 8, 0, 0});
  Expected<RefTensor> neg =
      eval_op(OpKind::ScatterAdd, {ref(i32({1}), {-1}), ref(f64({1}), {1})}, {{"rows", int64_t{2}}});
  REQUIRE_FALSE(neg.ok());
  CHECK_THAT(neg.error().message(), Catch::Contains("scatter_add: index -1 out of range"));
}

TEST_CASE("interpreter: leaves, initial values, state updates, errors", "[interp]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f32({2}));
  Tensor w = b.parameter("w", f32({2}), InitSpec::constant(0.5));
  Tensor s = b.state("steps", f32({}), StateKind::StepCounter);
  Tensor k = b.constant_data({10, 20}, f32({2}));
  Tensor io = b.iota(i32({2, 3}), 1);
  Tensor y = x * w + k;
  b.output("y", y);
  b.output("iota", io);
  b.update_state(s, s + 1.0);
  REQUIRE(b.ok());

  Expected<InterpreterResult> r = interpret(g, {{"x", ref(f32({2}), {2, 4})}});
  REQUIRE(r.ok());
  CHECK(r->outputs["y"].data == V{11, 22});
  CHECK(r->outputs["iota"].data == V{0, 1, 2, 0, 1, 2});
  CHECK(r->outputs["iota"].type == i32({2, 3}));
  CHECK(r->states["steps"].data == V{1});
  CHECK(r->values.size() == static_cast<size_t>(g.size()));

  // Feeding a parameter overrides its initial value.
  r = interpret(g, {{"x", ref(f32({2}), {2, 4})}, {"w", ref(f32({2}), {1, 1})}});
  REQUIRE(r.ok());
  CHECK(r->outputs["y"].data == V{12, 24});

  Expected<InterpreterResult> missing = interpret(g, {});
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("input not fed"));
  CHECK_THAT(missing.error().message(), Catch::Contains("\"x\""));
  Expected<InterpreterResult> wrong = interpret(g, {{"x", ref(f64({2}), {2, 4})}});
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message(), Catch::Contains("fed f64[2], expected f32[2]"));

  // A failing op names its node and the user's line.
  Graph g2;
  Builder b2(g2);
  Tensor table = b2.input("t", f32({2, 2}));
  Tensor idx = b2.input("i", i32({1}));
  int line = __LINE__ + 1;
  Tensor got = gather(table, idx);
  b2.output("g", got);
  Expected<InterpreterResult> bad =
      interpret(g2, {{"t", ref(f32({2, 2}), {1, 2, 3, 4})}, {"i", ref(i32({1}), {9})}});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("gather"));
  CHECK_THAT(bad.error().message(), Catch::Contains("interpreter_test.cpp:" + std::to_string(line)));
}

TEST_CASE("interpreter: evaluate_node", "[interp]") {
  Graph g;
  Value a = *g.add_leaf(OpKind::Input, f64({2}), {}, {}, "a");
  Value s = *g.add(OpKind::Mul, {a, a});
  RefTensor in = ref(f64({2}), {3, -4});
  const RefTensor* ins[] = {&in, &in};
  Expected<RefTensor> out = evaluate_node(g.node(s), ins);
  REQUIRE(out.ok());
  CHECK(out->data == V{9, 16});
  CHECK(out->type == f64({2}));
  const RefTensor* one[] = {&in};
  CHECK_FALSE(evaluate_node(g.node(s), one).ok());
}

}  // namespace kiln
