// Transformer building blocks (d2l 10.6-10.7). See transformer_layers.h.
#include "frontend/transformer_layers.h"

#include <cmath>

namespace kiln::nn {
namespace {

// Records "<file:line>: <who>: <why>" in the builder; returns an invalid Tensor.
Tensor fail(Builder& b, const std::string& who, const std::string& why) {
  b.record_error(Error(b.resolve_loc({}).to_string() + ": " + who + ": " + why));
  return Tensor{};
}

// x must be a float [B, T, num_hiddens].
bool check_sequence(Builder& b, const std::string& who, const Tensor& x, int64_t hiddens) {
  if (x.rank() == 3 && is_float(x.dtype()) && x.dim(2) == hiddens) return true;
  fail(b, who, "expects a float [B, T, " + std::to_string(hiddens) + "] input, got " +
                   x.type().to_string());
  return false;
}

}  // namespace

Tensor causal_valid_lens(Builder& b, int64_t batch, int64_t steps, Loc loc) {
  // d2l: torch.arange(1, num_steps + 1).repeat(batch_size, 1)
  return b.iota(TensorType{DType::i32, Shape{batch, steps}}, 1, SourceLoc::from(loc)) + 1.0;
}

// ---- PositionalEncoding -------------------------------------------------------------

PositionalEncoding::PositionalEncoding(int64_t num_hiddens, double dropout, int64_t max_len)
    : hiddens_(num_hiddens), dropout_(dropout), max_len_(max_len) {}

double PositionalEncoding::value(int64_t pos, int64_t i, int64_t num_hiddens) {
  // X[pos, j] = pos / 10000^(2j / D); even columns sin, odd columns cos of column 2j's X.
  const int64_t even = i - i % 2;
  const double angle = double(pos) / std::pow(10000.0, double(even) / double(num_hiddens));
  return i % 2 == 0 ? std::sin(angle) : std::cos(angle);
}

Tensor PositionalEncoding::forward(Context& ctx, const Tensor& x, int64_t offset) {
  if (!x.valid()) return Tensor{};
  if (hiddens_ <= 0 || max_len_ <= 0 || !(dropout_ >= 0.0 && dropout_ < 1.0))
    return fail(ctx.b, describe(), "num_hiddens and max_len must be > 0, dropout in [0, 1)");
  if (!check_sequence(ctx.b, describe(), x, hiddens_)) return Tensor{};
  const int64_t steps = x.dim(1);
  if (offset < 0 || offset + steps > max_len_)
    return fail(ctx.b, describe(),
                "positions [" + std::to_string(offset) + ", " + std::to_string(offset + steps) +
                    ") outside [0, max_len = " + std::to_string(max_len_) + ")");
  // The rows P[offset : offset + T] only, as a [1, T, D] constant broadcast over the batch.
  std::vector<double> p(static_cast<size_t>(steps * hiddens_));
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t i = 0; i < hiddens_; ++i) p[t * hiddens_ + i] = value(offset + t, i, hiddens_);
  Tensor table = ctx.b.constant_data(std::move(p), TensorType{x.dtype(), Shape{1, steps, hiddens_}});
  return Dropout(dropout_).forward(ctx, x + table);
}

std::string PositionalEncoding::describe() const {
  return "PositionalEncoding(" + std::to_string(hiddens_) + ", dropout=" + std::to_string(dropout_) +
         ", max_len=" + std::to_string(max_len_) + ")";
}

// ---- PositionWiseFFN ----------------------------------------------------------------

PositionWiseFFN::PositionWiseFFN(int64_t ffn_num_hiddens, int64_t ffn_num_outputs, std::string name)
    : hiddens_(ffn_num_hiddens), outputs_(ffn_num_outputs), name_(std::move(name)) {}

Tensor PositionWiseFFN::forward(Context& ctx, const Tensor& x) {
  if (!x.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("ffn");
  if (hiddens_ <= 0 || outputs_ <= 0)
    return fail(ctx.b, describe(), "ffn_num_hiddens and ffn_num_outputs must be > 0");
  if (!dense1_) {
    dense1_ = std::make_unique<TorchLinear>(0, hiddens_, true, name_ + ".dense1");
    dense2_ = std::make_unique<TorchLinear>(hiddens_, outputs_, true, name_ + ".dense2");
  }
  return dense2_->forward(ctx, relu(dense1_->forward(ctx, x)));
}

std::string PositionWiseFFN::describe() const {
  return "PositionWiseFFN(" + std::to_string(hiddens_) + ", " + std::to_string(outputs_) + ")";
}

// ---- AddNorm ------------------------------------------------------------------------

AddNorm::AddNorm(int64_t normalized_shape, double dropout, std::string name)
    : shape_(normalized_shape), dropout_(dropout), name_(std::move(name)) {}

Tensor AddNorm::forward(Context& ctx, const Tensor& x, const Tensor& y) {
  if (!x.valid() || !y.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("addnorm");
  if (!(dropout_ >= 0.0 && dropout_ < 1.0)) return fail(ctx.b, describe(), "dropout must be in [0, 1)");
  if (x.type() != y.type())
    return fail(ctx.b, describe(),
                "x " + x.type().to_string() + " and y " + y.type().to_string() + " differ");
  if (!ln_) ln_ = std::make_unique<LayerNorm>(shape_, 1e-5, name_ + ".ln");
  return ln_->forward(ctx, Dropout(dropout_).forward(ctx, y) + x);
}

std::string AddNorm::describe() const {
  return "AddNorm(" + std::to_string(shape_) + ", dropout=" + std::to_string(dropout_) + ")";
}

// ---- TransformerEncoderBlock --------------------------------------------------------

TransformerEncoderBlock::TransformerEncoderBlock(int64_t num_hiddens, int64_t ffn_num_hiddens,
                                                 int64_t num_heads, double dropout, bool use_bias,
                                                 std::string name)
    : hiddens_(num_hiddens),
      ffn_hiddens_(ffn_num_hiddens),
      heads_(num_heads),
      dropout_(dropout),
      use_bias_(use_bias),
      name_(std::move(name)) {}

void TransformerEncoderBlock::build(Context& ctx) {
  if (name_.empty()) name_ = ctx.fresh_name("encoder_block");
  if (attention_) return;
  attention_ = std::make_unique<MultiHeadAttention>(hiddens_, heads_, dropout_, use_bias_,
                                                    name_ + ".attention");
  addnorm1_ = std::make_unique<AddNorm>(hiddens_, dropout_, name_ + ".addnorm1");
  ffn_ = std::make_unique<PositionWiseFFN>(ffn_hiddens_, hiddens_, name_ + ".ffn");
  addnorm2_ = std::make_unique<AddNorm>(hiddens_, dropout_, name_ + ".addnorm2");
}

Tensor TransformerEncoderBlock::forward(Context& ctx, const Tensor& x, const Tensor& valid_lens) {
  if (!x.valid()) return Tensor{};
  build(ctx);
  if (!check_sequence(ctx.b, describe(), x, hiddens_)) return Tensor{};
  Tensor y = addnorm1_->forward(ctx, x, attention_->forward(ctx, x, x, x, valid_lens));
  return addnorm2_->forward(ctx, y, ffn_->forward(ctx, y));
}

Tensor TransformerEncoderBlock::attention_weights() const {
  return attention_ ? attention_->attention_weights() : Tensor{};
}

std::string TransformerEncoderBlock::describe() const {
  return "TransformerEncoderBlock(" + std::to_string(hiddens_) + ", ffn=" +
         std::to_string(ffn_hiddens_) + ", heads=" + std::to_string(heads_) +
         ", dropout=" + std::to_string(dropout_) + ")";
}

// ---- TransformerDecoderBlock --------------------------------------------------------

TransformerDecoderBlock::TransformerDecoderBlock(int64_t num_hiddens, int64_t ffn_num_hiddens,
                                                 int64_t num_heads, double dropout,
                                                 std::string name)
    : hiddens_(num_hiddens),
      ffn_hiddens_(ffn_num_hiddens),
      heads_(num_heads),
      dropout_(dropout),
      name_(std::move(name)) {}

void TransformerDecoderBlock::build(Context& ctx) {
  if (name_.empty()) name_ = ctx.fresh_name("decoder_block");
  if (attention1_) return;
  auto attention = [&](const char* n) {
    return std::make_unique<MultiHeadAttention>(hiddens_, heads_, dropout_, false, name_ + n);
  };
  auto addnorm = [&](const char* n) {
    return std::make_unique<AddNorm>(hiddens_, dropout_, name_ + n);
  };
  attention1_ = attention(".attention1");
  addnorm1_ = addnorm(".addnorm1");
  attention2_ = attention(".attention2");
  addnorm2_ = addnorm(".addnorm2");
  ffn_ = std::make_unique<PositionWiseFFN>(ffn_hiddens_, hiddens_, name_ + ".ffn");
  addnorm3_ = addnorm(".addnorm3");
}

Tensor TransformerDecoderBlock::forward(Context& ctx, const Tensor& x, const Tensor& enc_outputs,
                                        const Tensor& enc_valid_lens) {
  if (!x.valid() || !enc_outputs.valid()) return Tensor{};
  build(ctx);
  if (!check_sequence(ctx.b, describe(), x, hiddens_) ||
      !check_sequence(ctx.b, describe() + " (enc_outputs)", enc_outputs, hiddens_))
    return Tensor{};
  // Query t attends to the prefix 0..t: the same graph trains and predicts.
  Tensor causal = causal_valid_lens(ctx.b, x.dim(0), x.dim(1));
  Tensor y = addnorm1_->forward(ctx, x, attention1_->forward(ctx, x, x, x, causal));
  Tensor z = addnorm2_->forward(
      ctx, y, attention2_->forward(ctx, y, enc_outputs, enc_outputs, enc_valid_lens));
  return addnorm3_->forward(ctx, z, ffn_->forward(ctx, z));
}

Tensor TransformerDecoderBlock::self_attention_weights() const {
  return attention1_ ? attention1_->attention_weights() : Tensor{};
}

Tensor TransformerDecoderBlock::enc_dec_attention_weights() const {
  return attention2_ ? attention2_->attention_weights() : Tensor{};
}

std::string TransformerDecoderBlock::describe() const {
  return "TransformerDecoderBlock(" + std::to_string(hiddens_) + ", ffn=" +
         std::to_string(ffn_hiddens_) + ", heads=" + std::to_string(heads_) +
         ", dropout=" + std::to_string(dropout_) + ")";
}

}  // namespace kiln::nn
