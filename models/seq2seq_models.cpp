// d2l 9.7's RNN encoder-decoder (`seq2seq`): a GRU encoder, and a GRU decoder whose
// input at every step is the target embedding concatenated with the context, the
// encoder's final top-layer state. Trained with models/translation_model.h's loop.
//
// d2l's older predict_seq2seq feeds the decoder's own evolving state back as the context
// after the first step; here the context is the encoder's state at every step, in
// training and in prediction alike (the Decode graph is the Train graph's network).
#include <cmath>

#include "frontend/embedding.h"
#include "frontend/rnn_layers.h"
#include "models/translation_model.h"

namespace kiln {
namespace {

// d2l 9.7's hyperparameters.
constexpr int64_t kEmbed = 32, kHidden = 32, kLayers = 2;
constexpr double kDropout = 0.1;

struct Seq2SeqLayers {
  Seq2SeqLayers(const std::string& name, int64_t src_vocab, int64_t tgt_vocab)
      : src_embedding(src_vocab, kEmbed, nn::Init::normal(0, 1), name + ".encoder.embedding"),
        tgt_embedding(tgt_vocab, kEmbed, nn::Init::normal(0, 1), name + ".decoder.embedding"),
        encoder(kEmbed, kHidden, kLayers, false, kDropout, name + ".encoder.rnn"),
        decoder(kEmbed + kHidden, kHidden, kLayers, false, kDropout, name + ".decoder.rnn"),
        dense(kHidden, tgt_vocab, nn::Init::xavier_uniform(), true, name + ".decoder.dense") {
    dense.set_bias_init(nn::BiasInit::FanInUniform);  // PyTorch's default
  }
  nn::Embedding src_embedding, tgt_embedding;
  nn::GRU encoder, decoder;
  nn::Linear dense;
};

TranslationNet seq2seq_net(Seq2SeqLayers& l, nn::Context& ctx, const TranslationInputs& in) {
  const int64_t B = in.src.dim(0), T = in.dec_input.dim(1);
  // [B, T] ids -> [T, B, E], time-major as the recurrent layers take it.
  auto embed = [&](nn::Embedding& e, const Tensor& ids) {
    return permute(e(ctx, ids), {1, 0, 2});
  };
  nn::RecurrentOutput enc = l.encoder.run(ctx, embed(l.src_embedding, in.src), nn::RecurrentState{});
  Tensor top = slice(enc.state.h, 0, kLayers - 1, kLayers);  // [1, B, H]
  Tensor context = broadcast_to(top, Shape{T, B, kHidden});
  Tensor x = concat({embed(l.tgt_embedding, in.dec_input), context}, 2);
  nn::RecurrentOutput dec = l.decoder.run(ctx, x, enc.state);
  Tensor logits = l.dense(ctx, reshape(dec.output, Shape{T * B, kHidden}));
  TranslationNet net;
  net.logits = permute(reshape(logits, Shape{T, B, logits.dim(1)}), {1, 0, 2});
  return net;
}

TranslationModelSpec seq2seq(int64_t src_vocab, int64_t tgt_vocab) {
  return make_translation_spec<Seq2SeqLayers>("seq2seq", src_vocab, tgt_vocab, seq2seq_net);
}

TranslationDefaults seq2seq_defaults() {
  TranslationDefaults d;
  d.epochs = 300;
  return d;
}

ModelRegistration seq2seq_reg{translation_model_entry(
    "seq2seq", "GRU encoder-decoder translating French to English (d2l 9.7)", seq2seq,
    seq2seq_defaults())};

}  // namespace
}  // namespace kiln
