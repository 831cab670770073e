// The model zoo registry: every d2l model registers itself by name with a description,
// default hyperparameters and a `run` function used by `kiln train`, plus (for `kiln
// inspect`) a function building its training-step definition.
#pragma once

#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "models/harness.h"

namespace kiln {

// Command-line options common to all models. Unset numbers are NaN / -1 and mean
// "the model's default".
struct RunOptions {
  int epochs = -1;
  int64_t batch_size = -1;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double wd = std::numeric_limits<double>::quiet_NaN();
  int threads = 0;  // 0 = all cores
  bool fusion = true;  // false: one kernel per op (`--no-fusion`)
  uint64_t seed = 0;
  std::string data;       // data file or directory (model-specific default)
  std::string plot;       // SVG path for the training curves ("" = none); CSV beside it
  bool progress = true;   // progress bar on stderr
  int64_t limit = -1;     // use only the first `limit` training examples (tests, quick runs)
  std::string output;     // model-specific output file (house_prices: submission.csv)
  std::string optimizer;  // "sgd" / "adam" overrides the model's optimizer ("" = default)
  double momentum = std::numeric_limits<double>::quiet_NaN();  // SGD momentum override
  std::string save;        // write a checkpoint here after every epoch ("" = none)
  std::string resume;      // continue from this checkpoint up to `epochs` in all
  std::string checkpoint;  // `kiln eval`: the weights to evaluate
  bool allow_nan = false;  // keep training when the loss stops being finite
  int size = 0;            // side of the square input images (0 = the model's default)
  // Language models (models/language_model.h):
  std::string corpus;            // text file ("" = timemachine.txt in the data folder)
  int64_t max_tokens = -1;       // keep the corpus's first N tokens (0 = all, -1 = default)
  bool random_sampling = false;  // random instead of sequential minibatches
  int64_t hidden = 0;            // hidden units (0 = the model's default)
  // Translation models (models/translation_model.h):
  int64_t min_freq = -1;  // words seen fewer times become <unk> (-1 = the model's default)
  bool reverse = false;   // the data file is target<TAB>source
};

// `kiln translate MODEL`: sentences through a translation model's checkpoint.
struct TranslateOptions {
  std::string checkpoint;              // from `kiln train MODEL --save FILE`
  std::vector<std::string> sentences;  // source sentences, d2l-preprocessed before lookup
  int threads = 0;                     // 0 = all cores
};
struct TranslatedSentence {
  std::string text;     // the greedy translation, words joined by spaces
  int64_t unknown = 0;  // source words not in the vocabulary (read as <unk>)
};

// `kiln generate MODEL`: text from a language model's checkpoint.
struct GenerateOptions {
  std::string checkpoint;  // from `kiln train MODEL --save FILE`
  std::string prefix;      // fed first, one token at a time
  int64_t len = 50;        // tokens to emit after the prefix
  double temperature = 0;  // 0 = greedy (argmax); > 0 samples softmax(logits / T)
  uint64_t seed = 0;       // seeds the sampling
  int threads = 0;         // 0 = all cores
};
struct GeneratedText {
  std::string text;     // the prefix, then the generated tokens
  int64_t unknown = 0;  // prefix characters not in the vocabulary (read as <unk>)
};

// Results: ordered (name, value) pairs, printed as text and as the --json line.
struct RunReport {
  std::string model;
  std::vector<std::pair<std::string, double>> metrics;
  std::vector<std::pair<std::string, std::string>> notes;  // string fields (paths, ...)
  void set(const std::string& k, double v);
  double get(const std::string& k, double dflt = std::numeric_limits<double>::quiet_NaN()) const;
};

// Options beyond the common ones (epochs, batch size, lr, threads, seed, quiet, json)
// that a model reads; any other option given to it is refused before training.
enum ModelOption : uint32_t {
  kOptData = 1u << 0,       // --data
  kOptOutput = 1u << 1,     // --output
  kOptPlot = 1u << 2,       // --plot
  kOptCheckpoint = 1u << 3, // --save, --resume
  kOptLimit = 1u << 4,      // --limit
  kOptOptimizer = 1u << 5,  // --wd, --optimizer, --momentum
  kOptSize = 1u << 6,       // --size
  kOptText = 1u << 7,       // --corpus, --max-tokens, --random-sampling, --hidden
  kOptTranslation = 1u << 8,  // --min-freq, --reverse
  kOptSave = 1u << 9,       // --save alone: the trained weights (no --resume)
};

// One row of `kiln inspect --summary`: a top-level layer (or block) of the network, the
// shape of its output for one example (no batch dimension) and the parameters it owns.
struct LayerSummary {
  std::string layer;
  Shape output;
  int64_t parameters = 0;
};

struct ModelEntry {
  std::string name;
  std::string description;  // one line, with the d2l section
  uint32_t options = 0;     // ModelOption flags
  std::function<Expected<RunReport>(const RunOptions&)> run;
  // The supervised definition trained by `run` (used by `kiln inspect`).
  std::function<Expected<SupervisedSpec>(const RunOptions&)> spec;
  // `kiln eval`: test metrics of the weights in opts.checkpoint (null: not supported).
  std::function<Expected<RunReport>(const RunOptions&)> evaluate;
  // `kiln inspect --summary`: the input, then the network layer by layer (null: not
  // supported).
  std::function<Expected<std::vector<LayerSummary>>(const RunOptions&)> summary;
  // `kiln generate`: text from a checkpoint (null: not a language model).
  std::function<Expected<GeneratedText>(const GenerateOptions&)> generate;
  // `kiln translate`: one translation per sentence (null: not a translation model).
  std::function<Expected<std::vector<TranslatedSentence>>(const TranslateOptions&)> translate;
  // `kiln inspect --attention FILE.svg`: heat maps of the attention weights of one
  // translated sentence, with the weights of opts.checkpoint when given (null: the model
  // has no attention to show).
  std::function<Status(const RunOptions&, const std::string& svg)> attention;
};

// Registers at static-initialization time: `static ModelRegistration r{{...}};`
struct ModelRegistration {
  explicit ModelRegistration(ModelEntry entry);
};

const ModelEntry* find_model(const std::string& name);
// Refuses options the model does not read (naming the model and the option) and output
// paths that cannot be written, before any training starts.
Status check_run_options(const ModelEntry& model, const RunOptions& opts);
std::vector<const ModelEntry*> all_models();  // sorted by name

}  // namespace kiln
