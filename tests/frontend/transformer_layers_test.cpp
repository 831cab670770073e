// Transformer layers (frontend/transformer_layers.h, LayerNorm in norm_layers.h):
// positional encoding against the closed form (and the offset), LayerNorm / AddNorm /
// PositionWiseFFN against plain loops, the encoder and decoder blocks against their d2l
// structure rebuilt from the sublayers, d2l's shapes and PyTorch's parameter counts,
// causality of the decoder block, f64 finite-difference gradients, and JIT vs the
// reference interpreter.
#include "frontend/transformer_layers.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>

#include "codegen/harness.h"
#include "ir/leaf_state.h"
#include "layer_check.h"
#include "passes/training.h"

using namespace kiln;

namespace {

using test::check_close;
using test::uniform_values;

using test::Net;
using test::ref;

std::vector<double> run_output(Net& net, const std::map<std::string, RefTensor>& feeds,
                               const std::string& name) {
  return test::run_reference(net.g, feeds).outputs.at(name).data;
}

// PyTorch's LayerNorm of each row of length D (biased variance, eps 1e-5).
std::vector<double> layer_norm(const std::vector<double>& x, int64_t D, const std::vector<double>& gamma,
                               const std::vector<double>& beta) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / D; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < D; ++i) mean += x[r * D + i] / D;
    for (int64_t i = 0; i < D; ++i) var += (x[r * D + i] - mean) * (x[r * D + i] - mean) / D;
    for (int64_t i = 0; i < D; ++i)
      y[r * D + i] = (x[r * D + i] - mean) / std::sqrt(var + 1e-5) * gamma[i] + beta[i];
  }
  return y;
}

int64_t count_elements(const std::map<std::string, TensorType>& params) {
  int64_t n = 0;
  for (auto& [name, type] : params) n += type.shape.numel();
  return n;
}

int count_op(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

}  // namespace

// ---- PositionalEncoding -----------------------------------------------------------------

TEST_CASE("PositionalEncoding adds sin/cos of pos / 10000^(2j/d)", "[transformer][frontend]") {
  const int64_t B = 2, T = 7, D = 6;
  Net net;
  nn::PositionalEncoding pe(D, 0.0, 50);
  Tensor x = net.input("x", DType::f64, {B, T, D});
  net.b.output("y", pe(net.ctx, x));
  net.b.output("y_offset", pe(net.ctx, x, 40));
  REQUIRE(net.b.ok());
  std::mt19937_64 rng(3);
  std::map<std::string, RefTensor> feeds{{"x", ref(DType::f64, {B, T, D}, uniform_values(rng, B * T * D, -1, 1))}};
  InterpreterResult r = test::run_reference(net.g, feeds);
  auto P = [&](const std::string& out, int64_t b, int64_t t, int64_t i) {
    const int64_t e = (b * T + t) * D + i;
    return r.outputs.at(out).data[e] - feeds["x"].data[e];
  };
  // Columns 2j and 2j+1 share the frequency 1 / 10000^(2j/D).
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < D / 2; ++j) {
        INFO("b " << b << " t " << t << " j " << j);
        const double freq = std::pow(10000.0, -2.0 * double(j) / double(D));
        CHECK(P("y", b, t, 2 * j) == Approx(std::sin(t * freq)).margin(1e-12));
        CHECK(P("y", b, t, 2 * j + 1) == Approx(std::cos(t * freq)).margin(1e-12));
        CHECK(P("y_offset", b, t, 2 * j) == Approx(std::sin((40 + t) * freq)).margin(1e-12));
        CHECK(P("y_offset", b, t, 2 * j + 1) == Approx(std::cos((40 + t) * freq)).margin(1e-12));
      }
  // A few values written out: P[0] = (0, 1, 0, 1, ...), P[1, 0:2] = (sin 1, cos 1).
  CHECK(P("y", 0, 0, 0) == Approx(0.0).margin(1e-12));
  CHECK(P("y", 1, 0, 5) == Approx(1.0).margin(1e-12));
  CHECK(P("y", 0, 1, 0) == Approx(0.8414709848078965).margin(1e-12));
  CHECK(P("y", 0, 1, 1) == Approx(0.5403023058681398).margin(1e-12));
  CHECK(nn::PositionalEncoding::value(3, 4, D) ==
        Approx(std::sin(3.0 / std::pow(10000.0, 4.0 / 6.0))).margin(1e-15));
  CHECK(nn::PositionalEncoding::value(3, 5, D) ==
        Approx(std::cos(3.0 / std::pow(10000.0, 4.0 / 6.0))).margin(1e-15));
}

TEST_CASE("PositionalEncoding checks positions against max_len and drops out in training only",
          "[transformer][frontend]") {
  SECTION("offset + T beyond max_len is an error") {
    Net net;
    nn::PositionalEncoding pe(4, 0.0, 10);
    Tensor x = net.input("x", DType::f32, {1, 4, 4});
    CHECK(pe(net.ctx, x, 6).valid());  // positions 6..9
    REQUIRE(net.b.ok());
    CHECK_FALSE(pe(net.ctx, x, 7).valid());
    REQUIRE_FALSE(net.b.ok());
    const std::string msg = net.b.status().error().message();
    CHECK(msg.find("max_len") != std::string::npos);
    CHECK(msg.find("transformer_layers_test.cpp") != std::string::npos);
  }
  SECTION("a feature size other than num_hiddens is an error") {
    Net net;
    nn::PositionalEncoding pe(4);
    CHECK_FALSE(pe(net.ctx, net.input("x", DType::f32, {1, 4, 6})).valid());
    CHECK_FALSE(net.b.ok());
  }
  SECTION("dropout") {
    for (bool training : {false, true}) {
      Net net(training);
      nn::PositionalEncoding pe(4, 0.5);
      REQUIRE(pe(net.ctx, net.input("x", DType::f32, {2, 3, 4})).valid());
      CHECK(count_op(net.g, OpKind::RngUniform) == (training ? 1 : 0));
      CHECK(test::parameter_types(net.g).empty());  // P is a constant
    }
  }
}

// ---- LayerNorm, AddNorm, PositionWiseFFN -----------------------------------------------

TEST_CASE("LayerNorm normalizes the last axis as PyTorch's nn.LayerNorm", "[transformer][frontend]") {
  SECTION("d2l's example: [[1, 2], [2, 3]] -> [[-1, 1], [-1, 1]] up to eps") {
    Net net;
    nn::LayerNorm ln(2);
    net.b.output("y", ln(net.ctx, net.input("x", DType::f64, {2, 2})));
    REQUIRE(net.b.ok());
    const double v = 0.5 / std::sqrt(0.25 + 1e-5);  // |x - mean| / sqrt(var + eps)
    check_close(run_output(net, {{"x", ref(DType::f64, {2, 2}, {1, 2, 2, 3})}}, "y"), {-v, v, -v, v},
                1e-12);
    CHECK(ln.name() == "m.layernorm0");
  }
  SECTION("random input, weight and bias against loops") {
    Net net;
    nn::LayerNorm ln(0, 1e-5, "norm");  // lazy: 5 from the input
    net.b.output("y", ln(net.ctx, net.input("x", DType::f64, {2, 3, 5})));
    REQUIRE(net.b.ok());
    std::mt19937_64 rng(8);
    auto feeds = test::random_feeds(net.g, rng);
    REQUIRE(feeds.count("norm.weight"));
    REQUIRE(feeds.count("norm.bias"));
    check_close(run_output(net, feeds, "y"),
                layer_norm(feeds["x"].data, 5, feeds["norm.weight"].data, feeds["norm.bias"].data),
                1e-12);
  }
  SECTION("parameters: weight ones, bias zeros") {
    Net net;
    nn::LayerNorm ln(6, 1e-5, "norm");
    ln(net.ctx, net.input("x", DType::f32, {4, 6}));
    const std::map<std::string, TensorType> want{{"norm.weight", TensorType{DType::f32, Shape{6}}},
                                                 {"norm.bias", TensorType{DType::f32, Shape{6}}}};
    CHECK(test::parameter_types(net.g) == want);
    Expected<LeafState> w = leaf_state(net.g.node(net.g.find_leaf("norm.weight").id));
    Expected<LeafState> bias = leaf_state(net.g.node(net.g.find_leaf("norm.bias").id));
    REQUIRE(w.ok());
    REQUIRE(bias.ok());
    CHECK(w->init.kind == InitKind::Constant);
    CHECK(w->init.a == 1.0);
    CHECK(bias->init.kind == InitKind::Zeros);
  }
  SECTION("a wrong feature size is an error") {
    Net net;
    nn::LayerNorm ln(6);
    CHECK_FALSE(ln(net.ctx, net.input("x", DType::f32, {4, 5})).valid());
    CHECK_FALSE(net.b.ok());
  }
}

TEST_CASE("AddNorm is LayerNorm(dropout(Y) + X) (d2l 10.7.3)", "[transformer][frontend]") {
  Net net;
  nn::AddNorm add_norm(4, 0.5, "an");  // eval graph: no dropout
  Tensor x = net.input("x", DType::f64, {2, 3, 4}), y = net.input("y", DType::f64, {2, 3, 4});
  Tensor out = add_norm(net.ctx, x, y);
  REQUIRE(net.b.ok());
  CHECK(out.shape() == Shape{2, 3, 4});  // d2l: add_norm(ones(2,3,4), ones(2,3,4)).shape
  net.b.output("out", out);
  std::mt19937_64 rng(4);
  auto feeds = test::random_feeds(net.g, rng);
  REQUIRE(feeds.count("an.ln.weight"));
  std::vector<double> sum_xy(24);
  for (size_t i = 0; i < 24; ++i) sum_xy[i] = feeds["x"].data[i] + feeds["y"].data[i];
  check_close(run_output(net, feeds, "out"),
              layer_norm(sum_xy, 4, feeds["an.ln.weight"].data, feeds["an.ln.bias"].data), 1e-12);
  // Shapes must agree.
  CHECK_FALSE(add_norm(net.ctx, x, net.input("z", DType::f64, {2, 4, 4})).valid());
  CHECK_FALSE(net.b.ok());
}

TEST_CASE("PositionWiseFFN is dense2(relu(dense1(x))) (d2l 10.7.2)", "[transformer][frontend]") {
  Net net;
  nn::PositionWiseFFN ffn(4, 8);
  Tensor out = ffn(net.ctx, net.input("x", DType::f64, {2, 3, 5}));
  REQUIRE(net.b.ok());
  CHECK(out.shape() == Shape{2, 3, 8});
  CHECK(ffn.name() == "m.ffn0");
  const std::map<std::string, TensorType> want{
      {"m.ffn0.dense1.weight", TensorType{DType::f64, Shape{5, 4}}},
      {"m.ffn0.dense1.bias", TensorType{DType::f64, Shape{4}}},
      {"m.ffn0.dense2.weight", TensorType{DType::f64, Shape{4, 8}}},
      {"m.ffn0.dense2.bias", TensorType{DType::f64, Shape{8}}}};
  CHECK(test::parameter_types(net.g) == want);
  // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
  Expected<LeafState> b2 = leaf_state(net.g.node(net.g.find_leaf("m.ffn0.dense2.bias").id));
  REQUIRE(b2.ok());
  CHECK(b2->init.kind == InitKind::Uniform);
  CHECK(b2->init.b == Approx(0.5));
  net.b.output("out", out);
  std::mt19937_64 rng(6);
  auto feeds = test::random_feeds(net.g, rng);
  const auto& w1 = feeds["m.ffn0.dense1.weight"].data;
  const auto& b1 = feeds["m.ffn0.dense1.bias"].data;
  const auto& w2 = feeds["m.ffn0.dense2.weight"].data;
  const auto& bb2 = feeds["m.ffn0.dense2.bias"].data;
  std::vector<double> want_out;
  for (int64_t r = 0; r < 6; ++r) {
    std::vector<double> h(4);
    for (int64_t j = 0; j < 4; ++j) {
      h[j] = b1[j];
      for (int64_t k = 0; k < 5; ++k) h[j] += feeds["x"].data[r * 5 + k] * w1[k * 4 + j];
      h[j] = std::max(h[j], 0.0);
    }
    for (int64_t j = 0; j < 8; ++j) {
      double o = bb2[j];
      for (int64_t k = 0; k < 4; ++k) o += h[k] * w2[k * 8 + j];
      want_out.push_back(o);
    }
  }
  check_close(run_output(net, feeds, "out"), want_out, 1e-12);
}

// ---- blocks -----------------------------------------------------------------------------

TEST_CASE("TransformerEncoderBlock keeps d2l's shape and PyTorch's parameter count",
          "[transformer][frontend]") {
  // d2l 10.7.4: X ones(2, 100, 24), valid_lens [3, 2], TransformerEncoderBlock(24, 48, 8,
  // 0.5) -> (2, 100, 24). PyTorch's parameters: 4 * 24*24 (attention, no bias) +
  // 2 * 2*24 (two LayerNorms) + 24*48 + 48 + 48*24 + 24 (FFN) = 4776.
  for (bool training : {false, true}) {
    Net net(training);
    nn::TransformerEncoderBlock block(24, 48, 8, 0.5, false, "blk");
    Tensor out = block(net.ctx, net.input("X", DType::f32, {2, 100, 24}),
                       net.input("valid_lens", DType::i32, {2}));
    INFO((net.b.ok() ? std::string() : net.b.status().error().message()));
    REQUIRE(net.b.ok());
    CHECK(out.shape() == Shape{2, 100, 24});
    CHECK(block.attention_weights().shape() == Shape{16, 100, 100});
    const auto params = test::parameter_types(net.g);
    CHECK(params.size() == 12);
    CHECK(count_elements(params) == 4776);
    for (const char* n : {"blk.attention.W_q.weight", "blk.attention.W_o.weight",
                          "blk.addnorm1.ln.weight", "blk.addnorm2.ln.bias", "blk.ffn.dense1.weight",
                          "blk.ffn.dense2.bias"}) {
      INFO(n);
      CHECK(params.count(n) == 1);
    }
  }
}

TEST_CASE("TransformerDecoderBlock keeps d2l's shape and PyTorch's parameter count; train "
          "and predict graphs share its parameters",
          "[transformer][frontend]") {
  // d2l 10.7.5: TransformerDecoderBlock(24, 48, 8, 0.5) on X ones(2, 100, 24) with the
  // encoder's outputs: 2 * 2304 + 3 * 48 + 2376 = 7128 parameters.
  nn::TransformerDecoderBlock block(24, 48, 8, 0.5);
  std::map<std::string, TensorType> params[2];
  for (int training = 0; training < 2; ++training) {
    Net net(training == 1);
    Tensor out = block(net.ctx, net.input("X", DType::f32, {2, 100, 24}),
                       net.input("enc_outputs", DType::f32, {2, 100, 24}),
                       net.input("valid_lens", DType::i32, {2}));
    REQUIRE(net.b.ok());
    CHECK(out.shape() == Shape{2, 100, 24});
    CHECK(block.self_attention_weights().shape() == Shape{16, 100, 100});
    CHECK(block.enc_dec_attention_weights().shape() == Shape{16, 100, 100});
    params[training] = test::parameter_types(net.g);
  }
  CHECK(block.name() == "m.decoder_block0");
  CHECK(count_elements(params[0]) == 7128);
  CHECK(params[0].count("m.decoder_block0.attention2.W_k.weight") == 1);
  CHECK(params[0].count("m.decoder_block0.addnorm3.ln.weight") == 1);
  CHECK(params[0] == params[1]);
}

namespace {

// x [B, T, D], enc [B, S, D], valid_lens [B] (i32); D = 4, 2 heads, FFN 6 hidden units.
constexpr int64_t kB = 2, kT = 4, kS = 3, kD = 4, kHeads = 2, kFfn = 6;

std::map<std::string, RefTensor> lens_feed() {
  return {{"valid_lens", ref(DType::i32, {kB}, {2, 3})}};
}

}  // namespace

TEST_CASE("The blocks are d2l's compositions of their sublayers", "[transformer][frontend]") {
  // The same computation rebuilt from sublayers with the block's parameter names: the
  // interpreter must give identical outputs for the same parameter values.
  std::mt19937_64 rng(21);
  SECTION("encoder: addnorm2(Y, ffn(Y)), Y = addnorm1(X, attention(X, X, X, valid_lens))") {
    Net net;
    nn::TransformerEncoderBlock block(kD, kFfn, kHeads, 0.0, false, "blk");
    Tensor x = net.input("x", DType::f64, {kB, kT, kD});
    Tensor lens = net.input("valid_lens", DType::i32, {kB});
    net.b.output("block", block(net.ctx, x, lens));
    nn::MultiHeadAttention attention(kD, kHeads, 0.0, false, "blk.attention");
    nn::AddNorm addnorm1(kD, 0.0, "blk.addnorm1"), addnorm2(kD, 0.0, "blk.addnorm2");
    nn::PositionWiseFFN ffn(kFfn, kD, "blk.ffn");
    Tensor y = addnorm1(net.ctx, x, attention(net.ctx, x, x, x, lens));
    net.b.output("composed", addnorm2(net.ctx, y, ffn(net.ctx, y)));
    REQUIRE(net.b.ok());
    CHECK(test::parameter_types(net.g).size() == 12);  // the second build reused them all
    auto feeds = test::random_feeds(net.g, rng, lens_feed());
    InterpreterResult r = test::run_reference(net.g, feeds);
    check_close(r.outputs.at("block").data, r.outputs.at("composed").data, 1e-12);
  }
  SECTION("decoder: causal self-attention, encoder-decoder attention, FFN") {
    Net net;
    nn::TransformerDecoderBlock block(kD, kFfn, kHeads, 0.0, "blk");
    Tensor x = net.input("x", DType::f64, {kB, kT, kD});
    Tensor enc = net.input("enc", DType::f64, {kB, kS, kD});
    Tensor lens = net.input("valid_lens", DType::i32, {kB});
    net.b.output("block", block(net.ctx, x, enc, lens));
    // d2l's training-mode dec_valid_lens: arange(1, T + 1).repeat(B, 1), fed as data.
    Tensor causal = net.input("causal", DType::i32, {kB, kT});
    nn::MultiHeadAttention attention1(kD, kHeads, 0.0, false, "blk.attention1"),
        attention2(kD, kHeads, 0.0, false, "blk.attention2");
    nn::AddNorm addnorm1(kD, 0.0, "blk.addnorm1"), addnorm2(kD, 0.0, "blk.addnorm2"),
        addnorm3(kD, 0.0, "blk.addnorm3");
    nn::PositionWiseFFN ffn(kFfn, kD, "blk.ffn");
    Tensor y = addnorm1(net.ctx, x, attention1(net.ctx, x, x, x, causal));
    Tensor z = addnorm2(net.ctx, y, attention2(net.ctx, y, enc, enc, lens));
    net.b.output("composed", addnorm3(net.ctx, z, ffn(net.ctx, z)));
    REQUIRE(net.b.ok());
    CHECK(test::parameter_types(net.g).size() == 18);
    auto feeds = test::random_feeds(net.g, rng, lens_feed());
    feeds["causal"] = ref(DType::i32, {kB, kT}, {1, 2, 3, 4, 1, 2, 3, 4});
    InterpreterResult r = test::run_reference(net.g, feeds);
    check_close(r.outputs.at("block").data, r.outputs.at("composed").data, 1e-12);
  }
}

TEST_CASE("A decoder block's output at step t ignores the inputs after t",
          "[transformer][frontend]") {
  Net net;
  nn::TransformerDecoderBlock block(kD, kFfn, kHeads, 0.0, "blk");
  net.b.output("y", block(net.ctx, net.input("x", DType::f64, {kB, kT, kD}),
                          net.input("enc", DType::f64, {kB, kS, kD}),
                          net.input("valid_lens", DType::i32, {kB})));
  net.b.output("w", block.self_attention_weights());
  REQUIRE(net.b.ok());
  std::mt19937_64 rng(23);
  auto feeds = test::random_feeds(net.g, rng, lens_feed());
  InterpreterResult base = test::run_reference(net.g, feeds);
  // Self-attention weights [B*heads, T, T] are zero above the diagonal.
  const std::vector<double>& w = base.outputs.at("w").data;
  for (int64_t r = 0; r < kB * kHeads; ++r)
    for (int64_t i = 0; i < kT; ++i)
      for (int64_t j = i + 1; j < kT; ++j) CHECK(w[(r * kT + i) * kT + j] == 0.0);
  for (int64_t t = 0; t + 1 < kT; ++t) {
    INFO("inputs after step " << t << " changed");
    std::map<std::string, RefTensor> changed = feeds;
    for (int64_t b = 0; b < kB; ++b)
      for (int64_t s = t + 1; s < kT; ++s)
        for (int64_t d = 0; d < kD; ++d) changed["x"].data[(b * kT + s) * kD + d] += 0.5 + 0.1 * d;
    const std::vector<double> y0 = base.outputs.at("y").data;
    const std::vector<double> y1 = test::run_reference(net.g, changed).outputs.at("y").data;
    double later = 0;
    for (int64_t b = 0; b < kB; ++b)
      for (int64_t s = 0; s < kT; ++s)
        for (int64_t d = 0; d < kD; ++d) {
          const size_t e = static_cast<size_t>((b * kT + s) * kD + d);
          if (s <= t) CHECK(y1[e] == Approx(y0[e]).margin(1e-13));
          else later = std::max(later, std::abs(y1[e] - y0[e]));
        }
    CHECK(later > 1e-3);  // the later steps do see the change
  }
}

TEST_CASE("Bad transformer block arguments are errors recorded in the builder",
          "[transformer][frontend]") {
  Net net;
  nn::TransformerEncoderBlock encoder(8, 16, 2);
  CHECK_FALSE(encoder(net.ctx, net.input("x", DType::f32, {2, 3, 6})).valid());
  REQUIRE_FALSE(net.b.ok());
  const std::string msg = net.b.status().error().message();
  CHECK(msg.find("TransformerEncoderBlock") != std::string::npos);
  CHECK(msg.find("transformer_layers_test.cpp") != std::string::npos);

  Net net2;
  nn::TransformerDecoderBlock decoder(8, 16, 2);
  CHECK_FALSE(decoder(net2.ctx, net2.input("x", DType::f32, {2, 3, 8}),
                      net2.input("enc", DType::f32, {2, 5, 4}))
                  .valid());
  REQUIRE_FALSE(net2.b.ok());
  CHECK(net2.b.status().error().message().find("enc_outputs") != std::string::npos);
}

// ---- gradients --------------------------------------------------------------------------

TEST_CASE("Transformer layers pass f64 gradient checks w.r.t. inputs and parameters",
          "[transformer][frontend][gradcheck]") {
  std::mt19937_64 rng(29);
  SECTION("LayerNorm") {
    Net net;
    nn::LayerNorm ln(5);
    test::check_layer_gradients(net.g, ln(net.ctx, net.input("x", DType::f64, {3, 5})), {}, rng);
  }
  SECTION("AddNorm") {
    Net net;
    nn::AddNorm add_norm(4);
    test::check_layer_gradients(net.g,
                                add_norm(net.ctx, net.input("x", DType::f64, {2, 2, 4}),
                                         net.input("y", DType::f64, {2, 2, 4})),
                                {}, rng);
  }
  SECTION("PositionWiseFFN") {
    Net net;
    nn::PositionWiseFFN ffn(5, 3);
    test::check_layer_gradients(net.g, ffn(net.ctx, net.input("x", DType::f64, {2, 2, 4})), {}, rng);
  }
  SECTION("PositionalEncoding") {
    Net net;
    nn::PositionalEncoding pe(4);
    test::check_layer_gradients(net.g, pe(net.ctx, net.input("x", DType::f64, {2, 3, 4}), 2), {}, rng);
  }
  SECTION("TransformerEncoderBlock") {
    Net net;
    nn::TransformerEncoderBlock block(kD, kFfn, kHeads);
    Tensor out = block(net.ctx, net.input("x", DType::f64, {kB, kT, kD}),
                       net.input("valid_lens", DType::i32, {kB}));
    test::check_layer_gradients(net.g, out, lens_feed(), rng);
  }
  SECTION("TransformerDecoderBlock") {
    Net net;
    nn::TransformerDecoderBlock block(kD, kFfn, kHeads);
    Tensor out = block(net.ctx, net.input("x", DType::f64, {kB, kT, kD}),
                       net.input("enc", DType::f64, {kB, kS, kD}),
                       net.input("valid_lens", DType::i32, {kB}));
    test::check_layer_gradients(net.g, out, lens_feed(), rng);
  }
}

// ---- JIT parity -------------------------------------------------------------------------

TEST_CASE("JIT matches the interpreter on the transformer layers", "[transformer][codegen]") {
  test::ParityOptions o;
  o.rtol = 5e-5;
  o.gens["valid_lens"] = [](std::mt19937_64& r, int64_t) {
    return double(std::uniform_int_distribution<int>(1, 5)(r));
  };
  // Parameters in PyTorch's default range keep the f32 values moderate.
  auto small = [](std::mt19937_64& r, int64_t) {
    return std::uniform_real_distribution<double>(-0.5, 0.5)(r);
  };
  const int64_t B = 2, T = 5, S = 5, D = 8;
  for (int layer = 0; layer < 5; ++layer) {
    INFO("layer " << layer);
    Net net;
    Tensor x = net.input("x", DType::f32, {B, T, D});
    Tensor enc = net.input("enc", DType::f32, {B, S, D});
    Tensor lens = net.input("valid_lens", DType::i32, {B});
    nn::LayerNorm ln(D);
    nn::AddNorm add_norm(D);
    nn::PositionalEncoding pe(D);
    nn::TransformerEncoderBlock encoder(D, 16, 2);
    nn::TransformerDecoderBlock decoder(D, 16, 2);
    switch (layer) {
      case 0: net.b.output("y", ln(net.ctx, x)); break;
      case 1: net.b.output("y", add_norm(net.ctx, x, enc)); break;
      case 2: net.b.output("y", pe(net.ctx, x * std::sqrt(double(D)), 3)); break;
      case 3:
        net.b.output("y", encoder(net.ctx, x, lens));
        net.b.output("w", encoder.attention_weights());
        break;
      case 4:
        net.b.output("y", decoder(net.ctx, x, enc, lens));
        net.b.output("w1", decoder.self_attention_weights());
        net.b.output("w2", decoder.enc_dec_attention_weights());
        break;
    }
    REQUIRE(net.b.ok());
    for (const auto& [name, type] : test::parameter_types(net.g))
      if (name.find(".ln.") == std::string::npos && name.find("layernorm") == std::string::npos)
        o.gens[name] = small;
    CHECK(test::check_parity(net.g, o) <= 5e-5);
  }
}

TEST_CASE("JIT matches the interpreter on training graphs with dropout", "[transformer][codegen]") {
  // Dropout masks come from Philox keyed by element index: the JIT and the interpreter
  // draw the same ones, over two runs (the RNG counter advances in between).
  const int64_t B = 2, T = 4, D = 8;
  Net net(/*training=*/true);
  nn::PositionalEncoding pe(D, 0.2);
  nn::TransformerEncoderBlock encoder(D, 16, 2, 0.2);
  nn::TransformerDecoderBlock decoder(D, 16, 2, 0.2);
  Tensor x = net.input("x", DType::f32, {B, T, D});
  Tensor lens = net.input("valid_lens", DType::i32, {B});
  Tensor enc = encoder(net.ctx, pe(net.ctx, x), lens);
  net.b.output("y", decoder(net.ctx, pe(net.ctx, x), enc, lens));
  REQUIRE(net.b.ok());
  CHECK(count_op(net.g, OpKind::RngUniform) > 6);
  test::ParityOptions o;
  o.rtol = 5e-5;
  o.runs = 2;
  o.gens["valid_lens"] = [](std::mt19937_64& r, int64_t) {
    return double(std::uniform_int_distribution<int>(1, 4)(r));
  };
  o.gens["rng_step"] = [](std::mt19937_64&, int64_t) { return 0.0; };
  CHECK(test::check_parity(net.g, o) <= 5e-5);
}

TEST_CASE("A compiled training step through the blocks with dropout lowers a regression loss",
          "[transformer][codegen]") {
  // Encoder and decoder blocks fit a fixed target with Adam; dropout on, as in training.
  const int64_t B = 2, T = 4, D = 8;
  Net net(/*training=*/true);
  nn::TransformerEncoderBlock encoder(D, 16, 2, 0.1);
  nn::TransformerDecoderBlock decoder(D, 16, 2, 0.1);
  Tensor x = net.input("x", DType::f32, {B, T, D});
  Tensor target = net.input("target", DType::f32, {B, T, D});
  Tensor lens = net.input("valid_lens", DType::i32, {B});
  Tensor y = decoder(net.ctx, x, encoder(net.ctx, x, lens), lens);
  net.b.output("loss", mean(square(y - target)));
  REQUIRE(net.b.ok());
  OptimizerConfig adam;
  adam.kind = OptimizerConfig::Adam;
  adam.lr = 0.01;
  Expected<bool> done = TrainingStepPass("loss", adam).run(net.g);
  INFO((done.ok() ? std::string() : done.error().message()));
  REQUIRE(done.ok());
  auto exe = compile(net.g, std::make_shared<StateStore>());
  INFO((exe.ok() ? std::string() : exe.error().message()));
  REQUIRE(exe.ok());
  Executable& e = **exe;
  std::mt19937_64 rng(31);
  test::write_buffer(*e.input("x"), uniform_values(rng, B * T * D, -1, 1));
  test::write_buffer(*e.input("target"), uniform_values(rng, B * T * D, -1, 1));
  test::write_buffer(*e.input("valid_lens"), {3, 4});
  std::vector<float> losses;
  for (int step = 0; step < 60; ++step) {
    e.run();
    losses.push_back(e.output("loss")->as<float>()[0]);
  }
  INFO("first " << losses.front() << " last " << losses.back());
  CHECK(losses.back() < 0.5f * losses.front());
}
