// Shape/type inference: accepted cases produce the documented types; rejected cases give
// errors that name the op, the input types, the problem and the user's file:line.
#include "ir/test_util.h"
#include "ir/printer.h"

namespace kiln {
namespace {

TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }
TensorType i32(std::vector<int64_t> d) { return TensorType{DType::i32, Shape(std::move(d))}; }

struct Fixture {
  Graph g;
  Value in(TensorType t) {
    std::string name = "x" + std::to_string(g.size());
    return *g.add_leaf(OpKind::Input, std::move(t), {}, {}, name);
  }
  Expected<TensorType> infer(OpKind op, std::vector<TensorType> ins, AttrMap attrs = {}) {
    std::vector<Value> vs;
    for (TensorType& t : ins) vs.push_back(in(std::move(t)));
    Value v = KILN_TRY(g.add(op, vs, std::move(attrs)));
    return g.type(v);
  }
};

std::string error_of(const Expected<TensorType>& t) { return t.ok() ? "" : t.error().message(); }

}  // namespace

TEST_CASE("shape inference: a wrong matmul names op, shapes and the user's line", "[infer]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f32({2, 3}));
  Tensor w = b.input("w", f32({4, 5}));
  int line = __LINE__ + 1;
  Tensor y = matmul(x, w);
  CHECK_FALSE(y.valid());
  REQUIRE_FALSE(b.ok());
  std::string msg = b.status().error().message();
  CHECK_THAT(msg, Catch::Contains("matmul"));
  CHECK_THAT(msg, Catch::Contains("f32[2,3]"));
  CHECK_THAT(msg, Catch::Contains("f32[4,5]"));
  CHECK_THAT(msg, Catch::Contains("contraction dims differ: 3 vs 4"));
  CHECK_THAT(msg, Catch::Contains("shape_infer_test.cpp:" + std::to_string(line)));
}

TEST_CASE("shape inference: a bad pad names op, input, padding and the user's line",
          "[infer]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f32({2, 3}));
  int line = __LINE__ + 1;
  Tensor y = pad(x, {0, -1}, {1, 1});
  CHECK_FALSE(y.valid());
  REQUIRE_FALSE(b.ok());
  std::string msg = b.status().error().message();
  CHECK_THAT(msg, Catch::Contains("pad(f32[2,3])"));
  CHECK_THAT(msg, Catch::Contains("padding must be >= 0, got low [0,-1] high [1,1]"));
  CHECK_THAT(msg, Catch::Contains("shape_infer_test.cpp:" + std::to_string(line)));
}

TEST_CASE("shape inference: elementwise", "[infer]") {
  Fixture f;
  CHECK(*f.infer(OpKind::Add, {f32({2, 3}), f32({2, 3})}) == f32({2, 3}));
  CHECK(*f.infer(OpKind::Add, {i32({4}), i32({4})}) == i32({4}));
  CHECK(*f.infer(OpKind::Lt, {f32({2}), f32({2})}) == TensorType{DType::boolean, Shape{2}});
  CHECK(*f.infer(OpKind::Exp, {f32({})}) == f32({}));
  CHECK(*f.infer(OpKind::Cast, {f32({3})}, {{"dtype", DType::i64}}) ==
        TensorType{DType::i64, Shape{3}});
  TensorType bools{DType::boolean, Shape{2}};
  CHECK(*f.infer(OpKind::Select, {bools, f32({2}), f32({2})}) == f32({2}));
  CHECK(*f.infer(OpKind::And, {bools, bools}) == bools);
  CHECK(*f.infer(OpKind::Not, {bools}) == bools);
  CHECK(*f.infer(OpKind::StopGradient, {f32({2, 3})}) == f32({2, 3}));
  CHECK(*f.infer(OpKind::StopGradient, {i32({4})}) == i32({4}));
  CHECK(*f.infer(OpKind::StopGradient, {bools}) == bools);

  auto e1 = f.infer(OpKind::Add, {f32({2, 3}), f32({3})});
  CHECK_THAT(error_of(e1), Catch::Contains("add(f32[2,3], f32[3])"));
  CHECK_THAT(error_of(e1), Catch::Contains("shapes differ: [2,3] vs [3]"));
  CHECK_THAT(error_of(f.infer(OpKind::Mul, {f32({2}), i32({2})})),
             Catch::Contains("dtypes differ: f32 vs i32"));
  CHECK_THAT(error_of(f.infer(OpKind::Exp, {i32({2})})), Catch::Contains("must be f32 or f64"));
  CHECK_THAT(error_of(f.infer(OpKind::Pow, {i32({2}), i32({2})})),
             Catch::Contains("must be f32 or f64"));
  CHECK_THAT(error_of(f.infer(OpKind::Add, {bools, bools})), Catch::Contains("numeric"));
  CHECK_THAT(error_of(f.infer(OpKind::Select, {f32({2}), f32({2}), f32({2})})),
             Catch::Contains("condition must be bool"));
  CHECK_THAT(error_of(f.infer(OpKind::Not, {f32({2})})), Catch::Contains("must be bool"));
  CHECK_THAT(error_of(f.infer(OpKind::Add, {f32({2})})), Catch::Contains("takes 2 inputs, got 1"));
  CHECK_THAT(error_of(f.infer(OpKind::Cast, {f32({2})})),
             Catch::Contains("missing attribute 'dtype'"));
}

TEST_CASE("shape inference: data movement", "[infer]") {
  Fixture f;
  CHECK(*f.infer(OpKind::Broadcast, {f32({3, 1})}, {{"shape", std::vector<int64_t>{2, 3, 4}}}) ==
        f32({2, 3, 4}));
  CHECK_THAT(error_of(f.infer(OpKind::Broadcast, {f32({3, 2})},
                              {{"shape", std::vector<int64_t>{3, 4}}})),
             Catch::Contains("cannot broadcast [3,2] to [3,4]"));
  CHECK_THAT(error_of(f.infer(OpKind::Broadcast, {f32({3, 2})},
                              {{"shape", std::vector<int64_t>{2}}})),
             Catch::Contains("lower rank"));
  CHECK(*f.infer(OpKind::Reshape, {f32({2, 6})}, {{"shape", std::vector<int64_t>{3, 4}}}) ==
        f32({3, 4}));
  CHECK_THAT(error_of(f.infer(OpKind::Reshape, {f32({2, 6})},
                              {{"shape", std::vector<int64_t>{5, 2}}})),
             Catch::Contains("cannot reshape [2,6] (12 elements) to [5,2] (10 elements)"));
  CHECK(*f.infer(OpKind::Permute, {f32({2, 3, 4})}, {{"perm", std::vector<int64_t>{2, 0, 1}}}) ==
        f32({4, 2, 3}));
  CHECK_THAT(error_of(f.infer(OpKind::Permute, {f32({2, 3})},
                              {{"perm", std::vector<int64_t>{0, 0}}})),
             Catch::Contains("not a permutation"));
  AttrMap sl{{"start", std::vector<int64_t>{1, 0}},
             {"stop", std::vector<int64_t>{6, 3}},
             {"step", std::vector<int64_t>{2, 1}}};
  CHECK(*f.infer(OpKind::Slice, {f32({7, 3})}, sl) == f32({3, 3}));
  CHECK_THAT(error_of(f.infer(OpKind::Slice, {f32({5, 3})}, sl)),
             Catch::Contains("0 <= start <= stop <= 5"));
  AttrMap bad_step = sl;
  bad_step.set("step", std::vector<int64_t>{0, 1});
  CHECK_THAT(error_of(f.infer(OpKind::Slice, {f32({7, 3})}, bad_step)),
             Catch::Contains("step must be >= 1"));
  AttrMap pd{{"low", std::vector<int64_t>{1, 0}},
             {"high", std::vector<int64_t>{2, 3}},
             {"value", 0.5}};
  CHECK(*f.infer(OpKind::Pad, {f32({4, 2})}, pd) == f32({7, 5}));
  CHECK(*f.infer(OpKind::Pad, {i32({0, 2})}, pd) == i32({3, 5}));
  CHECK_THAT(error_of(f.infer(OpKind::Pad, {f32({4, 2, 1})}, pd)),
             Catch::Contains("low/high need one entry per axis of [4,2,1], got low [1,0] "
                             "high [2,3]"));
  AttrMap neg_pad = pd;
  neg_pad.set("high", std::vector<int64_t>{2, -1});
  CHECK_THAT(error_of(f.infer(OpKind::Pad, {f32({4, 2})}, neg_pad)),
             Catch::Contains("axis 1: padding must be >= 0"));
  AttrMap short_low = pd;
  short_low.set("low", std::vector<int64_t>{1});
  CHECK_THAT(error_of(f.infer(OpKind::Pad, {f32({4, 2})}, short_low)),
             Catch::Contains("one entry per axis"));
  CHECK(*f.infer(OpKind::Concat, {f32({2, 1}), f32({2, 3})}, {{"axis", int64_t{1}}}) ==
        f32({2, 4}));
  CHECK_THAT(error_of(f.infer(OpKind::Concat, {f32({2, 1}), f32({3, 3})}, {{"axis", int64_t{1}}})),
             Catch::Contains("does not match input 0 shape [2,1]"));
  CHECK_THAT(error_of(f.infer(OpKind::Concat, {f32({2})}, {{"axis", int64_t{1}}})),
             Catch::Contains("axis 1 out of range"));
}

TEST_CASE("shape inference: reductions, matmul, indexing", "[infer]") {
  Fixture f;
  AttrMap ax{{"axes", std::vector<int64_t>{0, 2}}};
  CHECK(*f.infer(OpKind::ReduceSum, {f32({2, 3, 4})}, ax) == f32({3}));
  AttrMap keep{{"axes", std::vector<int64_t>{0, 2}}, {"keepdims", int64_t{1}}};
  CHECK(*f.infer(OpKind::ReduceMax, {f32({2, 3, 4})}, keep) == f32({1, 3, 1}));
  CHECK_THAT(error_of(f.infer(OpKind::ReduceSum, {f32({2, 3})},
                              {{"axes", std::vector<int64_t>{1, 0}}})),
             Catch::Contains("sorted and unique"));
  CHECK_THAT(error_of(f.infer(OpKind::ReduceSum, {f32({2, 3})},
                              {{"axes", std::vector<int64_t>{2}}})),
             Catch::Contains("axis 2 out of range for rank 2"));
  CHECK_THAT(error_of(f.infer(OpKind::ReduceMean, {i32({2})}, {{"axes", std::vector<int64_t>{0}}})),
             Catch::Contains("must be f32 or f64"));

  CHECK(*f.infer(OpKind::Matmul, {f32({5, 2, 3}), f32({5, 3, 4})}) == f32({5, 2, 4}));
  CHECK_THAT(error_of(f.infer(OpKind::Matmul, {f32({5, 2, 3}), f32({4, 3, 4})})),
             Catch::Contains("batch dims differ"));
  CHECK_THAT(error_of(f.infer(OpKind::Matmul, {f32({3}), f32({3, 4})})),
             Catch::Contains("rank >= 2"));
  CHECK_THAT(error_of(f.infer(OpKind::Matmul, {f32({2, 3}), f32({4, 5})})),
             Catch::Contains("contraction dims differ: 3 vs 4"));

  CHECK(*f.infer(OpKind::Gather, {f32({10, 4}), i32({2, 3})}) == f32({2, 3, 4}));
  CHECK_THAT(error_of(f.infer(OpKind::Gather, {f32({10, 4}), f32({2})})),
             Catch::Contains("indices must be i32 or i64"));
  CHECK(*f.infer(OpKind::OneHot, {i32({3})}, {{"depth", int64_t{5}}, {"dtype", DType::f32}}) ==
        f32({3, 5}));
  CHECK(*f.infer(OpKind::ScatterAdd, {i32({2, 3}), f32({2, 3, 4})}, {{"rows", int64_t{7}}}) ==
        f32({7, 4}));
  CHECK_THAT(error_of(f.infer(OpKind::ScatterAdd, {i32({2}), f32({3, 4})}, {{"rows", int64_t{7}}})),
             Catch::Contains("must start with the indices shape [2]"));
}

TEST_CASE("shape inference: leaves", "[infer]") {
  Graph g;
  CHECK(g.add_leaf(OpKind::Constant, f32({2}), {{"data", std::vector<double>{1, 2}}}).ok());
  Expected<Value> bad = g.add_leaf(OpKind::Constant, f32({3}), {{"data", std::vector<double>{1, 2}}});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("data has 2 values but f32[3] has 3"));
  CHECK_FALSE(g.add_leaf(OpKind::Constant, f32({3})).ok());
  CHECK_FALSE(g.add_leaf(OpKind::Iota, f32({3}), {{"axis", int64_t{1}}}).ok());
  Expected<Value> init = g.add_leaf(OpKind::Parameter, f32({3}), {{"init", std::string("gauss")}},
                                    {}, "w");
  REQUIRE_FALSE(init.ok());
  CHECK_THAT(init.error().message(), Catch::Contains("unknown init 'gauss'"));
  CHECK_FALSE(g.add_leaf(OpKind::Add, f32({3})).ok());
}

}  // namespace kiln

// ---- Overflow-checked shapes (issue 12, item 5) -----------------------------------------

namespace kiln {

TEST_CASE("Shape::checked_numel and validate catch overflow and negative dims", "[infer][shape]") {
  const int64_t big = int64_t{1} << 32;
  CHECK(Shape{2, 3}.checked_numel() == 6);
  CHECK(Shape{}.checked_numel() == 1);
  CHECK(Shape{0, 5}.checked_numel() == 0);
  CHECK(Shape{big, 256}.checked_numel() == kMaxTensorElements);  // exactly the limit
  CHECK_FALSE(Shape{big, 257}.checked_numel());
  // numel() wraps to 0 here: 2^64 elements.
  CHECK(Shape{big, big}.numel() == 0);
  CHECK_FALSE(Shape{big, big}.checked_numel());
  CHECK_FALSE(Shape{1024, int64_t{1} << 30, int64_t{1} << 24}.checked_numel());
  CHECK_FALSE(Shape{INT64_MAX, INT64_MAX, 2}.checked_numel());
  CHECK_FALSE(Shape{-1, 4}.checked_numel());
  CHECK_FALSE(Shape{0, INT64_MAX}.checked_numel());  // a zero dim does not excuse a huge one
  CHECK_FALSE(Shape{0, int64_t{1} << 40, int64_t{1} << 40}.checked_numel());  // strides would overflow
  CHECK(Shape{0, int64_t{1} << 40}.checked_numel() == 0);
  CHECK_FALSE(Shape(std::vector<int64_t>(kMaxTensorRank + 1, 1)).checked_numel());
  CHECK(Shape(std::vector<int64_t>(kMaxTensorRank, 1)).checked_numel() == 1);

  CHECK(Shape{2, 3}.validate().ok());
  CHECK_THAT((Shape{big, big}).validate().error().message(),
             Catch::Contains("[4294967296,4294967296]") && Catch::Contains("1.84467e+19 elements") &&
                 Catch::Contains("2^40"));
  CHECK_THAT((Shape{-2}).validate().error().message(), Catch::Contains("negative"));

  // Bytes: f64[2^38] has 2^38 elements but 2^41 bytes.
  TensorType f64{DType::f64, Shape{int64_t{1} << 38}};
  CHECK(f64.shape.checked_numel());
  CHECK_FALSE(f64.checked_bytes());
  CHECK_THAT(f64.validate().error().message(),
             Catch::Contains("f64[274877906944]") && Catch::Contains("2199023255552 bytes") &&
                 Catch::Contains("limit of 2^40 = 1099511627776 bytes"));
  CHECK(TensorType{DType::boolean, Shape{int64_t{1} << 40}}.checked_bytes() == kMaxTensorBytes);
  CHECK_THAT(f32({big, big}).validate().error().message(),
             Catch::Contains("f32[4294967296,4294967296]") && Catch::Contains("bytes"));
}

TEST_CASE("the builder refuses leaves whose element count overflows", "[infer][shape]") {
  const int64_t big = int64_t{1} << 32;
  {
    Graph g;
    Builder b(g);
    int line = __LINE__ + 1;
    Tensor x = b.input("x", f32({big, big}));
    CHECK_FALSE(x.valid());
    REQUIRE_FALSE(b.ok());
    std::string msg = b.status().error().message();
    CHECK_THAT(msg, Catch::Contains("shape_infer_test.cpp:" + std::to_string(line)) &&
                        Catch::Contains("input 'x'") && Catch::Contains("f32[4294967296,4294967296]"));
    CHECK(g.size() == 0);
  }
  {
    Graph g;
    Builder b(g);
    b.parameter("w", f32({big, big}));
    CHECK_THAT(b.status().error().message(), Catch::Contains("parameter 'w'") && Catch::Contains("f32[4294967296"));
  }
  {
    Graph g;
    Builder b(g);
    b.state("s", f32({big, big}), StateKind::RunningStat);
    CHECK_THAT(b.status().error().message(), Catch::Contains("state 's'"));
  }
  {
    Graph g;
    Builder b(g);
    b.constant(1.0, f32({big, big}));
    CHECK_THAT(b.status().error().message(), Catch::Contains("constant") && Catch::Contains("4294967296"));
  }
  {  // numel() wraps to 0, so an empty data vector used to "match".
    Graph g;
    Builder b(g);
    b.constant_data({}, f32({big, big}));
    REQUIRE_FALSE(b.ok());
    CHECK_THAT(b.status().error().message(), Catch::Contains("f32[4294967296,4294967296]"));
  }
  {
    Graph g;
    Builder b(g);
    b.iota(TensorType{DType::i64, Shape{big, big}}, 0);
    CHECK_FALSE(b.ok());
  }
  {  // Graph::add_leaf checks too (the parser and the deserialiser call it directly).
    Graph g;
    auto v = g.add_leaf(OpKind::Input, f32({big, big}), {}, {}, "x");
    REQUIRE_FALSE(v.ok());
    CHECK_THAT(v.error().message(), Catch::Contains("f32[4294967296,4294967296]"));
    auto neg = g.add_leaf(OpKind::Input, f32({-1}), {}, {}, "y");
    REQUIRE_FALSE(neg.ok());
    CHECK_THAT(neg.error().message(), Catch::Contains("negative"));
  }
}

TEST_CASE("op results whose element count overflows are refused", "[infer][shape]") {
  const int64_t big = int64_t{1} << 32;
  Fixture f;
  // broadcast [1,1] -> [2^32, 2^32]: the result type is checked in Graph::add.
  std::string msg = error_of(f.infer(OpKind::Broadcast, {f32({1, 1})}, {{"shape", std::vector<int64_t>{big, big}}}));
  CHECK_THAT(msg, Catch::Contains("broadcast") && Catch::Contains("f32[4294967296,4294967296]"));
  // An outer product of two legal vectors.
  CHECK_THAT(error_of(f.infer(OpKind::Matmul, {f32({int64_t{1} << 30, 1}), f32({1, int64_t{1} << 30})})),
             Catch::Contains("f32[1073741824,1073741824]"));
  // reshape of an empty tensor to a shape whose product wraps to 0.
  CHECK_THAT(error_of(f.infer(OpKind::Reshape, {f32({0})}, {{"shape", std::vector<int64_t>{big, big, 0, big}}})),
             Catch::Contains("reshape"));

  // Through the DSL, with the user's line.
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f32({big, 1}));
  Tensor y = b.input("y", f32({1, big}));
  REQUIRE(b.ok());
  int line = __LINE__ + 1;
  Tensor z = x + y;
  CHECK_FALSE(z.valid());
  REQUIRE_FALSE(b.ok());
  CHECK_THAT(b.status().error().message(),
             Catch::Contains("shape_infer_test.cpp:" + std::to_string(line)) && Catch::Contains("4294967296"));
}

TEST_CASE("the textual IR parser refuses overflowing shapes", "[infer][shape][parser]") {
  for (const char* type : {"f32[4294967296,4294967296]", "f32[1024,1073741824,16777216]",
                           "f64[274877906944]", "f32[9223372036854775807,2]"}) {
    std::string text = std::string("graph g {\n  %0 = input() {name=\"x\"} : ") + type + "\n  output \"y\" = %0\n}";
    Expected<Graph> g = parse_graph(text);
    INFO(type);
    REQUIRE_FALSE(g.ok());
    CHECK_THAT(g.error().message(), Catch::Contains("2:") && Catch::Contains("limit"));
  }
  // Out of int64 range is an error too, not a wrapped dim.
  Expected<Graph> huge = parse_graph("graph g {\n  %0 = input() {name=\"x\"} : f32[99999999999999999999]\n}");
  REQUIRE_FALSE(huge.ok());
  CHECK_THAT(huge.error().message(), Catch::Contains("out of range"));
  // Non-leaf results too: broadcast to a huge shape declared as such.
  Expected<Graph> bc = parse_graph(
      "graph g {\n  %0 = input() {name=\"x\"} : f32[1,1]\n"
      "  %1 = broadcast(%0) {shape=[4294967296,4294967296]} : f32[1,1]\n  output \"y\" = %1\n}");
  REQUIRE_FALSE(bc.ok());
  CHECK_THAT(bc.error().message(), Catch::Contains("4294967296"));
}

TEST_CASE("reshape to a shape whose element count overflows is an error", "[shape]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{4}});
  Tensor r = x.builder()->op(OpKind::Reshape, {x},
                             AttrMap{{"shape", std::vector<int64_t>{int64_t{1} << 32, int64_t{1} << 32, 0}}},
                             SourceLoc::current());
  CHECK_FALSE(r.valid());
  CHECK_THAT(b.status().error().message(), Catch::Contains("too many elements"));
}

TEST_CASE("i64 rounding saturates like i32 (infinities from empty max reductions)", "[shape]") {
  CHECK(round_to_dtype(DType::i64, -INFINITY) == -9223372036854775808.0);
  CHECK(round_to_dtype(DType::i64, INFINITY) == 9223372036854775807.0);
  CHECK(round_to_dtype(DType::i64, 1e300) == 9223372036854775807.0);
  CHECK(round_to_dtype(DType::i64, -12.7) == -12.0);
}

}  // namespace kiln
