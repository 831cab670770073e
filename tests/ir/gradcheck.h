// Finite-difference gradient checks for op tests (the same method as gradcheck_test.cpp):
// the gradient autodiff builds for loss = sum(f(x...) * w), w fixed random weights, is
// compared through the reference interpreter in f64 with central differences, and so is
// the gradient of that gradient (second order: rules are graphs, so they are
// differentiated again, which checks the rules of the ops the first rules emit).
#pragma once

#include <algorithm>
#include <functional>
#include <set>

#include "ir/test_util.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"

namespace kiln::gradcheck {

struct Input {
  TensorType type;                // f64
  std::vector<double> data = {};  // empty: uniform in [-1, 1)
};

struct Case {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(std::vector<Tensor>&)> build;
  double eps = 1e-6;
  double tol = 1e-6;
};

inline TensorType f64(std::vector<int64_t> dims) {
  return TensorType{DType::f64, Shape(std::move(dims))};
}

// n distinct values in [-1, 1), at least 2/n apart, in random order: no ties for a max,
// and no finite-difference step (eps << 2/n) can reorder them.
inline std::vector<double> distinct_values(std::mt19937_64& rng, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(n);
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// Checks d(outputs[loss])/d(x_k) against outputs[grads[k]] element by element.
inline void check_against_fd(const Case& c, const Graph& g,
                             const std::map<std::string, RefTensor>& feeds,
                             const std::string& loss, const std::vector<std::string>& grads) {
  Expected<InterpreterResult> r = interpret(g, feeds);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  for (size_t k = 0; k < grads.size(); ++k) {
    const std::string in = "x" + std::to_string(k);
    const RefTensor& analytic = r->outputs.at(grads[k]);
    REQUIRE(analytic.data.size() == feeds.at(in).data.size());
    for (size_t e = 0; e < analytic.data.size(); ++e) {
      std::map<std::string, RefTensor> f = feeds;
      const double x0 = f[in].data[e];
      f[in].data[e] = x0 + c.eps;
      const double lp = test::run_output(g, f, loss).data.at(0);
      f[in].data[e] = x0 - c.eps;
      const double lm = test::run_output(g, f, loss).data.at(0);
      const double numeric = (lp - lm) / (2 * c.eps), a = analytic.data[e];
      INFO(c.name << ": d" << loss << "/d" << in << "[" << e << "] analytic " << a << " numeric "
                  << numeric);
      CHECK(std::abs(a - numeric) <= c.tol * std::max({1.0, std::abs(a), std::abs(numeric)}));
    }
  }
}

// sum(t * w) for fixed random weights w of t's type.
inline Tensor weighted_sum(Builder& b, const Tensor& t, std::mt19937_64& rng) {
  return sum(mul(t, b.constant_data(test::uniform_data(rng, t.numel(), -1.0, 1.0), t.type())));
}

// Checks the case to first and second order; adds the ops it built to `covered`.
inline void run(const Case& c, std::mt19937_64& rng, std::set<OpKind>* covered = nullptr) {
  INFO("case: " << c.name);
  Graph g("gradcheck");
  Builder b(g);
  std::vector<Tensor> xs;
  std::vector<Value> wrt;
  std::map<std::string, RefTensor> feeds;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Input& in = c.inputs[i];
    REQUIRE(in.type.dtype == DType::f64);
    const std::string name = "x" + std::to_string(i);
    xs.push_back(b.input(name, in.type));
    wrt.push_back(xs.back().value());
    feeds[name] = test::ref(in.type, in.data.empty()
                                         ? test::uniform_data(rng, in.type.shape.numel(), -1, 1)
                                         : in.data);
  }
  const int first_op = g.size();
  Tensor out = c.build(xs);
  INFO((b.ok() ? std::string() : b.status().error().message()));
  REQUIRE(b.ok());
  for (int id = first_op; covered && id < g.size(); ++id) covered->insert(g.node(id).op);
  Tensor loss = weighted_sum(b, out, rng);
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), wrt);
  INFO((grads.ok() ? std::string() : grads.error().message()));
  REQUIRE(grads.ok());
  g.add_output("loss", loss.value());
  std::vector<std::string> names, names2;
  Tensor loss2;
  for (size_t k = 0; k < grads->size(); ++k) {
    names.push_back("g" + std::to_string(k));
    g.add_output(names.back(), (*grads)[k]);
    REQUIRE(g.type((*grads)[k]) == g.type(wrt[k]));
    Tensor term = weighted_sum(b, Tensor(&b, (*grads)[k]), rng);
    loss2 = loss2.valid() ? add(loss2, term) : term;
  }
  REQUIRE(b.ok());
  Expected<std::vector<Value>> grads2 = gradients(g, loss2.value(), wrt);
  INFO((grads2.ok() ? std::string() : grads2.error().message()));
  REQUIRE(grads2.ok());
  g.add_output("loss2", loss2.value());
  for (size_t k = 0; k < grads2->size(); ++k) {
    names2.push_back("gg" + std::to_string(k));
    g.add_output(names2.back(), (*grads2)[k]);
  }
  Status st = verify(g);
  INFO((st.ok() ? std::string() : st.error().message()));
  REQUIRE(st.ok());
  check_against_fd(c, g, feeds, "loss", names);
  check_against_fd(c, g, feeds, "loss2", names2);
}

}  // namespace kiln::gradcheck
