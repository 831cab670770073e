// Machine translation models (d2l chapters 9.7-10.7: the GRU encoder-decoder, Bahdanau
// attention and the Transformer) on tab-separated sentence pairs: graphs, d2l's training
// loop (train_seq2seq), greedy decoding (predict_seq2seq), BLEU, `kiln translate` and the
// attention heat maps of `kiln inspect --attention`.
//
// A TranslationModelSpec says what the network is; the graphs around it are fixed:
//   Train  (inputs src, dec_input, tgt: i32 [B, T]; src_valid, tgt_valid: i32 [B]):
//          logits [B, T, V] from the network with teacher forcing (dec_input is the
//          target shifted right behind <bos>, built on the host), then d2l's
//          MaskedSoftmaxCELoss: per-token cross-entropy weighted by t < tgt_valid,
//          averaged over the T steps of each sentence and summed over the batch (output
//          "loss", what the gradient is of), plus "token_loss", the mean over the valid
//          tokens that the progress bar shows. Adam with global-norm clipping (d2l: lr
//          0.005, clip 1) is appended by the training pass.
//   Decode (inputs src, dec_input: i32 [B, T]; src_valid: i32 [B]): the same network in
//          eval mode, outputs "logits" [B, T, V] and the attention weights the network
//          exposes ("attention.<name>", [B, heads, queries, keys]).
// Greedy decoding runs the Decode graph T times over the prefix decoded so far: step t
// reads the logits at position t and writes the argmax into position t + 1 of
// dec_input. Because every network here is causal in dec_input, this equals d2l's
// step-by-step decoding, while the decoder's context stays the encoder's final state and
// the Transformer's positions are the real ones (the two bugs of d2l's older code that
// the issue names); it costs T runs of a small graph instead of one step each.
//
// Every Linear and recurrent weight matrix starts from xavier_uniform (nn::Context::
// weight_init), as d2l's train_seq2seq re-initialises them; biases, embeddings and
// layer norms keep PyTorch's defaults.
//
// Train and Decode executables of any batch size are compiled against one StateStore,
// so they share the weights. Checkpoints record the data options and both vocabularies
// as metadata, so `kiln translate` does not need the data file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "models/registry.h"
#include "runtime/train/translation.h"

namespace kiln {

// What the network sees: token ids and valid lengths, i32.
struct TranslationInputs {
  Tensor src;        // [B, T]
  Tensor src_valid;  // [B]
  Tensor dec_input;  // [B, T], <bos> then the target (training) or the decoded prefix
};

// Attention weights a network exposes for heat maps: [B, heads, queries, keys], and
// which sentence the queries and keys run over (decoding crops them to the valid source
// length and the decoded length).
struct AttentionMap {
  enum Axes { SourceToSource, TargetToTarget, TargetToSource };
  std::string name;  // e.g. "encoder.block0"
  Tensor weights;
  Axes axes = TargetToSource;
};

// What the network gives back.
struct TranslationNet {
  Tensor logits;  // [B, T, target vocabulary]
  std::vector<AttentionMap> attention;  // in display order
};

struct TranslationModelSpec {
  std::string name;
  int64_t src_vocab = 0, tgt_vocab = 0;
  std::function<TranslationNet(nn::Context&, const TranslationInputs&)> net;
  OptimizerConfig optimizer;
  int64_t seed = 0;
  std::shared_ptr<void> layers;  // keeps the layer objects `net` refers to alive
};

// The spec of a network net(layers, ctx, inputs) over layers built as
// Layers(name, src_vocab, tgt_vocab) (parameters named "<name>.<layer>...").
template <class Layers>
TranslationModelSpec make_translation_spec(
    const std::string& name, int64_t src_vocab, int64_t tgt_vocab,
    TranslationNet (*net)(Layers&, nn::Context&, const TranslationInputs&)) {
  auto layers = std::make_shared<Layers>(name, src_vocab, tgt_vocab);
  TranslationModelSpec s;
  s.name = name;
  s.src_vocab = src_vocab;
  s.tgt_vocab = tgt_vocab;
  s.net = [layers, net](nn::Context& ctx, const TranslationInputs& in) {
    return net(*layers, ctx, in);
  };
  s.layers = layers;
  return s;
}

using TranslationModelMaker =
    std::function<TranslationModelSpec(int64_t src_vocab, int64_t tgt_vocab)>;

// d2l's recipe (9.7, 10.4, 10.7): batch 64, 10 steps, Adam lr 0.005, clipping at 1;
// the epochs differ per model (300, 250, 200).
struct TranslationDefaults {
  int epochs = 300;
  int64_t batch_size = 64;
  int64_t num_steps = 10;
  double lr = 0.005;
  double clip_norm = 1.0;
  int64_t min_freq = 2;  // d2l's; the 20-pair file needs --min-freq 1 (README)
};

enum class TranslationGraphKind { Train, Decode };

// An attention output of the Decode graph ("attention.<name>").
struct AttentionMapInfo {
  std::string name;
  AttentionMap::Axes axes;
};

// Builds the graph (see above) and runs the pass pipeline; `maps` (optional) receives the
// attention outputs of a Decode graph.
Expected<Graph> build_translation_graph(const TranslationModelSpec& spec,
                                        TranslationGraphKind kind, int64_t batch, int64_t steps,
                                        std::vector<AttentionMapInfo>* maps = nullptr);

// The compiled model: executables cached by (kind, batch), one shared StateStore.
class TranslationModel {
 public:
  TranslationModel(TranslationModelSpec spec, int64_t num_steps, uint64_t init_seed = 0,
                   bool fusion = true);
  Expected<Executable*> train_step(int64_t batch);
  Expected<Executable*> decoder(int64_t batch);
  StateStore& state() { return cache_.state(); }
  const TranslationModelSpec& spec() const { return spec_; }
  int64_t num_steps() const { return steps_; }
  double compile_seconds() const { return cache_.compile_seconds(); }
  // The Decode graph's attention outputs (known once a decoder was compiled).
  const std::vector<AttentionMapInfo>& attention_maps() const { return attention_maps_; }

 private:
  Expected<Executable*> get(TranslationGraphKind kind, int64_t batch);
  TranslationModelSpec spec_;
  int64_t steps_;
  ExecutableCache<std::pair<int, int64_t>> cache_;
  std::vector<AttentionMapInfo> attention_maps_;
};

// A greedy translation: target token ids without <eos>, and (when asked for) the
// attention weights of the last decoding run, cropped to the valid source length and
// the decoded length.
struct Translation {
  std::vector<int32_t> tokens;
  struct Map {
    std::string name;
    AttentionMap::Axes axes = AttentionMap::TargetToSource;
    int64_t heads = 0, queries = 0, keys = 0;
    std::vector<float> weights;  // [heads, queries, keys]
  };
  std::vector<Map> attention;
};

// d2l's predict_seq2seq for a batch of source rows (src [n, T] and their valid lengths,
// as build_nmt_array makes them), decoding `batch` rows per run.
Expected<std::vector<Translation>> translate_rows(TranslationModel& model, const NmtArray& source,
                                                  const Vocab& target_vocab, int64_t batch,
                                                  bool keep_attention = false);

// Mean BLEU (d2l's k = 2) of the greedy translations of every pair of `data`.
Expected<double> mean_bleu(TranslationModel& model, const TranslationData& data, int64_t batch);

// The data file: --data, else $KILN_DATA_DIR/fr-en-small.txt, else ../shared/data.
std::string translation_data_path(const RunOptions& opts);

// `kiln train` for a translation model: reports train_loss (mean token loss of the last
// epoch), bleu, seconds_per_epoch, tokens_per_second, compile_seconds.
Expected<RunReport> run_translation_model(const std::string& name,
                                          const TranslationModelMaker& make,
                                          const RunOptions& opts,
                                          const TranslationDefaults& defaults);

// The registry entry of a translation model: train, inspect (incl. --attention) and
// translate. Also records the maker for find_translation_model.
ModelEntry translation_model_entry(const std::string& name, const std::string& description,
                                   TranslationModelMaker make, TranslationDefaults defaults);
struct TranslationEntry {
  TranslationModelMaker make;
  TranslationDefaults defaults;
};
const TranslationEntry* find_translation_model(const std::string& name);

}  // namespace kiln
