// Shape/type inference: accepted cases produce the documented types; rejected cases give
// errors that name the op, the input types, the problem and the user's file:line.
#include "ir/test_util.h"

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
