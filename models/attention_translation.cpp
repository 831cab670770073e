// The attention translation models on models/translation_model.h's harness:
//   seq2seq_attention  d2l 10.4: Bahdanau attention. A GRU encoder; a GRU decoder whose
//                      step t attends (additive attention, masked to the source's valid
//                      length) over the encoder outputs with its previous top-layer
//                      state as the query and feeds [context, embedding] to its GRU.
//   transformer        d2l 10.7: embeddings scaled by sqrt(d) plus sinusoidal positions,
//                      encoder and causal decoder blocks with multi-head attention.
// Both expose their attention weights for `kiln inspect --attention`. d2l's
// hyperparameters: 32 hidden units, 2 layers or blocks, dropout 0.1, 4 heads and a
// 64-unit FFN for the Transformer; 250 and 200 epochs.
#include <cmath>

#include "frontend/attention.h"
#include "frontend/embedding.h"
#include "frontend/rnn_layers.h"
#include "frontend/transformer_layers.h"
#include "models/translation_model.h"

namespace kiln {
namespace {

constexpr int64_t kHidden = 32, kLayers = 2, kHeads = 4, kFfnHidden = 64;
constexpr double kDropout = 0.1;

// ids [B, T] -> [T, B, E] (time-major, as the recurrent layers take it).
Tensor embed_time_major(nn::Context& ctx, nn::Embedding& e, const Tensor& ids) {
  return permute(e(ctx, ids), {1, 0, 2});
}

// [B, T, H] -> logits [B, T, V] through `dense`.
Tensor project(nn::Context& ctx, nn::Linear& dense, const Tensor& y) {
  const int64_t B = y.dim(0), T = y.dim(1);
  Tensor logits = dense(ctx, reshape(y, Shape{B * T, y.dim(2)}));
  return reshape(logits, Shape{B, T, logits.dim(1)});
}

nn::Linear output_layer(int64_t vocab, const std::string& name) {
  nn::Linear dense(kHidden, vocab, nn::Init::xavier_uniform(), true, name);
  dense.set_bias_init(nn::BiasInit::FanInUniform);  // PyTorch's default
  return dense;
}

// ---- seq2seq_attention ----------------------------------------------------------------

struct BahdanauLayers {
  BahdanauLayers(const std::string& name, int64_t src_vocab, int64_t tgt_vocab)
      : src_embedding(src_vocab, kHidden, nn::Init::normal(0, 1), name + ".encoder.embedding"),
        tgt_embedding(tgt_vocab, kHidden, nn::Init::normal(0, 1), name + ".decoder.embedding"),
        encoder(kHidden, kHidden, kLayers, false, kDropout, name + ".encoder.rnn"),
        decoder(2 * kHidden, kHidden, kLayers, false, kDropout, name + ".decoder.rnn"),
        attention(kHidden, kDropout, name + ".decoder.attention"),
        dense(output_layer(tgt_vocab, name + ".decoder.dense")) {}
  nn::Embedding src_embedding, tgt_embedding;
  nn::GRU encoder, decoder;
  nn::AdditiveAttention attention;
  nn::Linear dense;
};

TranslationNet bahdanau_net(BahdanauLayers& l, nn::Context& ctx, const TranslationInputs& in) {
  const int64_t B = in.src.dim(0), T = in.dec_input.dim(1);
  nn::RecurrentOutput enc =
      l.encoder.run(ctx, embed_time_major(ctx, l.src_embedding, in.src), nn::RecurrentState{});
  Tensor memory = permute(enc.output, {1, 0, 2});  // [B, S, H], keys and values
  Tensor x = embed_time_major(ctx, l.tgt_embedding, in.dec_input);  // [T, B, E]
  nn::RecurrentState state = enc.state;
  std::vector<Tensor> outputs, weights;
  for (int64_t t = 0; t < T; ++t) {
    // The query is the previous top-layer state, [B, 1, H].
    Tensor query = reshape(slice(state.h, 0, kLayers - 1, kLayers), Shape{B, 1, kHidden});
    Tensor context = l.attention(ctx, query, memory, memory, in.src_valid);  // [B, 1, H]
    weights.push_back(l.attention.attention_weights());                    // [B, 1, S]
    Tensor xt = slice(x, 0, t, t + 1);                                       // [1, B, E]
    Tensor step_in = concat({permute(context, {1, 0, 2}), xt}, 2);           // context first
    nn::RecurrentOutput out = l.decoder.run(ctx, step_in, state);
    outputs.push_back(out.output);  // [1, B, H]
    state = out.state;
  }
  TranslationNet net;
  net.logits = project(ctx, l.dense, permute(concat(outputs, 0), {1, 0, 2}));
  Tensor w = concat(weights, 1);  // [B, T, S]
  net.attention.push_back(
      {"decoder.attention", reshape(w, Shape{B, 1, T, w.dim(2)}), AttentionMap::TargetToSource});
  return net;
}

TranslationModelSpec seq2seq_attention(int64_t src_vocab, int64_t tgt_vocab) {
  return make_translation_spec<BahdanauLayers>("seq2seq_attention", src_vocab, tgt_vocab,
                                                bahdanau_net);
}

// ---- transformer ------------------------------------------------------------------------

struct TransformerLayers {
  TransformerLayers(const std::string& name, int64_t src_vocab, int64_t tgt_vocab)
      : src_embedding(src_vocab, kHidden, nn::Init::normal(0, 1), name + ".encoder.embedding"),
        tgt_embedding(tgt_vocab, kHidden, nn::Init::normal(0, 1), name + ".decoder.embedding"),
        positions(kHidden, kDropout),
        dense(output_layer(tgt_vocab, name + ".decoder.dense")) {
    for (int64_t i = 0; i < kLayers; ++i) {
      const std::string n = std::to_string(i);
      encoder.push_back(std::make_unique<nn::TransformerEncoderBlock>(
          kHidden, kFfnHidden, kHeads, kDropout, false, name + ".encoder.block" + n));
      decoder.push_back(std::make_unique<nn::TransformerDecoderBlock>(
          kHidden, kFfnHidden, kHeads, kDropout, name + ".decoder.block" + n));
    }
  }
  nn::Embedding src_embedding, tgt_embedding;
  nn::PositionalEncoding positions;
  std::vector<std::unique_ptr<nn::TransformerEncoderBlock>> encoder;
  std::vector<std::unique_ptr<nn::TransformerDecoderBlock>> decoder;
  nn::Linear dense;
};

// [B*heads, Q, K] (d2l's layout) -> [B, heads, Q, K].
Tensor per_head(const Tensor& w, int64_t batch) {
  return reshape(w, Shape{batch, w.dim(0) / batch, w.dim(1), w.dim(2)});
}

TranslationNet transformer_net(TransformerLayers& l, nn::Context& ctx, const TranslationInputs& in) {
  const int64_t B = in.src.dim(0);
  const double scale = std::sqrt(static_cast<double>(kHidden));
  TranslationNet net;
  // The decoder is applied to the whole prefix with a causal mask, so its positions
  // are the real ones during decoding too (offset 0 is the sentence's first token).
  Tensor x = l.positions(ctx, l.src_embedding(ctx, in.src) * scale);
  for (size_t i = 0; i < l.encoder.size(); ++i) {
    x = (*l.encoder[i])(ctx, x, in.src_valid);
    net.attention.push_back({"encoder.block" + std::to_string(i),
                             per_head(l.encoder[i]->attention_weights(), B),
                             AttentionMap::SourceToSource});
  }
  Tensor y = l.positions(ctx, l.tgt_embedding(ctx, in.dec_input) * scale);
  for (size_t i = 0; i < l.decoder.size(); ++i) {
    y = (*l.decoder[i])(ctx, y, x, in.src_valid);
    const std::string n = std::to_string(i);
    net.attention.push_back({"decoder.block" + n + ".self",
                             per_head(l.decoder[i]->self_attention_weights(), B),
                             AttentionMap::TargetToTarget});
    net.attention.push_back({"decoder.block" + n + ".enc_dec",
                             per_head(l.decoder[i]->enc_dec_attention_weights(), B),
                             AttentionMap::TargetToSource});
  }
  net.logits = project(ctx, l.dense, y);
  return net;
}

TranslationModelSpec transformer(int64_t src_vocab, int64_t tgt_vocab) {
  return make_translation_spec<TransformerLayers>("transformer", src_vocab, tgt_vocab,
                                                   transformer_net);
}

TranslationDefaults with_epochs(int epochs) {
  TranslationDefaults d;
  d.epochs = epochs;
  return d;
}

ModelRegistration seq2seq_attention_reg{translation_model_entry(
    "seq2seq_attention",
    "GRU encoder-decoder with Bahdanau (additive) attention, French to English (d2l 10.4)",
    seq2seq_attention, with_epochs(250))};
ModelRegistration transformer_reg{translation_model_entry(
    "transformer", "Transformer encoder-decoder, French to English (d2l 10.7)", transformer,
    with_epochs(200))};

}  // namespace
}  // namespace kiln
