// Translation models on the command line: `kiln train` (d2l's train_seq2seq with
// checkpoints), `kiln translate`, `kiln inspect` and its --attention heat maps.
#include <chrono>
#include <cmath>

#include "frontend/losses.h"
#include "models/language_model.h"
#include "models/run_common.h"
#include "models/translation_model.h"
#include "runtime/thread_pool.h"
#include "runtime/train/bleu.h"
#include "runtime/train/curves.h"
#include "runtime/train/heatmap.h"
#include "runtime/train/progress.h"

namespace kiln {

namespace {

// What a run resolves from its options and the model's defaults.
struct NmtRun {
  int epochs;
  int64_t batch;
  double lr;
  std::string path;
  TranslationOptions data;
};

NmtRun resolve(const RunOptions& o, const TranslationDefaults& d) {
  NmtRun r;
  r.epochs = o.epochs > 0 ? o.epochs : d.epochs;
  r.batch = o.batch_size > 0 ? o.batch_size : d.batch_size;
  r.lr = std::isnan(o.lr) ? d.lr : o.lr;
  r.path = translation_data_path(o);
  r.data.reverse = o.reverse;
  r.data.min_freq = o.min_freq >= 0 ? o.min_freq : d.min_freq;
  r.data.num_steps = d.num_steps;
  r.data.num_examples = o.limit > 0 ? o.limit : 0;
  return r;
}

Expected<TranslationData> load_data(const RunOptions& o, const NmtRun& run) {
  Expected<TranslationData> loaded = load_translation_data(run.path, run.data);
  if (!loaded.ok() && o.data.empty())
    return loaded.error().wrap("no --data given and the default data failed (pass --data FILE, "
                               "or set KILN_DATA_DIR to a folder with fr-en-small.txt)");
  return loaded;
}

// What a checkpoint records: translate and a resumed run need the same data options and
// vocabularies.
std::vector<std::pair<std::string, std::string>> nmt_metadata(const NmtRun& run,
                                                              const TranslationData& data) {
  return {{"data", run.path},
          {"reverse", run.data.reverse ? "1" : "0"},
          {"min_freq", std::to_string(run.data.min_freq)},
          {"num_steps", std::to_string(run.data.num_steps)},
          {"batch_size", std::to_string(run.batch)},
          {"source_vocab", encode_vocab(data.source_vocab)},
          {"target_vocab", encode_vocab(data.target_vocab)}};
}

// Sentence pairs as minibatches: d2l's X, X_valid_len, Y, Y_valid_len, and the decoder's
// input <bos> + Y[:, :-1] (teacher forcing).
class TranslationSource : public DataSource {
 public:
  explicit TranslationSource(const TranslationData& d)
      : d_(d), bos_(d.target_vocab.index(kBosToken)) {}
  int64_t size() const override { return d_.size(); }
  std::vector<std::string> input_names() const override {
    return {"src", "src_valid", "dec_input", "tgt", "tgt_valid"};
  }
  std::vector<ExampleLayout> example_layouts() const override {
    const int64_t steps = d_.source.num_steps;
    return {{DType::i32, steps}, {DType::i32, 1}, {DType::i32, steps}, {DType::i32, steps},
            {DType::i32, 1}};
  }
  void gather(const int64_t* idx, int64_t n, std::span<HostBuffer* const> in) const override {
    const int64_t T = d_.source.num_steps;
    int32_t* src = in[0]->as<int32_t>();
    int32_t* src_valid = in[1]->as<int32_t>();
    int32_t* dec = in[2]->as<int32_t>();
    int32_t* tgt = in[3]->as<int32_t>();
    int32_t* tgt_valid = in[4]->as<int32_t>();
    for (int64_t b = 0; b < n; ++b) {
      const int64_t r = idx[b];
      std::copy_n(d_.source.tokens.data() + r * T, T, src + b * T);
      std::copy_n(d_.target.tokens.data() + r * T, T, tgt + b * T);
      dec[b * T] = bos_;
      std::copy_n(tgt + b * T, T - 1, dec + b * T + 1);
      src_valid[b] = d_.source.valid_len[static_cast<size_t>(r)];
      tgt_valid[b] = d_.target.valid_len[static_cast<size_t>(r)];
    }
  }

 private:
  const TranslationData& d_;
  int32_t bos_;
};

TranslationModelSpec make_spec(const TranslationModelMaker& make, const TranslationData& data,
                               const NmtRun& run, const TranslationDefaults& d, uint64_t seed) {
  TranslationModelSpec spec = make(data.source_vocab.size(), data.target_vocab.size());
  spec.optimizer = OptimizerConfig{};
  spec.optimizer.kind = OptimizerConfig::Adam;
  spec.optimizer.lr = run.lr;
  spec.optimizer.clip_norm = d.clip_norm;
  spec.seed = static_cast<int64_t>(seed);
  return spec;
}

Expected<CheckpointData> make_checkpoint(const std::string& name, const RunOptions& o, const NmtRun& run,
                               const TranslationData& data,
                               const std::vector<EpochMetrics>& history, int64_t steps_per_epoch,
                               const StateStore& state) {
  CheckpointData ck;
  ck.model = name;
  ck.rng_version = kRandomStreamsVersion;
  ck.epoch = static_cast<int64_t>(history.size());
  ck.step = ck.epoch * steps_per_epoch;
  ck.data_seed = o.seed;
  for (const EpochMetrics& m : history) ck.epoch_metrics.push_back(m.items());
  ck.metadata = nmt_metadata(run, data);
  ck.tensors = KILN_TRY(snapshot_state(state));
  return ck;
}

}  // namespace

Expected<RunReport> run_translation_model(const std::string& name,
                                          const TranslationModelMaker& make, const RunOptions& o,
                                          const TranslationDefaults& d) {
  KILN_RETURN_IF_ERROR(check_common_options(o));
  if (o.threads > 0) set_num_threads(o.threads);
  const NmtRun run = resolve(o, d);
  TranslationData data = KILN_TRY(load_data(o, run));
  TranslationModel model(make_spec(make, data, run, d, o.seed), run.data.num_steps, o.seed, o.fusion);
  TranslationSource source(data);

  TrainerOptions to = trainer_options(o, run.epochs, run.batch, false);
  to.loss_output = "token_loss";
  Trainer trainer([&](int64_t b) { return model.train_step(b); }, nullptr, to);

  std::vector<EpochMetrics> done;
  if (!o.resume.empty()) {
    CheckpointData ck = KILN_TRY(load_checkpoint(o.resume));
    done = KILN_TRY(resumable_epochs(ck, o.resume, name, o, to.epochs));
    KILN_RETURN_IF_ERROR(check_checkpoint_metadata(ck, o.resume, nmt_metadata(run, data)));
    // The training step creates every state buffer; then the checkpoint overwrites them.
    KILN_TRY(model.train_step(std::min(run.batch, data.size())));
    KILN_RETURN_IF_ERROR(restore_state(model.state(), ck, o.resume, RestoreMode::Exact));
  }

  const int64_t steps = (data.size() + run.batch - 1) / run.batch;
  ProgressOptions po;
  po.mode = o.progress ? ProgressMode::kAuto : ProgressMode::kOff;
  ProgressBar bar(to.epochs, steps, po);
  Curves curves;
  std::vector<EpochMetrics> history;
  auto record = [&](const EpochMetrics& m) {
    history.push_back(m);
    curves.add("train_loss", m.epoch + 1, m.train_loss);
  };
  for (const EpochMetrics& m : done) record(m);
  trainer.on_epoch_begin = [&](int epoch) { bar.begin_epoch(epoch); };
  trainer.on_step = [&](const StepInfo& s) { bar.step(s.batch, s.batch_loss); };
  trainer.on_epoch_trained = [&](int) { bar.stop_clock(); };
  trainer.on_epoch = [&](const EpochMetrics& m) -> Status {
    record(m);
    bar.end_epoch({});
    if (o.save.empty()) return Status::Ok();
    return save_checkpoint(o.save,
                           KILN_TRY(make_checkpoint(name, o, run, data, history, steps, model.state())));
  };
  KILN_TRY(trainer.fit(source, nullptr, done));

  RunReport r;
  r.model = name;
  double secs = 0;
  for (const EpochMetrics& m : history) secs += m.seconds;
  int64_t tokens = 0;
  for (int32_t v : data.target.valid_len) tokens += v;
  r.set("epochs", static_cast<double>(history.size()));
  r.set("train_loss", history.back().train_loss);
  r.set("bleu", KILN_TRY(mean_bleu(model, data, run.batch)));
  r.set("seconds_per_epoch", secs / static_cast<double>(history.size()));
  r.set("tokens_per_second",
        secs > 0 ? static_cast<double>(tokens) * static_cast<double>(history.size()) / secs : 0);
  r.set("compile_seconds", model.compile_seconds());
  r.set("pairs", static_cast<double>(data.size()));
  r.set("source_vocab", data.source_vocab.size());
  r.set("target_vocab", data.target_vocab.size());
  r.notes.push_back({"data", run.path});
  PlotOptions plot_opts;
  plot_opts.title = name;
  KILN_RETURN_IF_ERROR(write_plot(curves, o, plot_opts, r));
  return r;
}

namespace {

// A trained model rebuilt from its checkpoint: the vocabularies and options from the
// metadata, the weights restored into a decoder's state.
struct RestoredModel {
  Vocab source_vocab, target_vocab;
  int64_t num_steps = 0;
  std::unique_ptr<TranslationModel> model;
};

std::string metadata_value(const CheckpointData& ck, const std::string& key) {
  for (const auto& [k, v] : ck.metadata)
    if (k == key) return v;
  return "";
}

Expected<RestoredModel> restore_model(const std::string& name, const TranslationEntry& entry,
                                      const std::string& path, uint64_t seed) {
  CheckpointData ck = KILN_TRY(load_checkpoint(path));
  if (ck.model != name)
    return Error(path + ": checkpoint of model '" + ck.model + "', not '" + name + "'");
  RestoredModel r;
  const std::string src = metadata_value(ck, "source_vocab"), tgt = metadata_value(ck, "target_vocab");
  const std::string steps = metadata_value(ck, "num_steps");
  if (src.empty() || tgt.empty() || steps.empty())
    return Error(path + ": no vocabularies or num_steps in the checkpoint's metadata");
  r.source_vocab = KILN_TRY(decode_vocab(src, path + " (source vocabulary)"));
  r.target_vocab = KILN_TRY(decode_vocab(tgt, path + " (target vocabulary)"));
  try {
    r.num_steps = std::stoll(steps);
  } catch (...) {
    r.num_steps = 0;
  }
  if (r.num_steps < 1 || r.num_steps > 4096)
    return Error(path + ": bad num_steps '" + steps + "' in the checkpoint's metadata");
  TranslationModelSpec spec = entry.make(r.source_vocab.size(), r.target_vocab.size());
  spec.seed = static_cast<int64_t>(seed);
  r.model = std::make_unique<TranslationModel>(std::move(spec), r.num_steps, seed);
  KILN_TRY(r.model->decoder(1));
  KILN_RETURN_IF_ERROR(restore_state(r.model->state(), ck, path, RestoreMode::Subset));
  return r;
}

// The source rows of sentences, looked up in `vocab`; counts unknown words.
Expected<NmtArray> source_rows(const std::vector<std::string>& sentences, const Vocab& vocab,
                               int64_t num_steps, std::vector<int64_t>* unknown) {
  std::vector<std::vector<std::string>> words;
  for (const std::string& s : sentences) {
    words.push_back(nmt_words(s));
    int64_t u = 0;
    for (const std::string& w : words.back()) u += vocab.contains(w) ? 0 : 1;
    if (unknown) unknown->push_back(u);
  }
  return build_nmt_array(words, vocab, num_steps);
}

std::string joined(const std::vector<int32_t>& ids, const Vocab& vocab) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + vocab.token(id);
  return s;
}

Expected<std::vector<TranslatedSentence>> translate_sentences(const std::string& name,
                                                              const TranslationEntry& entry,
                                                              const TranslateOptions& o) {
  if (o.sentences.empty()) return Error("no sentence to translate");
  if (o.threads > 0) set_num_threads(o.threads);
  RestoredModel m = KILN_TRY(restore_model(name, entry, o.checkpoint, 0));
  std::vector<int64_t> unknown;
  NmtArray rows = KILN_TRY(source_rows(o.sentences, m.source_vocab, m.num_steps, &unknown));
  std::vector<Translation> tr = KILN_TRY(translate_rows(*m.model, rows, m.target_vocab, 1));
  std::vector<TranslatedSentence> out;
  for (size_t i = 0; i < tr.size(); ++i)
    out.push_back({joined(tr[i].tokens, m.target_vocab), unknown[i]});
  return out;
}

// `kiln inspect MODEL --attention FILE.svg`: translates the data's first sentence (with
// the checkpoint's weights when given, else the untrained ones) and draws every attention
// map of the last decoding run, one panel per head.
Status write_attention(const std::string& name, const TranslationEntry& entry,
                       const RunOptions& o, const std::string& svg) {
  if (o.threads > 0) set_num_threads(o.threads);
  std::unique_ptr<TranslationModel> model;
  Vocab source_vocab, target_vocab;
  std::vector<std::string> source_words;
  NmtArray rows;
  const NmtRun run = resolve(o, entry.defaults);
  if (!o.checkpoint.empty()) {
    RestoredModel m = KILN_TRY(restore_model(name, entry, o.checkpoint, o.seed));
    TranslationData data = KILN_TRY(load_data(o, run));
    source_words = data.pairs.source[0];
    rows = KILN_TRY(build_nmt_array({source_words}, m.source_vocab, m.num_steps));
    model = std::move(m.model);
    source_vocab = std::move(m.source_vocab);
    target_vocab = std::move(m.target_vocab);
  } else {
    TranslationData data = KILN_TRY(load_data(o, run));
    model = std::make_unique<TranslationModel>(make_spec(entry.make, data, run, entry.defaults, o.seed),
                                               run.data.num_steps, o.seed, o.fusion);
    source_words = data.pairs.source[0];
    rows = KILN_TRY(build_nmt_array({source_words}, data.source_vocab, run.data.num_steps));
    source_vocab = data.source_vocab;
    target_vocab = data.target_vocab;
  }
  std::vector<Translation> tr = KILN_TRY(translate_rows(*model, rows, target_vocab, 1, true));
  const Translation& t = tr[0];
  if (t.attention.empty()) return Error("model '" + name + "' exposes no attention weights");
  std::vector<std::string> src_labels = source_words, tgt_labels;
  src_labels.push_back(kEosToken);
  tgt_labels.push_back(kBosToken);
  for (int32_t id : t.tokens) tgt_labels.push_back(target_vocab.token(id));
  HeatmapFigure fig;
  std::string source_text;
  for (const std::string& w : source_words) source_text += (source_text.empty() ? "" : " ") + w;
  fig.title = name + ": " + source_text + " => " + joined(t.tokens, target_vocab);
  int64_t max_heads = 1;
  for (const Translation::Map& m : t.attention) max_heads = std::max(max_heads, m.heads);
  fig.columns = max_heads;
  // Labels: what a map's queries and keys run over, cut to the cropped size.
  auto labels = [](const std::vector<std::string>& all, int64_t n) {
    return std::vector<std::string>(all.begin(), all.begin() + std::min<int64_t>(n, all.size()));
  };
  for (const Translation::Map& m : t.attention) {
    const bool source_queries = m.axes == AttentionMap::SourceToSource;
    const bool source_keys = m.axes != AttentionMap::TargetToTarget;
    for (int64_t h = 0; h < m.heads; ++h) {
      HeatmapPanel p;
      p.title = m.heads > 1 ? m.name + " head " + std::to_string(h) : m.name;
      p.rows = m.queries;
      p.cols = m.keys;
      p.values.assign(m.weights.begin() + h * m.queries * m.keys,
                      m.weights.begin() + (h + 1) * m.queries * m.keys);
      p.row_labels = labels(source_queries ? src_labels : tgt_labels, p.rows);
      p.col_labels = labels(source_keys ? src_labels : tgt_labels, p.cols);
      if (static_cast<int64_t>(p.row_labels.size()) != p.rows) p.row_labels.clear();
      if (static_cast<int64_t>(p.col_labels.size()) != p.cols) p.col_labels.clear();
      fig.panels.push_back(std::move(p));
    }
  }
  return write_heatmaps_svg(svg, fig);
}

// The training step as a SupervisedSpec for `kiln inspect`: x packs src, dec_input and
// src_valid ([B, 2T + 1] as f32), y packs tgt and tgt_valid ([B, T + 1]).
Expected<SupervisedSpec> inspect_spec(const std::string& name, const TranslationEntry& entry,
                                      const RunOptions& o) {
  const NmtRun run = resolve(o, entry.defaults);
  TranslationData data = KILN_TRY(load_data(o, run));
  auto spec = std::make_shared<TranslationModelSpec>(
      make_spec(entry.make, data, run, entry.defaults, o.seed));
  const int64_t T = run.data.num_steps;
  auto column = [](const Tensor& t, int64_t from, int64_t to) {
    return cast(slice(t, 1, from, to), DType::i32);
  };
  SupervisedSpec s;
  s.name = name;
  s.example_shape = Shape{2 * T + 1};
  s.classification = false;
  s.target_width = T + 1;
  s.net = [spec, T, column](nn::Context& ctx, const Tensor& x) {
    TranslationInputs in{column(x, 0, T), reshape(column(x, 2 * T, 2 * T + 1), Shape{x.dim(0)}),
                         column(x, T, 2 * T)};
    return spec->net(ctx, in).logits;
  };
  s.loss = [T, column](nn::Context& ctx, const Tensor& logits, const Tensor& y) {
    const int64_t B = logits.dim(0), V = logits.dim(2);
    Tensor ce = softmax_cross_entropy_per_example(reshape(logits, Shape{B * T, V}),
                                                  reshape(column(y, 0, T), Shape{B * T}));
    Tensor steps = ctx.b.iota(TensorType{DType::i32, Shape{B, T}}, 1);
    Tensor mask = cast(less(steps, column(y, T, T + 1)), DType::f32);
    return sum(ce * reshape(mask, Shape{B * T})) / static_cast<double>(T);
  };
  s.optimizer = spec->optimizer;
  s.seed = static_cast<int64_t>(o.seed);
  s.layers = spec;
  return s;
}

std::map<std::string, TranslationEntry>& translation_models() {
  static std::map<std::string, TranslationEntry> entries;
  return entries;
}

}  // namespace

const TranslationEntry* find_translation_model(const std::string& name) {
  auto it = translation_models().find(name);
  return it == translation_models().end() ? nullptr : &it->second;
}

ModelEntry translation_model_entry(const std::string& name, const std::string& description,
                                   TranslationModelMaker make, TranslationDefaults defaults) {
  const TranslationEntry entry{std::move(make), defaults};
  translation_models()[name] = entry;
  ModelEntry e;
  e.name = name;
  e.description = description;
  e.options = kOptData | kOptTranslation | kOptCheckpoint | kOptPlot | kOptLimit;
  e.run = [name, entry](const RunOptions& o) {
    return run_translation_model(name, entry.make, o, entry.defaults);
  };
  e.spec = [name, entry](const RunOptions& o) { return inspect_spec(name, entry, o); };
  e.translate = [name, entry](const TranslateOptions& o) {
    return translate_sentences(name, entry, o);
  };
  e.attention = [name, entry](const RunOptions& o, const std::string& svg) {
    return write_attention(name, entry, o, svg);
  };
  return e;
}

}  // namespace kiln
