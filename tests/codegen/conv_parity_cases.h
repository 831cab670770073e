// Parity case families for convolution and pooling (JIT vs the reference interpreter):
// every convolution geometry the zoo uses and odd ones (stride, padding, dilation,
// groups, non-square), the three convolution ops on their own, pooling and its
// gradients with overlapping windows, padding and non-divisible adaptive sizes (max
// pooling's indices compared exactly, on their own and with ties), and
// convolutions with fused epilogues (bias, batch-norm scale/shift, residual, ReLU, the
// ReLU-backward mask, the in-place SGD update of the weights).
#pragma once

#include <limits>
#include <string>

#include "parity_cases.h"
#include "passes/autodiff.h"

namespace kiln::test {

struct ConvCaseShape {
  int64_t n, c, h, w, f, kh, kw;
  Conv2dOptions o;
};

inline std::string conv_case_name(const std::string& what, const ConvCaseShape& s, DType dt) {
  return what + " x=[" + std::to_string(s.n) + "," + std::to_string(s.c) + "," +
         std::to_string(s.h) + "," + std::to_string(s.w) + "] f=" + std::to_string(s.f) + " k=" +
         std::to_string(s.kh) + "x" + std::to_string(s.kw) + " s=" + std::to_string(s.o.stride[0]) +
         "," + std::to_string(s.o.stride[1]) + " p=" + std::to_string(s.o.padding[0]) + "," +
         std::to_string(s.o.padding[1]) + " d=" + std::to_string(s.o.dilation[0]) + "," +
         std::to_string(s.o.dilation[1]) + " g=" + std::to_string(s.o.groups) + " " + dtype_name(dt);
}

inline std::vector<ConvCaseShape> conv_case_shapes() {
  auto opts = [](int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t g) {
    Conv2dOptions o;
    o.stride = {sh, sw};
    o.padding = {ph, pw};
    o.dilation = {dh, dw};
    o.groups = g;
    return o;
  };
  return {
      {2, 1, 12, 12, 6, 5, 5, opts(1, 1, 2, 2, 1, 1, 1)},   // LeNet's first layer
      {3, 6, 7, 7, 16, 5, 5, opts(1, 1, 0, 0, 1, 1, 1)},    // LeNet's second
      {2, 3, 23, 19, 5, 11, 11, opts(4, 4, 1, 1, 1, 1, 1)}, // AlexNet-like, non-square
      {2, 8, 9, 9, 8, 3, 3, opts(1, 1, 1, 1, 1, 1, 1)},     // VGG/ResNet 3x3
      {3, 4, 9, 8, 6, 3, 3, opts(2, 2, 1, 1, 1, 1, 1)},     // 3x3 stride 2
      {2, 12, 5, 6, 7, 1, 1, opts(1, 1, 0, 0, 1, 1, 1)},    // 1x1
      {2, 6, 11, 10, 9, 3, 2, opts(2, 3, 2, 1, 2, 1, 3)},   // dilated, grouped, odd
      {1, 4, 8, 8, 4, 3, 3, opts(1, 1, 1, 1, 1, 1, 2)},     // groups 2
      {2, 3, 6, 7, 2, 2, 3, opts(3, 2, 0, 1, 1, 2, 1)},     // stride > kernel rows
  };
}

inline Cases conv_cases() {
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    for (const ConvCaseShape& s : conv_case_shapes()) {
      ParityOptions po;
      po.rtol = dt == DType::f32 ? 3e-5 : 1e-11;
      cs.push_back(make_case(conv_case_name("conv", s, dt), [&](Builder& b) {
        Tensor x = b.input("x", {dt, Shape{s.n, s.c, s.h, s.w}});
        Tensor w = b.input("w", {dt, Shape{s.f, s.c / s.o.groups, s.kh, s.kw}});
        Tensor y = conv2d(x, w, s.o);
        b.output("y", y);
        Tensor dy = b.input("dy", y.type());
        b.output("dx", conv2d_input_grad(dy, w, {s.h, s.w}, s.o));
        b.output("dw", conv2d_weight_grad(x, dy, {s.kh, s.kw}, s.o));
      }, po));
    }
  }
  return cs;
}

inline Cases pool_cases() {
  Cases cs;
  auto pool = [](int64_t k, int64_t s, int64_t p, bool include_pad = true) {
    Pool2dOptions o;
    o.kernel = {k, k};
    o.stride = {s, s};
    o.padding = {p, p};
    o.count_include_pad = include_pad;
    return o;
  };
  struct PoolShape {
    Shape x;
    Pool2dOptions o;
  };
  Pool2dOptions rect = pool(3, 2, 1);
  rect.kernel = {2, 3};
  rect.stride = {1, 2};
  rect.padding = {1, 0};
  std::vector<PoolShape> shapes = {
      {Shape{2, 3, 8, 8}, pool(2, 2, 0)},         // LeNet / VGG
      {Shape{2, 2, 9, 11}, pool(3, 2, 1)},        // ResNet's 3x3/2 pad 1, overlapping
      {Shape{1, 3, 13, 13}, pool(3, 2, 0)},       // AlexNet's 3x3/2
      {Shape{2, 2, 7, 6}, pool(3, 1, 1, false)},  // GoogLeNet's 3x3/1 pad 1, no pad count
      {Shape{1, 2, 7, 9}, rect},
  };
  for (DType dt : {DType::f32, DType::f64}) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      const PoolShape& s = shapes[i];
      cs.push_back(make_case("pool " + std::to_string(i) + " " + dtype_name(dt), [&](Builder& b) {
        Tensor x = b.input("x", {dt, s.x});
        Tensor mp = max_pool2d(x, s.o);
        Tensor ap = avg_pool2d(x, s.o);
        Tensor indices = max_pool2d_indices(x, s.o);
        b.output("max", mp);
        b.output("avg", ap);
        b.output("indices", indices);
        Tensor dy = b.input("dy", mp.type());
        b.output("dmax", max_pool2d_grad(indices, dy, {s.x[2], s.x[3]}, s.o));
        b.output("davg", avg_pool2d_grad(dy, {s.x[2], s.x[3]}, s.o));
      }));
    }
    // Adaptive pooling, divisible and not (5 -> 3, 7 -> 1, 6 -> 4).
    cs.push_back(make_case(std::string("adaptive pool ") + dtype_name(dt), [&](Builder& b) {
      Tensor x = b.input("x", {dt, Shape{2, 3, 5, 7}});
      for (auto os : {std::array<int64_t, 2>{3, 1}, std::array<int64_t, 2>{5, 4},
                      std::array<int64_t, 2>{1, 7}}) {
        std::string tag = std::to_string(os[0]) + "x" + std::to_string(os[1]);
        Tensor y = adaptive_avg_pool2d(x, os);
        b.output("y" + tag, y);
        Tensor dy = b.input("dy" + tag, y.type());
        b.output("dx" + tag, adaptive_avg_pool2d_grad(dy, {5, 7}));
      }
    }));
  }
  // Ties: the indices are each window's first maximum, the gradient goes there, and the
  // gradient's own dy gradient (the rule's gather) reads g there.
  ParityOptions ties;
  ties.gens["x"] = [](std::mt19937_64& r, int64_t) { return double(r() % 3); };
  cs.push_back(make_case("max pool ties", [&](Builder& b) {
    Tensor x = b.input("x", {DType::f32, Shape{2, 2, 7, 7}});
    Pool2dOptions o = pool(3, 2, 1);
    Tensor indices = max_pool2d_indices(x, o);
    b.output("indices", indices);
    Tensor dy = b.input("dy", max_pool2d(x, o).type());
    Tensor dx = max_pool2d_grad(indices, dy, {7, 7}, o);
    b.output("dx", dx);
    Tensor g = b.input("g", x.type());
    Expected<std::vector<Value>> ddy = gradients(b.graph(), sum(dx * g).value(), {dy.value()});
    REQUIRE(ddy.ok());
    b.output("ddy", Tensor(&b, (*ddy)[0]));
  }, ties));
  // The indices alone (the kernel's root), over -inf and NaN inputs too.
  ParityOptions specials;
  specials.gens["x"] = [](std::mt19937_64& r, int64_t) {
    const double inf = std::numeric_limits<double>::infinity();
    const double values[] = {-inf, -inf, std::numeric_limits<double>::quiet_NaN(), 1, 2};
    return values[r() % 5];
  };
  for (DType dt : {DType::f32, DType::f64})
    cs.push_back(make_case(std::string("max pool indices ") + dtype_name(dt), [&](Builder& b) {
      Tensor x = b.input("x", {dt, Shape{2, 3, 9, 8}});
      b.output("k3s2p1", max_pool2d_indices(x, pool(3, 2, 1)));
      b.output("k2s1p1", max_pool2d_indices(x, pool(2, 1, 1)));
    }, specials));
  return cs;
}

// Convolutions whose elementwise consumers fuse into their epilogues, and a small
// differentiated conv net (every gradient rule through the JIT).
inline Cases conv_epilogue_cases() {
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    ParityOptions po;
    po.rtol = dt == DType::f32 ? 3e-5 : 1e-11;
    cs.push_back(make_case(std::string("conv bn-eval residual relu ") + dtype_name(dt), [&](Builder& b) {
      Conv2dOptions o;
      o.padding = {1, 1};
      Tensor x = b.input("x", {dt, Shape{2, 4, 6, 5}});
      Tensor w = b.input("w", {dt, Shape{4, 4, 3, 3}});
      Tensor scale = b.input("scale", {dt, Shape{4, 1, 1}});
      Tensor shift = b.input("shift", {dt, Shape{4, 1, 1}});
      Tensor y = relu(conv2d(x, w, o) * scale + shift + x);
      b.output("y", y);
      // Two convolutions meeting in one add (ResNet's shortcut, or two gradient paths).
      Tensor w2 = b.input("w2", {dt, Shape{4, 4, 1, 1}});
      b.output("z", relu(conv2d(x, w, o) + conv2d(x, w2, Conv2dOptions{})));
    }, po));
    cs.push_back(make_case(std::string("conv train step ") + dtype_name(dt), [&](Builder& b) {
      Conv2dOptions o;
      o.padding = {1, 1};
      o.stride = {2, 2};
      Tensor x = b.input("x", {dt, Shape{3, 2, 9, 8}});
      Tensor w1 = b.parameter("w1", {dt, Shape{4, 2, 3, 3}}, InitSpec::normal(0, 0.3));
      Tensor b1 = b.parameter("b1", {dt, Shape{4}}, InitSpec::normal(0, 0.1));
      Tensor w2 = b.parameter("w2", {dt, Shape{3, 4, 3, 3}}, InitSpec::normal(0, 0.3));
      Tensor h = relu(add(conv2d(x, w1, o), reshape(b1, Shape{4, 1, 1})));
      Pool2dOptions p;
      Conv2dOptions same;
      same.padding = {1, 1};
      Tensor z = conv2d(max_pool2d(h, p), w2, same);
      Tensor loss = sum(mul(z, z));
      INFO((b.ok() ? std::string() : b.status().error().message()));
      REQUIRE(b.ok());
      Graph& g = b.graph();
      Expected<std::vector<Value>> grads =
          gradients(g, loss.value(), {w1.value(), b1.value(), w2.value()});
      INFO((grads.ok() ? std::string() : grads.error().message()));
      REQUIRE(grads.ok());
      b.output("loss", loss);
      b.output("db1", Tensor(&b, (*grads)[1]));
      // SGD on the weights: W - 0.1 * dW (the in-place update epilogue).
      b.update_state(w1, w1 - Tensor(&b, (*grads)[0]) * 0.1);
      b.update_state(w2, w2 - Tensor(&b, (*grads)[2]) * 0.1);
    }, po));
  }
  return cs;
}

// Training-mode batch norm over [n, c, h, w] (batch statistics), as the layers build it.
inline Tensor bn_train(const Tensor& z, const Tensor& gamma, const Tensor& beta) {
  Tensor m = mean(z, {0, 2, 3}, true);
  Tensor d = z - m;
  Tensor var = mean(d * d, {0, 2, 3}, true);
  return d * (gamma / sqrt(var + 1e-5)) + beta;
}

// Convolutions whose input is relu(bn_train(z) [+ residual]) of a previous convolution's
// output z: the value becomes the prologue of the forward and weight-gradient convolution
// (passes/fusion.h), on geometries that take each runtime path (Winograd, folded small
// maps, dense tiny maps, direct, im2col, pointwise, groups) with odd batch sizes.
inline Cases conv_prologue_cases() {
  auto opts = [](int64_t s, int64_t p, int64_t g) {
    Conv2dOptions o;
    o.stride = {s, s};
    o.padding = {p, p};
    o.groups = g;
    return o;
  };
  const std::vector<ConvCaseShape> shapes = {
      {21, 8, 6, 6, 8, 3, 3, opts(1, 1, 1)},    // Winograd, two image blocks
      {9, 32, 24, 24, 32, 3, 3, opts(1, 1, 1)},  // Winograd weight gradient, 1-2 blocks a slice
      {29, 6, 7, 9, 5, 3, 3, opts(2, 1, 1)},    // folded small map, several blocks
      {7, 8, 2, 2, 6, 3, 3, opts(1, 1, 1)},     // dense tiny map
      {3, 4, 12, 10, 6, 3, 3, opts(1, 1, 1)},   // direct kernel
      {3, 4, 17, 15, 7, 3, 3, opts(2, 1, 1)},   // im2col
      {3, 6, 9, 9, 5, 1, 1, opts(1, 0, 1)},     // pointwise, read in place without prologue
      {5, 6, 5, 7, 4, 3, 3, opts(1, 1, 2)},     // groups
  };
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    for (const ConvCaseShape& s : shapes) {
      for (bool residual : {false, true}) {
        ParityOptions po;
        // dw sums n*h*w terms: over 5,000 (Winograd's case), f32 rounding reaches 1e-4 of
        // max(1, |dw|) where the terms cancel.
        po.rtol = dt == DType::f32 ? (s.n * s.h * s.w > 4096 ? 5e-4 : 1e-4) : 1e-10;
        const std::string what = residual ? "prologue bn+res+relu" : "prologue bn+relu";
        cs.push_back(make_case(conv_case_name(what, s, dt), [&](Builder& b) {
          Conv2dOptions same;
          same.padding = {1, 1};
          Tensor x0 = b.input("x0", {dt, Shape{s.n, 3, s.h, s.w}});
          Tensor w0 = b.input("w0", {dt, Shape{s.c, 3, 3, 3}});
          Tensor gamma = b.input("gamma", {dt, Shape{1, s.c, 1, 1}});
          Tensor beta = b.input("beta", {dt, Shape{1, s.c, 1, 1}});
          Tensor z = conv2d(x0, w0, same);
          Tensor pre = bn_train(z, gamma, beta);
          if (residual) pre = pre + b.input("r", {dt, Shape{s.n, s.c, s.h, s.w}});
          Tensor a = relu(pre);
          Tensor w = b.input("w", {dt, Shape{s.f, s.c / s.o.groups, s.kh, s.kw}});
          Tensor y = conv2d(a, w, s.o);
          b.output("y", y);
          Tensor dy = b.input("dy", y.type());
          b.output("dw", conv2d_weight_grad(a, dy, {s.kh, s.kw}, s.o));
          b.output("s", sum(a * a));  // a loop consumer that inlines the value
        }, po));
      }
    }
  }
  // A training step: conv-BN-ReLU, conv-BN + residual-ReLU, conv, loss, gradients and SGD
  // (prologues in the forward and weight-gradient convolutions with in-place updates, the
  // ReLU masks of the backward pass recomputing the values).
  for (DType dt : {DType::f32, DType::f64}) {
    ParityOptions po;
    po.rtol = dt == DType::f32 ? 2e-4 : 1e-9;
    po.runs = 2;
    cs.push_back(make_case(std::string("prologue train step ") + dtype_name(dt), [&](Builder& b) {
      Conv2dOptions same;
      same.padding = {1, 1};
      const int64_t c = 8;
      Tensor x = b.input("x", {dt, Shape{5, 3, 6, 7}});
      auto param = [&](const char* name, Shape sh, double sd) {
        return b.parameter(name, {dt, std::move(sh)}, InitSpec::normal(0, sd));
      };
      Tensor w0 = param("w0", Shape{c, 3, 3, 3}, 0.3);
      Tensor w1 = param("w1", Shape{c, c, 3, 3}, 0.2);
      Tensor w2 = param("w2", Shape{c, c, 3, 3}, 0.2);
      Tensor w3 = param("w3", Shape{4, c, 3, 3}, 0.2);
      Tensor g0 = param("g0", Shape{1, c, 1, 1}, 0.5), b0 = param("b0", Shape{1, c, 1, 1}, 0.1);
      Tensor g1 = param("g1", Shape{1, c, 1, 1}, 0.5), b1 = param("b1", Shape{1, c, 1, 1}, 0.1);
      Tensor g2 = param("g2", Shape{1, c, 1, 1}, 0.5), b2 = param("b2", Shape{1, c, 1, 1}, 0.1);
      Tensor a0 = relu(bn_train(conv2d(x, w0, same), g0, b0));
      Tensor a1 = relu(bn_train(conv2d(a0, w1, same), g1, b1));
      Tensor a2 = relu(bn_train(conv2d(a1, w2, same), g2, b2) + a0);
      Tensor z = conv2d(a2, w3, same);
      Tensor loss = mean(mul(z, z));  // well-conditioned: the weights stay O(1)
      REQUIRE(b.ok());
      std::vector<Tensor> params = {w0, w1, w2, w3, g0, b0, g1, b1, g2, b2};
      std::vector<Value> pv;
      for (const Tensor& t : params) pv.push_back(t.value());
      Expected<std::vector<Value>> grads = gradients(b.graph(), loss.value(), pv);
      INFO((grads.ok() ? std::string() : grads.error().message()));
      REQUIRE(grads.ok());
      b.output("loss", loss);
      for (size_t i = 0; i < params.size(); ++i)
        b.update_state(params[i], params[i] - Tensor(&b, (*grads)[i]) * 0.01);
    }, po));
  }
  return cs;
}

}  // namespace kiln::test
