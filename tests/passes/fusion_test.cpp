// Fusion planning: materialization rules, fused sets, transposes folded into matmul,
// and an MLP-like training graph becoming far fewer kernels than nodes.
#include <algorithm>

#include <catch2/catch.hpp>

#include "frontend/ops.h"
#include "passes/autodiff.h"
#include "passes/fusion.h"

using namespace kiln;

namespace {
const FusedKernel* kernel_for(const FusionPlan& p, Value v) {
  int k = p.kernel_of[v.id];
  return k < 0 ? nullptr : &p.kernels[k];
}
}  // namespace

TEST_CASE("fusion: elementwise chains fuse into one kernel", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{4, 8}});
  Tensor bias = b.input("bias", {DType::f32, Shape{8}});
  Tensor y = tanh(exp(x) * 2.0 + bias);
  b.output("y", y);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  REQUIRE(p.kernels.size() == 1);
  CHECK(p.kernels[0].root == y.value().id);
  CHECK(p.kernels[0].kind == FusedKind::Elementwise);
  CHECK(p.kernels[0].reads == std::vector<NodeId>{x.value().id, bias.value().id});
  CHECK(p.materialized[x.value().id]);
  // exp, mul, its constant, broadcast, add: all inlined, none materialized.
  CHECK(p.kernels[0].fused.size() >= 5);
  for (NodeId f : p.kernels[0].fused) CHECK_FALSE(p.materialized[f]);
}

TEST_CASE("fusion: reductions absorb producers; shared expensive values materialize", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{16, 10}});
  Tensor s = softmax(x);
  b.output("s", s);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  // max, exp (used by sum and div), sum, div.
  CHECK(p.kernels.size() == 4);
  int reductions = 0;
  for (const FusedKernel& k : p.kernels) reductions += k.kind == FusedKind::Reduction;
  CHECK(reductions == 2);

  Graph g2;
  Builder b2(g2);
  Tensor x2 = b2.input("x", {DType::f32, Shape{16, 10}});
  Tensor e = sum(exp(x2 - 1.0), {1});
  b2.output("e", e);
  REQUIRE(b2.ok());
  FusionPlan p2 = plan_fusion(g2);
  INFO(p2.to_string(g2));
  REQUIRE(p2.kernels.size() == 1);
  CHECK(p2.kernels[0].kind == FusedKind::Reduction);
  CHECK(p2.kernels[0].fused.size() >= 2);  // exp and sub (and the constant)
}

TEST_CASE("fusion: transposes fold into matmul, other operands materialize", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor a = b.input("a", {DType::f32, Shape{8, 5}});
  Tensor w = b.parameter("w", {DType::f32, Shape{6, 5}}, InitSpec::zeros());
  Tensor c = matmul(a, transpose(w));          // folded: trans_b
  Tensor d = matmul(relu(c), transpose(c));    // relu(c) materialized; c^T folded
  b.output("d", d);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  const FusedKernel* kc = kernel_for(p, c.value());
  REQUIRE(kc);
  CHECK(kc->kind == FusedKind::Contraction);
  CHECK(kc->a == a.value().id);
  CHECK(kc->b == w.value().id);
  CHECK(kc->trans_b);
  CHECK_FALSE(kc->trans_a);
  const FusedKernel* kd = kernel_for(p, d.value());
  REQUIRE(kd);
  CHECK(kd->b == c.value().id);
  CHECK(kd->trans_b);
  CHECK(p.materialized[d.node().inputs[0].id]);  // relu(c)
  CHECK(p.kernels.size() == 3);
}

TEST_CASE("fusion: a transposed weight shared by many matmuls is transposed once", "[fusion]") {
  // A recurrent layer's W_hh^T, multiplied once per time step: in f64 stored once rather
  // than transposed again by every GEMM; with few users it stays folded. f32 GEMMs read it
  // in place and share one packed copy (tests/codegen/packed_operands_test.cpp).
  for (DType dt : {DType::f32, DType::f64}) {
    for (int steps : {2, 8}) {
      INFO(dtype_name(dt) << " steps " << steps);
      Graph g;
      Builder b(g);
      Tensor w = b.parameter("w", {dt, Shape{6, 5}}, InitSpec::zeros());
      Tensor wt = transpose(w);
      Tensor h = b.input("h0", {dt, Shape{3, 5}});
      Tensor v = b.parameter("v", {dt, Shape{6, 5}}, InitSpec::zeros());
      for (int t = 0; t < steps; ++t) h = tanh(matmul(matmul(h, wt), v));
      b.output("h", h);
      REQUIRE(b.ok());
      FusionPlan p = plan_fusion(g);
      INFO(p.to_string(g));
      const bool stored = steps == 8 && dt == DType::f64;
      CHECK(p.materialized[wt.value().id] == stored);
      const FusedKernel* k = kernel_for(p, g.node(g.node(h.value()).inputs[0]).inputs[0]);
      REQUIRE(k);
      CHECK(k->b == (stored ? wt.value().id : w.value().id));
      CHECK(k->trans_b == !stored);
    }
  }
}

TEST_CASE("fusion: reshape of a buffer feeds a matmul in place", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{4, 1, 2, 3}});
  Tensor w = b.parameter("w", {DType::f32, Shape{6, 3}}, InitSpec::zeros());
  Tensor y = matmul(flatten(x), w);
  b.output("y", y);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  REQUIRE(p.kernels.size() == 1);
  CHECK(p.kernels[0].a == x.value().id);
}

TEST_CASE("fusion: dead values get no kernels; outputs always do", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{3}});
  Tensor dead = exp(x);
  (void)dead;
  b.output("y", x + 1.0);
  b.output("z", b.scalar(2.0));
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  CHECK(p.kernels.size() == 2);
  CHECK(p.kernel_of[dead.value().id] == -1);
}

namespace {
// x@w + bias -> relu (the forward), a ReLU-backward mask on another matmul, and an SGD
// update of w from x^T @ (masked gradient): every matmul gets an epilogue.
struct EpilogueGraph {
  Graph g;
  Tensor x, w, bias, z, h, mm2, e, wgrad, w_new;
};
void build_epilogue_graph(EpilogueGraph& t, bool read_w_after) {
  Builder b(t.g);
  t.x = b.input("x", {DType::f32, Shape{8, 5}});
  Tensor dy = b.input("dy", {DType::f32, Shape{8, 7}});
  t.w = b.parameter("w", {DType::f32, Shape{5, 6}}, InitSpec::normal(0, 0.1));
  t.bias = b.parameter("bias", {DType::f32, Shape{6}}, InitSpec::normal(0, 0.1));
  Tensor u = b.parameter("u", {DType::f32, Shape{6, 7}}, InitSpec::normal(0, 0.1));
  t.z = add(matmul(t.x, t.w), t.bias);
  t.h = relu(t.z);
  b.output("h", t.h);
  t.mm2 = matmul(dy, transpose(u));
  t.e = where(greater(t.z, scalar_like(t.z, 0.0)), t.mm2, scalar_like(t.mm2, 0.0));
  b.output("e", t.e);
  t.wgrad = matmul(transpose(t.x), t.e);
  t.w_new = t.w - t.wgrad * 0.1;
  b.update_state(t.w, t.w_new);
  if (read_w_after) b.output("wsum", sum(t.w * 2.0, {0, 1}));
  REQUIRE(b.ok());
}
}  // namespace

// The ops of a contraction kernel's epilogue chain, in order.
std::vector<OpKind> epilogue_ops(const Graph& g, const FusedKernel& k) {
  std::vector<OpKind> ops;
  for (NodeId x : k.epilogue) ops.push_back(g.node(x).op);
  return ops;
}
bool reads(const FusedKernel& k, const Tensor& t) {
  return std::find(k.reads.begin(), k.reads.end(), t.value().id) != k.reads.end();
}

TEST_CASE("fusion: contraction epilogues (bias+relu, relu-backward mask, in-place update)", "[fusion]") {
  EpilogueGraph t;
  build_epilogue_graph(t, false);
  FusionPlan p = plan_fusion(t.g);
  INFO(p.to_string(t.g));
  CHECK(p.kernels.size() == 3);
  const FusedKernel* kh = kernel_for(p, t.h.value());
  REQUIRE(kh);
  CHECK(kh->kind == FusedKind::Contraction);
  CHECK(epilogue_ops(t.g, *kh) == std::vector<OpKind>{OpKind::Add, OpKind::Relu});
  CHECK(reads(*kh, t.bias));
  CHECK(kh->accumulate == -1);
  CHECK_FALSE(p.materialized[t.z.value().id]);  // z is never stored
  // gt(z, 0) is served as gt(h, 0).
  NodeId gt = t.g.node(t.e.value().id).inputs[0].id;
  CHECK(p.positive_of[gt] == t.h.value().id);
  const FusedKernel* ke = kernel_for(p, t.e.value());
  REQUIRE(ke);
  CHECK(ke->kind == FusedKind::Contraction);
  CHECK(ke->contraction == t.mm2.value().id);
  CHECK(epilogue_ops(t.g, *ke) == std::vector<OpKind>{OpKind::Select});
  CHECK(reads(*ke, t.h));  // the mask gt(z, 0) is read as gt(h, 0)
  CHECK(ke->trans_b);
  const FusedKernel* kw = kernel_for(p, t.w_new.value());
  REQUIRE(kw);
  CHECK(kw->kind == FusedKind::Contraction);
  CHECK(kw->contraction == t.wgrad.value().id);
  CHECK(kw->accumulate == t.w.value().id);
  CHECK(kw->alpha == Approx(-0.1));
  CHECK(kw->a == t.x.value().id);
  CHECK(kw->trans_a);
  CHECK(kw->b == t.e.value().id);

  FusionOptions off;
  off.epilogues = false;
  FusionPlan q = plan_fusion(t.g, off);
  INFO(q.to_string(t.g));
  CHECK(q.kernels.size() > p.kernels.size());
  for (const FusedKernel& k : q.kernels) CHECK(k.accumulate == -1);
}

TEST_CASE("fusion: no in-place update epilogue when the state is read afterwards", "[fusion]") {
  EpilogueGraph t;
  build_epilogue_graph(t, true);
  FusionPlan p = plan_fusion(t.g);
  INFO(p.to_string(t.g));
  const FusedKernel* kw = kernel_for(p, t.w_new.value());
  REQUIRE(kw);
  // Not in place: the update is the GEMM's epilogue, written to a buffer of its own.
  CHECK(kw->accumulate == -1);
  CHECK(kw->kind == FusedKind::Contraction);
  CHECK(epilogue_ops(t.g, *kw) == std::vector<OpKind>{OpKind::Mul, OpKind::Sub});
  CHECK_FALSE(p.materialized[t.wgrad.value().id]);
  FusionOptions no_in_place;
  no_in_place.in_place_updates = false;
  EpilogueGraph t2;
  build_epilogue_graph(t2, false);
  FusionPlan q = plan_fusion(t2.g, no_in_place);
  for (const FusedKernel& k : q.kernels) CHECK(k.accumulate == -1);
}

// Issue 12 item 13: one fused chain of thousands of ops made one giant loop body, and
// LLVM's vectorizer and register allocator are superlinear in it (800 ops: 35 s, 3000:
// over 300 s). Fusion caps the cost of one kernel, so long chains become several kernels.
namespace {
Graph long_chain(int ops, bool transcendental) {
  Graph g("chain");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{1024}});
  for (int i = 0; i < ops; ++i) {
    if (!transcendental) x = i % 2 ? x + 0.5 : x * 1.0001;
    else if (i % 4 == 0) x = exp(x * 0.001);
    else if (i % 4 == 1) x = tanh(x);
    else if (i % 4 == 2) x = x * 1.0001;
    else x = x + 0.5;
  }
  b.output("y", x);
  REQUIRE(b.ok());
  return g;
}

// Every loop kernel within the cap, in cost and in ops (constants aside); each op of the
// graph is computed by exactly one kernel.
void check_capped(const Graph& g, const FusionPlan& p, int64_t cap) {
  int64_t computed = 0;
  for (const FusedKernel& k : p.kernels) {
    int64_t cost = fusion_cost(g.node(k.root)), ops = 1;
    for (NodeId f : k.fused) {
      cost += fusion_cost(g.node(f));
      ops += g.node(f).def().has(kLeaf) ? 0 : 1;
    }
    INFO("kernel %" << k.root << " cost " << k.cost << ", ops " << ops);
    CHECK(k.cost == cost);
    CHECK(k.cost <= cap);
    CHECK(ops <= cap);
    computed += ops;
  }
  int64_t ops = 0;
  for (const Node& n : g.nodes()) ops += n.def().has(kLeaf) ? 0 : 1;
  CHECK(computed == ops);
}
}  // namespace

TEST_CASE("fusion: a 1,000-op chain is split into kernels of capped size", "[fusion]") {
  const int64_t cap = FusionOptions{}.max_kernel_cost;
  REQUIRE(cap > 0);
  for (bool transcendental : {false, true}) {
    INFO((transcendental ? "exp/tanh/mul/add chain" : "mul/add chain"));
    Graph g = long_chain(1000, transcendental);
    FusionPlan p = plan_fusion(g);
    check_capped(g, p, cap);
    CHECK(p.kernels.size() >= static_cast<size_t>(transcendental ? 1000 * 23 / 4 / cap : 1000 / cap));
    // No kernel is needlessly small: consecutive kernels could not have been merged.
    for (size_t i = 0; i + 1 < p.kernels.size(); ++i)
      CHECK(p.kernels[i].cost + p.kernels[i + 1].cost > cap);

    FusionOptions uncapped;
    uncapped.max_kernel_cost = 0;
    FusionPlan one = plan_fusion(g, uncapped);
    CHECK(one.kernels.size() == 1);
  }
}

TEST_CASE("fusion: the cap counts shared producers once and splits wide DAGs too", "[fusion]") {
  // x = x * x: each op reads its input twice. An estimate summing the inputs' sizes would
  // double at every step; exact fused sets grow by one op per step.
  Graph g("dag");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{64}});
  for (int i = 0; i < 600; ++i) x = x * x;
  // A wide sum of 40 exps of one input: the root's inputs get materialized.
  Tensor y = b.input("y", {DType::f32, Shape{64}});
  Tensor acc = exp(y);
  for (int i = 1; i < 40; ++i) acc = acc + exp(y * static_cast<double>(i));
  b.output("x", x);
  b.output("acc", acc);
  REQUIRE(b.ok());
  FusionOptions o;
  o.max_kernel_cost = 64;
  FusionPlan p = plan_fusion(g, o);
  INFO(p.to_string(g));
  check_capped(g, p, 64);
  // 600 ops of cost 1: 10 kernels; 40 exps (8 each), 39 muls and 39 adds: 6 or 7.
  CHECK(p.kernels.size() <= 18);
}

TEST_CASE("fusion: batch-norm scale/shift, residual and ReLU fuse into a convolution", "[fusion]") {
  Graph g;
  Builder b(g);
  Conv2dOptions o;
  o.padding = {1, 1};
  Tensor x = b.input("x", {DType::f32, Shape{2, 4, 6, 5}});
  Tensor w = b.parameter("w", {DType::f32, Shape{4, 4, 3, 3}}, InitSpec::normal(0, 0.1));
  Tensor scale = b.input("scale", {DType::f32, Shape{4, 1, 1}});
  Tensor shift = b.input("shift", {DType::f32, Shape{4, 1, 1}});
  Tensor y = relu(conv2d(x, w, o) * scale + shift + x);
  b.output("y", y);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  REQUIRE(p.kernels.size() == 1);
  const FusedKernel& k = p.kernels[0];
  CHECK(k.kind == FusedKind::Contraction);
  CHECK(epilogue_ops(g, k) ==
        std::vector<OpKind>{OpKind::Mul, OpKind::Add, OpKind::Add, OpKind::Relu});
  CHECK(reads(k, scale));
  CHECK(reads(k, shift));
  CHECK(reads(k, x));  // the residual, and the convolution's input
}

TEST_CASE("fusion: two contractions meeting in one add: the first takes the add", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{8, 5}});
  Tensor w1 = b.parameter("w1", {DType::f32, Shape{5, 6}}, InitSpec::normal(0, 0.1));
  Tensor w2 = b.parameter("w2", {DType::f32, Shape{5, 6}}, InitSpec::normal(0, 0.1));
  Tensor m1 = matmul(x, w1), m2 = matmul(x, w2);
  Tensor y = relu(m1 + m2);
  b.output("y", y);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  REQUIRE(p.kernels.size() == 2);
  CHECK(p.materialized[m2.value().id]);
  const FusedKernel* k = kernel_for(p, y.value());
  REQUIRE(k);
  CHECK(k->contraction == m1.value().id);
  CHECK(epilogue_ops(g, *k) == std::vector<OpKind>{OpKind::Add, OpKind::Relu});
  CHECK(reads(*k, m2));
}

TEST_CASE("fusion: max pooling's gradient reads the stored indices", "[fusion]") {
  Graph g;
  Builder b(g);
  Pool2dOptions o{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
  Tensor x = b.input("x", {DType::f32, Shape{2, 3, 8, 8}});
  Tensor dy = b.input("dy", {DType::f32, Shape{2, 3, 4, 4}});
  Tensor indices = max_pool2d_indices(relu(x), o);
  Tensor dx = max_pool2d_grad(indices, dy, {8, 8}, o);
  b.output("dx", dx);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  // The only user of the indices reads each of them up to 4 times (ceil(3/2)^2 windows
  // cover an element): stored, not inlined.
  REQUIRE(p.kernels.size() == 2);
  CHECK(p.materialized[indices.value().id]);
  const FusedKernel* k = kernel_for(p, dx.value());
  REQUIRE(k);
  CHECK(reads(*k, indices));
  CHECK(reads(*k, dy));
  CHECK(k->cost == 3 * 2 * 2);
}

TEST_CASE("fusion: a training-mode normalise + ReLU is the prologue of the convolutions reading it",
          "[fusion]") {
  Graph g;
  Builder b(g);
  Conv2dOptions o;
  o.padding = {1, 1};
  Tensor x = b.input("x", {DType::f32, Shape{4, 3, 6, 5}});
  Tensor w0 = b.parameter("w0", {DType::f32, Shape{8, 3, 3, 3}}, InitSpec::normal(0, 0.1));
  Tensor w1 = b.parameter("w1", {DType::f32, Shape{8, 8, 3, 3}}, InitSpec::normal(0, 0.1));
  Tensor gamma = b.parameter("gamma", {DType::f32, Shape{1, 8, 1, 1}}, InitSpec::normal(1, 0.1));
  Tensor beta = b.parameter("beta", {DType::f32, Shape{1, 8, 1, 1}}, InitSpec::normal(0, 0.1));
  Tensor z = conv2d(x, w0, o);
  Tensor m = mean(z, {0, 2, 3}, true);
  Tensor d = z - m;
  Tensor var = mean(d * d, {0, 2, 3}, true);
  Tensor a = relu(d * (gamma / sqrt(var + 1e-5)) + beta);
  Tensor y = conv2d(a, w1, o);
  Tensor loss = sum(y * y);
  REQUIRE(b.ok());
  Expected<std::vector<Value>> grads =
      gradients(g, loss.value(), {w0.value(), w1.value(), gamma.value(), beta.value()});
  REQUIRE(grads.ok());
  b.output("loss", loss);
  b.update_state(w1, w1 - Tensor(&b, (*grads)[1]) * 0.1);
  REQUIRE(b.ok());

  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  CHECK_FALSE(p.materialized[a.value().id]);  // never written to memory
  CHECK(p.kernel_of[a.value().id] < 0);
  int forward = 0, weight_grad = 0;
  for (const FusedKernel& k : p.kernels) {
    if (k.kind != FusedKind::Contraction) continue;
    const Node& c = g.node(k.contraction);
    if (c.inputs[0].id != a.value().id) continue;
    CHECK(k.prologue_root == a.value().id);
    CHECK(k.a == -1);
    CHECK(std::find(k.prologue.begin(), k.prologue.end(), a.value().id) != k.prologue.end());
    CHECK(std::find(k.reads.begin(), k.reads.end(), z.value().id) != k.reads.end());
    forward += c.op == OpKind::Conv2d;
    weight_grad += c.op == OpKind::Conv2dWeightGrad;
  }
  CHECK(forward == 1);
  CHECK(weight_grad == 1);

  FusionOptions off;
  off.prologues = false;
  FusionPlan q = plan_fusion(g, off);
  CHECK(q.materialized[a.value().id]);
  CHECK(q.kernels.size() == p.kernels.size() + 1);  // the normalise + ReLU loop kernel
}

TEST_CASE("fusion: no prologue when the value is an output or a matmul operand", "[fusion]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{2, 4, 3, 3}});
  Tensor w = b.input("w", {DType::f32, Shape{4, 4, 1, 1}});
  Tensor s = b.input("s", {DType::f32, Shape{1, 4, 1, 1}});
  Tensor z = conv2d(x, w, Conv2dOptions{});
  Tensor a = relu(z * s + z);
  b.output("y", conv2d(a, w, Conv2dOptions{}));
  b.output("a", a);
  Tensor a2 = relu(z - s + z);
  b.output("y2", conv2d(a2, w, Conv2dOptions{}));
  b.output("m", matmul(reshape(a2, Shape{2, 36}), reshape(a2, Shape{36, 2})));
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  CHECK(p.materialized[a.value().id]);
  CHECK(p.materialized[a2.value().id]);
  for (const FusedKernel& k : p.kernels) CHECK(k.prologue_root < 0);
}

TEST_CASE("fusion: a normalise + ReLU read by pooling is recomputed by its readers, not stored",
          "[fusion]") {
  // ResNet's stem (max pooling) and last block (the global average pool): no convolution
  // reads the activation, and it is still never written to memory.
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{4, 3, 6, 6}});
  Tensor w = b.parameter("w", {DType::f32, Shape{8, 3, 3, 3}}, InitSpec::normal(0, 0.1));
  Tensor gamma = b.parameter("gamma", {DType::f32, Shape{1, 8, 1, 1}}, InitSpec::normal(1, 0.1));
  Tensor beta = b.parameter("beta", {DType::f32, Shape{1, 8, 1, 1}}, InitSpec::normal(0, 0.1));
  Tensor z = conv2d(x, w, Conv2dOptions{});
  Tensor d = z - mean(z, {0, 2, 3}, true);
  Tensor a = relu(d * (gamma / sqrt(mean(d * d, {0, 2, 3}, true) + 1e-5)) + beta);
  Tensor pooled = max_pool2d(a, Pool2dOptions{});  // 2x2, stride 2
  Tensor gap = mean(a, {2, 3});
  Tensor loss = sum(pooled) + sum(gap);
  REQUIRE(b.ok());
  Expected<std::vector<Value>> grads =
      gradients(g, loss.value(), {w.value(), gamma.value(), beta.value()});
  REQUIRE(grads.ok());
  b.output("loss", loss);
  b.update_state(w, w - Tensor(&b, (*grads)[0]) * 0.1);
  b.update_state(gamma, gamma - Tensor(&b, (*grads)[1]) * 0.1);
  b.update_state(beta, beta - Tensor(&b, (*grads)[2]) * 0.1);
  REQUIRE(b.ok());
  FusionPlan p = plan_fusion(g);
  INFO(p.to_string(g));
  CHECK_FALSE(p.materialized[a.value().id]);
  FusionOptions off;
  off.prologues = false;
  CHECK(plan_fusion(g, off).materialized[a.value().id]);
}

TEST_CASE("fusion: a costly value read by overlapping pooling windows is stored", "[fusion]") {
  // ResNet's stem pool (3x3, stride 2) reads most elements of its input 2 or 4 times:
  // inlined, the normalise + ReLU would be computed again for each read. Windows that do
  // not overlap (2x2, stride 2) read each element once and keep inlining it.
  for (const bool overlapping : {true, false}) {
    Graph g;
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{4, 8, 8, 8}});
    Tensor gamma = b.parameter("gamma", {DType::f32, Shape{1, 8, 1, 1}}, InitSpec::normal(1, 0.1));
    Tensor a = relu(exp(x) * gamma);
    Pool2dOptions o;
    if (overlapping) o = Pool2dOptions{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    b.output("loss", sum(max_pool2d(a, o)));
    REQUIRE(b.ok());
    FusionPlan p = plan_fusion(g);
    INFO(p.to_string(g));
    CHECK(p.materialized[a.value().id] == overlapping);
  }
}
