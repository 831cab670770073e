// Row kernels (codegen/row_kernels.h): a row's reductions and the elementwise work that
// reads them run as one kernel, one block of rows at a time -- softmax cross-entropy
// and its gradient, layer norm -- with the reference interpreter's results; a loop that
// reads other rows, or a value computed by a kernel it would have to jump ahead of,
// stays out.
#include <catch2/catch.hpp>

#include "codegen/lower.h"
#include "frontend/losses.h"
#include "harness.h"
#include "passes/simplify.h"
#include "passes/training.h"

using namespace kiln;

namespace {

constexpr int64_t kRows = 40, kFeatures = 12, kClasses = 10;

// Row kernels over more than one row (a one-row kernel is a serial group,
// codegen/serial_kernels.h).
const kir::RowKernel* rows_of(const kir::Kernel& k) {
  const kir::RowKernel* r = k.row_kernel();
  return r && r->rows > 1 ? r : nullptr;
}

const kir::RowKernel* only_row_kernel(const LoweredProgram& lp) {
  const kir::RowKernel* found = nullptr;
  int n = 0;
  for (const kir::Kernel& k : lp.prog.kernels)
    if (const kir::RowKernel* r = rows_of(k)) found = r, ++n;
  return n == 1 ? found : nullptr;
}

int row_kernels(const LoweredProgram& lp) {
  int n = 0;
  for (const kir::Kernel& k : lp.prog.kernels) n += rows_of(k) != nullptr;
  return n;
}

void train(Graph& g) {
  REQUIRE(SimplifyPass().run(g).ok());
  OptimizerConfig sgd;
  sgd.lr = 0.1;
  REQUIRE(TrainingStepPass("loss", sgd).run(g).ok());
  REQUIRE(SimplifyPass().run(g).ok());
}

test::ParityOptions training_parity() {
  test::ParityOptions o;
  o.runs = 3;
  o.gens["lr"] = [](std::mt19937_64&, int64_t) { return 0.1; };
  return o;
}

// A linear classifier's training step: logits = x @ W + b, softmax cross-entropy.
Graph classifier_step() {
  Graph g("classifier");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{kRows, kFeatures}});
  Tensor y = b.input("y", {DType::i32, Shape{kRows}});
  Tensor w = b.parameter("w", {DType::f32, Shape{kFeatures, kClasses}}, InitSpec::uniform(-0.5, 0.5));
  Tensor bias = b.parameter("b", {DType::f32, Shape{kClasses}}, InitSpec::zeros());
  b.output("loss", softmax_cross_entropy(add(matmul(x, w), bias), y));
  REQUIRE(b.ok());
  train(g);
  return g;
}

}  // namespace

TEST_CASE("softmax cross-entropy and its gradient are one row kernel", "[codegen][rows]") {
  Graph g = classifier_step();
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  INFO(kir::print_program(lp->prog));
  const kir::RowKernel* rows = only_row_kernel(*lp);
  REQUIRE(rows != nullptr);
  CHECK(rows->rows == kRows);
  // max, exp, sum, picked logit, 1/sum (or its scale), the gradient: reductions and the
  // elementwise loops reading them.
  int reductions = 0;
  for (const kir::LoopKernel& l : rows->loops) reductions += l.reduce != kir::ReduceOp::None;
  CHECK(rows->loops.size() >= 5);
  CHECK(reductions >= 3);
  // Outside the GEMMs: the row kernel, the mean over rows, the bias gradient's column
  // sum and the bias update.
  int others = 0;
  for (const kir::Kernel& k : lp->prog.kernels) others += k.contraction() == nullptr;
  CHECK(others <= 4);

  LowerOptions off;
  off.fusion = false;
  Expected<LoweredProgram> unfused = lower_graph(g, off);
  REQUIRE(unfused.ok());
  CHECK(row_kernels(*unfused) == 0);

  test::ParityOptions o = training_parity();
  o.gens["y"] = [](std::mt19937_64& r, int64_t) {  // labels, some out of range
    return double(std::uniform_int_distribution<int>(-1, int(kClasses))(r));
  };
  CHECK(test::check_parity(g, o) < 1e-5);
}

TEST_CASE("layer norm over rows is one row kernel, forward and trained", "[codegen][rows]") {
  Graph g("layer_norm");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{kRows, 3, kFeatures}});
  Tensor gamma = b.parameter("gamma", {DType::f32, Shape{kFeatures}}, InitSpec::uniform(0.5, 1.5));
  Tensor beta = b.parameter("beta", {DType::f32, Shape{kFeatures}}, InitSpec::uniform(-0.5, 0.5));
  Tensor mu = mean(x, {-1}, true);
  Tensor d = x - mu;
  Tensor var = mean(d * d, {-1}, true);
  Tensor y = d / sqrt(var + 1e-5) * gamma + beta;
  b.output("y", y);
  b.output("loss", sum(y * y * x));
  REQUIRE(b.ok());
  Expected<LoweredProgram> fwd = lower_graph(g);
  REQUIRE(fwd.ok());
  INFO(kir::print_program(fwd->prog));
  CHECK(row_kernels(*fwd) >= 1);
  CHECK(test::check_parity(g) < 1e-5);

  train(g);
  Expected<LoweredProgram> step = lower_graph(g);
  REQUIRE(step.ok());
  CHECK(row_kernels(*step) >= 1);
  test::ParityOptions o = training_parity();
  o.rtol = 2e-5;  // three SGD steps through 1/sqrt(var) in f32
  CHECK(test::check_parity(g, o) <= o.rtol);
}

TEST_CASE("a loop reading other rows, or a value it cannot run ahead of, stays out",
          "[codegen][rows]") {
  Graph g("not_rows");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{kRows, kClasses}});
  Tensor row_max = max(x, {1}, true);                 // a row reduction: starts a group
  Tensor col_mean = mean(x, {0}, true);               // over the rows: cannot join
  Tensor shifted = exp(x - row_max) * col_mean;       // reads col_mean: cannot jump ahead
  // Row i reads row i + 1 of row_max: not row-local.
  Tensor rotated = concat({slice(row_max, 0, 1, kRows), slice(row_max, 0, 0, 1)}, 0);
  b.output("shifted", shifted);
  b.output("rotated", exp(x - rotated));
  REQUIRE(b.ok());
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  INFO(kir::print_program(lp->prog));
  for (const kir::Kernel& k : lp->prog.kernels) {
    const kir::RowKernel* r = rows_of(k);
    if (!r) continue;
    for (const kir::LoopKernel& l : r->loops) {
      CHECK(lp->prog.buffers[l.out_buffer].name != "shifted");
      CHECK(lp->prog.buffers[l.out_buffer].name != "rotated");
    }
  }
  CHECK(test::check_parity(g) < 1e-5);
}
