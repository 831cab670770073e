// Recurrent layers for the DSL (d2l chapters 9-10): RNN (tanh), GRU and LSTM with
// PyTorch's nn.RNN / nn.GRU / nn.LSTM equations, parameter shapes, names and default
// initialisation, unrolled statically over the time steps from primitive ops, so autodiff
// and fusion see ordinary matmuls and elementwise math.
//
// Input x [T, B, input_size] (time-major, as d2l and PyTorch), output [T, B, D*H] (D = 2
// when bidirectional, the forward direction's features first) plus the final states
// h_n (and LSTM's c_n) [num_layers*D, B, H], row layer*D + direction as in PyTorch.
//
// Parameters of layer k and direction d (suffix "" or "_reverse"), G gates (1, 3, 4):
//   <name>.weight_ih_l<k><suffix> [G*H, in]   in = input_size (k = 0) or D*H
//   <name>.weight_hh_l<k><suffix> [G*H, H]
//   <name>.bias_ih_l<k><suffix>   [G*H]
//   <name>.bias_hh_l<k><suffix>   [G*H]
// all U(-1/sqrt(H), 1/sqrt(H)) (the weights: ctx.weight_init when set). Gate rows in
// PyTorch's order:
//   RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
//   GRU:  r, z, n:  r = s(W_ir x + b_ir + W_hr h + b_hr), z likewise,
//         n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h
//   LSTM: i, f, g, o: i, f, o = s(...), g = tanh(...),  c' = f * c + i * g,
//         h' = o * tanh(c')
// Each layer and direction projects all time steps of its input with ONE matmul
// ([T*B, in] x [in, G*H], with the biases that are not inside GRU's r * (...) added
// there); a time step is then h @ W_hh^T plus the gate arithmetic.
//
// State: forward() and run(ctx, x) carry the hidden state (and LSTM's cell state) of each
// layer and direction from one run of an executable to the next: a state leaf
// "<name>.h_l<k><suffix>" (and ".c_l<k><suffix>") [B, H], StateKind::Carried,
// StateScope::Executable (so its shape follows each executable's batch size), zeros
// initially. It is read through stop_gradient (d2l's detach: no gradient flows into an
// earlier minibatch) and overwritten with the final state at the end of the run, so
// consecutive runs continue the sequence (d2l's sequential sampling) and
// Executable::reset_state(StateKind::Carried) starts afresh (random sampling). A layer
// carrying state may be applied once per graph. run(ctx, x, initial) instead starts from
// the given state (zeros when initial.h is invalid) and carries nothing: an
// encoder-decoder's encoder, or a decoder started from the encoder's state.
//
// Dropout (probability `dropout`) is applied to the output of every layer but the last,
// in training graphs only (ctx.training), as PyTorch does.
//
// Bad arguments (hidden_size, num_layers or input_size <= 0, dropout outside [0, 1), an
// input that is not a float [T, B, input_size] with T, B > 0, an initial state of the
// wrong type) are errors recorded in the builder, with the user's source location.
#pragma once

#include <source_location>
#include <string>

#include "frontend/nn.h"

namespace kiln::nn {

// Initial or final states, [num_layers*D, B, H]; c only for LSTM.
struct RecurrentState {
  Tensor h;
  Tensor c;
};

struct RecurrentOutput {
  Tensor output;  // [T, B, D*H]
  RecurrentState state;
};

class RecurrentLayer : public Module {
 public:
  enum Cell { Tanh, Gru, Lstm };

  // Carried state (see above); returns the output sequence.
  Tensor forward(Context& ctx, const Tensor& x) override;
  // Carried state; the output sequence and the final states.
  RecurrentOutput run(Context& ctx, const Tensor& x,
                      std::source_location loc = std::source_location::current());
  // Starts from `initial` (zeros where its tensors are invalid); no carried state.
  RecurrentOutput run(Context& ctx, const Tensor& x, const RecurrentState& initial,
                      std::source_location loc = std::source_location::current());
  std::string describe() const override;

  Cell cell() const { return cell_; }
  int64_t gates() const { return cell_ == Tanh ? 1 : cell_ == Gru ? 3 : 4; }
  int64_t hidden_size() const { return hidden_; }
  int64_t num_layers() const { return layers_; }
  int64_t num_directions() const { return bidirectional_ ? 2 : 1; }
  // Names of the leaves of layer k, direction dir (0 forward, 1 reverse). The layer's
  // name is fixed at its first call (ctx.fresh_name("rnn"/"gru"/"lstm") when unnamed).
  std::string param_name(const std::string& what, int64_t layer, int dir) const;  // "weight_ih"
  std::string state_name(char which, int64_t layer, int dir) const;              // 'h' or 'c'

 protected:
  RecurrentLayer(Cell cell, int64_t input_size, int64_t hidden_size, int64_t num_layers,
                 bool bidirectional, double dropout, std::string name);

 private:
  struct Direction {
    Tensor out;      // [T, B, H]
    Tensor h, c;     // final states [B, H]
  };
  RecurrentOutput run_impl(Context& ctx, const Tensor& x, const RecurrentState* initial);
  bool check_arguments(Context& ctx, const Tensor& x, const RecurrentState* initial);
  Direction run_direction(Context& ctx, const Tensor& x, int64_t layer, int dir, Tensor h0,
                          Tensor c0);
  // One time step from the projected input xt [B, G*H] (biases included as described
  // above); updates h (and c).
  void step(const Tensor& xt, const Tensor& w_hh_t, const Tensor& b_hh, Tensor& h,
            Tensor& c) const;

  Cell cell_;
  int64_t input_, hidden_, layers_;
  bool bidirectional_;
  double dropout_;
  std::string name_;
};

// Elman RNN with tanh: PyTorch's nn.RNN(input_size, hidden_size, num_layers,
// bidirectional=..., dropout=...), time-major.
class RNN : public RecurrentLayer {
 public:
  RNN(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool bidirectional = false,
      double dropout = 0.0, std::string name = "")
      : RecurrentLayer(Tanh, input_size, hidden_size, num_layers, bidirectional, dropout,
                       std::move(name)) {}
};

// Gated recurrent unit: PyTorch's nn.GRU.
class GRU : public RecurrentLayer {
 public:
  GRU(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool bidirectional = false,
      double dropout = 0.0, std::string name = "")
      : RecurrentLayer(Gru, input_size, hidden_size, num_layers, bidirectional, dropout,
                       std::move(name)) {}
};

// Long short-term memory: PyTorch's nn.LSTM (no projection).
class LSTM : public RecurrentLayer {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool bidirectional = false,
       double dropout = 0.0, std::string name = "")
      : RecurrentLayer(Lstm, input_size, hidden_size, num_layers, bidirectional, dropout,
                       std::move(name)) {}
};

}  // namespace kiln::nn
