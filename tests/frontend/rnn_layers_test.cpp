// Recurrent layers (frontend/rnn_layers.h): outputs and final states against PyTorch's
// RNN/GRU/LSTM equations written as plain loops here (one step, several steps, several
// layers, both directions), finite-difference gradients in f64 w.r.t. the input and
// every parameter, the shape of the graph (one input-projection matmul per layer and
// direction), parameter counts against PyTorch's, carried state (kinds, detach, the JIT
// continuing a sequence across runs and reset_state starting afresh), JIT vs the
// reference interpreter, dropout between layers, and bad arguments as recorded errors.
#include "frontend/rnn_layers.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "codegen/harness.h"
#include "ir/interpreter.h"
#include "reference_eval.h"
#include "ir/leaf_state.h"
#include "frontend/embedding.h"
#include "frontend/losses.h"
#include "passes/autodiff.h"
#include "passes/training.h"

using namespace kiln;

namespace {

using Cell = nn::RecurrentLayer::Cell;

std::vector<double> uniform(std::mt19937_64& rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

int64_t gates_of(Cell c) { return c == Cell::Tanh ? 1 : c == Cell::Gru ? 3 : 4; }
const char* cell_name(Cell c) { return c == Cell::Tanh ? "rnn" : c == Cell::Gru ? "gru" : "lstm"; }

std::unique_ptr<nn::RecurrentLayer> make_layer(Cell c, int64_t in, int64_t hidden, int64_t layers,
                                               bool bidir, double dropout = 0.0) {
  switch (c) {
    case Cell::Tanh: return std::make_unique<nn::RNN>(in, hidden, layers, bidir, dropout);
    case Cell::Gru: return std::make_unique<nn::GRU>(in, hidden, layers, bidir, dropout);
    case Cell::Lstm: return std::make_unique<nn::LSTM>(in, hidden, layers, bidir, dropout);
  }
  return nullptr;
}

struct Config {
  Cell cell;
  int64_t in, hidden, layers;
  bool bidir;
  int64_t steps, batch;
  int64_t dirs() const { return bidir ? 2 : 1; }
  std::string describe() const {
    return std::string(cell_name(cell)) + " in " + std::to_string(in) + " hidden " +
           std::to_string(hidden) + " layers " + std::to_string(layers) +
           (bidir ? " bidirectional" : "") + " T " + std::to_string(steps) + " B " +
           std::to_string(batch);
  }
};

// A layer named "m.<cell>0" applied to input "x" [T, B, in]; outputs "y", "h" (and "c").
// With carried = false it starts from the inputs "h0" (and "c0") instead.
struct Net {
  Graph g{"m"};
  Builder b{g};
  Config cfg;
  std::unique_ptr<nn::RecurrentLayer> layer;
  Tensor x, h0, c0;
  nn::RecurrentOutput r;

  explicit Net(const Config& c, DType dt = DType::f64, bool carried = true, bool training = false,
               double dropout = 0.0)
      : cfg(c) {
    nn::Context ctx{b, training, 0, "m"};
    layer = make_layer(c.cell, c.in, c.hidden, c.layers, c.bidir, dropout);
    x = b.input("x", TensorType{dt, Shape{c.steps, c.batch, c.in}});
    if (carried) {
      r = layer->run(ctx, x);
    } else {
      const TensorType st{dt, Shape{c.layers * c.dirs(), c.batch, c.hidden}};
      h0 = b.input("h0", st);
      if (c.cell == Cell::Lstm) c0 = b.input("c0", st);
      r = layer->run(ctx, x, nn::RecurrentState{h0, c0});
    }
    b.output("y", r.output);
    b.output("h", r.state.h);
    if (c.cell == Cell::Lstm) b.output("c", r.state.c);
  }
  std::string prefix() const { return std::string("m.") + cell_name(cfg.cell) + "0."; }
};

InterpreterResult run(const Graph& g, const std::map<std::string, RefTensor>& feeds) {
  return test::run_reference(g, feeds);
}
using test::check_close;

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Random values for x, every parameter and every carried state leaf (or h0/c0 inputs).
std::map<std::string, RefTensor> random_feeds(const Graph& g, std::mt19937_64& rng) {
  std::map<std::string, RefTensor> feeds;
  for (const Node& n : g.nodes()) {
    bool feed = n.op == OpKind::Input || n.op == OpKind::Parameter;
    if (n.op == OpKind::State) feed = leaf_state(n)->kind == StateKind::Carried;
    if (feed) feeds[n.name] = RefTensor{n.type, uniform(rng, n.type.shape.numel(), -0.9, 0.9)};
  }
  return feeds;
}

// ---- PyTorch's equations, plain loops ------------------------------------------------

double sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }

struct Expected3 {
  std::vector<double> y, h, c;  // [T, B, D*H], [L*D, B, H], [L*D, B, H]
};

// `param(name)` returns the values of PyTorch's parameter `name` ("weight_ih_l0", ...);
// h0, c0 [L*D, B, H].
template <typename Param>
Expected3 reference(const Config& c, Param param, const std::vector<double>& x,
                    const std::vector<double>& h0, const std::vector<double>& c0) {
  const int64_t T = c.steps, B = c.batch, H = c.hidden, D = c.dirs(), G = gates_of(c.cell);
  Expected3 e;
  e.h.assign(static_cast<size_t>(c.layers * D * B * H), 0.0);
  e.c = e.h;
  std::vector<double> in = x;
  int64_t in_size = c.in;
  for (int64_t l = 0; l < c.layers; ++l) {
    std::vector<double> out(static_cast<size_t>(T * B * D * H));
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      const std::vector<double> &w_ih = param("weight_ih" + sfx), &w_hh = param("weight_hh" + sfx),
                                &b_ih = param("bias_ih" + sfx), &b_hh = param("bias_hh" + sfx);
      REQUIRE(static_cast<int64_t>(w_ih.size()) == G * H * in_size);
      const int64_t row = l * D + d;
      std::vector<double> h(h0.begin() + row * B * H, h0.begin() + (row + 1) * B * H);
      std::vector<double> cs(c.cell == Cell::Lstm ? c0.begin() + row * B * H : h.begin(),
                             c.cell == Cell::Lstm ? c0.begin() + (row + 1) * B * H : h.end());
      for (int64_t i = 0; i < T; ++i) {
        const int64_t t = d == 0 ? i : T - 1 - i;
        std::vector<double> hn(h.size()), cn(h.size());
        for (int64_t bb = 0; bb < B; ++bb) {
          std::vector<double> gi(G * H), gh(G * H);
          for (int64_t r = 0; r < G * H; ++r) {
            gi[r] = b_ih[r];
            for (int64_t k = 0; k < in_size; ++k)
              gi[r] += w_ih[r * in_size + k] * in[(t * B + bb) * in_size + k];
            gh[r] = b_hh[r];
            for (int64_t k = 0; k < H; ++k) gh[r] += w_hh[r * H + k] * h[bb * H + k];
          }
          for (int64_t j = 0; j < H; ++j) {
            const double hp = h[bb * H + j];
            double out_h = 0, out_c = 0;
            if (c.cell == Cell::Tanh) {
              out_h = std::tanh(gi[j] + gh[j]);
            } else if (c.cell == Cell::Gru) {
              const double rr = sigm(gi[j] + gh[j]);
              const double z = sigm(gi[H + j] + gh[H + j]);
              const double n = std::tanh(gi[2 * H + j] + rr * gh[2 * H + j]);
              out_h = (1 - z) * n + z * hp;
            } else {
              const double ig = sigm(gi[j] + gh[j]), fg = sigm(gi[H + j] + gh[H + j]);
              const double gg = std::tanh(gi[2 * H + j] + gh[2 * H + j]);
              const double og = sigm(gi[3 * H + j] + gh[3 * H + j]);
              out_c = fg * cs[bb * H + j] + ig * gg;
              out_h = og * std::tanh(out_c);
            }
            hn[bb * H + j] = out_h;
            cn[bb * H + j] = out_c;
            out[(t * B + bb) * D * H + d * H + j] = out_h;
          }
        }
        h = hn;
        if (c.cell == Cell::Lstm) cs = cn;
      }
      std::copy(h.begin(), h.end(), e.h.begin() + row * B * H);
      if (c.cell == Cell::Lstm) std::copy(cs.begin(), cs.end(), e.c.begin() + row * B * H);
    }
    in = out;
    in_size = D * H;
  }
  e.y = in;
  return e;
}

// The expected values for a Net's carried-state feeds.
Expected3 reference_for(Net& net, const std::map<std::string, RefTensor>& feeds) {
  const Config& c = net.cfg;
  std::vector<double> h0, c0;
  for (int64_t l = 0; l < c.layers; ++l)
    for (int d = 0; d < c.dirs(); ++d) {
      const auto& h = feeds.at(net.layer->state_name('h', l, d)).data;
      h0.insert(h0.end(), h.begin(), h.end());
      if (c.cell == Cell::Lstm) {
        const auto& cc = feeds.at(net.layer->state_name('c', l, d)).data;
        c0.insert(c0.end(), cc.begin(), cc.end());
      }
    }
  auto param = [&](const std::string& n) -> const std::vector<double>& {
    return feeds.at(net.prefix() + n).data;
  };
  return reference(c, param, feeds.at("x").data, h0, c0);
}

// Finite differences of loss = sum(y * wy) + sum(h * wh) (+ sum(c * wc)) w.r.t. every
// element of the leaves `wrt`, against autodiff's gradients, in f64 through the
// interpreter.
void gradcheck(Net& net, const std::vector<std::string>& wrt, std::mt19937_64& rng) {
  Builder& b = net.b;
  auto weighted = [&](const Tensor& t) {
    return sum(t * b.constant_data(uniform(rng, t.numel(), -1, 1), t.type()));
  };
  Tensor loss = weighted(net.r.output) + weighted(net.r.state.h);
  if (net.r.state.c.valid()) loss = loss + weighted(net.r.state.c);
  std::vector<Value> leaves;
  for (const std::string& n : wrt) {
    Value v = net.g.find_leaf(n);
    INFO(n);
    REQUIRE(v.valid());
    leaves.push_back(v);
  }
  Expected<std::vector<Value>> grads = gradients(net.g, loss.value(), leaves);
  INFO((grads.ok() ? std::string() : grads.error().message()));
  REQUIRE(grads.ok());
  net.g.add_output("loss", loss.value());
  for (size_t k = 0; k < wrt.size(); ++k) net.g.add_output("grad" + std::to_string(k), (*grads)[k]);
  REQUIRE(b.ok());
  std::map<std::string, RefTensor> feeds = random_feeds(net.g, rng);
  InterpreterResult r = run(net.g, feeds);
  const double eps = 1e-6, tol = 1e-6;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const std::vector<double>& analytic = r.outputs.at("grad" + std::to_string(k)).data;
    REQUIRE(analytic.size() == feeds.at(wrt[k]).data.size());
    for (size_t e = 0; e < analytic.size(); ++e) {
      std::map<std::string, RefTensor> f = feeds;
      const double x0 = f[wrt[k]].data[e];
      f[wrt[k]].data[e] = x0 + eps;
      const double lp = run(net.g, f).outputs.at("loss").data[0];
      f[wrt[k]].data[e] = x0 - eps;
      const double lm = run(net.g, f).outputs.at("loss").data[0];
      const double numeric = (lp - lm) / (2 * eps), a = analytic[e];
      INFO(net.cfg.describe() << ": dloss/d" << wrt[k] << "[" << e << "] analytic " << a
                              << " numeric " << numeric);
      CHECK(std::abs(a - numeric) <= tol * std::max({1.0, std::abs(a), std::abs(numeric)}));
    }
  }
}

std::vector<std::string> parameter_names(const Graph& g) {
  std::vector<std::string> names;
  for (Value v : g.parameters()) names.push_back(g.node(v).name);
  return names;
}

int count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

}  // namespace

TEST_CASE("One GRU and one LSTM step match PyTorch's equations", "[rnn][frontend]") {
  for (Cell cell : {Cell::Gru, Cell::Lstm}) {
    Config c{cell, 3, 4, 1, false, 1, 2};
    INFO(c.describe());
    Net net(c);
    REQUIRE(net.b.ok());
    std::mt19937_64 rng(3);
    std::map<std::string, RefTensor> feeds = random_feeds(net.g, rng);
    // PyTorch's parameter shapes and names.
    const int64_t G = gates_of(cell);
    CHECK(feeds.at(net.prefix() + "weight_ih_l0").type.shape == Shape{G * 4, 3});
    CHECK(feeds.at(net.prefix() + "weight_hh_l0").type.shape == Shape{G * 4, 4});
    CHECK(feeds.at(net.prefix() + "bias_ih_l0").type.shape == Shape{G * 4});
    CHECK(feeds.at(net.prefix() + "bias_hh_l0").type.shape == Shape{G * 4});
    InterpreterResult r = run(net.g, feeds);
    Expected3 want = reference_for(net, feeds);
    check_close(r.outputs.at("y").data, want.y, 1e-12);
    check_close(r.outputs.at("h").data, want.h, 1e-12);
    if (cell == Cell::Lstm) check_close(r.outputs.at("c").data, want.c, 1e-12);
    // A non-zero initial state matters (the step really reads the carried state).
    std::map<std::string, RefTensor> zero_state = feeds;
    for (auto& [name, t] : zero_state)
      if (name.find(".h_l") != std::string::npos || name.find(".c_l") != std::string::npos)
        std::fill(t.data.begin(), t.data.end(), 0.0);
    CHECK(max_abs_diff(run(net.g, zero_state).outputs.at("h").data, r.outputs.at("h").data) > 1e-3);
  }
}

TEST_CASE("RNN, GRU and LSTM match PyTorch's equations over layers, steps and directions",
          "[rnn][frontend]") {
  for (Cell cell : {Cell::Tanh, Cell::Gru, Cell::Lstm})
    for (Config c : {Config{cell, 3, 4, 1, false, 4, 2}, Config{cell, 2, 3, 2, true, 3, 2},
                     Config{cell, 3, 2, 3, false, 2, 1}}) {
      INFO(c.describe());
      Net net(c);
      REQUIRE(net.b.ok());
      std::mt19937_64 rng(5);
      std::map<std::string, RefTensor> feeds = random_feeds(net.g, rng);
      InterpreterResult r = run(net.g, feeds);
      Expected3 want = reference_for(net, feeds);
      CHECK(r.outputs.at("y").type.shape == Shape{c.steps, c.batch, c.dirs() * c.hidden});
      CHECK(r.outputs.at("h").type.shape == Shape{c.layers * c.dirs(), c.batch, c.hidden});
      check_close(r.outputs.at("y").data, want.y, 1e-12);
      check_close(r.outputs.at("h").data, want.h, 1e-12);
      if (cell == Cell::Lstm) check_close(r.outputs.at("c").data, want.c, 1e-12);
      // The carried states are updated to the final states, row layer*D + direction.
      const int64_t bh = c.batch * c.hidden;
      for (int64_t l = 0; l < c.layers; ++l)
        for (int d = 0; d < c.dirs(); ++d) {
          const int64_t row = l * c.dirs() + d;
          std::vector<double> h_row(want.h.begin() + row * bh, want.h.begin() + (row + 1) * bh);
          check_close(r.states.at(net.layer->state_name('h', l, d)).data, h_row, 1e-12);
          if (cell == Cell::Lstm) {
            std::vector<double> c_row(want.c.begin() + row * bh, want.c.begin() + (row + 1) * bh);
            check_close(r.states.at(net.layer->state_name('c', l, d)).data, c_row, 1e-12);
          }
        }
      CHECK(r.states.size() == static_cast<size_t>(c.layers * c.dirs() * (cell == Cell::Lstm ? 2 : 1)));
    }
}

TEST_CASE("Explicit initial states are used and carry nothing", "[rnn][frontend]") {
  Config c{Cell::Lstm, 3, 2, 2, true, 3, 2};
  Net net(c, DType::f64, /*carried=*/false);
  REQUIRE(net.b.ok());
  CHECK(net.g.state_updates().empty());
  CHECK(count(net.g, OpKind::State) == 0);
  std::mt19937_64 rng(9);
  std::map<std::string, RefTensor> feeds = random_feeds(net.g, rng);
  InterpreterResult r = run(net.g, feeds);
  auto param = [&](const std::string& n) -> const std::vector<double>& {
    return feeds.at(net.prefix() + n).data;
  };
  Expected3 want = reference(c, param, feeds.at("x").data, feeds.at("h0").data, feeds.at("c0").data);
  check_close(r.outputs.at("y").data, want.y, 1e-12);
  check_close(r.outputs.at("h").data, want.h, 1e-12);
  check_close(r.outputs.at("c").data, want.c, 1e-12);

  // An invalid initial state means zeros.
  Graph g("m");
  Builder b(g);
  nn::Context ctx{b, false, 0, "m"};
  nn::GRU gru(3, 2);
  Tensor x = b.input("x", TensorType{DType::f64, Shape{2, 1, 3}});
  nn::RecurrentOutput out = gru.run(ctx, x, nn::RecurrentState{});
  b.output("h", out.state.h);
  REQUIRE(b.ok());
  std::map<std::string, RefTensor> f2 = random_feeds(g, rng);
  Config c2{Cell::Gru, 3, 2, 1, false, 2, 1};
  auto param2 = [&](const std::string& n) -> const std::vector<double>& {
    return f2.at("m.gru0." + n).data;
  };
  Expected3 want2 = reference(c2, param2, f2.at("x").data, std::vector<double>(2, 0.0), {});
  check_close(run(g, f2).outputs.at("h").data, want2.h, 1e-12);
}

TEST_CASE("Recurrent cells unrolled over several steps pass f64 gradient checks",
          "[rnn][frontend][gradcheck]") {
  std::mt19937_64 rng(17);
  for (Cell cell : {Cell::Tanh, Cell::Gru, Cell::Lstm})
    for (Config c : {Config{cell, 3, 2, 1, false, 4, 2}, Config{cell, 2, 2, 2, true, 3, 1}}) {
      INFO(c.describe());
      Net net(c);
      REQUIRE(net.b.ok());
      std::vector<std::string> wrt = {"x"};
      for (const std::string& p : parameter_names(net.g)) wrt.push_back(p);
      CHECK(wrt.size() == static_cast<size_t>(1 + 4 * c.layers * c.dirs()));
      gradcheck(net, wrt, rng);
    }
}

TEST_CASE("Gradients flow into explicit initial states, not into carried ones",
          "[rnn][frontend][gradcheck]") {
  std::mt19937_64 rng(23);
  for (Cell cell : {Cell::Gru, Cell::Lstm}) {
    Config c{cell, 2, 3, 2, false, 3, 2};
    INFO(c.describe());
    Net explicit_state(c, DType::f64, /*carried=*/false);
    REQUIRE(explicit_state.b.ok());
    std::vector<std::string> wrt = {"h0"};
    if (cell == Cell::Lstm) wrt.push_back("c0");
    gradcheck(explicit_state, wrt, rng);

    // Carried state is read through stop_gradient (d2l's detach): autodiff gives zero
    // although the loss depends on it.
    Net carried(c);
    Tensor loss = sum(carried.r.output);
    const std::string h_leaf = carried.layer->state_name('h', 0, 0);
    Expected<std::vector<Value>> g =
        gradients(carried.g, loss.value(), {carried.g.find_leaf(h_leaf)});
    REQUIRE(g.ok());
    carried.g.add_output("loss", loss.value());
    carried.g.add_output("dh", (*g)[0]);
    std::map<std::string, RefTensor> feeds = random_feeds(carried.g, rng);
    InterpreterResult r = run(carried.g, feeds);
    for (double v : r.outputs.at("dh").data) CHECK(v == 0.0);
    feeds.at(h_leaf).data[0] += 1e-3;
    CHECK(std::abs(run(carried.g, feeds).outputs.at("loss").data[0] -
                   r.outputs.at("loss").data[0]) > 1e-7);
  }
}

TEST_CASE("The input projection is one matmul per layer and direction", "[rnn][frontend]") {
  for (Cell cell : {Cell::Tanh, Cell::Gru, Cell::Lstm}) {
    Config c{cell, 5, 4, 2, true, 6, 3};
    INFO(c.describe());
    Net net(c, DType::f32);
    REQUIRE(net.b.ok());
    const int64_t G = gates_of(cell);
    int projections = 0, steps = 0, others = 0;
    for (const Node& n : net.g.nodes()) {
      if (n.op != OpKind::Matmul) continue;
      if (n.type.shape == Shape{c.steps * c.batch, G * c.hidden})
        ++projections;
      else if (n.type.shape == Shape{c.batch, G * c.hidden})
        ++steps;
      else
        ++others;
    }
    CHECK(projections == c.layers * c.dirs());
    CHECK(steps == c.layers * c.dirs() * c.steps);  // h @ W_hh^T once per step
    CHECK(others == 0);
  }
}

TEST_CASE("Recurrent parameter counts and names equal PyTorch's", "[rnn][frontend]") {
  for (Cell cell : {Cell::Tanh, Cell::Gru, Cell::Lstm})
    for (Config c : {Config{cell, 28, 256, 1, false, 2, 3}, Config{cell, 10, 7, 2, true, 2, 1},
                     Config{cell, 4, 5, 3, false, 1, 2}}) {
      INFO(c.describe());
      Net net(c, DType::f32);
      REQUIRE(net.b.ok());
      int64_t total = 0;
      for (Value v : net.g.parameters()) total += net.g.type(v).shape.numel();
      // PyTorch: per layer and direction G*H*(in_l + H) weights and 2*G*H biases,
      // in_0 = input_size, in_l = D*H.
      const int64_t G = gates_of(cell), H = c.hidden, D = c.dirs();
      int64_t want = 0;
      for (int64_t l = 0; l < c.layers; ++l)
        want += D * (G * H * ((l == 0 ? c.in : D * H) + H) + 2 * G * H);
      CHECK(total == want);
      std::set<std::string> names;
      for (const std::string& n : parameter_names(net.g)) names.insert(n);
      for (int64_t l = 0; l < c.layers; ++l)
        for (int d = 0; d < D; ++d)
          for (const char* w : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"})
            CHECK(names.count(net.prefix() + w + "_l" + std::to_string(l) + (d ? "_reverse" : "")));
      CHECK(names.size() == static_cast<size_t>(4 * c.layers * D));
    }
  // d2l's char_gru: 28 tokens, 256 hidden: nn.GRU(28, 256) has 3*256*(28+256) + 6*256.
  Net gru(Config{Cell::Gru, 28, 256, 1, false, 1, 1}, DType::f32);
  int64_t n = 0;
  for (Value v : gru.g.parameters()) n += gru.g.type(v).shape.numel();
  CHECK(n == 219648);
}

TEST_CASE("Recurrent parameters are initialised U(-1/sqrt(H), 1/sqrt(H)) and states are carried",
          "[rnn][frontend]") {
  Net net(Config{Cell::Lstm, 3, 16, 1, true, 2, 2}, DType::f32);
  REQUIRE(net.b.ok());
  for (Value v : net.g.parameters()) {
    Expected<LeafState> s = leaf_state(net.g.node(v));
    REQUIRE(s.ok());
    CHECK(s->init.kind == InitKind::Uniform);
    CHECK(s->init.a == Approx(-0.25));
    CHECK(s->init.b == Approx(0.25));
  }
  int states = 0;
  for (const Node& n : net.g.nodes()) {
    if (n.op != OpKind::State) continue;
    ++states;
    Expected<LeafState> s = leaf_state(n);
    REQUIRE(s.ok());
    CHECK(s->kind == StateKind::Carried);
    CHECK(s->scope == StateScope::Executable);
    CHECK(s->init.kind == InitKind::Zeros);
    CHECK(n.type.shape == Shape{2, 16});
  }
  CHECK(states == 4);  // h and c, two directions
  CHECK(net.g.state_updates().size() == 4);
  // The carried leaves are read only through stop_gradient.
  for (const Node& n : net.g.nodes())
    for (Value in : n.inputs)
      if (net.g.node(in).op == OpKind::State) CHECK(n.op == OpKind::StopGradient);
}

TEST_CASE("Dropout between recurrent layers only in training and never after the last",
          "[rnn][frontend]") {
  Config two{Cell::Gru, 3, 4, 2, false, 3, 2}, one{Cell::Gru, 3, 4, 1, false, 3, 2};
  Net train2(two, DType::f64, true, /*training=*/true, 0.5);
  Net eval2(two, DType::f64, true, /*training=*/false, 0.5);
  Net train1(one, DType::f64, true, /*training=*/true, 0.5);
  REQUIRE(train2.b.ok());
  REQUIRE(eval2.b.ok());
  REQUIRE(train1.b.ok());
  CHECK(count(train2.g, OpKind::RngUniform) == 1);
  CHECK(count(eval2.g, OpKind::RngUniform) == 0);
  CHECK(count(train1.g, OpKind::RngUniform) == 0);
  // The eval graph equals the equations without dropout; the training one does not.
  std::mt19937_64 rng(31);
  std::map<std::string, RefTensor> feeds = random_feeds(eval2.g, rng);
  Expected3 want = reference_for(eval2, feeds);
  check_close(run(eval2.g, feeds).outputs.at("y").data, want.y, 1e-12);
  CHECK(max_abs_diff(run(train2.g, feeds).outputs.at("y").data, want.y) > 1e-3);
}

TEST_CASE("Bad recurrent arguments are errors recorded in the builder", "[rnn][frontend]") {
  struct Bad {
    const char* what;
    int64_t in, hidden, layers;
    double dropout;
    Shape x;
    DType dt;
  };
  for (const Bad& c : {Bad{"hidden 0", 3, 0, 1, 0.0, Shape{2, 2, 3}, DType::f32},
                       Bad{"num_layers 0", 3, 4, 0, 0.0, Shape{2, 2, 3}, DType::f32},
                       Bad{"input_size 0", 0, 4, 1, 0.0, Shape{2, 2, 3}, DType::f32},
                       Bad{"dropout 1", 3, 4, 2, 1.0, Shape{2, 2, 3}, DType::f32},
                       Bad{"rank 2 input", 3, 4, 1, 0.0, Shape{2, 3}, DType::f32},
                       Bad{"rank 4 input", 3, 4, 1, 0.0, Shape{2, 2, 1, 3}, DType::f32},
                       Bad{"wrong input size", 3, 4, 1, 0.0, Shape{2, 2, 5}, DType::f32},
                       Bad{"no time steps", 3, 4, 1, 0.0, Shape{0, 2, 3}, DType::f32},
                       Bad{"integer input", 3, 4, 1, 0.0, Shape{2, 2, 3}, DType::i32}})
    for (Cell cell : {Cell::Tanh, Cell::Gru, Cell::Lstm}) {
      INFO(c.what << " " << cell_name(cell));
      Graph g("m");
      Builder b(g);
      nn::Context ctx{b, true, 0, "m"};
      auto layer = make_layer(cell, c.in, c.hidden, c.layers, false, c.dropout);
      Tensor y = (*layer)(ctx, b.input("x", TensorType{c.dt, c.x}));
      CHECK_FALSE(y.valid());
      REQUIRE_FALSE(b.ok());
      const std::string msg = b.status().error().message();
      INFO(msg);
      CHECK(msg.find("rnn_layers_test.cpp") != std::string::npos);  // the user's line
      CHECK(msg.find(layer->describe()) != std::string::npos);
    }
  // An initial state of the wrong shape, and a carried layer applied twice.
  Graph g("m");
  Builder b(g);
  nn::Context ctx{b, true, 0, "m"};
  nn::LSTM lstm(3, 4);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{2, 2, 3}});
  Tensor bad_h = b.input("h0", TensorType{DType::f32, Shape{1, 3, 4}});
  CHECK_FALSE(lstm.run(ctx, x, nn::RecurrentState{bad_h, {}}).output.valid());
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().error().message().find("initial h") != std::string::npos);

  Graph g2("m");
  Builder b2(g2);
  nn::Context ctx2{b2, true, 0, "m"};
  nn::GRU gru(3, 4);
  Tensor x2 = b2.input("x", TensorType{DType::f32, Shape{2, 2, 3}});
  CHECK(gru(ctx2, x2).valid());
  REQUIRE(b2.ok());
  CHECK_FALSE(gru(ctx2, x2).valid());
  REQUIRE_FALSE(b2.ok());
  CHECK(b2.status().error().message().find("applied twice") != std::string::npos);
}

TEST_CASE("JIT matches the interpreter on a 2-layer bidirectional LSTM over two runs",
          "[rnn][codegen]") {
  for (Cell cell : {Cell::Lstm, Cell::Gru}) {
    Config c{cell, 5, 8, 2, true, 4, 3};
    INFO(c.describe());
    Net net(c, DType::f32);
    REQUIRE(net.b.ok());
    test::ParityOptions o;
    o.rtol = 2e-5;
    o.runs = 2;  // the carried states of the first run feed the second
    for (const Node& n : net.g.nodes())
      if (n.op == OpKind::Parameter)
        o.gens[n.name] = [](std::mt19937_64& r, int64_t) {
          return std::uniform_real_distribution<double>(-0.5, 0.5)(r);
        };
    CHECK(test::check_parity(net.g, o) <= 2e-5);
  }
}

TEST_CASE("A compiled executable carries the state from run to run; reset_state starts afresh",
          "[rnn][codegen]") {
  for (Cell cell : {Cell::Gru, Cell::Lstm}) {
    INFO(cell_name(cell));
    const int64_t T = 3, B = 2, in = 4, H = 5;
    Net half(Config{cell, in, H, 2, false, T, B}, DType::f32);
    Net whole(Config{cell, in, H, 2, false, 2 * T, B}, DType::f32);
    REQUIRE(half.b.ok());
    REQUIRE(whole.b.ok());
    auto store = std::make_shared<StateStore>();  // shared weights, own carried state
    auto e_half = compile(half.g, store);
    auto e_whole = compile(whole.g, store);
    REQUIRE(e_half.ok());
    REQUIRE(e_whole.ok());
    Executable& eh = **e_half;
    Executable& ew = **e_whole;
    std::mt19937_64 rng(41);
    const std::vector<double> xs = uniform(rng, 2 * T * B * in, -1, 1);
    const size_t n_half = static_cast<size_t>(T * B * in);
    const std::vector<double> first(xs.begin(), xs.begin() + n_half), second(xs.begin() + n_half, xs.end());
    auto run_half = [&](const std::vector<double>& x) {
      test::write_buffer(*eh.input("x"), x);
      eh.run();
      return std::make_pair(test::read_buffer(*eh.output("h")), test::read_buffer(*eh.output("y")));
    };
    test::write_buffer(*ew.input("x"), xs);
    ew.run();
    const std::vector<double> h_whole = test::read_buffer(*ew.output("h"));
    const std::vector<double> y_whole = test::read_buffer(*ew.output("y"));

    auto [h1, y1] = run_half(first);
    auto [h2, y2] = run_half(second);  // continues the sequence
    check_close(h2, h_whole, 1e-5);
    check_close(y2, std::vector<double>(y_whole.begin() + y1.size(), y_whole.end()), 1e-5);
    check_close(y1, std::vector<double>(y_whole.begin(), y_whole.begin() + y1.size()), 1e-5);
    if (cell == Cell::Lstm) {
      // c_n too: the cell state is carried.
      check_close(test::read_buffer(*eh.output("c")), test::read_buffer(*ew.output("c")), 1e-5);
    }

    // Fresh state: the second half alone is not the continuation...
    CHECK(eh.reset_state(StateKind::Carried) == (cell == Cell::Lstm ? 4 : 2));
    auto [h3, y3] = run_half(second);
    CHECK(max_abs_diff(h3, h_whole) > 1e-3);
    // ...and the first half after a reset repeats the first run exactly.
    eh.reset_state(StateKind::Carried);
    auto [h4, y4] = run_half(first);
    CHECK(h4 == h1);
    CHECK(y4 == y1);
    // Without a reset a repeated input continues instead.
    auto [h5, y5] = run_half(first);
    CHECK(max_abs_diff(h5, h1) > 1e-3);
    // The weights were shared, the carried states were not.
    CHECK(eh.state_buffer(half.layer->state_name('h', 0, 0)) !=
          ew.state_buffer(whole.layer->state_name('h', 0, 0)));
    CHECK(eh.state_buffer(half.prefix() + "weight_ih_l0") ==
          ew.state_buffer(whole.prefix() + "weight_ih_l0"));
  }
}

TEST_CASE("A compiled GRU language-model step trains over carried state", "[rnn][codegen]") {
  // d2l's char-RNN in miniature: one-hot tokens -> GRU -> Linear, SGD with gradient
  // clipping, the hidden state carried between consecutive minibatches of one sequence.
  const int64_t V = 7, T = 6, B = 2, H = 16;
  Graph g("m");
  Builder b(g);
  nn::Context ctx{b, true, 0, "m"};
  nn::OneHot one_hot_in(V);
  nn::GRU gru(V, H);
  nn::Linear head(H, V, nn::Init::uniform(-0.25, 0.25));
  Tensor ids = b.input("ids", TensorType{DType::i32, Shape{T, B}});
  Tensor labels = b.input("labels", TensorType{DType::i32, Shape{T * B}});
  Tensor h = gru(ctx, one_hot_in(ctx, ids));
  b.output("loss", softmax_cross_entropy(head(ctx, reshape(h, Shape{T * B, H})), labels));
  REQUIRE(b.ok());
  OptimizerConfig sgd;
  sgd.lr = 1.0;
  sgd.clip_norm = 1.0;
  Expected<bool> done = TrainingStepPass("loss", sgd).run(g);
  INFO((done.ok() ? std::string() : done.error().message()));
  REQUIRE(done.ok());
  // The step still carries the hidden state (and trains no state).
  int carried_updates = 0;
  for (const StateUpdate& u : g.state_updates())
    carried_updates += g.node(u.state).name == gru.state_name('h', 0, 0);
  CHECK(carried_updates == 1);
  CHECK_FALSE(g.find_leaf(gru.state_name('h', 0, 0) + ".momentum").valid());

  auto exe = compile(g, std::make_shared<StateStore>());
  INFO((exe.ok() ? std::string() : exe.error().message()));
  REQUIRE(exe.ok());
  Executable& e = **exe;
  // Two rows of a periodic sequence 0 1 2 ... 6 0 1 ..., split into consecutive
  // minibatches (d2l's sequential sampling); labels are the next tokens.
  auto fill = [&](int64_t start) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < B; ++r) {
        const int64_t pos = start + t + r * 3;
        e.input("ids")->as<int32_t>()[t * B + r] = static_cast<int32_t>(pos % V);
        e.input("labels")->as<int32_t>()[t * B + r] = static_cast<int32_t>((pos + 1) % V);
      }
  };
  std::vector<float> losses;
  for (int epoch = 0; epoch < 30; ++epoch) {
    e.reset_state(StateKind::Carried);  // a new epoch starts a fresh sequence
    float total = 0;
    for (int64_t i = 0; i < 3; ++i) {
      fill(i * T);
      e.run();
      total += e.output("loss")->as<float>()[0];
    }
    losses.push_back(total / 3);
  }
  INFO("first " << losses.front() << " last " << losses.back());
  CHECK(losses.back() < 0.5f * losses.front());
  // The carried state is non-zero after a run and zero after a reset.
  const HostBuffer* hs = e.state_buffer(gru.state_name('h', 0, 0));
  REQUIRE(hs != nullptr);
  CHECK(test::read_buffer(*hs) != std::vector<double>(static_cast<size_t>(B * H), 0.0));
  e.reset_state(StateKind::Carried);
  CHECK(test::read_buffer(*hs) == std::vector<double>(static_cast<size_t>(B * H), 0.0));
}

TEST_CASE("The README's recurrent-layer snippet builds", "[rnn][frontend]") {
  Graph g("lm");
  Builder b(g);
  nn::Context ctx{b, /*training=*/true};
  const int64_t vocab = 28;
  // --- as in README.md, "Recurrent layers" ---
  nn::OneHot one_hot(vocab);                  // or nn::Embedding(vocab, 32)
  nn::LSTM lstm(vocab, 256, /*num_layers=*/2);
  nn::Linear head(256, vocab);
  Tensor ids = b.input("ids", {DType::i32, Shape{35, 32}});      // [T, B] token ids
  Tensor h = lstm(ctx, one_hot(ctx, ids));                        // [35, 32, 256]
  Tensor logits = head(ctx, reshape(h, Shape{35 * 32, 256}));
  // ---
  REQUIRE(b.ok());
  CHECK(h.shape() == Shape{35, 32, 256});
  CHECK(logits.shape() == Shape{35 * 32, vocab});

  nn::GRU encoder(8, 16, 2), decoder(8, 16, 2);
  Tensor src = b.input("src", {DType::f32, Shape{5, 4, 8}});
  Tensor tgt = b.input("tgt", {DType::f32, Shape{6, 4, 8}});
  nn::RecurrentOutput enc = encoder.run(ctx, src, nn::RecurrentState{});
  nn::RecurrentOutput dec = decoder.run(ctx, tgt, enc.state);
  REQUIRE(b.ok());
  CHECK(enc.state.h.shape() == Shape{2, 4, 16});
  CHECK(dec.output.shape() == Shape{6, 4, 16});
}
