// Batch normalization layers (frontend/norm_layers.h) through the reference interpreter:
// PyTorch's training and eval semantics against plain loops, the running-statistic
// updates after one step, finite-difference gradients in f64, the state kinds of the
// leaves, that training steps leave the running statistics to the layer, and the
// per-channel form of the math that fusion relies on.
#include "frontend/norm_layers.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "ir/interpreter.h"
#include "reference_eval.h"
#include "ir/leaf_state.h"
#include "passes/autodiff.h"
#include "passes/training.h"

using namespace kiln;

namespace {

constexpr double kEps = 1e-5, kMomentum = 0.1;

std::vector<double> uniform(std::mt19937_64& rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

// Layout of an [N, C] or [N, C, H, W] input: channel of flat index i, count per channel.
struct Layout {
  Shape shape;
  int64_t channels() const { return shape[1]; }
  int64_t inner() const { return shape.rank() == 4 ? shape[2] * shape[3] : 1; }
  int64_t channel_of(int64_t i) const { return (i / inner()) % channels(); }
  int64_t per_channel() const { return shape.numel() / channels(); }
};

// Per-channel mean and biased variance, two-pass in double.
void channel_stats(const Layout& l, const std::vector<double>& x, std::vector<double>& mean,
                   std::vector<double>& var) {
  mean.assign(static_cast<size_t>(l.channels()), 0.0);
  var.assign(static_cast<size_t>(l.channels()), 0.0);
  for (size_t i = 0; i < x.size(); ++i) mean[l.channel_of(i)] += x[i] / l.per_channel();
  for (size_t i = 0; i < x.size(); ++i) {
    double d = x[i] - mean[l.channel_of(i)];
    var[l.channel_of(i)] += d * d / l.per_channel();
  }
}

// y = (x - mean) / sqrt(var + eps) * gamma + beta per channel.
std::vector<double> normalized(const Layout& l, const std::vector<double>& x, const std::vector<double>& mean,
                               const std::vector<double>& var, const std::vector<double>& gamma,
                               const std::vector<double>& beta) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t c = l.channel_of(i);
    y[i] = (x[i] - mean[c]) / std::sqrt(var[c] + kEps) * gamma[c] + beta[c];
  }
  return y;
}

// A BatchNorm1d or 2d (by the rank of `shape`) named "m.batchnorm0" applied to input "x".
struct Net {
  Graph g{"m"};
  Builder b{g};
  Tensor x, y;
  std::unique_ptr<nn::BatchNorm> bn;

  Net(Shape shape, bool training, DType dtype = DType::f64) {
    nn::Context ctx{b, training, 0, "m"};
    if (shape.rank() == 4)
      bn = std::make_unique<nn::BatchNorm2d>(shape[1]);
    else
      bn = std::make_unique<nn::BatchNorm1d>(shape[1]);
    x = b.input("x", TensorType{dtype, shape});
    y = (*bn)(ctx, x);
    b.output("y", y);
  }
  RefTensor channel_values(std::vector<double> v) {
    return RefTensor{TensorType{x.dtype(), Shape{x.dim(1)}}, std::move(v)};
  }
};

InterpreterResult run(const Graph& g, const std::map<std::string, RefTensor>& feeds) {
  return test::run_reference(g, feeds);
}
using test::check_close;

// Ops producing values of x's full shape, other than x itself.
std::multiset<OpKind> full_size_ops(const Graph& g, const Tensor& x) {
  std::multiset<OpKind> ops;
  for (const Node& n : g.nodes())
    if (n.id != x.value().id && n.type.shape == x.shape()) ops.insert(n.op);
  return ops;
}

}  // namespace

TEST_CASE("BatchNorm in training normalizes with the batch statistics and updates the running ones",
          "[frontend][batchnorm]") {
  for (Shape shape : {Shape{4, 3, 2, 5}, Shape{6, 4}}) {
    INFO("input " << shape.to_string());
    std::mt19937_64 rng(7);
    Layout l{shape};
    const int64_t c = l.channels();
    std::vector<double> x = uniform(rng, shape.numel(), -2.0, 3.0);
    for (size_t i = 0; i < x.size(); ++i) x[i] += 2.0 * l.channel_of(i);  // channels differ
    std::vector<double> gamma = uniform(rng, c, 0.5, 2.0), beta = uniform(rng, c, -1.0, 1.0);
    std::vector<double> rm0 = uniform(rng, c, -1.0, 1.0), rv0 = uniform(rng, c, 0.5, 2.0);

    Net net(shape, /*training=*/true);
    REQUIRE(net.b.ok());
    const std::string name = "m.batchnorm0";
    CHECK(net.bn->weight_name() == name + ".weight");
    InterpreterResult r = run(net.g, {{"x", RefTensor{net.x.type(), x}},
                                      {name + ".weight", net.channel_values(gamma)},
                                      {name + ".bias", net.channel_values(beta)},
                                      {name + ".running_mean", net.channel_values(rm0)},
                                      {name + ".running_var", net.channel_values(rv0)}});
    std::vector<double> mean, var;
    channel_stats(l, x, mean, var);
    check_close(r.outputs["y"].data, normalized(l, x, mean, var, gamma, beta), 1e-12);

    // PyTorch's updates: running = (1 - m) * running + m * batch, the variance unbiased.
    const double n = static_cast<double>(l.per_channel());
    std::vector<double> want_rm(c), want_rv(c);
    for (int64_t k = 0; k < c; ++k) {
      want_rm[k] = (1 - kMomentum) * rm0[k] + kMomentum * mean[k];
      want_rv[k] = (1 - kMomentum) * rv0[k] + kMomentum * var[k] * n / (n - 1);
    }
    check_close(r.states[name + ".running_mean"].data, want_rm, 1e-14);
    check_close(r.states[name + ".running_var"].data, want_rv, 1e-14);

    // With the initial gamma = 1 and beta = 0 every channel has mean 0 and biased
    // variance var / (var + eps), about 1.
    InterpreterResult fresh = run(net.g, {{"x", RefTensor{net.x.type(), x}}});
    std::vector<double> out_mean, out_var;
    channel_stats(l, fresh.outputs["y"].data, out_mean, out_var);
    for (int64_t k = 0; k < c; ++k) {
      CHECK(std::abs(out_mean[k]) < 1e-12);
      CHECK(out_var[k] == Approx(var[k] / (var[k] + kEps)).epsilon(1e-12));
      CHECK(out_var[k] == Approx(1.0).epsilon(1e-4));
    }
    // Initial running statistics are 0 and 1.
    for (int64_t k = 0; k < c; ++k) {
      CHECK(fresh.states[name + ".running_mean"].data[k] == Approx(kMomentum * mean[k]).epsilon(1e-14));
      CHECK(fresh.states[name + ".running_var"].data[k] ==
            Approx(1 - kMomentum + kMomentum * var[k] * n / (n - 1)).epsilon(1e-14));
    }
  }
}

TEST_CASE("BatchNorm in eval uses the running statistics, deterministically", "[frontend][batchnorm]") {
  for (Shape shape : {Shape{2, 3, 4, 4}, Shape{5, 3}}) {
    INFO("input " << shape.to_string());
    std::mt19937_64 rng(11);
    Layout l{shape};
    const int64_t c = l.channels();
    std::vector<double> x = uniform(rng, shape.numel(), -3.0, 3.0);
    std::vector<double> gamma = uniform(rng, c, 0.5, 2.0), beta = uniform(rng, c, -1.0, 1.0);
    std::vector<double> rm = uniform(rng, c, -1.0, 1.0), rv = uniform(rng, c, 0.5, 2.0);
    Net net(shape, /*training=*/false);
    REQUIRE(net.b.ok());
    CHECK(net.g.state_updates().empty());
    const std::map<std::string, RefTensor> feeds = {{"x", RefTensor{net.x.type(), x}},
                                                    {"m.batchnorm0.weight", net.channel_values(gamma)},
                                                    {"m.batchnorm0.bias", net.channel_values(beta)},
                                                    {"m.batchnorm0.running_mean", net.channel_values(rm)},
                                                    {"m.batchnorm0.running_var", net.channel_values(rv)}};
    InterpreterResult r1 = run(net.g, feeds), r2 = run(net.g, feeds);
    check_close(r1.outputs["y"].data, normalized(l, x, rm, rv, gamma, beta), 1e-12);
    CHECK(r1.outputs["y"].data == r2.outputs["y"].data);
  }
}

TEST_CASE("BatchNorm's per-element work is one affine map in eval and one expression in training",
          "[frontend][batchnorm]") {
  // Eval: x * scale + shift with [C] operands broadcast; everything else is per channel.
  Net eval(Shape{8, 4, 6, 6}, /*training=*/false, DType::f32);
  REQUIRE(eval.b.ok());
  std::multiset<OpKind> ops = full_size_ops(eval.g, eval.x);
  CHECK(ops.count(OpKind::Mul) == 1);
  CHECK(ops.count(OpKind::Add) == 1);
  CHECK(ops.size() == ops.count(OpKind::Mul) + ops.count(OpKind::Add) + ops.count(OpKind::Broadcast));
  // Training: the inverse standard deviation is computed per channel, never per element.
  Net train(Shape{8, 4, 6, 6}, /*training=*/true, DType::f32);
  REQUIRE(train.b.ok());
  ops = full_size_ops(train.g, train.x);
  CHECK(ops.count(OpKind::Sqrt) == 0);
  CHECK(ops.count(OpKind::Div) == 0);
  CHECK(ops.count(OpKind::Sub) == 1);
  // The running-statistic updates read the batch statistics through stop_gradient.
  int stops = 0;
  for (const Node& n : train.g.nodes()) stops += n.op == OpKind::StopGradient;
  CHECK(stops == 2);
  CHECK(train.g.state_updates().size() == 2);
}

TEST_CASE("BatchNorm's training-mode gradients match finite differences in f64", "[frontend][batchnorm]") {
  for (Shape shape : {Shape{3, 2, 2, 2}, Shape{4, 3}}) {
    INFO("input " << shape.to_string());
    std::mt19937_64 rng(3);
    Layout l{shape};
    Net net(shape, /*training=*/true);
    // loss = sum(y * w) with fixed random w, so every output element matters differently.
    Tensor w = net.b.constant_data(uniform(rng, shape.numel(), -1.0, 1.0), net.x.type());
    Tensor loss = sum(net.y * w);
    net.b.output("loss", loss);
    const std::vector<std::string> wrt_names = {"x", "m.batchnorm0.weight", "m.batchnorm0.bias"};
    std::vector<Value> wrt;
    for (const std::string& n : wrt_names) wrt.push_back(net.g.find_leaf(n));
    Expected<std::vector<Value>> grads = gradients(net.g, loss.value(), wrt);
    REQUIRE(grads.ok());
    for (size_t i = 0; i < wrt.size(); ++i) net.g.add_output("d_" + wrt_names[i], (*grads)[i]);
    REQUIRE(net.b.ok());

    std::map<std::string, RefTensor> feeds = {
        {"x", RefTensor{net.x.type(), uniform(rng, shape.numel(), -2.0, 2.0)}},
        {"m.batchnorm0.weight", net.channel_values(uniform(rng, l.channels(), 0.5, 2.0))},
        {"m.batchnorm0.bias", net.channel_values(uniform(rng, l.channels(), -1.0, 1.0))}};
    InterpreterResult r = run(net.g, feeds);
    const double h = 1e-6;
    for (const std::string& n : wrt_names) {
      const std::vector<double>& analytic = r.outputs["d_" + n].data;
      for (size_t i = 0; i < analytic.size(); ++i) {
        std::map<std::string, RefTensor> plus = feeds, minus = feeds;
        plus[n].data[i] += h;
        minus[n].data[i] -= h;
        const double up = run(net.g, plus).outputs["loss"].data[0];
        const double down = run(net.g, minus).outputs["loss"].data[0];
        const double fd = (up - down) / (2 * h);
        INFO(n << "[" << i << "]");
        CHECK(analytic[i] == Approx(fd).margin(1e-7).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("BatchNorm's leaves: parameters gamma and beta, running statistics as model-scoped states",
          "[frontend][batchnorm]") {
  Net net(Shape{4, 3, 2, 2}, /*training=*/true, DType::f32);
  REQUIRE(net.b.ok());
  auto leaf = [&](const std::string& n) {
    Value v = net.g.find_leaf(n);
    REQUIRE(v.valid());
    CHECK(net.g.type(v) == TensorType{DType::f32, Shape{3}});
    Expected<LeafState> s = leaf_state(net.g.node(v));
    REQUIRE(s.ok());
    return *s;
  };
  LeafState weight = leaf("m.batchnorm0.weight"), bias = leaf("m.batchnorm0.bias");
  CHECK(weight.kind == StateKind::Parameter);
  CHECK(weight.init.kind == InitKind::Constant);
  CHECK(weight.init.a == 1.0);
  CHECK(bias.kind == StateKind::Parameter);
  CHECK(bias.init.kind == InitKind::Zeros);
  LeafState mean = leaf("m.batchnorm0.running_mean"), var = leaf("m.batchnorm0.running_var");
  for (const LeafState& s : {mean, var}) {
    CHECK(s.kind == StateKind::RunningStat);
    CHECK(s.scope == StateScope::Model);
  }
  CHECK(mean.init.kind == InitKind::Zeros);
  CHECK(var.init.kind == InitKind::Constant);
  CHECK(var.init.a == 1.0);
  // Only gamma and beta are trainable.
  std::set<std::string> params;
  for (Value v : net.g.parameters()) params.insert(net.g.node(v).name);
  CHECK(params == std::set<std::string>{"m.batchnorm0.weight", "m.batchnorm0.bias"});
  // The eval graph of the same layer names the same leaves.
  Graph eval("m");
  Builder b(eval);
  nn::Context ctx{b, /*training=*/false, 0, "m"};
  (*net.bn)(ctx, b.input("x", net.x.type()));
  REQUIRE(b.ok());
  for (const char* n : {"m.batchnorm0.weight", "m.batchnorm0.bias", "m.batchnorm0.running_mean",
                        "m.batchnorm0.running_var"})
    CHECK(eval.find_leaf(n).valid());
}

TEST_CASE("a training step updates gamma and beta but leaves the running statistics to the layer",
          "[frontend][batchnorm]") {
  std::mt19937_64 rng(5);
  Shape shape{4, 2, 3, 3};
  Layout l{shape};
  Net net(shape, /*training=*/true);
  net.b.output("loss", mean(square(net.y - 0.5)));
  OptimizerConfig sgd;
  sgd.momentum = 0.9;
  Expected<bool> done = TrainingStepPass("loss", sgd).run(net.g);
  INFO((done.ok() ? std::string() : done.error().message()));
  REQUIRE(done.ok());
  // Momentum slots exist for the parameters only.
  CHECK(net.g.find_leaf("m.batchnorm0.weight.momentum").valid());
  CHECK_FALSE(net.g.find_leaf("m.batchnorm0.running_mean.momentum").valid());
  CHECK_FALSE(net.g.find_leaf("m.batchnorm0.running_var.momentum").valid());

  std::vector<double> x = uniform(rng, shape.numel(), -1.0, 2.0);
  InterpreterResult r = run(net.g, {{"x", RefTensor{net.x.type(), x}}});
  std::vector<double> batch_mean, batch_var;
  channel_stats(l, x, batch_mean, batch_var);
  const double n = static_cast<double>(l.per_channel());
  for (int64_t k = 0; k < l.channels(); ++k) {
    CHECK(r.states["m.batchnorm0.running_mean"].data[k] == Approx(kMomentum * batch_mean[k]).epsilon(1e-14));
    CHECK(r.states["m.batchnorm0.running_var"].data[k] ==
          Approx(1 - kMomentum + kMomentum * batch_var[k] * n / (n - 1)).epsilon(1e-14));
  }
  CHECK(r.states.count("m.batchnorm0.weight") == 1);
  CHECK(r.states.count("m.batchnorm0.bias") == 1);
}

TEST_CASE("BatchNorm errors name the layer, the input and the user's line, and lazy channels",
          "[frontend][batchnorm]") {
  {
    Graph g("m");
    Builder b(g);
    nn::Context ctx{b, true, 0, "m"};
    nn::BatchNorm2d bn(3);
    Tensor x = b.input("x", TensorType{DType::f32, Shape{4, 5, 2, 2}});
    int line = __LINE__ + 1;
    CHECK_FALSE(bn(ctx, x).valid());
    REQUIRE_FALSE(b.ok());
    const std::string msg = b.status().error().message();
    CHECK_THAT(msg, Catch::Contains("BatchNorm2d(3)") && Catch::Contains("f32[4,5,2,2]") &&
                        Catch::Contains("norm_layers_test.cpp:" + std::to_string(line)));
  }
  {
    Graph g("m");
    Builder b(g);
    nn::Context ctx{b, true, 0, "m"};
    nn::BatchNorm1d bn(4);
    CHECK_FALSE(bn(ctx, b.input("x", TensorType{DType::f32, Shape{2, 4, 1, 1}})).valid());
    CHECK_THAT(b.status().error().message(), Catch::Contains("BatchNorm1d(4)") && Catch::Contains("[N, C]"));
  }
  {
    // One value per channel in training: PyTorch refuses, so does kiln. Eval accepts it.
    Graph g("m");
    Builder b(g);
    nn::Context ctx{b, true, 0, "m"};
    nn::BatchNorm1d bn(4);
    CHECK_FALSE(bn(ctx, b.input("x", TensorType{DType::f32, Shape{1, 4}})).valid());
    CHECK_THAT(b.status().error().message(), Catch::Contains("more than one value per channel"));
    Graph ge("m");
    Builder be(ge);
    nn::Context eval{be, false, 0, "m"};
    CHECK(bn(eval, be.input("x", TensorType{DType::f32, Shape{1, 4}})).valid());
  }
  {
    Graph g("m");
    Builder b(g);
    nn::Context ctx{b, true, 0, "m"};
    nn::BatchNorm2d lazy(0, "bn");
    Tensor y = lazy(ctx, b.input("x", TensorType{DType::f32, Shape{2, 6, 3, 3}}));
    REQUIRE(b.ok());
    CHECK(y.shape() == Shape{2, 6, 3, 3});
    CHECK(lazy.describe() == "BatchNorm2d(6)");
    CHECK(g.type(g.find_leaf("bn.running_var")) == TensorType{DType::f32, Shape{6}});
  }
}
