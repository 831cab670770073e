// Attention layers (frontend/attention.h): masked_softmax against d2l's documented
// behaviour, DotProductAttention / AdditiveAttention / MultiHeadAttention against their
// d2l equations written as plain loops here (with 1-D and 2-D valid lengths), d2l's
// examples over identical keys, f64 finite-difference gradients w.r.t. inputs and
// parameters, parameter names, shapes and PyTorch's default initialisation, dropout only
// in training graphs, bad arguments as recorded errors, and JIT vs the reference
// interpreter.
#include "frontend/attention.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "codegen/harness.h"
#include "ir/leaf_state.h"
#include "layer_check.h"

using namespace kiln;

namespace {

using test::check_close;
using test::uniform_values;

using test::Net;
using test::ref;

// Valid length of query row (b, i): none (all K), per batch row, or per query.
using Lens = std::function<double(int64_t b, int64_t i)>;

// d2l's masked softmax of one row: positions k >= n get -1e6 before the softmax.
std::vector<double> masked_softmax_row(const std::vector<double>& s, double n) {
  std::vector<double> x(s);
  for (size_t k = 0; k < x.size(); ++k)
    if (double(k) >= n) x[k] = -1e6;
  const double m = *std::max_element(x.begin(), x.end());
  double total = 0;
  for (double& v : x) total += (v = std::exp(v - m));
  for (double& v : x) v /= total;
  return x;
}

// [N, in] x [in, out] (row-major, kiln's Linear layout [in, out]).
std::vector<double> matmul_rows(const std::vector<double>& x, const std::vector<double>& w,
                                int64_t in, int64_t out) {
  const int64_t n = static_cast<int64_t>(x.size()) / in;
  std::vector<double> y(static_cast<size_t>(n * out), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < out; ++j)
      for (int64_t k = 0; k < in; ++k) y[r * out + j] += x[r * in + k] * w[k * out + j];
  return y;
}

struct AttentionResult {
  std::vector<double> out;      // [B, Q, V]
  std::vector<double> weights;  // [B, Q, K]
};

// weights[b, i] = masked_softmax(score(b, i, j) over j); out = weights @ values.
AttentionResult attend(int64_t B, int64_t Q, int64_t K, int64_t V,
                       const std::function<double(int64_t, int64_t, int64_t)>& score,
                       const std::vector<double>& values, const Lens& lens) {
  AttentionResult r;
  r.out.assign(static_cast<size_t>(B * Q * V), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Q; ++i) {
      std::vector<double> s(static_cast<size_t>(K));
      for (int64_t j = 0; j < K; ++j) s[j] = score(b, i, j);
      std::vector<double> w = masked_softmax_row(s, lens ? lens(b, i) : double(K));
      r.weights.insert(r.weights.end(), w.begin(), w.end());
      for (int64_t j = 0; j < K; ++j)
        for (int64_t c = 0; c < V; ++c) r.out[(b * Q + i) * V + c] += w[j] * values[(b * K + j) * V + c];
    }
  return r;
}

// Scaled dot-product attention over [B, Q, D] x [B, K, D] with values [B, K, V].
AttentionResult dot_attention(int64_t B, int64_t Q, int64_t K, int64_t D, int64_t V,
                              const std::vector<double>& q, const std::vector<double>& k,
                              const std::vector<double>& v, const Lens& lens) {
  auto score = [&](int64_t b, int64_t i, int64_t j) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) s += q[(b * Q + i) * D + d] * k[(b * K + j) * D + d];
    return s / std::sqrt(double(D));
  };
  return attend(B, Q, K, V, score, v, lens);
}

// The lens feeds of the three valid-length forms for batch B, Q queries.
struct LensCase {
  std::string name;
  std::vector<int64_t> dims;  // {} none, {B} or {B, Q}
  std::vector<double> data;
  Lens lens(int64_t Q) const {
    if (dims.empty()) return nullptr;
    std::vector<double> d = data;
    if (dims.size() == 1) return [d](int64_t b, int64_t) { return d[b]; };
    return [d, Q](int64_t b, int64_t i) { return d[b * Q + i]; };
  }
};

// B = 2, Q = 3, K = 4: no lengths, [B] and [B, Q] lengths (including a full row).
std::vector<LensCase> lens_cases() {
  return {{"no valid_lens", {}, {}},
          {"valid_lens [B]", {2}, {2, 3}},
          {"valid_lens [B, Q]", {2, 3}, {1, 4, 2, 3, 1, 4}}};
}

Tensor lens_input(Net& net, const LensCase& c, DType dt = DType::i32) {
  return c.dims.empty() ? Tensor{} : net.input("valid_lens", dt, c.dims);
}

void add_lens_feed(std::map<std::string, RefTensor>& feeds, const LensCase& c,
                   DType dt = DType::i32) {
  if (!c.dims.empty()) feeds["valid_lens"] = ref(dt, c.dims, c.data);
}

// Feeds every parameter and input with U(-1, 1) values (plus the lens).
std::map<std::string, RefTensor> feeds_for(Net& net, std::mt19937_64& rng, const LensCase& c) {
  std::map<std::string, RefTensor> fixed;
  add_lens_feed(fixed, c);
  return test::random_feeds(net.g, rng, fixed);
}

}  // namespace

// ---- masked_softmax ---------------------------------------------------------------------

TEST_CASE("masked_softmax zeroes the scores past each valid length (d2l 10.3.1)",
          "[attention][frontend]") {
  // d2l: masked_softmax(torch.rand(2, 2, 4), torch.tensor([2, 3])) and with
  // torch.tensor([[1, 3], [2, 4]]).
  struct Case {
    std::string name;
    DType lens_dtype;
    std::vector<int64_t> dims;
    std::vector<double> lens;
    std::function<double(int64_t, int64_t)> len_of;
  };
  const std::vector<Case> cases = {
      {"1-D i32", DType::i32, {2}, {2, 3}, [](int64_t b, int64_t) { return b == 0 ? 2.0 : 3.0; }},
      {"1-D f32", DType::f32, {2}, {2, 3}, [](int64_t b, int64_t) { return b == 0 ? 2.0 : 3.0; }},
      {"2-D i64", DType::i64, {2, 2}, {1, 3, 2, 4},
       [](int64_t b, int64_t i) { return std::vector<double>{1, 3, 2, 4}[b * 2 + i]; }},
      {"none", DType::i32, {}, {}, [](int64_t, int64_t) { return 4.0; }},
  };
  std::mt19937_64 rng(7);
  for (const Case& c : cases) {
    for (DType dt : {DType::f32, DType::f64}) {
      INFO(c.name << " scores " << dtype_name(dt));
      Net net;
      Tensor scores = net.input("scores", dt, {2, 2, 4});
      Tensor lens = c.dims.empty() ? Tensor{} : net.input("lens", c.lens_dtype, c.dims);
      net.b.output("w", nn::masked_softmax(scores, lens));
      REQUIRE(net.b.ok());
      std::map<std::string, RefTensor> feeds;
      feeds["scores"] = ref(dt, {2, 2, 4}, uniform_values(rng, 16, 0, 1));  // torch.rand
      if (!c.dims.empty()) feeds["lens"] = ref(c.lens_dtype, c.dims, c.lens);
      const std::vector<double> w = test::run_reference(net.g, feeds).outputs.at("w").data;
      const std::vector<double>& s = feeds["scores"].data;
      REQUIRE(w.size() == 16);
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t i = 0; i < 2; ++i) {
          const int64_t row = (b * 2 + i) * 4;
          const double n = c.len_of(b, i);
          double total = 0, valid_exp = 0;
          for (int64_t k = 0; k < n; ++k) valid_exp += std::exp(s[row + k]);
          for (int64_t k = 0; k < 4; ++k) {
            INFO("b " << b << " i " << i << " k " << k);
            total += w[row + k];
            if (k >= n)
              CHECK(w[row + k] == 0.0);  // exactly: exp(-1e6 - max) underflows
            else
              CHECK(w[row + k] == Approx(std::exp(s[row + k]) / valid_exp).epsilon(1e-6));
          }
          CHECK(total == Approx(1.0).epsilon(1e-6));
        }
    }
  }
}

TEST_CASE("masked_softmax passes no gradient to the valid lengths or the masked scores",
          "[attention][frontend]") {
  Net net;
  Tensor scores = net.input("scores", DType::f64, {2, 3, 5});
  Tensor lens = net.input("lens", DType::f64, {2, 3});  // float lengths: a gradient could flow
  Tensor w = nn::masked_softmax(scores, lens);
  std::mt19937_64 rng(3);
  Tensor loss = sum(w * net.b.constant_data(uniform_values(rng, 30, -1, 1), w.type()));
  Expected<std::vector<Value>> grads = gradients(net.g, loss.value(), {scores.value(), lens.value()});
  INFO((grads.ok() ? std::string() : grads.error().message()));
  REQUIRE(grads.ok());
  net.g.add_output("d_scores", (*grads)[0]);
  net.g.add_output("d_lens", (*grads)[1]);
  REQUIRE(net.b.ok());
  const std::vector<double> lens_data = {1, 5, 2, 3, 4, 0.5};
  std::map<std::string, RefTensor> feeds{{"scores", ref(DType::f64, {2, 3, 5}, uniform_values(rng, 30, -2, 2))},
                                         {"lens", ref(DType::f64, {2, 3}, lens_data)}};
  InterpreterResult r = test::run_reference(net.g, feeds);
  for (double d : r.outputs.at("d_lens").data) CHECK(d == 0.0);
  const std::vector<double>& ds = r.outputs.at("d_scores").data;
  int64_t nonzero = 0;
  for (int64_t row = 0; row < 6; ++row)
    for (int64_t k = 0; k < 5; ++k) {
      INFO("row " << row << " k " << k);
      if (double(k) >= lens_data[row]) CHECK(ds[row * 5 + k] == 0.0);
      else nonzero += ds[row * 5 + k] != 0.0;
    }
  CHECK(nonzero > 10);  // the valid scores (5 rows with >= 2 of them) do get gradient
}

TEST_CASE("masked_softmax rejects valid lengths of the wrong shape", "[attention][frontend]") {
  Net net;
  Tensor scores = net.input("scores", DType::f32, {2, 3, 4});
  Tensor lens = net.input("lens", DType::i32, {3});
  CHECK_FALSE(nn::masked_softmax(scores, lens).valid());
  REQUIRE_FALSE(net.b.ok());
  const std::string msg = net.b.status().error().message();
  CHECK(msg.find("masked_softmax") != std::string::npos);
  CHECK(msg.find("attention_test.cpp") != std::string::npos);
}

// ---- the layers against their equations ---------------------------------------------

TEST_CASE("Attention over identical keys averages the valid values (d2l 10.3 examples)",
          "[attention][frontend]") {
  // d2l: keys = ones(2, 10, 2), values = arange(40).reshape(1, 10, 4).repeat(2, 1, 1),
  // valid_lens = [2, 6]: all scores of a query are equal, so the output is the mean of
  // the first valid_len value rows: row j = 4j + (0, 1, 2, 3).
  for (int kind = 0; kind < 2; ++kind) {
    INFO((kind == 0 ? "DotProductAttention" : "AdditiveAttention"));
    Net net;
    const int64_t qsize = kind == 0 ? 2 : 20;
    Tensor q = net.input("queries", DType::f32, {2, 1, qsize});
    Tensor k = net.input("keys", DType::f32, {2, 10, 2});
    Tensor v = net.input("values", DType::f32, {2, 10, 4});
    Tensor lens = net.input("valid_lens", DType::i32, {2});
    std::unique_ptr<nn::AttentionLayer> attention;
    if (kind == 0) attention = std::make_unique<nn::DotProductAttention>(0.5);
    else attention = std::make_unique<nn::AdditiveAttention>(8, 0.1);
    Tensor out = (*attention)(net.ctx, q, k, v, lens);
    REQUIRE(net.b.ok());
    CHECK(out.shape() == Shape{2, 1, 4});
    CHECK(attention->attention_weights().shape() == Shape{2, 1, 10});
    net.b.output("out", out);
    net.b.output("w", attention->attention_weights());
    std::mt19937_64 rng(5);
    std::vector<double> values;
    for (int rep = 0; rep < 2; ++rep)
      for (int i = 0; i < 40; ++i) values.push_back(i);
    std::map<std::string, RefTensor> feeds{
        {"queries", ref(DType::f32, {2, 1, qsize}, uniform_values(rng, 2 * qsize, -1, 1))},
        {"keys", ref(DType::f32, {2, 10, 2}, std::vector<double>(40, 1.0))},
        {"values", ref(DType::f32, {2, 10, 4}, values)},
        {"valid_lens", ref(DType::i32, {2}, {2, 6})}};
    InterpreterResult r = test::run_reference(net.g, feeds);
    check_close(r.outputs.at("out").data, {2, 3, 4, 5, 10, 11, 12, 13}, 1e-5);
    std::vector<double> w(20, 0.0);
    for (int j = 0; j < 2; ++j) w[j] = 0.5;
    for (int j = 0; j < 6; ++j) w[10 + j] = 1.0 / 6;
    check_close(r.outputs.at("w").data, w, 1e-6);
  }
}

TEST_CASE("DotProductAttention matches softmax(Q K^T / sqrt(d)) V", "[attention][frontend]") {
  const int64_t B = 2, Q = 3, K = 4, D = 5, V = 2;
  std::mt19937_64 rng(11);
  for (const LensCase& c : lens_cases()) {
    INFO(c.name);
    Net net;
    nn::DotProductAttention attention(0.0);
    Tensor out = attention(net.ctx, net.input("q", DType::f64, {B, Q, D}),
                           net.input("k", DType::f64, {B, K, D}),
                           net.input("v", DType::f64, {B, K, V}), lens_input(net, c));
    REQUIRE(net.b.ok());
    net.b.output("out", out);
    net.b.output("w", attention.attention_weights());
    auto feeds = feeds_for(net, rng, c);
    InterpreterResult r = test::run_reference(net.g, feeds);
    AttentionResult want = dot_attention(B, Q, K, D, V, feeds["q"].data, feeds["k"].data,
                                         feeds["v"].data, c.lens(Q));
    check_close(r.outputs.at("out").data, want.out, 1e-12);
    check_close(r.outputs.at("w").data, want.weights, 1e-12);
  }
}

TEST_CASE("AdditiveAttention matches w_v^T tanh(W_q q + W_k k)", "[attention][frontend]") {
  const int64_t B = 2, Q = 3, K = 4, qs = 3, ks = 2, V = 2, H = 5;
  std::mt19937_64 rng(13);
  for (const LensCase& c : lens_cases()) {
    INFO(c.name);
    Net net;
    nn::AdditiveAttention attention(H, 0.0, "att");
    Tensor out = attention(net.ctx, net.input("q", DType::f64, {B, Q, qs}),
                           net.input("k", DType::f64, {B, K, ks}),
                           net.input("v", DType::f64, {B, K, V}), lens_input(net, c));
    REQUIRE(net.b.ok());
    net.b.output("out", out);
    net.b.output("w", attention.attention_weights());
    auto feeds = feeds_for(net, rng, c);
    REQUIRE(feeds.count("att.W_q.weight"));
    const std::vector<double> qp = matmul_rows(feeds["q"].data, feeds["att.W_q.weight"].data, qs, H);
    const std::vector<double> kp = matmul_rows(feeds["k"].data, feeds["att.W_k.weight"].data, ks, H);
    const std::vector<double>& wv = feeds["att.w_v.weight"].data;
    auto score = [&](int64_t b, int64_t i, int64_t j) {
      double s = 0;
      for (int64_t h = 0; h < H; ++h) s += wv[h] * std::tanh(qp[(b * Q + i) * H + h] + kp[(b * K + j) * H + h]);
      return s;
    };
    AttentionResult want = attend(B, Q, K, V, score, feeds["v"].data, c.lens(Q));
    InterpreterResult r = test::run_reference(net.g, feeds);
    check_close(r.outputs.at("out").data, want.out, 1e-12);
    check_close(r.outputs.at("w").data, want.weights, 1e-12);
  }
}

TEST_CASE("MultiHeadAttention matches per-head scaled dot-product attention (d2l 10.5)",
          "[attention][frontend]") {
  const int64_t B = 2, Q = 3, K = 4, qs = 3, ks = 5, vs = 2, H = 6, heads = 3, dh = H / heads;
  std::mt19937_64 rng(17);
  for (bool bias : {false, true}) {
    for (const LensCase& c : lens_cases()) {
      INFO(c.name << (bias ? " with bias" : ""));
      Net net;
      nn::MultiHeadAttention attention(H, heads, 0.0, bias, "mha");
      Tensor out = attention(net.ctx, net.input("q", DType::f64, {B, Q, qs}),
                             net.input("k", DType::f64, {B, K, ks}),
                             net.input("v", DType::f64, {B, K, vs}), lens_input(net, c));
      REQUIRE(net.b.ok());
      CHECK(out.shape() == Shape{B, Q, H});
      CHECK(attention.attention_weights().shape() == Shape{B * heads, Q, K});
      Tensor per_head = attention.attention_weights_per_head();
      CHECK(per_head.shape() == Shape{B, heads, Q, K});
      net.b.output("out", out);
      net.b.output("w", attention.attention_weights());
      auto feeds = feeds_for(net, rng, c);
      // The projections, each [rows, H] (plus the bias when there is one).
      auto project = [&](const std::string& x, const std::string& layer, int64_t in) {
        std::vector<double> y = matmul_rows(feeds[x].data, feeds["mha." + layer + ".weight"].data, in, H);
        if (bias)
          for (size_t e = 0; e < y.size(); ++e) y[e] += feeds["mha." + layer + ".bias"].data[e % H];
        return y;
      };
      const std::vector<double> qp = project("q", "W_q", qs), kp = project("k", "W_k", ks),
                                vp = project("v", "W_v", vs);
      // Head h sees the columns h*dh .. (h+1)*dh of each projection (d2l's transpose_qkv).
      std::vector<double> concat(static_cast<size_t>(B * Q * H)), weights(static_cast<size_t>(B * heads * Q * K));
      const Lens lens = c.lens(Q);
      for (int64_t h = 0; h < heads; ++h) {
        auto columns = [&](const std::vector<double>& x, int64_t rows) {
          std::vector<double> y;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t d = 0; d < dh; ++d) y.push_back(x[r * H + h * dh + d]);
          return y;
        };
        AttentionResult a = dot_attention(B, Q, K, dh, dh, columns(qp, B * Q), columns(kp, B * K),
                                          columns(vp, B * K), lens);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t i = 0; i < Q; ++i) {
            for (int64_t d = 0; d < dh; ++d)
              concat[(b * Q + i) * H + h * dh + d] = a.out[(b * Q + i) * dh + d];
            for (int64_t j = 0; j < K; ++j)  // row b*heads + h of [B*heads, Q, K]
              weights[((b * heads + h) * Q + i) * K + j] = a.weights[(b * Q + i) * K + j];
          }
      }
      InterpreterResult r = test::run_reference(net.g, feeds);
      check_close(r.outputs.at("w").data, weights, 1e-12);
      std::vector<double> want = matmul_rows(concat, feeds["mha.W_o.weight"].data, H, H);
      if (bias)
        for (size_t e = 0; e < want.size(); ++e) want[e] += feeds["mha.W_o.bias"].data[e % H];
      check_close(r.outputs.at("out").data, want, 1e-12);
    }
  }
}

TEST_CASE("MultiHeadAttention keeps d2l's output shape", "[attention][frontend]") {
  // d2l 10.5: MultiHeadAttention(100, 5, 0.5); X ones(2, 4, 100), Y ones(2, 6, 100),
  // valid_lens [3, 2] -> (2, 4, 100).
  for (bool training : {false, true}) {
    Net net(training);
    nn::MultiHeadAttention attention(100, 5, 0.5);
    Tensor x = net.input("X", DType::f32, {2, 4, 100}), y = net.input("Y", DType::f32, {2, 6, 100});
    Tensor out = attention(net.ctx, x, y, y, net.input("valid_lens", DType::i32, {2}));
    INFO((net.b.ok() ? std::string() : net.b.status().error().message()));
    REQUIRE(net.b.ok());
    CHECK(out.shape() == Shape{2, 4, 100});
    CHECK(attention.attention_weights().shape() == Shape{10, 4, 6});
  }
}

// ---- gradients --------------------------------------------------------------------------

TEST_CASE("Attention layers pass f64 gradient checks w.r.t. inputs and parameters",
          "[attention][frontend][gradcheck]") {
  const int64_t B = 2, Q = 3, K = 4;
  std::mt19937_64 rng(19);
  for (const LensCase& c : lens_cases()) {
    SECTION("DotProductAttention, " + c.name) {
      Net net;
      nn::DotProductAttention attention(0.0);
      Tensor out = attention(net.ctx, net.input("q", DType::f64, {B, Q, 3}),
                             net.input("k", DType::f64, {B, K, 3}),
                             net.input("v", DType::f64, {B, K, 2}), lens_input(net, c));
      std::map<std::string, RefTensor> fixed;
      add_lens_feed(fixed, c);
      test::check_layer_gradients(net.g, out, fixed, rng);
    }
    SECTION("AdditiveAttention, " + c.name) {
      Net net;
      nn::AdditiveAttention attention(3, 0.0);
      Tensor out = attention(net.ctx, net.input("q", DType::f64, {B, Q, 2}),
                             net.input("k", DType::f64, {B, K, 3}),
                             net.input("v", DType::f64, {B, K, 2}), lens_input(net, c));
      std::map<std::string, RefTensor> fixed;
      add_lens_feed(fixed, c);
      test::check_layer_gradients(net.g, out, fixed, rng);
    }
    SECTION("MultiHeadAttention, " + c.name) {
      Net net;
      nn::MultiHeadAttention attention(4, 2, 0.0, /*bias=*/true);
      Tensor out = attention(net.ctx, net.input("q", DType::f64, {B, Q, 3}),
                             net.input("k", DType::f64, {B, K, 2}),
                             net.input("v", DType::f64, {B, K, 2}), lens_input(net, c));
      std::map<std::string, RefTensor> fixed;
      add_lens_feed(fixed, c);
      // The key bias adds q . b_k to every score of a query's row, which the softmax
      // ignores: its gradient is exactly zero (as in PyTorch).
      test::check_layer_gradients(net.g, out, fixed, rng, {attention.name() + ".W_k.bias"});
    }
  }
}

// ---- parameters -------------------------------------------------------------------------

TEST_CASE("Attention parameters: names, shapes and PyTorch's default initialisation",
          "[attention][frontend]") {
  // bias=False (d2l's choice) gives weights only; [in, out] as kiln's Linear.
  auto check_uniform = [](const Graph& g, const std::string& name, int64_t fan_in) {
    INFO(name);
    Value v = g.find_leaf(name);
    REQUIRE(v.valid());
    Expected<LeafState> s = leaf_state(g.node(v.id));
    REQUIRE(s.ok());
    CHECK(s->kind == StateKind::Parameter);
    CHECK(s->init.kind == InitKind::Uniform);
    CHECK(s->init.a == Approx(-1.0 / std::sqrt(double(fan_in))));
    CHECK(s->init.b == Approx(1.0 / std::sqrt(double(fan_in))));
  };
  SECTION("MultiHeadAttention") {
    Net net;
    nn::MultiHeadAttention plain(8, 2), biased(8, 2, 0.0, true, "enc.mha");
    Tensor q = net.input("q", DType::f32, {2, 3, 5}), kv = net.input("kv", DType::f32, {2, 4, 6});
    plain(net.ctx, q, kv, kv);
    biased(net.ctx, q, kv, kv);
    REQUIRE(net.b.ok());
    CHECK(plain.name() == "m.multihead_attention0");
    const std::map<std::string, TensorType> want{
        {"m.multihead_attention0.W_q.weight", TensorType{DType::f32, Shape{5, 8}}},
        {"m.multihead_attention0.W_k.weight", TensorType{DType::f32, Shape{6, 8}}},
        {"m.multihead_attention0.W_v.weight", TensorType{DType::f32, Shape{6, 8}}},
        {"m.multihead_attention0.W_o.weight", TensorType{DType::f32, Shape{8, 8}}},
        {"enc.mha.W_q.weight", TensorType{DType::f32, Shape{5, 8}}},
        {"enc.mha.W_q.bias", TensorType{DType::f32, Shape{8}}},
        {"enc.mha.W_k.weight", TensorType{DType::f32, Shape{6, 8}}},
        {"enc.mha.W_k.bias", TensorType{DType::f32, Shape{8}}},
        {"enc.mha.W_v.weight", TensorType{DType::f32, Shape{6, 8}}},
        {"enc.mha.W_v.bias", TensorType{DType::f32, Shape{8}}},
        {"enc.mha.W_o.weight", TensorType{DType::f32, Shape{8, 8}}},
        {"enc.mha.W_o.bias", TensorType{DType::f32, Shape{8}}}};
    CHECK(test::parameter_types(net.g) == want);
    check_uniform(net.g, "m.multihead_attention0.W_q.weight", 5);
    check_uniform(net.g, "m.multihead_attention0.W_k.weight", 6);
    check_uniform(net.g, "m.multihead_attention0.W_o.weight", 8);
    check_uniform(net.g, "enc.mha.W_v.bias", 6);
    // The interpreter draws the initial values from those specs: inside the bound, not 0.
    net.b.output("y", plain(net.ctx, q, kv, kv));
    std::mt19937_64 rng(1);
    std::map<std::string, RefTensor> feeds{{"q", ref(DType::f32, {2, 3, 5}, uniform_values(rng, 30, -1, 1))},
                                           {"kv", ref(DType::f32, {2, 4, 6}, uniform_values(rng, 48, -1, 1))}};
    const RefTensor& w = test::run_reference(net.g, feeds).values.at(
        net.g.find_leaf("m.multihead_attention0.W_k.weight").id);
    double largest = 0;
    for (double x : w.data) largest = std::max(largest, std::abs(x));
    CHECK(largest <= 1.0 / std::sqrt(6.0));
    CHECK(largest > 0.5 / std::sqrt(6.0));
  }
  SECTION("AdditiveAttention") {
    Net net;
    nn::AdditiveAttention attention(7);
    Tensor q = net.input("q", DType::f32, {2, 1, 3}), k = net.input("k", DType::f32, {2, 4, 5});
    attention(net.ctx, q, k, k);
    REQUIRE(net.b.ok());
    const std::map<std::string, TensorType> want{
        {"m.additive_attention0.W_q.weight", TensorType{DType::f32, Shape{3, 7}}},
        {"m.additive_attention0.W_k.weight", TensorType{DType::f32, Shape{5, 7}}},
        {"m.additive_attention0.w_v.weight", TensorType{DType::f32, Shape{7, 1}}}};
    CHECK(test::parameter_types(net.g) == want);
    check_uniform(net.g, "m.additive_attention0.w_v.weight", 7);
  }
  SECTION("A layer applied in a training and an eval graph names the same parameters") {
    nn::MultiHeadAttention attention(4, 2, 0.2);
    std::map<std::string, TensorType> names[2];
    for (int training = 0; training < 2; ++training) {
      Net net(training == 1);
      Tensor x = net.input("x", DType::f32, {3, 2, 4});
      attention(net.ctx, x, x, x);
      REQUIRE(net.b.ok());
      names[training] = test::parameter_types(net.g);
    }
    CHECK(names[0].size() == 4);
    CHECK(names[0] == names[1]);
  }
}

TEST_CASE("Attention dropout acts on the weights in training graphs only",
          "[attention][frontend]") {
  auto count_rng = [](const Graph& g) {
    int n = 0;
    for (const Node& node : g.nodes()) n += node.op == OpKind::RngUniform;
    return n;
  };
  for (bool training : {false, true}) {
    INFO((training ? "training" : "eval"));
    Net net(training);
    nn::MultiHeadAttention mha(4, 2, 0.5);
    nn::AdditiveAttention additive(4, 0.5);
    nn::DotProductAttention dot(0.0);  // p = 0: never any dropout
    Tensor x = net.input("x", DType::f32, {2, 3, 4});
    mha(net.ctx, x, x, x);
    additive(net.ctx, x, x, x);
    dot(net.ctx, x, x, x);
    REQUIRE(net.b.ok());
    CHECK(count_rng(net.g) == (training ? 2 : 0));
    // The stored weights are the softmax before dropout: rows still sum to 1.
    net.b.output("w", mha.attention_weights());
    std::mt19937_64 rng(2);
    std::map<std::string, RefTensor> feeds{{"x", ref(DType::f32, {2, 3, 4}, uniform_values(rng, 24, -1, 1))}};
    const std::vector<double> w = test::run_reference(net.g, feeds).outputs.at("w").data;
    for (size_t row = 0; row < w.size() / 3; ++row)
      CHECK(w[row * 3] + w[row * 3 + 1] + w[row * 3 + 2] == Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("Bad attention arguments are errors recorded in the builder", "[attention][frontend]") {
  auto expect_error = [](Net& net, const Tensor& out, const std::string& what) {
    CHECK_FALSE(out.valid());
    REQUIRE_FALSE(net.b.ok());
    const std::string msg = net.b.status().error().message();
    INFO(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find("attention_test.cpp") != std::string::npos);
  };
  SECTION("heads that do not divide num_hiddens") {
    Net net;
    nn::MultiHeadAttention mha(5, 2);
    Tensor x = net.input("x", DType::f32, {2, 3, 5});
    expect_error(net, mha(net.ctx, x, x, x), "divisible");
  }
  SECTION("queries and keys of different feature sizes in dot-product attention") {
    Net net;
    nn::DotProductAttention dot;
    Tensor q = net.input("q", DType::f32, {2, 3, 5}), k = net.input("k", DType::f32, {2, 4, 6});
    expect_error(net, dot(net.ctx, q, k, k), "same feature size");
  }
  SECTION("keys and values of different lengths") {
    Net net;
    nn::AdditiveAttention additive(4);
    Tensor q = net.input("q", DType::f32, {2, 3, 5}), k = net.input("k", DType::f32, {2, 4, 6});
    Tensor v = net.input("v", DType::f32, {2, 5, 6});
    expect_error(net, additive(net.ctx, q, k, v), "AdditiveAttention");
  }
  SECTION("valid_lens for another batch size") {
    Net net;
    nn::MultiHeadAttention mha(4, 2);
    Tensor x = net.input("x", DType::f32, {2, 3, 4});
    expect_error(net, mha(net.ctx, x, x, x, net.input("lens", DType::i32, {3})), "valid_lens");
  }
}

// ---- JIT parity -------------------------------------------------------------------------

TEST_CASE("JIT matches the interpreter on masked_softmax and the attention layers",
          "[attention][codegen]") {
  const int64_t B = 2, Q = 3, K = 5;
  // Lengths 0..K: 0 is d2l's all-masked row (uniform weights).
  test::ParityOptions o;
  o.rtol = 2e-5;
  o.gens["valid_lens"] = [](std::mt19937_64& r, int64_t) {
    return double(std::uniform_int_distribution<int>(0, 5)(r));
  };
  for (int layer = 0; layer < 4; ++layer) {
    for (int lens_rank = 1; lens_rank <= 2; ++lens_rank) {
      INFO("layer " << layer << " valid_lens rank " << lens_rank);
      Net net;
      Tensor q = net.input("q", DType::f32, {B, Q, 4}), k = net.input("k", DType::f32, {B, K, 4});
      Tensor v = net.input("v", DType::f32, {B, K, 3});
      Tensor lens = net.input("valid_lens", DType::i32, lens_rank == 1 ? std::vector<int64_t>{B}
                                                                     : std::vector<int64_t>{B, Q});
      nn::DotProductAttention dot;
      nn::AdditiveAttention additive(6);
      nn::MultiHeadAttention mha(6, 3, 0.0, true);
      if (layer == 0) {
        net.b.output("w", nn::masked_softmax(matmul(q, transpose(k)), lens));
      } else {
        nn::AttentionLayer& a = layer == 1 ? static_cast<nn::AttentionLayer&>(dot)
                                : layer == 2 ? static_cast<nn::AttentionLayer&>(additive)
                                             : static_cast<nn::AttentionLayer&>(mha);
        net.b.output("out", a(net.ctx, q, k, v, lens));
        net.b.output("w", a.attention_weights());
      }
      REQUIRE(net.b.ok());
      CHECK(test::check_parity(net.g, o) <= 2e-5);
    }
  }
}
