// Transformer building blocks of d2l 10.6-10.7 (PyTorch edition): sinusoidal positional
// encoding, the position-wise feed-forward network, the residual AddNorm, and the
// encoder and decoder blocks. Models (models/transformer*.cpp) stack them.
//
// Inputs are batch-major [B, T, D] (D = num_hiddens). valid_lens follow
// frontend/attention.h (invalid Tensor, [B] or [B, T_q]; integer or float).
//
// Naming: a block named <name> (ctx.fresh_name(kind) at its first call when unnamed)
// names its sublayers after d2l's attributes, e.g. "<name>.attention.W_q.weight",
// "<name>.addnorm1.ln.weight", "<name>.ffn.dense1.bias", so train and predict graphs built
// from the same objects share the weights. Linears use PyTorch's default initialisation
// (TorchLinear, frontend/attention.h); LayerNorm starts at weight 1, bias 0.
//
// Dropout is active in training graphs only (ctx.training). Bad arguments are errors
// recorded in the builder with the user's source location (the result is invalid).
//
// Differences from d2l, on purpose:
//  * PositionalEncoding takes the position of the first step (`offset`), and
//    TransformerDecoderBlock has no key_values state: it is applied to the whole target
//    prefix [B, T, D] with a causal mask (query t attends to positions 0..t, i.e.
//    dec_valid_lens = [1, ..., T] for every row) in training AND prediction. Greedy
//    decoding re-runs the decoder over the prefix decoded so far, so every step sees its
//    real position (d2l's predict step encodes every new token at position 0).
//  * The embedding scale sqrt(num_hiddens) that d2l's TransformerEncoder/Decoder apply
//    before pos_encoding is NOT part of PositionalEncoding: the model multiplies.
#pragma once

#include <memory>
#include <source_location>
#include <string>

#include "frontend/attention.h"
#include "frontend/norm_layers.h"

namespace kiln::nn {

// d2l 10.6.3: P[pos, 2j] = sin(pos / 10000^(2j/D)), P[pos, 2j+1] = cos(pos / 10000^(2j/D)).
// forward(x [B, T, D], offset) = dropout(x + P[offset : offset + T]); P is a constant of
// x's dtype (no parameter, no gradient). offset + T must not exceed max_len.
class PositionalEncoding : public Module {
 public:
  PositionalEncoding(int64_t num_hiddens, double dropout = 0.0, int64_t max_len = 1000);
  Tensor forward(Context& ctx, const Tensor& x) override { return forward(ctx, x, 0); }
  Tensor forward(Context& ctx, const Tensor& x, int64_t offset);
  using Module::operator();
  Tensor operator()(Context& ctx, const Tensor& x, int64_t offset,
                    std::source_location loc = std::source_location::current()) {
    Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
    return forward(ctx, x, offset);
  }
  std::string describe() const override;
  // P[pos, i] in double precision (the closed form above), for tests and plots.
  static double value(int64_t pos, int64_t i, int64_t num_hiddens);

 private:
  int64_t hiddens_;
  double dropout_;
  int64_t max_len_;
};

// d2l 10.7.2: dense2(relu(dense1(x))), dense1 LazyLinear(ffn_num_hiddens), dense2
// LazyLinear(ffn_num_outputs), both with bias: "<name>.dense1", "<name>.dense2".
// ctx.fresh_name("ffn") when unnamed. [..., in] -> [..., ffn_num_outputs].
class PositionWiseFFN : public Module {
 public:
  PositionWiseFFN(int64_t ffn_num_hiddens, int64_t ffn_num_outputs, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  const std::string& name() const { return name_; }

 private:
  int64_t hiddens_, outputs_;
  std::string name_;
  std::unique_ptr<TorchLinear> dense1_, dense2_;
};

// d2l 10.7.3: ln(dropout(y) + x), ln a LayerNorm over the last axis named "<name>.ln".
// ctx.fresh_name("addnorm") when unnamed. x and y have the same shape [..., D].
class AddNorm {
 public:
  AddNorm(int64_t normalized_shape, double dropout = 0.0, std::string name = "");
  Tensor operator()(Context& ctx, const Tensor& x, const Tensor& y,
                    std::source_location loc = std::source_location::current()) {
    Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
    return forward(ctx, x, y);
  }
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& y);
  std::string describe() const;
  const std::string& name() const { return name_; }

 private:
  int64_t shape_;
  double dropout_;
  std::string name_;
  std::unique_ptr<LayerNorm> ln_;
};

// d2l 10.7.4: y = addnorm1(x, attention(x, x, x, valid_lens)); out = addnorm2(y, ffn(y)).
// Sublayers "<name>.attention" (MultiHeadAttention, bias = use_bias), "<name>.addnorm1",
// "<name>.ffn", "<name>.addnorm2". ctx.fresh_name("encoder_block") when unnamed.
// x [B, T, num_hiddens] -> [B, T, num_hiddens].
class TransformerEncoderBlock {
 public:
  TransformerEncoderBlock(int64_t num_hiddens, int64_t ffn_num_hiddens, int64_t num_heads,
                          double dropout = 0.0, bool use_bias = false, std::string name = "");
  Tensor operator()(Context& ctx, const Tensor& x, const Tensor& valid_lens = Tensor{},
                    std::source_location loc = std::source_location::current()) {
    Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
    return forward(ctx, x, valid_lens);
  }
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& valid_lens);
  std::string describe() const;
  const std::string& name() const { return name_; }
  // Self-attention weights of the last call, [B*num_heads, T, T] (see attention.h).
  Tensor attention_weights() const;

 private:
  void build(Context& ctx);

  int64_t hiddens_, ffn_hiddens_, heads_;
  double dropout_;
  bool use_bias_;
  std::string name_;
  std::unique_ptr<MultiHeadAttention> attention_;
  std::unique_ptr<AddNorm> addnorm1_, addnorm2_;
  std::unique_ptr<PositionWiseFFN> ffn_;
};

// d2l 10.7.5 without the key_values state (see above):
//   y = addnorm1(x, attention1(x, x, x, causal valid_lens [1..T]))        masked self-attn
//   z = addnorm2(y, attention2(y, enc_outputs, enc_outputs, enc_valid_lens))
//   out = addnorm3(z, ffn(z))
// Sublayers "<name>.attention1", "<name>.addnorm1", "<name>.attention2",
// "<name>.addnorm2", "<name>.ffn", "<name>.addnorm3" (attention without bias, as d2l).
// ctx.fresh_name("decoder_block") when unnamed. x [B, T, D], enc_outputs [B, S, D],
// enc_valid_lens invalid, [B] or [B, T] -> [B, T, D]. Output position t depends only on
// x[:, 0..t] (and the encoder outputs).
class TransformerDecoderBlock {
 public:
  TransformerDecoderBlock(int64_t num_hiddens, int64_t ffn_num_hiddens, int64_t num_heads,
                          double dropout = 0.0, std::string name = "");
  Tensor operator()(Context& ctx, const Tensor& x, const Tensor& enc_outputs,
                    const Tensor& enc_valid_lens = Tensor{},
                    std::source_location loc = std::source_location::current()) {
    Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
    return forward(ctx, x, enc_outputs, enc_valid_lens);
  }
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& enc_outputs,
                 const Tensor& enc_valid_lens);
  std::string describe() const;
  const std::string& name() const { return name_; }
  // Weights of the last call, [B*num_heads, T, T] (self) and [B*num_heads, T, S]
  // (encoder-decoder); see attention.h.
  Tensor self_attention_weights() const;
  Tensor enc_dec_attention_weights() const;

 private:
  void build(Context& ctx);

  int64_t hiddens_, ffn_hiddens_, heads_;
  double dropout_;
  std::string name_;
  std::unique_ptr<MultiHeadAttention> attention1_, attention2_;
  std::unique_ptr<AddNorm> addnorm1_, addnorm2_, addnorm3_;
  std::unique_ptr<PositionWiseFFN> ffn_;
};

// The causal valid lengths of a decoder over T steps: i32 [B, T], row b = [1, 2, ..., T].
Tensor causal_valid_lens(Builder& b, int64_t batch, int64_t steps, KILN_LOC);

}  // namespace kiln::nn
