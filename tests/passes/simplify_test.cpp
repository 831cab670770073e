// simplify pass on small textual graphs: text in, expected text out, and graphs that
// must not change.
#include <catch2/catch.hpp>

#include <cmath>

#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/tensor_ops.h"
#include "passes/simplify.h"
#include "pass_text.h"

using namespace kiln;

namespace {

std::string run_simplify(const std::string& text) {
  SimplifyPass pass;
  return test::run_pass_on_text(pass, text);
}

using test::canonical;

}  // namespace

TEST_CASE("simplify folds constant arithmetic into a splat", "[simplify]") {
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[4]
  %1 = constant() {value=2.0} : f32[4]
  %2 = constant() {value=3.0} : f32[4]
  %3 = mul(%1, %2) : f32[4]
  %4 = add(%0, %3) : f32[4]
  output "y" = %4
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[4]
  %1 = constant() {value=6.0} : f32[4]
  %2 = add(%0, %1) : f32[4]
  output "y" = %2
})";
  CHECK(run_simplify(in) == canonical(want));
}

TEST_CASE("simplify merges common subexpressions", "[simplify]") {
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[3]
  %1 = exp(%0) : f32[3]
  %2 = exp(%0) : f32[3]
  %3 = add(%1, %2) : f32[3]
  output "y" = %3
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[3]
  %1 = exp(%0) : f32[3]
  %2 = add(%1, %1) : f32[3]
  output "y" = %2
})";
  CHECK(run_simplify(in) == canonical(want));
}

TEST_CASE("simplify removes dead code and identities", "[simplify]") {
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[2,3]
  %1 = constant() {value=1.0} : f32[2,3]
  %2 = mul(%0, %1) : f32[2,3]
  %3 = log(%0) : f32[2,3]
  %4 = reshape(%2) {shape=[3,2]} : f32[3,2]
  %5 = reshape(%4) {shape=[6]} : f32[6]
  output "y" = %5
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[2,3]
  %1 = reshape(%0) {shape=[6]} : f32[6]
  output "y" = %1
})";
  CHECK(run_simplify(in) == canonical(want));
}

TEST_CASE("simplify composes permutes and drops identity permutes", "[simplify]") {
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[2,3,4]
  %1 = permute(%0) {perm=[2,0,1]} : f32[4,2,3]
  %2 = permute(%1) {perm=[1,2,0]} : f32[2,3,4]
  output "y" = %2
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[2,3,4]
  output "y" = %0
})";
  CHECK(run_simplify(in) == canonical(want));
}

TEST_CASE("simplify leaves random ops, NaN-sensitive products and states alone", "[simplify]") {
  // x * 0 must stay (NaN * 0 = NaN); two rng draws are distinct; the state update stays.
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[3]
  %1 = constant() {value=0.0} : f32[3]
  %2 = mul(%0, %1) : f32[3]
  %3 = state() {init="zeros", init_a=0.0, init_b=0.0, kind="step_counter", name="step"} : i64[]
  %4 = rng_uniform(%3) {dtype=f32, key=0, seed=1, shape=[3]} : f32[3]
  %5 = rng_uniform(%3) {dtype=f32, key=0, seed=1, shape=[3]} : f32[3]
  %6 = add(%4, %5) : f32[3]
  %7 = add(%2, %6) : f32[3]
  %8 = constant() {value=1.0} : i64[]
  %9 = add(%3, %8) : i64[]
  output "y" = %7
  update %3 = %9
})";
  CHECK(run_simplify(in) == canonical(in));
}

TEST_CASE("simplify folds small non-splat constants but not large ones", "[simplify]") {
  std::string in = R"(graph t {
  %0 = constant() {data=f[1.0,2.0,3.0]} : f32[3]
  %1 = neg(%0) : f32[3]
  output "y" = %1
})";
  std::string folded = R"(graph t {
  %0 = constant() {data=f[-1.0,-2.0,-3.0]} : f32[3]
  output "y" = %0
})";
  CHECK(run_simplify(in) == canonical(folded));
  Expected<Graph> g = parse_graph(in);
  REQUIRE(g.ok());
  SimplifyOptions small;
  small.max_folded_elements = 2;
  SimplifyPass pass(small);
  REQUIRE(pass.run(*g).ok());
  CHECK(print_graph(*g) == canonical(in));
}

TEST_CASE("simplify keeps stop_gradient, so autodiff after it still stops", "[simplify]") {
  // stop_gradient(x) is x in value, but forwarding it would let gradients through.
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[3]
  %1 = stop_gradient(%0) : f32[3]
  %2 = mul(%0, %1) : f32[3]
  output "y" = %2
})";
  CHECK(run_simplify(in) == canonical(in));
}

TEST_CASE("simplify drops a pad that pads nothing and folds a pad of constants",
          "[simplify]") {
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[2,3]
  %1 = pad(%0) {high=[0,0], low=[0,0], value=1.0} : f32[2,3]
  %2 = constant() {data=f[1.0,2.0]} : f32[2]
  %3 = pad(%2) {high=[1], low=[2], value=-1.0} : f32[5]
  output "y" = %1
  output "z" = %3
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[2,3]
  %1 = constant() {data=f[-1.0,-1.0,1.0,2.0,-1.0]} : f32[5]
  output "y" = %0
  output "z" = %1
})";
  CHECK(run_simplify(in) == canonical(want));
}

// Issue 12 item 8: folding expanded splat inputs into whole tensors of doubles
// (f32[10000,10000]: 800 MB; bigger ones aborted with bad_alloc).
TEST_CASE("simplify keeps splat expressions splats at any size, in O(1) memory", "[simplify]") {
  // 10^10 elements: expanding any of these would need 80 GB.
  const Shape big{100000, 100000};
  Graph g("fold");
  Builder b(g);
  Tensor c = b.constant(1.5, {DType::f32, big});
  Tensor e = exp(c * 2.0 + 1.0);                         // splat in, splat out: folded
  Tensor t = broadcast_to(reshape(e, Shape{100000, 1, 100000}), Shape{100000, 2, 100000});
  b.output("e", cast(t, DType::f64));
  b.output("s", sum(e, {1}));  // a reduction of a huge splat: left to the compiled code
  b.output("m", max(e));
  REQUIRE(b.ok());
  SimplifyPass pass;
  Expected<bool> changed = pass.run(g);
  REQUIRE(changed.ok());
  INFO(print_graph(g));
  const Node& eo = g.node(g.outputs()[0].value);
  REQUIRE(eo.op == OpKind::Constant);
  CHECK(eo.type == TensorType{DType::f64, Shape{100000, 2, 100000}});
  REQUIRE(splat_value(eo));
  CHECK(*splat_value(eo) == static_cast<double>(std::exp(4.0f)));
  for (int i : {1, 2}) {
    const Node& r = g.node(g.outputs()[i].value);
    CHECK((r.op == OpKind::ReduceSum || r.op == OpKind::ReduceMax));
    const Node& in = g.node(r.inputs[0]);
    CHECK(in.op == OpKind::Constant);
    CHECK(splat_value(in));
  }
}

TEST_CASE("simplify folds non-splat results only from small inputs", "[simplify]") {
  auto build = [](Graph& g, int64_t rows) {
    Builder b(g);
    Tensor c = b.constant(0.25, {DType::f32, Shape{rows, 256}});
    b.output("s", sum(c * 3.0, {1}));
    REQUIRE(b.ok());
  };
  // 16 x 256 inputs: folded into a constant.
  Graph small("small");
  build(small, 16);
  REQUIRE(SimplifyPass().run(small).ok());
  CHECK(small.node(small.outputs()[0].value).op == OpKind::Constant);
  // 512 x 256 = 131072 input elements > 2^16: the reduction stays (its input is a splat).
  Graph large("large");
  build(large, 512);
  REQUIRE(SimplifyPass().run(large).ok());
  const Node& r = large.node(large.outputs()[0].value);
  CHECK(r.op == OpKind::ReduceSum);
  CHECK(splat_value(large.node(r.inputs[0])) == 0.75);
  // The limit is an option.
  Graph limited("limited");
  build(limited, 16);
  SimplifyOptions o;
  o.max_folded_input_elements = 1000;
  REQUIRE(SimplifyPass(o).run(limited).ok());
  CHECK(limited.node(limited.outputs()[0].value).op == OpKind::ReduceSum);
}

TEST_CASE("simplify turns sums of disjoint pads into one concat", "[simplify]") {
  // The gradient of three slices tiling axis 0 (time steps) and of two slices of axis 1
  // with a gap: one concat each, zeros in the gap, nothing left of the pads.
  std::string in = R"(graph t {
  %0 = input() {name="a"} : f32[1,4]
  %1 = input() {name="b"} : f32[1,4]
  %2 = input() {name="c"} : f32[1,4]
  %3 = pad(%0) {high=[2,0], low=[0,0], value=0.0} : f32[3,4]
  %4 = pad(%1) {high=[1,0], low=[1,0], value=0.0} : f32[3,4]
  %5 = pad(%2) {high=[0,0], low=[2,0], value=0.0} : f32[3,4]
  %6 = add(%3, %5) : f32[3,4]
  %7 = add(%6, %4) : f32[3,4]
  output "y" = %7
})";
  std::string want = R"(graph t {
  %0 = input() {name="a"} : f32[1,4]
  %1 = input() {name="b"} : f32[1,4]
  %2 = input() {name="c"} : f32[1,4]
  %3 = concat(%0, %1, %2) {axis=0} : f32[3,4]
  output "y" = %3
})";
  CHECK(run_simplify(in) == canonical(want));

  std::string gap = R"(graph t {
  %0 = input() {name="a"} : f32[2,1]
  %1 = input() {name="b"} : f32[2,2]
  %2 = pad(%1) {high=[0,0], low=[0,3], value=0.0} : f32[2,5]
  %3 = pad(%0) {high=[0,4], low=[0,0], value=0.0} : f32[2,5]
  %4 = add(%2, %3) : f32[2,5]
  output "y" = %4
})";
  std::string gap_want = R"(graph t {
  %0 = input() {name="a"} : f32[2,1]
  %1 = input() {name="b"} : f32[2,2]
  %2 = constant() {value=0.0} : f32[2,2]
  %3 = concat(%0, %2, %1) {axis=1} : f32[2,5]
  output "y" = %3
})";
  CHECK(run_simplify(gap) == canonical(gap_want));
}

TEST_CASE("simplify keeps sums of overlapping or non-zero pads", "[simplify]") {
  for (const char* text : {
           // Overlapping rows.
           R"(graph t {
  %0 = input() {name="a"} : f32[2,4]
  %1 = input() {name="b"} : f32[2,4]
  %2 = pad(%0) {high=[1,0], low=[0,0], value=0.0} : f32[3,4]
  %3 = pad(%1) {high=[0,0], low=[1,0], value=0.0} : f32[3,4]
  %4 = add(%2, %3) : f32[3,4]
  output "y" = %4
})",
           // Padded along two different axes.
           R"(graph t {
  %0 = input() {name="a"} : f32[1,4]
  %1 = input() {name="b"} : f32[2,3]
  %2 = pad(%0) {high=[1,0], low=[0,0], value=0.0} : f32[2,4]
  %3 = pad(%1) {high=[0,1], low=[0,0], value=0.0} : f32[2,4]
  %4 = add(%2, %3) : f32[2,4]
  output "y" = %4
})",
           // A non-zero border.
           R"(graph t {
  %0 = input() {name="a"} : f32[1,4]
  %1 = input() {name="b"} : f32[1,4]
  %2 = pad(%0) {high=[1,0], low=[0,0], value=1.0} : f32[2,4]
  %3 = pad(%1) {high=[0,0], low=[1,0], value=0.0} : f32[2,4]
  %4 = add(%2, %3) : f32[2,4]
  output "y" = %4
})"}) {
    CHECK(run_simplify(text) == canonical(text));
  }
}

TEST_CASE("simplify sums transposed products as one product of stacked operands", "[simplify]") {
  // h1^T g1 + h2^T g2 (a recurrent weight gradient over two steps) => [h1; h2]^T [g1; g2].
  std::string in = R"(graph t {
  %0 = input() {name="h1"} : f32[2,3]
  %1 = input() {name="h2"} : f32[2,3]
  %2 = input() {name="g1"} : f32[2,4]
  %3 = input() {name="g2"} : f32[2,4]
  %4 = permute(%0) {perm=[1,0]} : f32[3,2]
  %5 = matmul(%4, %2) : f32[3,4]
  %6 = permute(%1) {perm=[1,0]} : f32[3,2]
  %7 = matmul(%6, %3) : f32[3,4]
  %8 = add(%5, %7) : f32[3,4]
  output "dw" = %8
})";
  std::string want = R"(graph t {
  %0 = input() {name="h1"} : f32[2,3]
  %1 = input() {name="h2"} : f32[2,3]
  %2 = input() {name="g1"} : f32[2,4]
  %3 = input() {name="g2"} : f32[2,4]
  %4 = concat(%0, %1) {axis=0} : f32[4,3]
  %5 = concat(%2, %3) {axis=0} : f32[4,4]
  %6 = permute(%4) {perm=[1,0]} : f32[3,4]
  %7 = matmul(%6, %5) : f32[3,4]
  output "dw" = %7
})";
  CHECK(run_simplify(in) == canonical(want));
  // A product that is also used elsewhere stays: merging would compute it twice.
  std::string shared = R"(graph t {
  %0 = input() {name="h1"} : f32[2,3]
  %1 = input() {name="h2"} : f32[2,3]
  %2 = input() {name="g1"} : f32[2,4]
  %3 = input() {name="g2"} : f32[2,4]
  %4 = permute(%0) {perm=[1,0]} : f32[3,2]
  %5 = matmul(%4, %2) : f32[3,4]
  %6 = permute(%1) {perm=[1,0]} : f32[3,2]
  %7 = matmul(%6, %3) : f32[3,4]
  %8 = add(%5, %7) : f32[3,4]
  output "dw" = %8
  output "p" = %5
})";
  CHECK(run_simplify(shared) == canonical(shared));
}

TEST_CASE("simplify computes a transposed product in the transposed layout", "[simplify]") {
  // (h^T g)^T, the gradient of W in h @ W^T => g^T h: the GEMM writes W's layout.
  std::string in = R"(graph t {
  %0 = input() {name="h"} : f32[2,3]
  %1 = input() {name="g"} : f32[2,4]
  %2 = permute(%0) {perm=[1,0]} : f32[3,2]
  %3 = matmul(%2, %1) : f32[3,4]
  %4 = permute(%3) {perm=[1,0]} : f32[4,3]
  output "dw" = %4
})";
  std::string want = R"(graph t {
  %0 = input() {name="h"} : f32[2,3]
  %1 = input() {name="g"} : f32[2,4]
  %2 = permute(%1) {perm=[1,0]} : f32[4,2]
  %3 = matmul(%2, %0) : f32[4,3]
  output "dw" = %3
})";
  CHECK(run_simplify(in) == canonical(want));
  // A product also used as it is stays, and so does its transpose.
  std::string shared = R"(graph t {
  %0 = input() {name="a"} : f32[2,3]
  %1 = input() {name="b"} : f32[3,4]
  %2 = matmul(%0, %1) : f32[2,4]
  %3 = permute(%2) {perm=[1,0]} : f32[4,2]
  output "p" = %2
  output "pt" = %3
})";
  CHECK(run_simplify(shared) == canonical(shared));
}
