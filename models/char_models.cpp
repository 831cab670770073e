// d2l chapters 9-10's character language models on The Time Machine: one-hot characters
// -> a recurrent layer -> Linear to the vocabulary (d2l's RNNModel), trained with
// models/language_model.h's loop and recipe.
#include "frontend/rnn_layers.h"
#include "models/language_model.h"

namespace kiln {
namespace {

// A maker for the recurrent layer L (nn::RNN, GRU or LSTM) with the given layers and
// directions; its parameters are "<name>.rnn.*", the head's "<name>.output.*".
template <class L>
LanguageModelMaker recurrent(const std::string& name, int64_t num_layers, bool bidirectional) {
  return [=](int64_t vocab, int64_t hidden) {
    auto layer = std::make_shared<L>(vocab, hidden, num_layers, bidirectional, 0.0, name + ".rnn");
    LanguageModelSpec s;
    s.name = name;
    s.vocab_size = vocab;
    s.width = hidden * (bidirectional ? 2 : 1);
    s.body = [layer](nn::Context& ctx, const Tensor& x) { return (*layer)(ctx, x); };
    s.layers = layer;
    return s;
  };
}

ModelRegistration char_rnn_reg{language_model_entry(
    "char_rnn", "character RNN (tanh, 256 hidden) on The Time Machine (d2l 9.6)",
    recurrent<nn::RNN>("char_rnn", 1, false))};
ModelRegistration char_gru_reg{language_model_entry(
    "char_gru", "character GRU (256 hidden) on The Time Machine (d2l 10.2)",
    recurrent<nn::GRU>("char_gru", 1, false))};
ModelRegistration char_lstm_reg{language_model_entry(
    "char_lstm", "character LSTM (256 hidden) on The Time Machine (d2l 10.1)",
    recurrent<nn::LSTM>("char_lstm", 1, false))};
ModelRegistration deep_lstm_reg{language_model_entry(
    "deep_lstm", "2-layer character LSTM (256 hidden) on The Time Machine (d2l 10.3)",
    recurrent<nn::LSTM>("deep_lstm", 2, false))};
ModelRegistration bi_gru_reg{language_model_entry(
    "bi_gru",
    "bidirectional character GRU (256 hidden): trains, but cannot predict, so "
    "generate gives junk (d2l 10.4)",
    recurrent<nn::GRU>("bi_gru", 1, true))};

}  // namespace
}  // namespace kiln
