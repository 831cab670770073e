// Character language models (d2l chapter 9, "Recurrent Neural Networks" and "Modern
// Recurrent Neural Networks"): d2l's RNNModel as a static graph, its training loop
// (train_ch8 / train_epoch_ch8) and its prediction (predict_ch8).
//
// A LanguageModelSpec says what the recurrent body is; the graphs around it are fixed:
//   Train   (inputs x, y: i32 [B, T]): x^T [T, B] -> one-hot [T, B, V] -> body [T, B, W]
//           -> reshape [T*B, W] -> Linear(W -> V) -> softmax cross-entropy against y^T
//           flattened the same way; output "loss" = mean over the T*B tokens. The training
//           pass appends SGD with global-norm gradient clipping (d2l: lr 1, clip 1).
//   Predict (input x: i32 [1, 1]): the same network on one token; output "logits" [1, V].
// Both are compiled against one StateStore, so they share the weights; the recurrent
// body's hidden state is carried state owned by each executable (frontend/rnn_layers.h),
// reset at the start of every epoch (sequential sampling) or before every minibatch
// (random sampling), and before generating.
//
// Checkpoints (`train --save`) record, besides the state, what generation needs as
// metadata: the corpus path and options, the hidden size and the vocabulary itself
// (encoded by encode_vocab), so `kiln generate` does not need the corpus.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "models/registry.h"
#include "runtime/train/corpus.h"

namespace kiln {

struct LanguageModelSpec {
  std::string name;
  int64_t vocab_size = 0;
  // One-hot inputs [T, B, vocab_size] -> features [T, B, width], carrying its hidden state.
  std::function<Tensor(nn::Context&, const Tensor& x)> body;
  int64_t width = 0;
  OptimizerConfig optimizer;
  int64_t seed = 0;
  std::shared_ptr<void> layers;  // keeps the layer objects `body` refers to alive
};

// A registered model: its spec for a vocabulary size and a hidden size.
using LanguageModelMaker = std::function<LanguageModelSpec(int64_t vocab_size, int64_t hidden)>;

// d2l's recipe (section 9.5 / 10.1): the first 10,000 character tokens of The Time
// Machine, batch 32, 35 steps, 256 hidden units, SGD lr 1, gradient clipping at norm 1,
// sequential sampling, 500 epochs.
struct LanguageModelDefaults {
  int epochs = 500;
  int64_t batch_size = 32;
  int64_t num_steps = 35;
  int64_t hidden = 256;
  int64_t max_tokens = 10000;
  double lr = 1.0;
  double clip_norm = 1.0;
};

enum class LmGraphKind { Train, Predict };

// Builds the graph (see above) and runs the pass pipeline (simplify; training; simplify).
// Predict graphs take batch = steps = 1.
Expected<Graph> build_lm_graph(const LanguageModelSpec& spec, LmGraphKind kind, int64_t batch,
                               int64_t steps);

// The compiled model: executables cached by (kind, batch, steps), one shared StateStore.
class LanguageModel {
 public:
  explicit LanguageModel(LanguageModelSpec spec, uint64_t init_seed = 0, bool fusion = true);
  Expected<Executable*> train_step(int64_t batch, int64_t steps);
  Expected<Executable*> predictor();  // batch 1, one step: logits [1, V]
  StateStore& state() { return cache_.state(); }
  const LanguageModelSpec& spec() const { return spec_; }
  double compile_seconds() const { return cache_.compile_seconds(); }

 private:
  Expected<Executable*> get(LmGraphKind kind, int64_t batch, int64_t steps);
  LanguageModelSpec spec_;
  ExecutableCache<std::tuple<int, int64_t, int64_t>> cache_;
};

// --corpus, else $KILN_DATA_DIR/timemachine.txt, else timemachine.txt in ../shared/data
// next to the source tree (the mechanism house_prices uses).
std::string lm_corpus_path(const RunOptions& opts);
// Character tokens with d2l's cleaning, the first `max_tokens` kept (0 = all).
CorpusOptions lm_corpus_options(int64_t max_tokens);

// `kiln train`: loads the corpus, trains with d2l's loop and reports perplexity (exp of
// the last epoch's mean token loss), tokens_per_second, seconds_per_epoch,
// compile_seconds, epochs and train_loss. --save writes a checkpoint after every epoch
// (per-epoch metrics train_loss, perplexity, seconds, tokens_per_second); --resume
// continues one. A non-finite loss stops training unless --allow-nan.
Expected<RunReport> run_language_model(const std::string& name, const LanguageModelMaker& make,
                                       const RunOptions& opts,
                                       const LanguageModelDefaults& defaults = {});

// `kiln inspect`: the training step as a SupervisedSpec over one [B, T] minibatch (x and
// y carry token ids as f32, cast back to i32 in the graph), for the corpus's vocabulary.
Expected<SupervisedSpec> language_model_inspect_spec(const std::string& name,
                                                     const LanguageModelMaker& make,
                                                     const RunOptions& opts,
                                                     const LanguageModelDefaults& defaults = {});

// d2l's predict_ch8 on a model whose predictor shares trained weights: resets the carried
// state, feeds the prefix's tokens one at a time, then emits `len` tokens, each fed back
// in: the argmax of the logits (temperature 0) or a draw from softmax(logits /
// temperature) with a std::mt19937_64 seeded with `seed`. Prefix characters outside the
// vocabulary are read as <unk> (counted in `unknown`). Errors: an empty prefix, len < 0,
// a negative or non-finite temperature, a prefix that is not UTF-8.
Expected<GeneratedText> generate_text(LanguageModel& model, const Vocab& vocab,
                                      const std::string& prefix, int64_t len,
                                      double temperature, uint64_t seed);

// `kiln generate`: rebuilds the model and the vocabulary from the checkpoint of `name`
// (refusing one of another model), restores the weights, then generate_text.
Expected<GeneratedText> generate_language_model(const std::string& name,
                                                const LanguageModelMaker& make,
                                                const GenerateOptions& opts);

// The vocabulary as one metadata string: for each token, its byte length in decimal, ':'
// and its bytes. decode_vocab checks the format and rebuilds the same Vocab (same
// indices); errors name `source`.
std::string encode_vocab(const Vocab& vocab);
Expected<Vocab> decode_vocab(const std::string& text, const std::string& source);

// The registry entry of a language model: train, inspect and generate. Also records the
// maker for find_language_model.
ModelEntry language_model_entry(const std::string& name, const std::string& description,
                                LanguageModelMaker make);
// The maker of a registered language model (benchmarks build its graphs directly), or
// nullptr.
const LanguageModelMaker* find_language_model(const std::string& name);

}  // namespace kiln
