// Helpers shared by the attention and transformer layer tests: random feeds for a layer
// graph's leaves, the parameter leaves it created, and f64 finite-difference gradient
// checks of a layer's output with respect to every float input and parameter, through
// the reference interpreter (the method of rnn_layers_test.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ir/interpreter.h"
#include "passes/autodiff.h"
#include "reference_eval.h"

namespace kiln::test {

inline std::vector<double> uniform_values(std::mt19937_64& rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

// Names of the float Input and Parameter leaves of g, in graph order.
inline std::vector<std::string> float_leaves(const Graph& g) {
  std::vector<std::string> names;
  for (const Node& n : g.nodes())
    if ((n.op == OpKind::Input || n.op == OpKind::Parameter) && is_float(n.dtype()))
      names.push_back(n.name);
  return names;
}

// Parameter leaves of g: name -> type.
inline std::map<std::string, TensorType> parameter_types(const Graph& g) {
  std::map<std::string, TensorType> types;
  for (const Node& n : g.nodes())
    if (n.op == OpKind::Parameter) types[n.name] = n.type;
  return types;
}

// `fixed` plus U(-1, 1) values for every other float Input and Parameter leaf.
inline std::map<std::string, RefTensor> random_feeds(const Graph& g, std::mt19937_64& rng,
                                                     std::map<std::string, RefTensor> fixed = {}) {
  for (const Node& n : g.nodes())
    if ((n.op == OpKind::Input || n.op == OpKind::Parameter) && is_float(n.dtype()) &&
        !fixed.count(n.name))
      fixed[n.name] = RefTensor{n.type, uniform_values(rng, n.type.shape.numel(), -1, 1)};
  return fixed;
}

// loss = sum(out * w), w fixed random weights; autodiff's gradient of loss w.r.t. every
// float input and parameter (f64) against central differences, element by element.
// Every leaf but those in `no_gradient` must get some nonzero gradient (a disconnected
// parameter fails); those in `no_gradient` must get zero (up to rounding). `fixed` feeds the
// non-float inputs (valid lengths) and any leaf given on purpose.
inline void check_layer_gradients(Graph& g, const Tensor& out,
                                  const std::map<std::string, RefTensor>& fixed,
                                  std::mt19937_64& rng,
                                  const std::set<std::string>& no_gradient = {},
                                  double eps = 1e-6, double tol = 1e-6) {
  REQUIRE(out.valid());
  Builder& b = *out.builder();
  Tensor loss = sum(out * b.constant_data(uniform_values(rng, out.numel(), -1, 1), out.type()));
  const std::vector<std::string> wrt = float_leaves(g);
  REQUIRE(!wrt.empty());
  std::vector<Value> leaves;
  for (const std::string& n : wrt) leaves.push_back(g.find_leaf(n));
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), leaves);
  INFO((grads.ok() ? std::string() : grads.error().message()));
  REQUIRE(grads.ok());
  g.add_output("loss", loss.value());
  for (size_t k = 0; k < wrt.size(); ++k) g.add_output("grad" + std::to_string(k), (*grads)[k]);
  INFO((b.ok() ? std::string() : b.status().error().message()));
  REQUIRE(b.ok());
  std::map<std::string, RefTensor> feeds = random_feeds(g, rng, fixed);
  InterpreterResult r = run_reference(g, feeds);
  for (size_t k = 0; k < wrt.size(); ++k) {
    const std::vector<double>& analytic = r.outputs.at("grad" + std::to_string(k)).data;
    REQUIRE(analytic.size() == feeds.at(wrt[k]).data.size());
    double largest = 0;
    for (size_t e = 0; e < analytic.size(); ++e) {
      std::map<std::string, RefTensor> f = feeds;
      const double x0 = f[wrt[k]].data[e];
      f[wrt[k]].data[e] = x0 + eps;
      const double lp = run_reference(g, f).outputs.at("loss").data.at(0);
      f[wrt[k]].data[e] = x0 - eps;
      const double lm = run_reference(g, f).outputs.at("loss").data.at(0);
      const double numeric = (lp - lm) / (2 * eps), a = analytic[e];
      INFO("d loss / d " << wrt[k] << "[" << e << "]: analytic " << a << " numeric " << numeric);
      CHECK(std::abs(a - numeric) <= tol * std::max({1.0, std::abs(a), std::abs(numeric)}));
      largest = std::max(largest, std::abs(a));
    }
    if (no_gradient.count(wrt[k])) {
      INFO(wrt[k] << " gets a gradient");
      CHECK(largest <= 1e-10);  // zero up to rounding
    } else {
      INFO(wrt[k] << " gets no gradient");
      CHECK(largest > 1e-8);
    }
  }
}

// A graph "m" with an eval (or training) context whose prefix is "m".
struct Net {
  Graph g{"m"};
  Builder b{g};
  nn::Context ctx;
  explicit Net(bool training = false) : ctx(b, training, 0, "m") {}
  Tensor input(const std::string& name, DType dt, std::vector<int64_t> dims) {
    return b.input(name, TensorType{dt, Shape(std::move(dims))});
  }
};

inline RefTensor ref(DType dt, std::vector<int64_t> dims, std::vector<double> data) {
  return RefTensor{TensorType{dt, Shape(std::move(dims))}, std::move(data)};
}

}  // namespace kiln::test
