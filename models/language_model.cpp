// Character language models: graphs, compilation, d2l's training loop and checkpoints.
// Generation and the vocabulary's encoding live in language_model_generate.cpp.
#include "models/language_model.h"

#include <chrono>
#include <cmath>
#include <cstdlib>

#include "models/run_common.h"
#include "passes/simplify.h"
#include "runtime/checkpoint.h"
#include "runtime/thread_pool.h"
#include "runtime/train/curves.h"
#include "runtime/train/progress.h"
#include "runtime/train/seq_sampler.h"

namespace kiln {

namespace {

constexpr const char* kDefaultCorpus = "timemachine.txt";

Status check_spec(const LanguageModelSpec& s) {
  if (!s.body) return Error("language model '" + s.name + "' has no body");
  if (s.vocab_size < 1) return Error("language model '" + s.name + "': empty vocabulary");
  if (s.width < 1) return Error("language model '" + s.name + "': width must be positive");
  return Status::Ok();
}

// ids i32 [B, T] -> logits [T*B, V], time-major rows (row t*B + b).
Tensor lm_logits(nn::Context& ctx, const LanguageModelSpec& spec, const Tensor& ids) {
  const int64_t B = ids.dim(0), T = ids.dim(1);
  Tensor x = one_hot(transpose(ids), spec.vocab_size);  // [T, B, V]
  Tensor features = spec.body(ctx, x);                  // [T, B, W]
  // PyTorch's nn.Linear initialisation bound for the weights (d2l's RNNModel head).
  const double k = 1.0 / std::sqrt(static_cast<double>(spec.width));
  nn::Linear head(spec.width, spec.vocab_size, nn::Init::uniform(-k, k), true,
                  spec.name + ".output");
  return head(ctx, reshape(features, Shape{T * B, spec.width}));
}

// y i32 [B, T] -> labels [T*B] in lm_logits' row order.
Tensor lm_labels(const Tensor& y) {
  return reshape(transpose(y), Shape{y.dim(0) * y.dim(1)});
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What a run resolves from its options and the model's defaults.
struct LmRun {
  int epochs;
  int64_t batch, steps, hidden, max_tokens;
  double lr;
  SeqSampling sampling;
  std::string corpus;
};

LmRun resolve(const RunOptions& o, const LanguageModelDefaults& d) {
  LmRun r;
  r.epochs = o.epochs > 0 ? o.epochs : d.epochs;
  r.batch = o.batch_size > 0 ? o.batch_size : d.batch_size;
  r.steps = d.num_steps;
  r.hidden = o.hidden > 0 ? o.hidden : d.hidden;
  r.max_tokens = o.max_tokens >= 0 ? o.max_tokens : d.max_tokens;
  r.lr = std::isnan(o.lr) ? d.lr : o.lr;
  r.sampling = o.random_sampling ? SeqSampling::Random : SeqSampling::Sequential;
  r.corpus = lm_corpus_path(o);
  return r;
}

Expected<Corpus> load_lm_corpus(const RunOptions& o, const LmRun& run) {
  Expected<Corpus> loaded = load_corpus(run.corpus, lm_corpus_options(run.max_tokens));
  if (!loaded.ok() && o.corpus.empty())
    return loaded.error().wrap("no --corpus given and the default corpus failed (pass --corpus "
                               "FILE, or set KILN_DATA_DIR to a folder with timemachine.txt)");
  return loaded;
}

// Metadata a checkpoint records; generation reads corpus options, hidden and vocab, and a
// resumed run must match all of them.
std::vector<std::pair<std::string, std::string>> lm_metadata(const LmRun& run, const Vocab& vocab) {
  return {{"corpus", run.corpus},
          {"tokens", "char"},
          {"d2l_clean", "1"},
          {"max_tokens", std::to_string(run.max_tokens)},
          {"hidden", std::to_string(run.hidden)},
          {"batch_size", std::to_string(run.batch)},
          {"num_steps", std::to_string(run.steps)},
          {"sampling", run.sampling == SeqSampling::Random ? "random" : "sequential"},
          {"vocab_size", std::to_string(vocab.size())},
          {"vocab", encode_vocab(vocab)}};
}

using Metrics = std::vector<std::pair<std::string, double>>;

// Checks a checkpoint can continue this run; returns its per-epoch metrics.
Expected<std::vector<Metrics>> resumable(const CheckpointData& ck, const std::string& path,
                                         const std::string& name, const RunOptions& o,
                                         const LmRun& run, const Vocab& vocab) {
  KILN_TRY(resumable_epochs(ck, path, name, o, run.epochs));
  KILN_RETURN_IF_ERROR(check_checkpoint_metadata(ck, path, lm_metadata(run, vocab)));
  return ck.epoch_metrics;
}

}  // namespace

Expected<Graph> build_lm_graph(const LanguageModelSpec& spec, LmGraphKind kind, int64_t batch,
                               int64_t steps) {
  KILN_RETURN_IF_ERROR(check_spec(spec));
  if (batch < 1 || steps < 1) return Error("batch size and steps must be positive");
  const bool train = kind == LmGraphKind::Train;
  Graph g(spec.name + (train ? ".train" : ".predict"));
  Builder b(g);
  nn::Context ctx{b, train, spec.seed, spec.name};
  Tensor x = b.input("x", TensorType{DType::i32, Shape{batch, steps}});
  Tensor logits = lm_logits(ctx, spec, x);
  if (train) {
    Tensor y = b.input("y", TensorType{DType::i32, Shape{batch, steps}});
    b.output("loss", softmax_cross_entropy(logits, lm_labels(y)));
  } else {
    b.output("logits", logits);
  }
  KILN_RETURN_IF_ERROR(b.status());
  KILN_RETURN_IF_ERROR(model_passes(train, spec.optimizer).run(g));
  return g;
}

LanguageModel::LanguageModel(LanguageModelSpec spec, uint64_t init_seed, bool fusion)
    : spec_(std::move(spec)), cache_(init_seed, fusion) {}

Expected<Executable*> LanguageModel::train_step(int64_t batch, int64_t steps) {
  return get(LmGraphKind::Train, batch, steps);
}

Expected<Executable*> LanguageModel::predictor() { return get(LmGraphKind::Predict, 1, 1); }

Expected<Executable*> LanguageModel::get(LmGraphKind kind, int64_t batch, int64_t steps) {
  return cache_.get({static_cast<int>(kind), batch, steps},
                    [&] { return build_lm_graph(spec_, kind, batch, steps); });
}

std::string lm_corpus_path(const RunOptions& o) {
  if (!o.corpus.empty()) return o.corpus;
  return default_data_dir() + "/" + kDefaultCorpus;
}

CorpusOptions lm_corpus_options(int64_t max_tokens) {
  CorpusOptions c;
  c.tokenize.kind = TokenKind::Char;
  c.tokenize.d2l_clean = true;
  c.max_tokens = max_tokens;
  return c;
}

Expected<RunReport> run_language_model(const std::string& name, const LanguageModelMaker& make,
                                       const RunOptions& o, const LanguageModelDefaults& d) {
  KILN_RETURN_IF_ERROR(check_common_options(o));
  if (o.threads > 0) set_num_threads(o.threads);
  const LmRun run = resolve(o, d);
  Corpus corpus = KILN_TRY(load_lm_corpus(o, run));
  Expected<SeqSampler> made = SeqSampler::create(corpus.tokens, run.sampling, run.batch, run.steps);
  if (!made.ok()) return made.error().wrap(corpus.source);
  SeqSampler sampler = std::move(*made);
  LanguageModelSpec spec = make(corpus.vocab.size(), run.hidden);
  spec.optimizer = OptimizerConfig{};
  spec.optimizer.kind = OptimizerConfig::SGD;
  spec.optimizer.lr = run.lr;
  spec.optimizer.clip_norm = d.clip_norm;
  spec.seed = static_cast<int64_t>(o.seed);
  LanguageModel model(std::move(spec), o.seed, o.fusion);
  // A checkpoint to resume is checked before the (slower) compilation.
  std::vector<Metrics> history;
  CheckpointData resumed;
  if (!o.resume.empty()) {
    resumed = KILN_TRY(load_checkpoint(o.resume));
    history = KILN_TRY(resumable(resumed, o.resume, name, o, run, corpus.vocab));
  }
  // The training step creates every state buffer; a checkpoint then overwrites them.
  Executable* step = KILN_TRY(model.train_step(run.batch, run.steps));
  if (!o.resume.empty())
    KILN_RETURN_IF_ERROR(restore_state(model.state(), resumed, o.resume, RestoreMode::Exact));
  auto metric = [](const Metrics& m, const std::string& k) {
    for (const auto& [name, v] : m)
      if (name == k) return v;
    return std::nan("");
  };

  ProgressOptions po;
  po.mode = o.progress ? ProgressMode::kAuto : ProgressMode::kOff;
  ProgressBar bar(run.epochs, sampler.num_batches(0), po);
  Curves curves;
  for (size_t e = 0; e < history.size(); ++e)
    curves.add("perplexity", static_cast<double>(e + 1), metric(history[e], "perplexity"));
  int32_t* x = step->input("x")->as<int32_t>();
  int32_t* y = step->input("y")->as<int32_t>();
  const HostBuffer* loss_out = step->output("loss");
  const int64_t tokens_per_batch = run.batch * run.steps;
  int64_t optimizer_steps = 0;
  for (int epoch = static_cast<int>(history.size()); epoch < run.epochs; ++epoch) {
    const SeqEpoch plan = sampler.epoch(o.seed, epoch);
    bar.begin_epoch(epoch);
    step->reset_state(StateKind::Carried);  // each epoch starts a fresh sequence
    double loss_sum = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < plan.num_batches; ++i) {
      // Random minibatches do not continue each other (d2l re-initialises the state).
      if (run.sampling == SeqSampling::Random && i > 0) step->reset_state(StateKind::Carried);
      sampler.fill(plan, i, x, y);
      KILN_RETURN_IF_ERROR(step->run_checked());  // a device run can fail
      const double loss = *loss_out->as<float>();
      if (!o.allow_nan && !std::isfinite(loss))
        return Error("training diverged: the loss is " + std::to_string(loss) + " at epoch " +
                     std::to_string(epoch + 1) + ", step " + std::to_string(i + 1) + " of " +
                     std::to_string(plan.num_batches) + " (" + kDivergenceHint + ")");
      loss_sum += loss;
      bar.step(tokens_per_batch, loss);
    }
    const double seconds = seconds_since(t0);
    bar.stop_clock();
    optimizer_steps += plan.num_batches;
    // Every minibatch has batch * steps tokens, so the mean token loss is the mean of the
    // minibatches' mean losses (d2l: metric[0] / metric[1]).
    const double mean = loss_sum / static_cast<double>(plan.num_batches);
    const double ppl = std::exp(mean);
    const double tokens = static_cast<double>(plan.num_batches * tokens_per_batch);
    bar.end_epoch({{"perplexity", ppl}});
    history.push_back({{"train_loss", mean},
                       {"perplexity", ppl},
                       {"seconds", seconds},
                       {"tokens_per_second", seconds > 0 ? tokens / seconds : 0.0}});
    curves.add("perplexity", epoch + 1, ppl);
    if (!o.save.empty()) {
      CheckpointData ck;
      ck.model = name;
      ck.rng_version = kRandomStreamsVersion;
      ck.epoch = static_cast<int64_t>(history.size());
      ck.step = optimizer_steps;
      ck.data_seed = o.seed;
      ck.epoch_metrics = history;
      ck.metadata = lm_metadata(run, corpus.vocab);
      ck.tensors = KILN_TRY(snapshot_state(model.state()));
      KILN_RETURN_IF_ERROR(save_checkpoint(o.save, ck));
    }
  }

  RunReport r;
  r.model = name;
  double seconds = 0, tokens = 0;
  for (const Metrics& m : history) {
    seconds += metric(m, "seconds");
    tokens += metric(m, "seconds") * metric(m, "tokens_per_second");
  }
  const Metrics& last = history.back();
  r.set("epochs", static_cast<double>(history.size()));
  r.set("train_loss", metric(last, "train_loss"));
  r.set("perplexity", metric(last, "perplexity"));
  r.set("seconds_per_epoch", seconds / static_cast<double>(history.size()));
  r.set("tokens_per_second", seconds > 0 ? tokens / seconds : 0.0);
  r.set("compile_seconds", model.compile_seconds());
  r.set("tokens", static_cast<double>(corpus.size()));
  r.set("vocab_size", static_cast<double>(corpus.vocab.size()));
  r.notes.push_back({"corpus", corpus.source});
  PlotOptions plot_opts;
  plot_opts.title = name;
  KILN_RETURN_IF_ERROR(write_plot(curves, o, plot_opts, r));
  return r;
}

Expected<SupervisedSpec> language_model_inspect_spec(const std::string& name,
                                                     const LanguageModelMaker& make,
                                                     const RunOptions& o,
                                                     const LanguageModelDefaults& d) {
  const LmRun run = resolve(o, d);
  Corpus corpus = KILN_TRY(load_lm_corpus(o, run));
  auto lm = std::make_shared<LanguageModelSpec>(make(corpus.vocab.size(), run.hidden));
  lm->optimizer.lr = run.lr;
  lm->optimizer.clip_norm = d.clip_norm;
  KILN_RETURN_IF_ERROR(check_spec(*lm));
  SupervisedSpec s;
  s.name = name;
  s.example_shape = Shape{run.steps};
  s.classification = false;
  s.target_width = run.steps;
  s.net = [lm](nn::Context& ctx, const Tensor& x) {
    return lm_logits(ctx, *lm, cast(x, DType::i32));
  };
  s.loss = [](nn::Context&, const Tensor& pred, const Tensor& y) {
    return softmax_cross_entropy(pred, lm_labels(cast(y, DType::i32)));
  };
  s.optimizer = lm->optimizer;
  s.seed = static_cast<int64_t>(o.seed);
  s.layers = lm;
  return s;
}

namespace {

std::map<std::string, LanguageModelMaker>& language_models() {
  static std::map<std::string, LanguageModelMaker> makers;
  return makers;
}

}  // namespace

const LanguageModelMaker* find_language_model(const std::string& name) {
  auto it = language_models().find(name);
  return it == language_models().end() ? nullptr : &it->second;
}

ModelEntry language_model_entry(const std::string& name, const std::string& description,
                                LanguageModelMaker make) {
  language_models()[name] = make;
  ModelEntry e;
  e.name = name;
  e.description = description;
  e.options = kOptText | kOptCheckpoint | kOptPlot;
  e.run = [name, make](const RunOptions& o) { return run_language_model(name, make, o); };
  e.spec = [name, make](const RunOptions& o) { return language_model_inspect_spec(name, make, o); };
  e.generate = [name, make](const GenerateOptions& g) {
    return generate_language_model(name, make, g);
  };
  return e;
}

}  // namespace kiln
