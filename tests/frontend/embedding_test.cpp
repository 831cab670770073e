// Token-input layers (frontend/embedding.h): Embedding looks up rows of its table and
// its gradient scatter-adds into the rows a batch used (checked by hand and by finite
// differences), OneHot encodes ids as d2l's from-scratch RNNs feed them, an Embedding ->
// GRU language-model front end runs the same in the JIT as in the interpreter, and bad
// ids or sizes are errors recorded in the builder.
#include "frontend/embedding.h"

#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "codegen/harness.h"
#include "frontend/rnn_layers.h"
#include "ir/interpreter.h"
#include "ir/leaf_state.h"
#include "passes/autodiff.h"

using namespace kiln;

namespace {

InterpreterResult run(const Graph& g, const std::map<std::string, RefTensor>& feeds) {
  Expected<InterpreterResult> r = interpret(g, feeds);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  return *r;
}

std::vector<double> uniform(std::mt19937_64& rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST_CASE("Embedding looks up rows and its gradient scatter-adds into them",
          "[rnn][embedding][frontend]") {
  const int64_t V = 6, D = 3;
  Graph g("m");
  Builder b(g);
  nn::Context ctx{b, true, 0, "m"};
  nn::Embedding emb(V, D);
  emb.set_dtype(DType::f64);
  Tensor ids = b.input("ids", TensorType{DType::i32, Shape{2, 3}});  // [T, B]
  Tensor y = emb(ctx, ids);
  REQUIRE(b.ok());
  CHECK(emb.weight_name() == "m.embedding0.weight");
  CHECK(y.type() == TensorType{DType::f64, Shape{2, 3, D}});
  Expected<LeafState> init = leaf_state(g.node(g.find_leaf(emb.weight_name())));
  REQUIRE(init.ok());
  CHECK(init->init.kind == InitKind::Normal);  // PyTorch's N(0, 1)
  CHECK(init->init.b == 1.0);

  std::mt19937_64 rng(5);
  const std::vector<double> id_values = {4, 1, 4, 0, 4, 2};  // row 4 three times, 3 and 5 never
  const std::vector<double> w = uniform(rng, 2 * 3 * D, -1, 1);
  Tensor loss = sum(y * b.constant_data(w, y.type()));
  Expected<std::vector<Value>> grads = gradients(g, loss.value(), {g.find_leaf(emb.weight_name())});
  REQUIRE(grads.ok());
  b.output("y", y);
  b.output("loss", loss);
  g.add_output("dtable", (*grads)[0]);
  const std::vector<double> table = uniform(rng, V * D, -1, 1);
  std::map<std::string, RefTensor> feeds = {
      {"ids", RefTensor{ids.type(), id_values}},
      {emb.weight_name(), RefTensor{TensorType{DType::f64, Shape{V, D}}, table}}};
  InterpreterResult r = run(g, feeds);
  // Rows of the table, in id order.
  for (size_t i = 0; i < id_values.size(); ++i)
    for (int64_t d = 0; d < D; ++d)
      CHECK(r.outputs.at("y").data[i * D + d] == table[static_cast<size_t>(id_values[i]) * D + d]);
  // dL/dtable[v] = sum of w over the positions holding v; unused rows get zero.
  std::vector<double> want(static_cast<size_t>(V * D), 0.0);
  for (size_t i = 0; i < id_values.size(); ++i)
    for (int64_t d = 0; d < D; ++d) want[static_cast<size_t>(id_values[i]) * D + d] += w[i * D + d];
  const std::vector<double>& got = r.outputs.at("dtable").data;
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) CHECK(got[k] == Approx(want[k]).margin(1e-14));
  // Finite differences agree (the loss is linear in the table, so exactly up to rounding).
  for (size_t k = 0; k < want.size(); ++k) {
    std::map<std::string, RefTensor> f = feeds;
    f[emb.weight_name()].data[k] += 1e-3;
    const double lp = run(g, f).outputs.at("loss").data[0];
    f[emb.weight_name()].data[k] -= 2e-3;
    const double lm = run(g, f).outputs.at("loss").data[0];
    CHECK((lp - lm) / 2e-3 == Approx(got[k]).margin(1e-9));
  }
}

TEST_CASE("OneHot encodes token ids as d2l's from-scratch RNNs feed them",
          "[rnn][embedding][frontend]") {
  Graph g("m");
  Builder b(g);
  nn::Context ctx{b, true, 0, "m"};
  nn::OneHot oh(4, DType::f64);
  Tensor ids = b.input("ids", TensorType{DType::i64, Shape{3, 2}});
  Tensor y = oh(ctx, ids);
  REQUIRE(b.ok());
  CHECK(y.type() == TensorType{DType::f64, Shape{3, 2, 4}});
  b.output("y", y);
  const std::vector<double> id_values = {0, 3, 2, 2, 1, 7};  // 7: out of range -> zeros
  InterpreterResult r = run(g, {{"ids", RefTensor{ids.type(), id_values}}});
  for (size_t i = 0; i < id_values.size(); ++i)
    for (int64_t d = 0; d < 4; ++d)
      CHECK(r.outputs.at("y").data[i * 4 + d] == (id_values[i] == d ? 1.0 : 0.0));
  CHECK(g.parameters().empty());
}

TEST_CASE("Bad token inputs are errors recorded in the builder", "[rnn][embedding][frontend]") {
  struct Bad {
    const char* what;
    bool embedding;
    int64_t size;
    DType ids;
  };
  for (const Bad& c : {Bad{"float ids", true, 5, DType::f32}, Bad{"vocab 0", true, 0, DType::i32},
                       Bad{"float ids (one-hot)", false, 5, DType::f32},
                       Bad{"depth 0", false, 0, DType::i32}}) {
    INFO(c.what);
    Graph g("m");
    Builder b(g);
    nn::Context ctx{b, true, 0, "m"};
    Tensor ids = b.input("ids", TensorType{c.ids, Shape{2, 2}});
    nn::Embedding emb(c.size, 3);
    nn::OneHot oh(c.size);
    Tensor y = c.embedding ? emb(ctx, ids) : oh(ctx, ids);
    CHECK_FALSE(y.valid());
    REQUIRE_FALSE(b.ok());
    INFO(b.status().error().message());
    CHECK(b.status().error().message().find("embedding_test.cpp") != std::string::npos);
  }
}

TEST_CASE("Embedding -> GRU -> Linear runs the same in the JIT as in the interpreter",
          "[rnn][embedding][codegen]") {
  const int64_t V = 11, T = 5, B = 3;
  Graph g("m");
  Builder b(g);
  nn::Context ctx{b, true, 0, "m"};
  nn::Embedding emb(V, 6);
  nn::GRU gru(6, 8);
  nn::Linear head(8, V);
  Tensor ids = b.input("ids", TensorType{DType::i32, Shape{T, B}});
  Tensor h = gru(ctx, emb(ctx, ids));
  b.output("logits", head(ctx, reshape(h, Shape{T * B, 8})));
  REQUIRE(b.ok());
  test::ParityOptions o;
  o.rtol = 2e-5;
  o.runs = 2;
  o.gens["ids"] = [](std::mt19937_64& r, int64_t) { return static_cast<double>(r() % V); };
  CHECK(test::check_parity(g, o) <= 2e-5);
}
