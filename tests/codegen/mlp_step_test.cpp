// End to end: the d2l MLP training step (784-256-10, softmax cross-entropy, SGD) built
// with the DSL, turned into one step graph by simplify + training + simplify, compiled
// into one native function: few kernels, in-place parameter updates, parity with the
// reference interpreter over several steps, and a timing line for the benchmark log.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "codegen/lower.h"
#include "frontend/losses.h"
#include "harness.h"
#include "passes/fusion.h"
#include "passes/simplify.h"
#include "passes/training.h"

using namespace kiln;
using namespace kiln::test;

namespace {

Graph mlp_step_graph(int64_t batch, int64_t hidden, double lr) {
  Graph g("mlp_step");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{batch, 1, 28, 28}});
  Tensor y = b.input("y", {DType::i32, Shape{batch}});
  Tensor w1 = b.parameter("w1", {DType::f32, Shape{784, hidden}}, InitSpec::normal(0, 0.01));
  Tensor b1 = b.parameter("b1", {DType::f32, Shape{hidden}}, InitSpec::zeros());
  Tensor w2 = b.parameter("w2", {DType::f32, Shape{hidden, 10}}, InitSpec::normal(0, 0.01));
  Tensor b2 = b.parameter("b2", {DType::f32, Shape{10}}, InitSpec::zeros());
  Tensor h = relu(add(matmul(flatten(x), w1), b1));
  Tensor logits = add(matmul(h, w2), b2);
  b.output("loss", softmax_cross_entropy(logits, y));
  REQUIRE(b.ok());
  PassManager pm;
  pm.add(std::make_unique<SimplifyPass>());
  OptimizerConfig opt;
  opt.lr = lr;
  pm.add(std::make_unique<TrainingStepPass>("loss", opt));
  pm.add(std::make_unique<SimplifyPass>());
  Status st = pm.run(g);
  INFO((st.ok() ? std::string() : st.error().message()));
  REQUIRE(st.ok());
  return g;
}

}  // namespace

TEST_CASE("MLP training step: few kernels, in-place updates, parity", "[codegen][mlp]") {
  Graph g = mlp_step_graph(32, 64, 0.1);
  FusionPlan plan = plan_fusion(g);
  INFO(plan.to_string(g));
  CHECK(plan.kernels.size() <= 22);
  CHECK(plan.kernels.size() * 3 < static_cast<size_t>(g.size()));
  auto lowered = lower_graph(g);
  REQUIRE(lowered.ok());
  CHECK(lowered->in_place_updates == 4);
  CHECK(lowered->copy_kernels == 0);
  // Matmul epilogues: forward relu(x@W1 + b1) and logits + b2, the ReLU backward as a
  // mask on dlogits@W2^T, and both weight updates W -= lr * (A^T@B) in place.
  int gemms = 0, updates = 0, relus = 0, masks = 0, biases = 0;
  for (const kir::Kernel& k : lowered->prog.kernels) {
    const kir::ContractionKernel* c = k.contraction();
    if (!c) continue;
    gemms++;
    // alpha = -1 times the learning-rate state (a hyperparameter, not a constant).
    updates += c->accumulate && c->alpha == -1.0 && c->alpha_scale >= 0;
    for (NodeId x : c->epilogue_ops) {
      relus += g.node(x).op == OpKind::Relu;
      masks += g.node(x).op == OpKind::Select;
      biases += g.node(x).op == OpKind::Add;
    }
  }
  CHECK(gemms == 5);
  CHECK(updates == 2);
  CHECK(relus == 1);
  CHECK(masks == 1);
  CHECK(biases == 2);
  ParityOptions o;
  o.rtol = 3e-5;
  o.runs = 3;
  o.gens["y"] = [](std::mt19937_64& r, int64_t) { return double(r() % 10); };
  o.gens["x"] = [](std::mt19937_64& r, int64_t) { return std::uniform_real_distribution<double>(0, 1)(r); };
  o.gens["w1"] = o.gens["w2"] = [](std::mt19937_64& r, int64_t) {
    return std::normal_distribution<double>(0, 0.05)(r);
  };
  check_parity(g, o);
}

TEST_CASE("MLP training step without fusion: one kernel per op, same results",
          "[codegen][mlp]") {
  // `--no-fusion`: every computed value stored by its own kernel, no epilogues and no
  // in-place updates (the baseline of the fused-vs-unfused benchmarks).
  Graph g = mlp_step_graph(32, 64, 0.1);
  FusionOptions off;
  off.fuse = false;
  FusionPlan plan = plan_fusion(g, off);
  INFO(plan.to_string(g));
  int computed = 0;
  for (const Node& n : g.nodes()) computed += !n.def().has(kLeaf);
  CHECK(static_cast<int>(plan.kernels.size()) >= computed - 2);  // dead nodes aside
  for (const FusedKernel& k : plan.kernels) {
    for (NodeId x : k.fused) CHECK(g.node(x).def().has(kLeaf));  // splat constants only
    CHECK(k.epilogue.empty());
    CHECK(k.accumulate < 0);
  }
  LowerOptions lo;
  lo.fusion = false;
  auto lowered = lower_graph(g, lo);
  REQUIRE(lowered.ok());
  for (const kir::Kernel& k : lowered->prog.kernels)
    if (const kir::ContractionKernel* c = k.contraction()) {
      CHECK(c->epilogue < 0);
      CHECK(!c->accumulate);
    }
  ParityOptions o;
  o.fusion = false;
  o.rtol = 1e-4;  // every intermediate rounded to f32 on its way through memory
  o.runs = 3;
  o.gens["y"] = [](std::mt19937_64& r, int64_t) { return double(r() % 10); };
  o.gens["x"] = [](std::mt19937_64& r, int64_t) { return std::uniform_real_distribution<double>(0, 1)(r); };
  check_parity(g, o);
}

TEST_CASE("matmul epilogues match the interpreter, in place or not", "[codegen][mlp]") {
  for (bool read_w_after : {false, true}) {
    Graph g("epilogues");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{9, 5}});
    Tensor dy = b.input("dy", {DType::f32, Shape{9, 7}});
    Tensor w = b.parameter("w", {DType::f32, Shape{5, 17}}, InitSpec::normal(0, 0.1));
    Tensor bias = b.parameter("bias", {DType::f32, Shape{17}}, InitSpec::normal(0, 0.1));
    Tensor u = b.parameter("u", {DType::f32, Shape{17, 7}}, InitSpec::normal(0, 0.1));
    Tensor z = add(matmul(x, w), bias);
    b.output("h", relu(z));
    Tensor e = where(greater(z, scalar_like(z, 0.0)), matmul(dy, transpose(u)),
                     scalar_like(z, 0.0));
    b.output("e", e);
    b.update_state(w, w - matmul(transpose(x), e) * 0.1);
    b.update_state(u, u + 0.5 * matmul(transpose(e), dy));
    if (read_w_after) b.output("wsum", sum(w * 2.0, {0, 1}));
    REQUIRE(b.ok());
    INFO("read_w_after " << read_w_after);
    ParityOptions o;
    o.rtol = 1e-5;
    o.runs = 3;
    check_parity(g, o);
  }
}

TEST_CASE("MLP training step timing (batch 256)", "[codegen][mlp][timing]") {
  Graph g = mlp_step_graph(256, 256, 0.1);
  auto st = std::make_shared<StateStore>();
  CompileOptions copts;
  copts.profile = std::getenv("KILN_PROFILE") != nullptr;
  auto exe = compile(g, st, copts);
  REQUIRE(exe.ok());
  Executable& e = **exe;
  float* x = e.input("x")->as<float>();
  int32_t* y = e.input("y")->as<int32_t>();
  for (int i = 0; i < 256 * 784; ++i) x[i] = float((i * 7919) % 255) / 255.0f;
  for (int i = 0; i < 256; ++i) y[i] = i % 10;
  for (int i = 0; i < 20; ++i) e.run();
  float first = e.output("loss")->as<float>()[0];
  int steps = 200;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) e.run();
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float last = e.output("loss")->as<float>()[0];
  std::cout << "mlp step (batch 256): " << e.stats().kernels << " kernels, "
            << e.stats().graph_nodes << " nodes, arena " << e.stats().arena_bytes
            << " bytes, compile " << e.stats().compile_seconds << " s, " << dt / steps * 1e6
            << " us/step, epoch (235 steps) " << dt / steps * 235 << " s\n";
  CHECK(last < first);
  if (copts.profile) std::cout << e.describe().substr(e.describe().find("profile over"));
}
