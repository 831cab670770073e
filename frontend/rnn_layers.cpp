// RNN, GRU and LSTM layers unrolled over time. See rnn_layers.h.
#include "frontend/rnn_layers.h"

#include <cmath>

namespace kiln::nn {
namespace {

const char* cell_kind(RecurrentLayer::Cell c) {
  switch (c) {
    case RecurrentLayer::Tanh: return "rnn";
    case RecurrentLayer::Gru: return "gru";
    case RecurrentLayer::Lstm: return "lstm";
  }
  return "rnn";
}

// x[.., lo:hi] on the last axis of a rank-2 tensor.
Tensor cols(const Tensor& x, int64_t lo, int64_t hi) { return slice(x, 1, lo, hi); }

// Row k of a [K, B, H] state as [B, H].
Tensor state_row(const Tensor& s, int64_t k) {
  return reshape(slice(s, 0, k, k + 1), Shape{s.dim(1), s.dim(2)});
}

// [B, H] tensors stacked on a new leading axis: [n, B, H].
Tensor stack(const std::vector<Tensor>& xs) {
  std::vector<Tensor> rows;
  rows.reserve(xs.size());
  for (const Tensor& x : xs) rows.push_back(reshape(x, Shape{1, x.dim(0), x.dim(1)}));
  return rows.size() == 1 ? rows[0] : concat(rows, 0);
}

}  // namespace

RecurrentLayer::RecurrentLayer(Cell cell, int64_t input_size, int64_t hidden_size,
                               int64_t num_layers, bool bidirectional, double dropout,
                               std::string name)
    : cell_(cell),
      input_(input_size),
      hidden_(hidden_size),
      layers_(num_layers),
      bidirectional_(bidirectional),
      dropout_(dropout),
      name_(std::move(name)) {}

std::string RecurrentLayer::param_name(const std::string& what, int64_t layer, int dir) const {
  return name_ + "." + what + "_l" + std::to_string(layer) + (dir ? "_reverse" : "");
}

std::string RecurrentLayer::state_name(char which, int64_t layer, int dir) const {
  return name_ + "." + std::string(1, which) + "_l" + std::to_string(layer) +
         (dir ? "_reverse" : "");
}

std::string RecurrentLayer::describe() const {
  std::string s = cell_ == Tanh ? "RNN(" : cell_ == Gru ? "GRU(" : "LSTM(";
  s += std::to_string(input_) + ", " + std::to_string(hidden_);
  if (layers_ != 1) s += ", num_layers=" + std::to_string(layers_);
  if (bidirectional_) s += ", bidirectional";
  if (dropout_ > 0) s += ", dropout=" + std::to_string(dropout_);
  return s + ")";
}

Tensor RecurrentLayer::forward(Context& ctx, const Tensor& x) {
  return run_impl(ctx, x, nullptr).output;
}

RecurrentOutput RecurrentLayer::run(Context& ctx, const Tensor& x, std::source_location loc) {
  Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
  return run_impl(ctx, x, nullptr);
}

RecurrentOutput RecurrentLayer::run(Context& ctx, const Tensor& x, const RecurrentState& initial,
                                    std::source_location loc) {
  Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
  return run_impl(ctx, x, &initial);
}

bool RecurrentLayer::check_arguments(Context& ctx, const Tensor& x,
                                     const RecurrentState* initial) {
  auto fail = [&](const std::string& why) {
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() + ": " + why));
    return false;
  };
  if (input_ <= 0 || hidden_ <= 0 || layers_ <= 0)
    return fail("input_size, hidden_size and num_layers must be > 0");
  if (!(dropout_ >= 0.0 && dropout_ < 1.0)) return fail("dropout must be in [0, 1)");
  if (!is_float(x.dtype()) || x.rank() != 3 || x.dim(2) != input_ || x.dim(0) <= 0 ||
      x.dim(1) <= 0)
    return fail("applied to input of type " + x.type().to_string() + " (expects a float [T, B, " +
                std::to_string(input_) + "] input with T, B > 0)");
  if (!initial) return true;
  const TensorType want{x.dtype(), Shape{layers_ * num_directions(), x.dim(1), hidden_}};
  if (initial->h.valid() && initial->h.type() != want)
    return fail("initial h has type " + initial->h.type().to_string() + ", expects " +
                want.to_string());
  if (initial->c.valid() && (cell_ != Lstm || initial->c.type() != want))
    return fail(cell_ != Lstm ? std::string("only an LSTM takes an initial c")
                              : "initial c has type " + initial->c.type().to_string() +
                                    ", expects " + want.to_string());
  return true;
}

RecurrentOutput RecurrentLayer::run_impl(Context& ctx, const Tensor& x,
                                         const RecurrentState* initial) {
  if (!x.valid()) return {};
  if (name_.empty()) name_ = ctx.fresh_name(cell_kind(cell_));
  if (!check_arguments(ctx, x, initial)) return {};

  const int64_t batch = x.dim(1), dirs = num_directions();
  const TensorType state_type{x.dtype(), Shape{batch, hidden_}};
  Builder& b = ctx.b;
  // The carried state leaf `name` (created on first use).
  auto carried = [&](const std::string& name) {
    return existing_leaf_or(b, name, state_type, [&] {
      return b.state(name, state_type, StateKind::Carried, Init::zeros(), StateScope::Executable);
    });
  };

  Tensor layer_in = x;
  std::vector<Tensor> h_final, c_final;
  for (int64_t k = 0; k < layers_; ++k) {
    std::vector<Tensor> outs;
    for (int dir = 0; dir < dirs; ++dir) {
      const int64_t row = k * dirs + dir;
      Tensor h0, c0, h_leaf, c_leaf;
      if (!initial) {
        h_leaf = carried(state_name('h', k, dir));
        h0 = stop_gradient(h_leaf);  // d2l's detach
        if (cell_ == Lstm) {
          c_leaf = carried(state_name('c', k, dir));
          c0 = stop_gradient(c_leaf);
        }
      } else {
        h0 = initial->h.valid() ? state_row(initial->h, row) : b.constant(0.0, state_type);
        if (cell_ == Lstm)
          c0 = initial->c.valid() ? state_row(initial->c, row) : b.constant(0.0, state_type);
      }
      Direction d = run_direction(ctx, layer_in, k, dir, h0, c0);
      if (!b.ok()) return {};
      if (h_leaf.valid()) {
        for (const StateUpdate& u : b.graph().state_updates())
          if (u.state == h_leaf.value()) {
            b.record_error(Error(b.resolve_loc({}).to_string() + ": " + describe() +
                                 " carries state '" + h_leaf.node().name +
                                 "' and is applied twice in one graph; pass an initial state "
                                 "to run() instead"));
            return {};
          }
        b.update_state(h_leaf, d.h);
        if (c_leaf.valid()) b.update_state(c_leaf, d.c);
      }
      outs.push_back(d.out);
      h_final.push_back(d.h);
      if (cell_ == Lstm) c_final.push_back(d.c);
    }
    layer_in = outs.size() == 1 ? outs[0] : concat(outs, 2);
    if (k + 1 < layers_ && dropout_ > 0.0) layer_in = Dropout(dropout_).forward(ctx, layer_in);
  }
  RecurrentOutput r;
  r.output = layer_in;
  r.state.h = stack(h_final);
  if (cell_ == Lstm) r.state.c = stack(c_final);
  return r;
}

RecurrentLayer::Direction RecurrentLayer::run_direction(Context& ctx, const Tensor& x,
                                                        int64_t layer, int dir, Tensor h0,
                                                        Tensor c0) {
  const int64_t steps = x.dim(0), batch = x.dim(1), in = x.dim(2), gh = gates() * hidden_;
  const DType dt = x.dtype();
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_));
  const Init init = Init::uniform(-bound, bound);  // PyTorch's default for every parameter
  const Init w_init = ctx.weight_init.value_or(init);
  Tensor w_ih = parameter(ctx.b, param_name("weight_ih", layer, dir), {dt, Shape{gh, in}}, w_init);
  Tensor w_hh =
      parameter(ctx.b, param_name("weight_hh", layer, dir), {dt, Shape{gh, hidden_}}, w_init);
  Tensor b_ih = parameter(ctx.b, param_name("bias_ih", layer, dir), {dt, Shape{gh}}, init);
  Tensor b_hh = parameter(ctx.b, param_name("bias_hh", layer, dir), {dt, Shape{gh}}, init);

  // All time steps' input projection in one matmul: [T*B, in] x [in, G*H]. GRU keeps
  // b_hn inside r * (W_hn h + b_hn), so its b_hh stays in the step.
  Tensor proj_bias = cell_ == Gru ? b_ih : b_ih + b_hh;
  Tensor xp = matmul(reshape(x, Shape{steps * batch, in}), transpose(w_ih)) + proj_bias;
  xp = reshape(xp, Shape{steps, batch, gh});
  Tensor w_hh_t = transpose(w_hh);  // [H, G*H]

  Direction d;
  d.h = h0;
  d.c = c0;
  std::vector<Tensor> hs(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = dir == 0 ? i : steps - 1 - i;
    Tensor xt = reshape(slice(xp, 0, t, t + 1), Shape{batch, gh});
    step(xt, w_hh_t, b_hh, d.h, d.c);
    hs[static_cast<size_t>(t)] = d.h;
  }
  d.out = stack(hs);
  return d;
}

void RecurrentLayer::step(const Tensor& xt, const Tensor& w_hh_t, const Tensor& b_hh, Tensor& h,
                          Tensor& c) const {
  const int64_t H = hidden_;
  switch (cell_) {
    case Tanh:
      h = tanh(xt + matmul(h, w_hh_t));
      return;
    case Gru: {
      Tensor hh = matmul(h, w_hh_t) + b_hh;  // [B, 3H]
      Tensor r = sigmoid(cols(xt, 0, H) + cols(hh, 0, H));
      Tensor z = sigmoid(cols(xt, H, 2 * H) + cols(hh, H, 2 * H));
      Tensor n = tanh(cols(xt, 2 * H, 3 * H) + r * cols(hh, 2 * H, 3 * H));
      h = (1.0 - z) * n + z * h;
      return;
    }
    case Lstm: {
      Tensor g = xt + matmul(h, w_hh_t);  // [B, 4H]
      Tensor i = sigmoid(cols(g, 0, H));
      Tensor f = sigmoid(cols(g, H, 2 * H));
      Tensor cand = tanh(cols(g, 2 * H, 3 * H));
      Tensor o = sigmoid(cols(g, 3 * H, 4 * H));
      c = f * c + i * cand;
      h = o * tanh(c);
      return;
    }
  }
}

}  // namespace kiln::nn
