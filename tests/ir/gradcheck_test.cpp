// Gradient checks: for every op with a gradient rule, the autodiff gradient of
// loss = sum(op(x...) * w) (w fixed random weights) is compared, through the reference
// interpreter in f64, with central finite differences. Each case is also checked to
// second order (the gradient graph is itself differentiated and checked), since rules are
// graphs. Inputs are drawn away from kinks (|x| >= 0.2 for abs/relu/max/min) and inside
// domains (positive for log/sqrt/pow bases). A final check asserts the cases cover
// every op that has a rule.
#include <functional>
#include <set>

#include "ir/test_util.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"

namespace kiln {
namespace {

enum class Dist { Uniform, Positive, AwayFromZero };

struct InputSpec {
  TensorType type;
  Dist dist = Dist::Uniform;
  std::vector<double> fixed = {};  // used for integer inputs (indices)
};

struct Case {
  std::string name;
  std::vector<InputSpec> inputs;
  std::function<Tensor(Builder&, std::vector<Tensor>&)> build;
  double eps = 1e-6;
  double tol = 1e-6;
};

TensorType f64(std::vector<int64_t> dims) { return TensorType{DType::f64, Shape(std::move(dims))}; }
TensorType i64(std::vector<int64_t> dims) { return TensorType{DType::i64, Shape(std::move(dims))}; }

// Direct primitive (no frontend broadcasting), so the case exercises exactly `op`.
std::function<Tensor(Builder&, std::vector<Tensor>&)> prim(OpKind op, AttrMap attrs = {}) {
  return [op, attrs](Builder& b, std::vector<Tensor>& x) { return b.op(op, x, attrs, {}); };
}

std::vector<Case> make_cases() {
  std::mt19937_64 rng(1234);
  auto dim = [&]() { return static_cast<int64_t>(1 + rng() % 4); };
  std::vector<int64_t> s2 = {dim() + 1, dim()};  // a random rank-2 shape
  std::vector<int64_t> s3 = {dim(), dim(), dim()};
  std::vector<Case> cs;
  auto unary = [&](const char* name, OpKind op, Dist d) {
    cs.push_back({name, {{f64(s2), d}}, prim(op)});
  };
  unary("neg", OpKind::Neg, Dist::Uniform);
  unary("abs", OpKind::Abs, Dist::AwayFromZero);
  unary("exp", OpKind::Exp, Dist::Uniform);
  unary("log", OpKind::Log, Dist::Positive);
  unary("sqrt", OpKind::Sqrt, Dist::Positive);
  unary("tanh", OpKind::Tanh, Dist::Uniform);
  unary("sigmoid", OpKind::Sigmoid, Dist::Uniform);
  unary("relu", OpKind::Relu, Dist::AwayFromZero);
  cs.push_back({"cast f64->f64", {{f64(s3)}}, prim(OpKind::Cast, {{"dtype", DType::f64}})});
  // Through f32 and back: linear, so only f32 rounding limits the accuracy.
  cs.push_back({"cast f64->f32->f64",
                {{f64(s2)}},
                [](Builder& b, std::vector<Tensor>& x) {
                  Tensor t = b.op(OpKind::Cast, {x[0]}, {{"dtype", DType::f32}}, {});
                  return b.op(OpKind::Cast, {t}, {{"dtype", DType::f64}}, {});
                },
                1e-2, 1e-4});
  // x -> i64 -> f64 has no gradient: both sides must be zero.
  cs.push_back({"cast via int (no gradient)",
                {{f64(s2), Dist::AwayFromZero}},
                [](Builder& b, std::vector<Tensor>& x) {
                  Tensor t = b.op(OpKind::Cast, {mul(x[0], scalar_like(x[0], 10.0))},
                                  {{"dtype", DType::i64}}, {});
                  return add(b.op(OpKind::Cast, {t}, {{"dtype", DType::f64}}, {}), x[0]);
                }});

  auto binary = [&](const char* name, OpKind op, Dist da, Dist db) {
    cs.push_back({std::string(name) + " same shape", {{f64(s2), da}, {f64(s2), db}}, prim(op)});
    // Broadcasting through the frontend: [r, c] op [c] and [r, 1] op [r, c].
    std::vector<int64_t> row = {s2[1]}, col = {s2[0], 1};
    auto via = [op](Builder& b, std::vector<Tensor>& x) {
      switch (op) {
        case OpKind::Add: return add(x[0], x[1]);
        case OpKind::Sub: return sub(x[0], x[1]);
        case OpKind::Mul: return mul(x[0], x[1]);
        case OpKind::Div: return div(x[0], x[1]);
        case OpKind::Pow: return pow(x[0], x[1]);
        case OpKind::Max: return maximum(x[0], x[1]);
        default: return minimum(x[0], x[1]);
      }
    };
    cs.push_back({std::string(name) + " broadcast row", {{f64(s2), da}, {f64(row), db}}, via});
    cs.push_back({std::string(name) + " broadcast col", {{f64(col), da}, {f64(s2), db}}, via});
  };
  binary("add", OpKind::Add, Dist::Uniform, Dist::Uniform);
  binary("sub", OpKind::Sub, Dist::Uniform, Dist::Uniform);
  binary("mul", OpKind::Mul, Dist::Uniform, Dist::Uniform);
  binary("div", OpKind::Div, Dist::Uniform, Dist::AwayFromZero);
  binary("pow", OpKind::Pow, Dist::Positive, Dist::Uniform);
  binary("max", OpKind::Max, Dist::AwayFromZero, Dist::Uniform);
  binary("min", OpKind::Min, Dist::AwayFromZero, Dist::Uniform);
  // pow with a non-positive base and integer exponent: only the base has a gradient
  // there (the exponent's rule is guarded to 0 instead of NaN).
  cs.push_back({"pow negative base",
                {{f64(s2), Dist::AwayFromZero}},
                [](Builder& b, std::vector<Tensor>& x) {
                  return pow(neg(abs(x[0])), b.constant(3.0, x[0].type()));
                }});
  cs.push_back({"select",
                {{f64(s2), Dist::AwayFromZero}, {f64(s2)}, {f64(s2)}},
                [](Builder& b, std::vector<Tensor>& x) {
                  Tensor cond = greater(x[0], b.constant(0.0, x[0].type()));
                  return b.op(OpKind::Select, {cond, x[1], x[2]}, {}, {});
                }});

  cs.push_back({"broadcast [1,c]->[r,c]", {{f64({1, s2[1]})}},
                prim(OpKind::Broadcast, {{"shape", s2}})});
  cs.push_back({"broadcast [c]->[3,r,c]", {{f64({s2[1]})}},
                prim(OpKind::Broadcast, {{"shape", std::vector<int64_t>{3, s2[0], s2[1]}}})});
  cs.push_back({"broadcast [r,1,c]->[r,2,c]", {{f64({s2[0], 1, s2[1]})}},
                prim(OpKind::Broadcast, {{"shape", std::vector<int64_t>{s2[0], 2, s2[1]}}})});
  cs.push_back({"reshape", {{f64({2, 6})}},
                prim(OpKind::Reshape, {{"shape", std::vector<int64_t>{3, 1, 4}}})});
  cs.push_back({"permute", {{f64({2, 3, 4})}},
                prim(OpKind::Permute, {{"perm", std::vector<int64_t>{2, 0, 1}}})});
  cs.push_back({"slice step 1", {{f64({4, 5})}},
                prim(OpKind::Slice, {{"start", std::vector<int64_t>{1, 0}},
                                     {"stop", std::vector<int64_t>{3, 5}},
                                     {"step", std::vector<int64_t>{1, 1}}})});
  cs.push_back({"slice strided", {{f64({5, 7, 2})}},
                prim(OpKind::Slice, {{"start", std::vector<int64_t>{1, 0, 1}},
                                     {"stop", std::vector<int64_t>{5, 6, 2}},
                                     {"step", std::vector<int64_t>{2, 3, 1}}})});
  cs.push_back({"slice stride with tail", {{f64({9})}},
                prim(OpKind::Slice, {{"start", std::vector<int64_t>{2}},
                                     {"stop", std::vector<int64_t>{7}},
                                     {"step", std::vector<int64_t>{4}}})});
  cs.push_back({"slice to nothing", {{f64({4, 3})}},
                prim(OpKind::Slice, {{"start", std::vector<int64_t>{2, 0}},
                                     {"stop", std::vector<int64_t>{2, 3}},
                                     {"step", std::vector<int64_t>{1, 1}}})});
  cs.push_back({"slice step past the end", {{f64({5, 3})}},
                prim(OpKind::Slice, {{"start", std::vector<int64_t>{1, 0}},
                                     {"stop", std::vector<int64_t>{5, 3}},
                                     {"step", std::vector<int64_t>{7, 2}}})});
  cs.push_back({"pad", {{f64({3, 2})}},
                prim(OpKind::Pad, {{"low", std::vector<int64_t>{1, 0}},
                                   {"high", std::vector<int64_t>{2, 3}},
                                   {"value", 0.5}})});
  cs.push_back({"pad rank 3", {{f64({2, 1, 3})}},
                prim(OpKind::Pad, {{"low", std::vector<int64_t>{0, 2, 1}},
                                   {"high", std::vector<int64_t>{1, 0, 0}},
                                   {"value", -1.0}})});
  // stop_gradient blocks what finite differences see, so its case keeps the value
  // independent of what is stopped: x + sg(h) - sg(h) has derivative 1 either way. The
  // exact "no gradient" check is in ties_test.cpp.
  cs.push_back({"stop_gradient", {{f64(s2)}},
                [](Builder&, std::vector<Tensor>& x) {
                  Tensor h = stop_gradient(mul(x[0], x[0]));
                  return sub(add(x[0], h), h);
                }});
  cs.push_back({"concat", {{f64({2, 1, 3})}, {f64({2, 2, 3})}, {f64({2, 3, 3})}},
                prim(OpKind::Concat, {{"axis", int64_t{1}}})});
  cs.push_back({"concat axis 0", {{f64({1, 3})}, {f64({2, 3})}},
                prim(OpKind::Concat, {{"axis", int64_t{0}}})});
  cs.push_back({"reduce_sum", {{f64(s3)}},
                prim(OpKind::ReduceSum, {{"axes", std::vector<int64_t>{0, 2}}})});
  cs.push_back({"reduce_sum keepdims", {{f64(s3)}},
                prim(OpKind::ReduceSum,
                     {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{1}}})});
  cs.push_back({"reduce_sum all", {{f64(s2)}},
                prim(OpKind::ReduceSum, {{"axes", std::vector<int64_t>{0, 1}}})});
  cs.push_back({"reduce_max", {{f64({3, 4, 2})}},
                prim(OpKind::ReduceMax, {{"axes", std::vector<int64_t>{1}}})});
  cs.push_back({"reduce_max keepdims", {{f64({3, 4})}},
                prim(OpKind::ReduceMax,
                     {{"axes", std::vector<int64_t>{0, 1}}, {"keepdims", int64_t{1}}})});
  cs.push_back({"reduce_mean", {{f64(s3)}},
                prim(OpKind::ReduceMean, {{"axes", std::vector<int64_t>{0, 1}}})});
  cs.push_back({"matmul", {{f64({2, 3})}, {f64({3, 4})}}, prim(OpKind::Matmul)});
  cs.push_back({"matmul batched", {{f64({2, 2, 3})}, {f64({2, 3, 2})}}, prim(OpKind::Matmul)});
  cs.push_back({"matmul broadcast batch (frontend)",
                {{f64({3})}, {f64({2, 3, 4})}},
                [](Builder&, std::vector<Tensor>& x) { return matmul(x[0], x[1]); }});
  cs.push_back({"gather", {{f64({5, 3})}, {i64({2, 2}), Dist::Uniform, {0, 3, 3, 4}}},
                prim(OpKind::Gather)});
  cs.push_back({"gather rank-1 table", {{f64({4})}, {i64({3}), Dist::Uniform, {2, 2, 0}}},
                prim(OpKind::Gather)});
  cs.push_back({"scatter_add",
                {{i64({4}), Dist::Uniform, {1, 0, 1, 3}}, {f64({4, 2})}},
                prim(OpKind::ScatterAdd, {{"rows", int64_t{5}}})});
  cs.push_back({"scatter_add 2-D indices",
                {{i64({2, 2}), Dist::Uniform, {2, 2, 0, 1}}, {f64({2, 2, 3})}},
                prim(OpKind::ScatterAdd, {{"rows", int64_t{3}}})});
  // A composite: softmax cross-entropy-like chain.
  cs.push_back({"composite log_softmax", {{f64({3, 4})}},
                [](Builder&, std::vector<Tensor>& x) { return log_softmax(x[0], -1); }});
  return cs;
}

std::vector<double> draw(std::mt19937_64& rng, const InputSpec& s) {
  if (!s.fixed.empty()) return s.fixed;
  int64_t n = s.type.shape.numel();
  switch (s.dist) {
    case Dist::Uniform: return test::uniform_data(rng, n, -1.0, 1.0);
    case Dist::Positive: return test::uniform_data(rng, n, 0.5, 2.0);
    case Dist::AwayFromZero: {
      std::vector<double> v = test::uniform_data(rng, n, 0.2, 1.0);
      std::bernoulli_distribution sign(0.5);
      for (double& x : v)
        if (sign(rng)) x = -x;
      return v;
    }
  }
  return {};
}

double run_scalar(const Graph& g, const std::map<std::string, RefTensor>& feeds,
                  const std::string& out) {
  RefTensor t = test::run_output(g, feeds, out);
  REQUIRE(t.data.size() == 1);
  return t.data[0];
}

// Checks d(outputs[loss_name])/d(input i) against outputs[grad_names[i]] numerically.
void check_against_fd(const Case& c, const Graph& g, std::map<std::string, RefTensor> feeds,
                      const std::string& loss_name, const std::vector<std::string>& grad_names,
                      const std::vector<int>& float_inputs) {
  Expected<InterpreterResult> r = interpret(g, feeds);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  for (size_t k = 0; k < float_inputs.size(); ++k) {
    std::string in = "x" + std::to_string(float_inputs[k]);
    const RefTensor& analytic = r->outputs.at(grad_names[k]);
    REQUIRE(analytic.data.size() == feeds.at(in).data.size());
    for (size_t e = 0; e < analytic.data.size(); ++e) {
      std::map<std::string, RefTensor> f = feeds;
      double x0 = f[in].data[e];
      f[in].data[e] = x0 + c.eps;
      double lp = run_scalar(g, f, loss_name);
      f[in].data[e] = x0 - c.eps;
      double lm = run_scalar(g, f, loss_name);
      double numeric = (lp - lm) / (2 * c.eps);
      double a = analytic.data[e];
      INFO(c.name << ": d" << loss_name << "/d" << in << "[" << e << "] analytic " << a
                  << " numeric " << numeric);
      CHECK(std::abs(a - numeric) <= c.tol * std::max({1.0, std::abs(a), std::abs(numeric)}));
    }
  }
}

}  // namespace

TEST_CASE("gradcheck: every gradient rule, first and second order", "[gradcheck]") {
  std::set<OpKind> covered;
  std::mt19937_64 rng(42);
  for (const Case& c : make_cases()) {
    INFO("case: " << c.name);
    Graph g("gradcheck");
    Builder b(g);
    std::vector<Tensor> xs;
    std::map<std::string, RefTensor> feeds;
    std::vector<int> float_inputs;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      std::string name = "x" + std::to_string(i);
      xs.push_back(b.input(name, c.inputs[i].type));
      feeds[name] = test::ref(c.inputs[i].type, draw(rng, c.inputs[i]));
      if (is_float(c.inputs[i].type.dtype)) float_inputs.push_back(static_cast<int>(i));
    }
    int first_op = g.size();
    Tensor out = c.build(b, xs);
    REQUIRE(b.ok());
    for (int id = first_op; id < g.size(); ++id) covered.insert(g.node(id).op);
    REQUIRE(out.dtype() == DType::f64);
    Tensor w = b.constant_data(test::uniform_data(rng, out.numel(), -1.0, 1.0), out.type());
    Tensor loss = sum(mul(out, w));
    REQUIRE(b.ok());
    std::vector<Value> wrt;
    for (int i : float_inputs) wrt.push_back(xs[i].value());
    Expected<std::vector<Value>> grads = gradients(g, loss.value(), wrt);
    INFO((grads.ok() ? std::string() : grads.error().message()));
    REQUIRE(grads.ok());
    REQUIRE(grads->size() == wrt.size());
    g.add_output("loss", loss.value());
    std::vector<std::string> names;
    for (size_t k = 0; k < grads->size(); ++k) {
      names.push_back("g" + std::to_string(k));
      g.add_output(names.back(), (*grads)[k]);
      REQUIRE(g.type((*grads)[k]) == g.type(wrt[k]));
    }
    // Second order: loss2 = sum_k sum(grad_k * w2_k), differentiated again.
    Tensor loss2;
    for (size_t k = 0; k < grads->size(); ++k) {
      Tensor gk(&b, (*grads)[k]);
      Tensor w2 = b.constant_data(test::uniform_data(rng, gk.numel(), -1.0, 1.0), gk.type());
      Tensor term = sum(mul(gk, w2));
      loss2 = loss2.valid() ? add(loss2, term) : term;
    }
    REQUIRE(b.ok());
    Expected<std::vector<Value>> grads2 = gradients(g, loss2.value(), wrt);
    INFO((grads2.ok() ? std::string() : grads2.error().message()));
    REQUIRE(grads2.ok());
    g.add_output("loss2", loss2.value());
    std::vector<std::string> names2;
    for (size_t k = 0; k < grads2->size(); ++k) {
      names2.push_back("gg" + std::to_string(k));
      g.add_output(names2.back(), (*grads2)[k]);
    }
    Status st = verify(g);
    INFO((st.ok() ? std::string() : st.error().message()));
    REQUIRE(st.ok());
    check_against_fd(c, g, feeds, "loss", names, float_inputs);
    check_against_fd(c, g, feeds, "loss2", names2, float_inputs);
  }
  // Convolution and pooling are checked (strided, padded, dilated, grouped, ties) by
  // conv_ops_test.cpp and pool_ops_test.cpp, each with its own coverage check.
  const std::set<OpKind> elsewhere = {
      OpKind::Conv2d,        OpKind::Conv2dInputGrad, OpKind::Conv2dWeightGrad,
      OpKind::MaxPool2d,     OpKind::MaxPool2dGrad,   OpKind::AvgPool2d,
      OpKind::AvgPool2dGrad, OpKind::AdaptiveAvgPool2d, OpKind::AdaptiveAvgPool2dGrad};
  for (int k = 0; k < kNumOps; ++k) {
    const OpDef& def = op_def(static_cast<OpKind>(k));
    if (!def.grad || elsewhere.count(def.kind)) continue;
    INFO("op with a gradient rule but no gradcheck case: " << def.name);
    CHECK(covered.count(def.kind) == 1);
  }
}

}  // namespace kiln
