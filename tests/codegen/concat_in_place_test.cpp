// Concatenation by placement (codegen/concat_in_place.h): a kernel that only stacks other
// kernels' outputs is replaced by writing each piece into its slice of the stack, with
// the same results as the reference interpreter, also when the pieces are read by other
// kernels (a matmul, an elementwise consumer) and when the stack is reshaped; pieces that
// would interleave, start off the 64-byte alignment, repeat, or are graph outputs keep
// the copying kernel.
#include <catch2/catch.hpp>

#include "codegen/concat_in_place.h"
#include "codegen/lower.h"
#include "harness.h"
#include "passes/training.h"

using namespace kiln;

namespace {

// Placements lower_graph made, read from the lowered program's counter.
int placed(const Graph& g) {
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  return lp->placed_concats;
}

// The recurrences compound f32 rounding over their steps (the reference sums in double).
test::ParityOptions tolerant() {
  test::ParityOptions o;
  o.rtol = 2e-4;
  return o;
}

// x [T*B, H] -> T steps h_t = tanh(x_t + h_{t-1} @ W), like an unrolled RNN; returns the
// steps (each [B, H]) for stacking.
std::vector<Tensor> steps(Builder& b, const Tensor& x, const Tensor& w, int64_t T, int64_t B) {
  std::vector<Tensor> hs;
  Tensor h = slice(x, 0, 0, B) * 0.0;
  for (int64_t t = 0; t < T; ++t) {
    h = tanh(slice(x, 0, t * B, (t + 1) * B) + matmul(h, w));
    hs.push_back(h);
  }
  return hs;
}

}  // namespace

TEST_CASE("stacked steps are written in place and match the reference", "[codegen][concat]") {
  for (int64_t H : {16, 48}) {  // 16 floats per row: 32 rows of B = 2 KB pieces
    INFO("H " << H);
    Graph g("stack");
    Builder b(g);
    const int64_t T = 5, B = 32;
    Tensor x = b.input("x", {DType::f32, Shape{T * B, H}});
    Tensor w = b.input("w", {DType::f32, Shape{H, H}});
    std::vector<Tensor> hs = steps(b, x, w, T, B);
    // The stack along axis 0 feeds a matmul (the output layer); the pieces also feed the
    // next step's matmul and a reduction.
    Tensor stacked = concat(hs, 0);                       // [T*B, H]
    b.output("y", matmul(stacked, w));
    b.output("last_sum", sum(hs.back()));
    // A stack reshaped from [T, B, H] pieces of [1, B, H] also qualifies (the pieces are
    // stored because something else reads them too).
    std::vector<Tensor> pieces;
    Tensor total = b.scalar(0.0, DType::f32);
    for (const Tensor& h : hs) {
      Tensor e = exp(h);
      total = total + sum(e);
      pieces.push_back(reshape(e, Shape{1, B, H}));
    }
    b.output("z", matmul(reshape(concat(pieces, 0), Shape{T * B, H}), w));
    b.output("total", total);
    REQUIRE(b.status().ok());
    CHECK(placed(g) == 2);
    CHECK(test::check_parity(g, tolerant()) < 1e-4);
  }
}

TEST_CASE("stacks that cannot be placed keep their copy and stay correct", "[codegen][concat]") {
  const int64_t T = 4, B = 32, H = 16;
  SECTION("along an inner axis the pieces interleave") {
    Graph g("inner");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{T * B, H}});
    Tensor w = b.input("w", {DType::f32, Shape{H, H}});
    b.output("y", sum(concat(steps(b, x, w, T, B), 1) * 3.0, {0}));
    REQUIRE(b.status().ok());
    CHECK(placed(g) == 0);
    CHECK(test::check_parity(g, tolerant()) < 1e-4);
  }
  SECTION("a piece that is not 64-byte aligned") {
    Graph g("unaligned");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{T * 3, H + 1}});
    Tensor w = b.input("w", {DType::f32, Shape{H + 1, H + 1}});
    b.output("y", sum(concat(steps(b, x, w, T, 3), 0), {0}));  // 3 x 17 floats = 204 bytes
    REQUIRE(b.status().ok());
    CHECK(placed(g) == 0);
    CHECK(test::check_parity(g, tolerant()) < 1e-4);
  }
  SECTION("a repeated piece, or one that is a graph output") {
    Graph g("repeat");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{T * B, H}});
    Tensor w = b.input("w", {DType::f32, Shape{H, H}});
    std::vector<Tensor> hs = steps(b, x, w, T, B);
    b.output("twice", sum(concat({hs[0], hs[1], hs[0]}, 0), {0}));
    b.output("h2", hs[2]);
    b.output("y", sum(concat({hs[2], hs[3]}, 0), {0}));
    REQUIRE(b.status().ok());
    CHECK(placed(g) == 0);
    CHECK(test::check_parity(g, tolerant()) < 1e-4);
  }
}

TEST_CASE("a recurrent training step places its stacks and matches the reference",
          "[codegen][concat]") {
  // The unrolled steps, their stacked output layer and the per-step weight gradients,
  // through the training pass, over two runs (the weights change in between).
  Graph g("rnn_step");
  Builder b(g);
  const int64_t T = 4, B = 16, H = 16;
  Tensor x = b.input("x", {DType::f32, Shape{T * B, H}});
  Tensor w = b.parameter("w", {DType::f32, Shape{H, H}}, InitSpec::uniform(-0.3, 0.3));
  Tensor v = b.parameter("v", {DType::f32, Shape{H, 4}}, InitSpec::uniform(-0.3, 0.3));
  Tensor out = matmul(concat(steps(b, x, w, T, B), 0), v);
  b.output("loss", mean(out * out));
  REQUIRE(b.status().ok());
  OptimizerConfig sgd;
  sgd.lr = 0.1;
  REQUIRE(TrainingStepPass("loss", sgd).run(g).ok());
  CHECK(placed(g) >= 1);
  test::ParityOptions o = tolerant();
  o.runs = 2;
  CHECK(test::check_parity(g, o) < 1e-4);
}
