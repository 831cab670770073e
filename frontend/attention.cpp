// Attention layers (d2l 10.1-10.5). See attention.h.
#include "frontend/attention.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace kiln::nn {
namespace {

SourceLoc L(const Loc& loc) { return SourceLoc::from(loc); }

// Records "<file:line>: <who>: <why>" in the builder; returns an invalid Tensor.
Tensor fail(Builder& b, const std::string& who, const std::string& why) {
  b.record_error(Error(b.resolve_loc({}).to_string() + ": " + who + ": " + why));
  return Tensor{};
}

// The shape valid_lens is reshaped to so it broadcasts against scores [..., K] with one
// length per row, or an empty optional when it fits neither of d2l's forms.
std::optional<Shape> lens_shape(const Shape& scores, const Shape& lens) {
  const int r = scores.rank();
  std::vector<int64_t> dims(static_cast<size_t>(r), 1);
  if (r >= 2 && lens.rank() == 1 && lens[0] == scores[0]) {  // [B]: one per leading index
    dims[0] = scores[0];
    return Shape(dims);
  }
  if (lens.numel() == scores.numel() / std::max<int64_t>(scores[r - 1], 1)) {  // one per row
    for (int d = 0; d + 1 < r; ++d) dims[d] = scores[d];
    return Shape(dims);
  }
  return std::nullopt;
}

// The three inputs of an attention layer are float [B, *, *] with the same batch size,
// dtype, and as many values as keys.
bool check_qkv(Builder& b, const std::string& who, const Tensor& q, const Tensor& k,
               const Tensor& v) {
  const bool ok = q.rank() == 3 && k.rank() == 3 && v.rank() == 3 && is_float(q.dtype()) &&
                  k.dtype() == q.dtype() && v.dtype() == q.dtype() && k.dim(0) == q.dim(0) &&
                  v.dim(0) == q.dim(0) && v.dim(1) == k.dim(1);
  if (!ok)
    fail(b, who,
         "expects float queries [B, Q, q], keys [B, K, k] and values [B, K, v] of one dtype, got " +
             q.type().to_string() + ", " + k.type().to_string() + ", " + v.type().to_string());
  return ok;
}

// softmax weights [B, Q, K] -> dropout(weights) @ values [B, Q, v] (d2l's bmm).
Tensor attend(Context& ctx, const Tensor& weights, const Tensor& values, double dropout) {
  return matmul(Dropout(dropout).forward(ctx, weights), values);
}

bool valid_dropout(double p) { return p >= 0.0 && p < 1.0; }

}  // namespace

Tensor masked_softmax(const Tensor& scores, const Tensor& valid_lens, Loc loc) {
  if (!scores.valid()) return Tensor{};
  if (!valid_lens.valid()) return softmax(scores, -1, loc);
  Builder& b = *scores.builder();
  Builder::LocScope scope(b, L(loc));
  if (scores.rank() < 1 || !is_float(scores.dtype()))
    return fail(b, "masked_softmax", "scores must be a float [..., K] tensor, got " +
                                         scores.type().to_string());
  std::optional<Shape> shape = lens_shape(scores.shape(), valid_lens.shape());
  if (!shape)
    return fail(b, "masked_softmax",
                "valid_lens " + valid_lens.type().to_string() + " fits neither [" +
                    std::to_string(scores.dim(0)) + "] nor one length per row of scores " +
                    scores.type().to_string());
  const int64_t keys = scores.dim(-1);
  // keep[..., k] = k < valid_len: a comparison, so no gradient reaches valid_lens.
  Tensor lens = cast(reshape(valid_lens, *shape, loc), scores.dtype(), loc);
  Tensor positions = b.iota(TensorType{scores.dtype(), Shape{keys}}, 0, L(loc));
  Tensor keep = less(positions, lens, loc);
  // d2l fills masked scores with -1e6: exp(-1e6 - max) is exactly 0 in f32 and f64.
  return softmax(where(keep, scores, scalar_like(scores, -1e6, loc), loc), -1, loc);
}

// ---- TorchLinear --------------------------------------------------------------------

TorchLinear::TorchLinear(int64_t in_features, int64_t out_features, bool bias, std::string name)
    : in_(in_features), out_(out_features), bias_(bias), name_(std::move(name)) {}

Tensor TorchLinear::forward(Context& ctx, const Tensor& x) {
  if (!x.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("linear");
  if (in_ <= 0) in_ = x.dim(-1);  // LazyLinear: fixed at first use
  // kaiming_uniform(a = sqrt(5)) on [out, in]: bound = sqrt(6 / ((1 + 5) * in)) = 1/sqrt(in).
  const double bound = 1.0 / std::sqrt(double(std::max<int64_t>(in_, 1)));
  Linear linear(in_, out_, Init::uniform(-bound, bound), bias_, name_);
  linear.set_bias_init(BiasInit::FanInUniform);
  return linear.forward(ctx, x);  // Linear checks x against in_
}

std::string TorchLinear::describe() const {
  return "Linear(" + std::to_string(in_) + ", " + std::to_string(out_) +
         (bias_ ? ")" : ", bias=False)");
}

// ---- DotProductAttention ------------------------------------------------------------

Tensor DotProductAttention::forward(Context& ctx, const Tensor& queries, const Tensor& keys,
                                    const Tensor& values, const Tensor& valid_lens) {
  weights_ = Tensor{};
  if (!queries.valid() || !keys.valid() || !values.valid()) return Tensor{};
  if (!valid_dropout(dropout_)) return fail(ctx.b, describe(), "dropout must be in [0, 1)");
  if (!check_qkv(ctx.b, describe(), queries, keys, values)) return Tensor{};
  if (keys.dim(2) != queries.dim(2))
    return fail(ctx.b, describe(),
                "queries " + queries.type().to_string() + " and keys " + keys.type().to_string() +
                    " need the same feature size");
  // scores = Q K^T / sqrt(d)
  Tensor scores = matmul(queries, transpose(keys)) * (1.0 / std::sqrt(double(queries.dim(2))));
  weights_ = masked_softmax(scores, valid_lens);
  return attend(ctx, weights_, values, dropout_);
}

std::string DotProductAttention::describe() const {
  return "DotProductAttention(dropout=" + std::to_string(dropout_) + ")";
}

// ---- AdditiveAttention --------------------------------------------------------------

AdditiveAttention::AdditiveAttention(int64_t num_hiddens, double dropout, std::string name)
    : hiddens_(num_hiddens), dropout_(dropout), name_(std::move(name)) {}

Tensor AdditiveAttention::forward(Context& ctx, const Tensor& queries, const Tensor& keys,
                                  const Tensor& values, const Tensor& valid_lens) {
  weights_ = Tensor{};
  if (!queries.valid() || !keys.valid() || !values.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("additive_attention");
  if (hiddens_ <= 0 || !valid_dropout(dropout_))
    return fail(ctx.b, describe(), "num_hiddens must be > 0 and dropout in [0, 1)");
  if (!check_qkv(ctx.b, describe(), queries, keys, values)) return Tensor{};
  if (!W_q_) {
    W_q_ = std::make_unique<TorchLinear>(0, hiddens_, false, name_ + ".W_q");
    W_k_ = std::make_unique<TorchLinear>(0, hiddens_, false, name_ + ".W_k");
    w_v_ = std::make_unique<TorchLinear>(hiddens_, 1, false, name_ + ".w_v");
  }
  const int64_t B = queries.dim(0), Q = queries.dim(1), K = keys.dim(1), H = hiddens_;
  Tensor q = W_q_->forward(ctx, queries);  // [B, Q, H]
  Tensor k = W_k_->forward(ctx, keys);     // [B, K, H]
  if (!q.valid() || !k.valid()) return Tensor{};
  // features[b, i, j] = tanh(q[b, i] + k[b, j]): [B, Q, 1, H] + [B, 1, K, H]
  Tensor features = tanh(reshape(q, Shape{B, Q, 1, H}) + reshape(k, Shape{B, 1, K, H}));
  Tensor scores = reshape(w_v_->forward(ctx, features), Shape{B, Q, K});  // squeeze(-1)
  weights_ = masked_softmax(scores, valid_lens);
  return attend(ctx, weights_, values, dropout_);
}

std::string AdditiveAttention::describe() const {
  return "AdditiveAttention(" + std::to_string(hiddens_) + ", dropout=" + std::to_string(dropout_) +
         ")";
}

// ---- MultiHeadAttention -------------------------------------------------------------

MultiHeadAttention::MultiHeadAttention(int64_t num_hiddens, int64_t num_heads, double dropout,
                                       bool bias, std::string name)
    : hiddens_(num_hiddens),
      heads_(num_heads),
      dropout_(dropout),
      bias_(bias),
      name_(std::move(name)),
      attention_(dropout) {}

Tensor MultiHeadAttention::transpose_qkv(const Tensor& x) const {
  const int64_t B = x.dim(0), T = x.dim(1);
  Tensor split = reshape(x, Shape{B, T, heads_, hiddens_ / heads_});
  return reshape(permute(split, {0, 2, 1, 3}), Shape{B * heads_, T, hiddens_ / heads_});
}

Tensor MultiHeadAttention::transpose_output(const Tensor& x) const {
  const int64_t B = x.dim(0) / heads_, T = x.dim(1);
  Tensor heads = reshape(x, Shape{B, heads_, T, x.dim(2)});
  return reshape(permute(heads, {0, 2, 1, 3}), Shape{B, T, hiddens_});
}

namespace {
// torch.repeat_interleave(lens, heads, dim=0): [B, ...] -> [B*heads, ...], each row
// repeated `heads` times in a row.
Tensor repeat_interleave(const Tensor& lens, int64_t heads) {
  std::vector<int64_t> with_axis{lens.dim(0), 1}, repeated{lens.dim(0), heads},
      out{lens.dim(0) * heads};
  for (int d = 1; d < lens.rank(); ++d) {
    with_axis.push_back(lens.dim(d));
    repeated.push_back(lens.dim(d));
    out.push_back(lens.dim(d));
  }
  return reshape(broadcast_to(reshape(lens, Shape(with_axis)), Shape(repeated)), Shape(out));
}
}  // namespace

Tensor MultiHeadAttention::forward(Context& ctx, const Tensor& queries, const Tensor& keys,
                                   const Tensor& values, const Tensor& valid_lens) {
  weights_ = Tensor{};
  if (!queries.valid() || !keys.valid() || !values.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("multihead_attention");
  if (hiddens_ <= 0 || heads_ <= 0 || hiddens_ % heads_ != 0 || !valid_dropout(dropout_))
    return fail(ctx.b, describe(),
                "num_hiddens and num_heads must be > 0, num_hiddens divisible by num_heads, "
                "dropout in [0, 1)");
  if (!check_qkv(ctx.b, describe(), queries, keys, values)) return Tensor{};
  if (valid_lens.valid() && (valid_lens.rank() < 1 || valid_lens.dim(0) != queries.dim(0)))
    return fail(ctx.b, describe(),
                "valid_lens " + valid_lens.type().to_string() + " must be [B] or [B, Q], B = " +
                    std::to_string(queries.dim(0)));
  if (!W_q_) {
    W_q_ = std::make_unique<TorchLinear>(0, hiddens_, bias_, name_ + ".W_q");
    W_k_ = std::make_unique<TorchLinear>(0, hiddens_, bias_, name_ + ".W_k");
    W_v_ = std::make_unique<TorchLinear>(0, hiddens_, bias_, name_ + ".W_v");
    W_o_ = std::make_unique<TorchLinear>(0, hiddens_, bias_, name_ + ".W_o");
  }
  Tensor q = W_q_->forward(ctx, queries), k = W_k_->forward(ctx, keys),
         v = W_v_->forward(ctx, values);
  if (!q.valid() || !k.valid() || !v.valid()) return Tensor{};
  Tensor lens = valid_lens.valid() ? repeat_interleave(valid_lens, heads_) : Tensor{};
  Tensor out = attention_.forward(ctx, transpose_qkv(q), transpose_qkv(k), transpose_qkv(v), lens);
  weights_ = attention_.attention_weights();
  if (!out.valid()) return Tensor{};
  return W_o_->forward(ctx, transpose_output(out));
}

Tensor MultiHeadAttention::attention_weights_per_head() const {
  if (!weights_.valid()) return Tensor{};
  return reshape(weights_, Shape{weights_.dim(0) / heads_, heads_, weights_.dim(1), weights_.dim(2)});
}

std::string MultiHeadAttention::describe() const {
  return "MultiHeadAttention(" + std::to_string(hiddens_) + ", heads=" + std::to_string(heads_) +
         ", dropout=" + std::to_string(dropout_) + (bias_ ? ", bias" : "") + ")";
}

}  // namespace kiln::nn
