// Row epilogues (codegen/row_epilogues.h): a recurrent step's gate arithmetic, which
// combines column blocks of h @ W^T, runs inside the GEMM on finished rows -- one kernel
// for the GEMM and its gates -- with the reference interpreter's results, forward and
// trained; consumers that read other rows of the product stay kernels of their own.
#include <catch2/catch.hpp>

#include "codegen/lower.h"
#include "codegen/row_epilogues.h"
#include "harness.h"
#include "passes/simplify.h"
#include "passes/training.h"

using namespace kiln;

namespace {

constexpr int64_t kBatch = 6, kHidden = 32;

// Three GRU-like steps (so W^T is shared and pre-packed, which row epilogues need): gates = h @ W^T + b ([B, 3H]); r, z from the first two column
// blocks, n = tanh(x + r * third block), h' = (1 - z) * n + z * h.
Graph gru_steps() {
  Graph g("gru_steps");
  Builder b(g);
  Tensor w = b.parameter("w", {DType::f32, Shape{3 * kHidden, kHidden}}, InitSpec::uniform(-0.3, 0.3));
  Tensor bias = b.parameter("bias", {DType::f32, Shape{3 * kHidden}}, InitSpec::uniform(-0.1, 0.1));
  Tensor x = b.input("x", {DType::f32, Shape{kBatch, kHidden}});
  Tensor h = b.input("h0", {DType::f32, Shape{kBatch, kHidden}});
  for (int t = 0; t < 3; ++t) {
    Tensor gates = matmul(h, transpose(w)) + bias;
    Tensor r = sigmoid(slice(gates, 1, 0, kHidden));
    Tensor z = sigmoid(slice(gates, 1, kHidden, 2 * kHidden));
    Tensor n = tanh(x + r * slice(gates, 1, 2 * kHidden, 3 * kHidden));
    h = (1.0 - z) * n + z * h;
  }
  b.output("h", h);
  b.output("loss", sum(h * h));
  REQUIRE(b.status().ok());
  return g;
}

int row_loops(const LoweredProgram& lp) {
  int n = 0;
  for (const kir::Kernel& k : lp.prog.kernels)
    if (const kir::ContractionKernel* c = k.contraction()) n += static_cast<int>(c->row_loops.size());
  return n;
}

}  // namespace

TEST_CASE("a recurrent step's gates run in the GEMM's row epilogue", "[codegen][gemm]") {
  Graph g = gru_steps();
  Expected<LoweredProgram> fused = lower_graph(g);
  REQUIRE(fused.ok());
  INFO(kir::print_program(fused->prog));
  CHECK(row_loops(*fused) >= 3);
  // Forward: each step is its GEMM alone; nothing but the final loss is a loop kernel.
  int loops = 0;
  for (const kir::Kernel& k : fused->prog.kernels) loops += k.loop() != nullptr;
  CHECK(loops <= 2);
  LowerOptions off;
  off.fusion = false;
  Expected<LoweredProgram> unfused = lower_graph(g, off);
  REQUIRE(unfused.ok());
  CHECK(row_loops(*unfused) == 0);
  CHECK(test::check_parity(g) < 1e-5);
}

TEST_CASE("the gates' row epilogues train as the reference does", "[codegen][gemm]") {
  Graph g = gru_steps();
  REQUIRE(SimplifyPass().run(g).ok());
  OptimizerConfig sgd;
  sgd.lr = 0.1;
  REQUIRE(TrainingStepPass("loss", sgd).run(g).ok());
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  CHECK(row_loops(*lp) >= 3);
  test::ParityOptions o;
  o.runs = 3;
  o.rtol = 3e-5;  // three SGD steps through three steps of tanh/sigmoid gates, in f32
  // The learning rate is a state the harness would fill with noise in [-2, 2); inputs
  // in [-2, 2) would make the steps large enough to amplify f32 rounding run to run.
  o.gens["lr"] = [](std::mt19937_64&, int64_t) { return 0.1; };
  o.gens["x"] = o.gens["h0"] = [](std::mt19937_64& r, int64_t) {
    return std::uniform_real_distribution<double>(-0.5, 0.5)(r);
  };
  CHECK(test::check_parity(g, o) <= o.rtol);
}

TEST_CASE("a consumer reading other rows of the product is not a row epilogue",
          "[codegen][gemm]") {
  Graph g("other_rows");
  Builder b(g);
  Tensor w = b.parameter("w", {DType::f32, Shape{8, 8}}, InitSpec::uniform(-1, 1));
  Tensor h = b.input("h", {DType::f32, Shape{8, 8}});
  for (int t = 0; t < 3; ++t)  // w shared by three GEMMs: packed once
    h = tanh(transpose(matmul(h, w))) * 2.0;  // row i reads column i of the product
  b.output("t", h);
  REQUIRE(b.status().ok());
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  INFO(kir::print_program(lp->prog));
  int packed = 0;
  for (const kir::Kernel& k : lp->prog.kernels)
    if (const kir::ContractionKernel* c = k.contraction()) packed += c->packed_b >= 0;
  CHECK(packed == 3);
  CHECK(row_loops(*lp) == 0);
  CHECK(test::check_parity(g) < 1e-5);
}
