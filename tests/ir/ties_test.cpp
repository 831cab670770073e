// Gradients where finite differences cannot judge them, checked against exact values
// through the reference interpreter: ties in reduce_max (split evenly, as JAX and
// PyTorch's amax) and in elementwise max/min (half to each side, as PyTorch), and
// stop_gradient (no gradient at all). tests/codegen/parity_test.cpp runs the same kind
// of differentiated graph through the JIT.
#include <functional>

#include "ir/test_util.h"
#include "passes/autodiff.h"

namespace kiln {
namespace {

using V = std::vector<double>;

TensorType f64(std::vector<int64_t> d) { return TensorType{DType::f64, Shape(std::move(d))}; }

// d(loss)/d(input k) for loss = build(inputs), every input fed with its values.
std::vector<V> grads_of(const std::vector<std::pair<TensorType, V>>& ins,
                        const std::function<Tensor(std::vector<Tensor>&)>& build) {
  Graph g("ties");
  Builder b(g);
  std::vector<Tensor> xs;
  std::vector<Value> wrt;
  std::map<std::string, RefTensor> feeds;
  for (size_t i = 0; i < ins.size(); ++i) {
    std::string name = "x" + std::to_string(i);
    xs.push_back(b.input(name, ins[i].first));
    wrt.push_back(xs.back().value());
    feeds[name] = test::ref(ins[i].first, ins[i].second);
  }
  Tensor loss = build(xs);
  REQUIRE(b.ok());
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), wrt);
  INFO((grads.ok() ? std::string() : grads.error().message()));
  REQUIRE(grads.ok());
  for (size_t i = 0; i < grads->size(); ++i) g.add_output("g" + std::to_string(i), (*grads)[i]);
  std::vector<V> out;
  for (size_t i = 0; i < grads->size(); ++i)
    out.push_back(test::run_output(g, feeds, "g" + std::to_string(i)).data);
  return out;
}

}  // namespace

TEST_CASE("ties: reduce_max splits the gradient evenly among tied maxima", "[ties]") {
  auto all = [](std::vector<Tensor>& x) { return max(x[0]); };
  CHECK(grads_of({{f64({4}), {1, 3, 3, 2}}}, all)[0] == V{0, 0.5, 0.5, 0});
  CHECK(grads_of({{f64({4}), {2, 2, 2, 2}}}, all)[0] == V{0.25, 0.25, 0.25, 0.25});
  CHECK(grads_of({{f64({3}), {-1, 5, 0}}}, all)[0] == V{0, 1, 0});
  // Per row, with the upstream gradient weighted: row 0 has two ties, row 1 three.
  auto rows = [](std::vector<Tensor>& x) {
    Tensor w = x[0].builder()->constant_data({2, 3}, f64({2, 1}));
    return sum(mul(max(x[0], {1}, /*keepdims=*/true), w));
  };
  CHECK(grads_of({{f64({2, 4}), {1, 3, 3, 2, 5, 5, 5, 0}}}, rows)[0] ==
        V{0, 1, 1, 0, 1, 1, 1, 0});
  // Over the leading axis of [3, 2]: column 0 ties all three, column 1 has one max.
  auto cols = [](std::vector<Tensor>& x) { return sum(max(x[0], {0})); };
  CHECK(grads_of({{f64({3, 2}), {4, 1, 4, 9, 4, 2}}}, cols)[0] ==
        V{1.0 / 3, 0, 1.0 / 3, 1, 1.0 / 3, 0});
  // A NaN max equals nothing: no NaN leaks into the gradient of the other rows.
  auto grad_nan = grads_of({{f64({2, 2}), {NAN, 1, 2, 2}}}, [](std::vector<Tensor>& x) {
    return sum(max(x[0], {1}));
  })[0];
  CHECK(grad_nan[0] == 0);
  CHECK(grad_nan[1] == 0);
  CHECK(grad_nan[2] == 0.5);
  CHECK(grad_nan[3] == 0.5);
}

TEST_CASE("ties: elementwise max/min give half the gradient to each side", "[ties]") {
  auto mx = [](std::vector<Tensor>& x) { return sum(maximum(x[0], x[1])); };
  auto mn = [](std::vector<Tensor>& x) { return sum(minimum(x[0], x[1])); };
  std::vector<std::pair<TensorType, V>> ab = {{f64({3}), {1, 2, 3}}, {f64({3}), {3, 2, 1}}};
  std::vector<V> gmax = grads_of(ab, mx);
  CHECK(gmax[0] == V{0, 0.5, 1});
  CHECK(gmax[1] == V{1, 0.5, 0});
  std::vector<V> gmin = grads_of(ab, mn);
  CHECK(gmin[0] == V{1, 0.5, 0});
  CHECK(gmin[1] == V{0, 0.5, 1});
  // maximum(x, x) is x: the two halves add up to the full gradient.
  CHECK(grads_of({{f64({2}), {-1, 4}}}, [](std::vector<Tensor>& x) {
          return sum(maximum(x[0], x[0]));
        })[0] == V{1, 1});
  // relu written as maximum(x, 0): the kink at 0 gets half.
  CHECK(grads_of({{f64({3}), {-1, 0, 2}}}, [](std::vector<Tensor>& x) {
          return sum(maximum(x[0], 0.0));
        })[0] == V{0, 0.5, 1});
}

TEST_CASE("stop_gradient passes the value and no gradient", "[ties]") {
  // d/dx sum(x * sg(x)) = sg(x) = x, not 2x.
  CHECK(grads_of({{f64({3}), {1, -2, 3}}}, [](std::vector<Tensor>& x) {
          return sum(mul(x[0], stop_gradient(x[0])));
        })[0] == V{1, -2, 3});
  // Nothing but the stopped path: the gradient is zero (not an error).
  CHECK(grads_of({{f64({2}), {5, 6}}}, [](std::vector<Tensor>& x) {
          return sum(exp(stop_gradient(x[0])));
        })[0] == V{0, 0});
}

TEST_CASE("pad and slice send gradients exactly where the values came from", "[ties]") {
  // pad: only the interior gets gradient (weights 1..12 over the padded [3, 4]).
  CHECK(grads_of({{f64({1, 2}), {7, 8}}}, [](std::vector<Tensor>& x) {
          Tensor w = x[0].builder()->constant_data({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                                                   f64({3, 4}));
          return sum(mul(pad(x[0], {1, 1}, {1, 1}, 9.0), w));
        })[0] == V{6, 7});
  // A strided slice picks 1, 4 and 7 of 0..8.
  CHECK(grads_of({{f64({9}), V(9, 1.0)}}, [](std::vector<Tensor>& x) {
          Tensor w = x[0].builder()->constant_data({10, 20, 30}, f64({3}));
          return sum(mul(slice(x[0], 0, 1, 8, 3), w));
        })[0] == V{0, 10, 0, 0, 20, 0, 0, 30, 0});
}

}  // namespace kiln
