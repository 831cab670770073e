// Compiler robustness (issue 12): graphs with 0-sized dimensions (item 6), constant
// expressions too big to fold (item 8) and very long fused chains (item 13) compile and
// match the reference interpreter.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "frontend/losses.h"
#include "harness.h"
#include "passes/fusion.h"
#include "passes/simplify.h"
#include "passes/training.h"

using namespace kiln;
using namespace kiln::test;

namespace {

Graph build(const std::string& name, const std::function<void(Builder&)>& f) {
  Graph g(name);
  Builder b(g);
  f(b);
  INFO(name << ": " << (b.ok() ? std::string() : b.status().error().message()));
  REQUIRE(b.ok());
  return g;
}

TensorType f32(Shape s) { return {DType::f32, std::move(s)}; }

}  // namespace

// ---- item 6: zero-element tensors ----------------------------------------------------

TEST_CASE("constant -> reshape -> broadcast to a 0-sized shape -> mul compiles", "[codegen][zero]") {
  // The reproduction: lowering gave a rank-2 elementwise kernel over [0,3] one loop index
  // and read the second out of bounds (SIGSEGV in the kernel IR's expression pool).
  for (bool transposed : {false, true}) {
    INFO((transposed ? "transposed" : "plain"));
    Graph g = build("zero", [&](Builder& b) {
      Tensor w = b.input("w", f32(Shape{3}));
      Tensor c = reshape(b.constant(2.0, f32(Shape{})), Shape{1, 1});
      Tensor bc = broadcast_to(c, Shape{0, 3});
      Tensor y = mul(bc, broadcast_to(w, Shape{0, 3}));
      b.output("y", transposed ? transpose(y) : y);
    });
    Expected<std::unique_ptr<Executable>> exe = compile(g, std::make_shared<StateStore>());
    INFO((exe.ok() ? std::string() : exe.error().message()));
    REQUIRE(exe.ok());
    CHECK((*exe)->stats().kernels == 0);  // nothing to compute
    (*exe)->run();
    check_parity(g);
  }
}

TEST_CASE("0-sized tensors match the reference: reductions give their identity", "[codegen][zero]") {
  for (DType t : {DType::f32, DType::f64}) {
    INFO(dtype_name(t));
    Graph g = build("zero_reduce", [&](Builder& b) {
      Tensor x = b.input("x", {t, Shape{0, 3}});
      Tensor z = x * 2.0 + 1.0;
      b.output("sum0", sum(z, {0}));                 // [3] of 0
      b.output("max0", max(z, {0}));                 // [3] of -inf
      b.output("mean0", mean(z, {0}));               // [3] of NaN (0/0, as numpy)
      b.output("sum_all", sum(z));                   // 0
      b.output("max_all", max(z));                   // -inf
      b.output("mean_all", mean(z));                 // NaN
      b.output("sum0_keep", sum(exp(z), {0}, true)); // [1,3] of 0
      b.output("sum1", sum(z, {1}));                 // [0]: no kernel at all
      b.output("copy", x);                           // an empty output of an input
      b.output("same", z);
    });
    check_parity(g);
    auto st = std::make_shared<StateStore>();
    Expected<std::unique_ptr<Executable>> exe = compile(g, st);
    REQUIRE(exe.ok());
    (*exe)->run();
    auto out = [&](const char* name) { return read_buffer(*(*exe)->output(name)); };
    CHECK(out("sum0") == std::vector<double>{0, 0, 0});
    CHECK(out("max0") == std::vector<double>(3, -INFINITY));
    for (double v : out("mean0")) CHECK(std::isnan(v));
    CHECK(out("sum_all") == std::vector<double>{0});
    CHECK(out("max_all") == std::vector<double>{-INFINITY});
    CHECK(std::isnan(out("mean_all").at(0)));
  }
  // Integer reductions over nothing: 0 and the dtype's minimum (the reference's -inf
  // saturates to it).
  Graph gi = build("zero_reduce_i32", [&](Builder& b) {
    Tensor x = b.input("x", {DType::i32, Shape{4, 0}});
    b.output("sum", sum(x, {1}));
    b.output("max", max(x, {1}));
  });
  check_parity(gi);
}

TEST_CASE("0-sized dims through matmul, concat, pad, slices and state updates", "[codegen][zero]") {
  Graph g = build("zero_ops", [&](Builder& b) {
    Tensor a = b.input("a", f32(Shape{2, 0}));
    Tensor c = b.input("c", f32(Shape{0, 4}));
    Tensor d = b.input("d", f32(Shape{2, 4}));
    b.output("mm_k0", matmul(a, c));                   // [2,4] of zeros
    b.output("mm_k0_bias", relu(matmul(a, c) + d));    // GEMM epilogue with k = 0
    b.output("mm_m0", matmul(c, transpose(d)) * 3.0);  // [0,2]
    b.output("cat", concat({c, d}, 0) - 1.0);          // [2,4]
    b.output("pad", pad(c, {1, 0}, {1, 0}, 5.0));      // [2,4] of 5
    b.output("empty_slice", slice(d, 1, 2, 2) * 2.0);  // [2,0]
    Tensor p = b.parameter("p", f32(Shape{0, 3}), InitSpec::normal(0, 1));
    b.update_state(p, p * 0.5 + 1.0);
  });
  ParityOptions o;
  o.runs = 2;
  check_parity(g, o);
}

TEST_CASE("a gather from a table of 0 rows reads nothing out of bounds", "[codegen][zero]") {
  // The reference refuses every index (out of range); compiled code, which clamps indices
  // into the table, has no row to clamp to and gives zeros instead of reading past it.
  Graph g = build("zero_gather", [&](Builder& b) {
    Tensor table = b.input("table", f32(Shape{0, 3}));
    Tensor idx = b.input("idx", {DType::i32, Shape{2}});
    b.output("g", gather(table, idx) + 1.0);
  });
  CompileOptions co;
  co.arena_guard_bytes = 64;
  Expected<std::unique_ptr<Executable>> exe = compile(g, std::make_shared<StateStore>(), co);
  REQUIRE(exe.ok());
  write_buffer(*(*exe)->input("idx"), {0, 5});
  (*exe)->run();
  CHECK((*exe)->check_guards().ok());
  CHECK(read_buffer(*(*exe)->output("g")) == std::vector<double>(6, 1.0));
}

TEST_CASE("a training step over a batch of 0 examples compiles and matches the reference",
          "[codegen][zero]") {
  // Autodiff makes exactly the graphs of the issue: the gradient of the mean over a batch
  // of 0 is a constant broadcast to [0, ...], and the weight gradients are k = 0 GEMMs.
  Graph g = build("zero_batch", [&](Builder& b) {
    Tensor x = b.input("x", f32(Shape{0, 4}));
    Tensor y = b.input("y", {DType::i32, Shape{0}});
    Tensor w = b.parameter("w", f32(Shape{4, 3}), InitSpec::normal(0, 0.1));
    Tensor bias = b.parameter("bias", f32(Shape{3}), InitSpec::zeros());
    b.output("loss", softmax_cross_entropy(matmul(x, w) + bias, y));
  });
  PassManager pm;
  pm.add(std::make_unique<SimplifyPass>());
  OptimizerConfig opt;
  opt.kind = OptimizerConfig::Adam;
  opt.lr = 0.01;
  pm.add(std::make_unique<TrainingStepPass>("loss", opt));
  pm.add(std::make_unique<SimplifyPass>());
  Status st = pm.run(g);
  INFO((st.ok() ? std::string() : st.error().message()));
  REQUIRE(st.ok());
  ParityOptions o;
  o.runs = 2;
  o.gens["y"] = [](std::mt19937_64&, int64_t) { return 0.0; };
  check_parity(g, o);
}

// ---- item 8: constant expressions too big to fold ---------------------------------------

TEST_CASE("a large constant expression left unfolded computes the same values", "[codegen][fold]") {
  // sum over rows of a splat f32[512,256]: folding it would expand 131072 elements, above
  // the limit, so the reduction stays for the compiled code.
  Graph orig = build("big_fold", [&](Builder& b) {
    Tensor c = b.constant(0.25, f32(Shape{512, 256}));
    Tensor x = b.input("x", f32(Shape{512}));
    b.output("s", sum(c * 3.0, {1}) + x);
    b.output("m", max(exp(c), {0}));
  });
  Graph g = orig;
  REQUIRE(SimplifyPass().run(g).ok());
  int reductions = 0;
  for (const Node& n : g.nodes()) reductions += n.def().has(kReduction) ? 1 : 0;
  CHECK(reductions == 2);
  check_parity(g);
  // And the simplified, compiled graph gives the original graph's reference values.
  auto exe = compile(g, std::make_shared<StateStore>());
  REQUIRE(exe.ok());
  std::vector<double> xs(512);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<double>(i % 7);
  write_buffer(*(*exe)->input("x"), xs);
  (*exe)->run();
  Expected<InterpreterResult> ref = interpret(orig, {{"x", RefTensor{f32(Shape{512}), xs}}});
  REQUIRE(ref.ok());
  ParityOptions o;
  check_elements("s", read_buffer(*(*exe)->output("s")), ref->outputs.at("s"), o);
  check_elements("m", read_buffer(*(*exe)->output("m")), ref->outputs.at("m"), o);
}

// ---- item 13: long fused chains ---------------------------------------------------------

TEST_CASE("a long exp/tanh/mul/add chain is split into capped kernels and stays exact",
          "[codegen][chain]") {
  // Lengths that are not a multiple of the vector width exercise the masked remainder of
  // long loop bodies (see codegen/llvm/renderer.cpp); the bool output an i8 store.
  for (int64_t len : {1000, 13}) {
    INFO("length " << len);
    Graph g = build("chain", [&](Builder& b) {
      Tensor x = b.input("x", f32(Shape{len}));
      for (int i = 0; i < 400; ++i) {
        switch (i % 4) {
          case 0: x = exp(x * 0.001); break;
          case 1: x = tanh(x); break;
          case 2: x = x * 1.0001; break;
          default: x = x + 0.5; break;
        }
      }
      b.output("y", x);
      Tensor z = x;
      for (int i = 0; i < 12; ++i) z = tanh(exp(z * 0.5) - 1.0);
      b.output("big", greater(z, b.constant(0.4, f32(Shape{len}))));
    });
    FusionPlan plan = plan_fusion(g);
    CHECK(plan.kernels.size() > 1);
    for (const FusedKernel& k : plan.kernels) CHECK(k.cost <= FusionOptions{}.max_kernel_cost);
    check_parity(g);
  }
}
