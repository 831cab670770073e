// Attention layers of d2l chapter 10 (10.1-10.5, PyTorch edition) built from primitive
// ops: masked softmax, additive and scaled dot-product attention, multi-head attention.
//
// Shapes follow d2l: queries [B, Q, q_size], keys [B, K, k_size], values [B, K, v_size];
// the output is [B, Q, v_size] (DotProductAttention, AdditiveAttention) or
// [B, Q, num_hiddens] (MultiHeadAttention). valid_lens is optional (an invalid Tensor:
// every key is attended), 1-D [B] (one length per batch row) or 2-D [B, Q] (one length
// per query), i32/i64 or float; key positions k >= valid_len are masked out.
//
// Every attention layer keeps the weights of its last call (attention_weights()) so a
// model can output them for heat maps: the softmax output BEFORE dropout, as d2l stores
// them (`self.attention_weights = masked_softmax(...)`; dropout is applied in the bmm).
//
// Parameters: every learned projection is a TorchLinear (PyTorch's nn.Linear /
// nn.LazyLinear with its default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
// weights and biases, since d2l's attention chapters do not re-initialise), named
// "<name>.W_q", "<name>.W_k", ... so train and predict graphs built from the same layer
// object share the weights. An unnamed layer takes ctx.fresh_name(kind) at its first
// call. Linear weights are stored [in, out] as kiln's Linear does.
//
// Dropout (on the attention weights) is active in training graphs only (ctx.training).
// Bad arguments (wrong ranks, mismatched batch or feature sizes, valid_lens of a wrong
// shape) are errors recorded in the builder with the user's source location; the layer
// then returns an invalid Tensor.
#pragma once

#include <memory>
#include <source_location>
#include <string>

#include "frontend/nn.h"

namespace kiln::nn {

// d2l's masked_softmax: softmax over the last axis of scores [..., K] where positions
// k >= valid_len are replaced by -1e6 first (so they get exactly 0 weight unless a row
// has valid_len 0, which, as in d2l, gives uniform weights). valid_lens:
//   invalid Tensor        plain softmax
//   [N] with N = scores.dim(0)          one length per leading index (d2l's 1-D case)
//   numel == prod(scores.shape[:-1])    one length per row (d2l's 2-D [B, Q] case)
// The mask is a comparison of an iota with valid_lens: no gradient flows into valid_lens.
Tensor masked_softmax(const Tensor& scores, const Tensor& valid_lens, KILN_LOC);

// PyTorch's nn.Linear / nn.LazyLinear with the default initialisation: weight [in, out]
// and bias [out] both U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)).
// in_features 0: taken from the first input's last dimension (LazyLinear). Parameters
// "<name>.weight" and "<name>.bias" (ctx.fresh_name("linear") when unnamed).
class TorchLinear : public Module {
 public:
  TorchLinear(int64_t in_features, int64_t out_features, bool bias = true, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  // Valid after the first call (or at once when the name was given).
  const std::string& name() const { return name_; }
  std::string weight_name() const { return name_ + ".weight"; }
  std::string bias_name() const { return name_ + ".bias"; }

 private:
  int64_t in_, out_;
  bool bias_;
  std::string name_;
};

// Common interface of the attention layers: (ctx, queries, keys, values, valid_lens).
class AttentionLayer {
 public:
  virtual ~AttentionLayer() = default;
  Tensor operator()(Context& ctx, const Tensor& queries, const Tensor& keys,
                    const Tensor& values, const Tensor& valid_lens = Tensor{},
                    std::source_location loc = std::source_location::current()) {
    Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
    return forward(ctx, queries, keys, values, valid_lens);
  }
  virtual Tensor forward(Context& ctx, const Tensor& queries, const Tensor& keys,
                         const Tensor& values, const Tensor& valid_lens) = 0;
  virtual std::string describe() const = 0;
  // The softmax weights of the last call (before dropout), [B, Q, K]; for
  // MultiHeadAttention [B*num_heads, Q, K] as d2l stores them (row b*num_heads + h is
  // head h of batch row b). Invalid before the first call or after an error.
  const Tensor& attention_weights() const { return weights_; }

 protected:
  Tensor weights_;
};

// Scaled dot-product attention (d2l 10.3.2): softmax(Q K^T / sqrt(d)) V, with masking
// and dropout on the weights. queries and keys share the feature size d. No parameters.
class DotProductAttention : public AttentionLayer {
 public:
  explicit DotProductAttention(double dropout = 0.0) : dropout_(dropout) {}
  Tensor forward(Context& ctx, const Tensor& queries, const Tensor& keys, const Tensor& values,
                 const Tensor& valid_lens) override;
  std::string describe() const override;

 private:
  double dropout_;
};

// Additive attention (d2l 10.3.3): scores = w_v^T tanh(W_q q + W_k k), all three
// projections without bias (lazy input sizes): "<name>.W_q" [q_size, H],
// "<name>.W_k" [k_size, H], "<name>.w_v" [H, 1]. The [B, Q, K, H] features tensor is
// built by broadcasting, as d2l does. ctx.fresh_name("additive_attention") when unnamed.
class AdditiveAttention : public AttentionLayer {
 public:
  AdditiveAttention(int64_t num_hiddens, double dropout = 0.0, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& queries, const Tensor& keys, const Tensor& values,
                 const Tensor& valid_lens) override;
  std::string describe() const override;
  const std::string& name() const { return name_; }

 private:
  int64_t hiddens_;
  double dropout_;
  std::string name_;
  std::unique_ptr<TorchLinear> W_q_, W_k_, w_v_;
};

// Multi-head attention (d2l 10.5): W_q, W_k, W_v project to num_hiddens (lazy input
// sizes), the heads split num_hiddens (transpose_qkv: [B, T, H] -> [B*heads, T, H/heads]),
// scaled dot-product attention runs per head with valid_lens repeated per head
// (torch.repeat_interleave), transpose_output concatenates the heads and W_o projects
// to num_hiddens. Sublayers "<name>.W_q", "<name>.W_k", "<name>.W_v", "<name>.W_o", with
// a bias only when `bias` (d2l passes bias=False). num_hiddens must be divisible by
// num_heads. ctx.fresh_name("multihead_attention") when unnamed.
class MultiHeadAttention : public AttentionLayer {
 public:
  MultiHeadAttention(int64_t num_hiddens, int64_t num_heads, double dropout = 0.0,
                     bool bias = false, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& queries, const Tensor& keys, const Tensor& values,
                 const Tensor& valid_lens) override;
  std::string describe() const override;
  const std::string& name() const { return name_; }
  int64_t num_heads() const { return heads_; }
  // attention_weights() reshaped to [B, num_heads, Q, K] (invalid when it is).
  Tensor attention_weights_per_head() const;

 private:
  Tensor transpose_qkv(const Tensor& x) const;     // [B, T, H] -> [B*heads, T, H/heads]
  Tensor transpose_output(const Tensor& x) const;  // [B*heads, T, H/heads] -> [B, T, H]

  int64_t hiddens_, heads_;
  double dropout_;
  bool bias_;
  std::string name_;
  DotProductAttention attention_;
  std::unique_ptr<TorchLinear> W_q_, W_k_, W_v_, W_o_;
};

}  // namespace kiln::nn
