// Translation models: graphs, compilation, greedy decoding and BLEU. The training run,
// checkpoints, `kiln translate` and the heat maps live in translation_run.cpp.
#include "models/translation_model.h"

#include <algorithm>
#include <cstdlib>

#include "frontend/losses.h"
#include "models/run_common.h"
#include "passes/simplify.h"
#include "runtime/train/bleu.h"

namespace kiln {

namespace {

constexpr const char* kDefaultData = "fr-en-small.txt";

Status check_spec(const TranslationModelSpec& s) {
  if (!s.net) return Error("translation model '" + s.name + "' has no network");
  if (s.src_vocab < 1 || s.tgt_vocab < 1)
    return Error("translation model '" + s.name + "': empty vocabulary");
  return Status::Ok();
}

// d2l's MaskedSoftmaxCELoss: per-token cross-entropy weighted by t < valid, averaged over
// the T steps of each sentence and summed over the batch ("loss"); and the mean over the
// valid tokens ("token_loss", what d2l's progress shows up to its normalisation).
void masked_loss(Builder& b, const Tensor& logits, const Tensor& tgt, const Tensor& tgt_valid) {
  const int64_t B = logits.dim(0), T = logits.dim(1), V = logits.dim(2);
  Tensor ce = softmax_cross_entropy_per_example(reshape(logits, Shape{B * T, V}),
                                                reshape(tgt, Shape{B * T}));
  Tensor steps = b.iota(TensorType{DType::i32, Shape{B, T}}, 1);
  Tensor mask = cast(less(steps, reshape(tgt_valid, Shape{B, 1})), DType::f32);
  Tensor masked = sum(ce * reshape(mask, Shape{B * T}));
  b.output("loss", masked / static_cast<double>(T));
  b.output("token_loss", masked / sum(mask));
}

int32_t argmax_row(const float* row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

}  // namespace

Expected<Graph> build_translation_graph(const TranslationModelSpec& spec,
                                        TranslationGraphKind kind, int64_t batch, int64_t steps,
                                        std::vector<AttentionMapInfo>* maps) {
  KILN_RETURN_IF_ERROR(check_spec(spec));
  if (batch < 1 || steps < 1) return Error("batch size and steps must be positive");
  const bool train = kind == TranslationGraphKind::Train;
  Graph g(spec.name + (train ? ".train" : ".decode"));
  Builder b(g);
  nn::Context ctx{b, train, spec.seed, spec.name};
  // d2l's train_seq2seq re-initialises every Linear and GRU weight with xavier_uniform.
  ctx.weight_init = InitSpec::xavier_uniform();
  const TensorType rows{DType::i32, Shape{batch, steps}}, lens{DType::i32, Shape{batch}};
  TranslationInputs in;
  in.src = b.input("src", rows);
  in.src_valid = b.input("src_valid", lens);
  in.dec_input = b.input("dec_input", rows);
  TranslationNet net = spec.net(ctx, in);
  KILN_RETURN_IF_ERROR(b.status());
  if (net.logits.shape() != Shape{batch, steps, spec.tgt_vocab})
    return Error("translation model '" + spec.name + "' gives logits of shape " +
                 net.logits.shape().to_string() + ", expected " +
                 Shape{batch, steps, spec.tgt_vocab}.to_string());
  if (train) {
    masked_loss(b, net.logits, b.input("tgt", rows), b.input("tgt_valid", lens));
  } else {
    b.output("logits", net.logits);
    for (const AttentionMap& a : net.attention) {
      b.output("attention." + a.name, a.weights);
      if (maps) maps->push_back({a.name, a.axes});
    }
  }
  KILN_RETURN_IF_ERROR(b.status());
  KILN_RETURN_IF_ERROR(model_passes(train, spec.optimizer).run(g));
  return g;
}

TranslationModel::TranslationModel(TranslationModelSpec spec, int64_t num_steps,
                                   uint64_t init_seed, bool fusion)
    : spec_(std::move(spec)), steps_(num_steps), cache_(init_seed, fusion) {}

Expected<Executable*> TranslationModel::train_step(int64_t batch) {
  return get(TranslationGraphKind::Train, batch);
}

Expected<Executable*> TranslationModel::decoder(int64_t batch) {
  return get(TranslationGraphKind::Decode, batch);
}

Expected<Executable*> TranslationModel::get(TranslationGraphKind kind, int64_t batch) {
  return cache_.get({static_cast<int>(kind), batch}, [&]() -> Expected<Graph> {
    std::vector<AttentionMapInfo> maps;
    Graph g = KILN_TRY(build_translation_graph(spec_, kind, batch, steps_, &maps));
    if (kind == TranslationGraphKind::Decode) attention_maps_ = std::move(maps);
    return g;
  });
}

namespace {

// The attention maps of one decoded row, cropped to its valid source length and to the
// decoder steps that produced its tokens (and <eos>).
std::vector<Translation::Map> crop_attention(const Executable& exe,
                                             const std::vector<AttentionMapInfo>& infos,
                                             int64_t row, int64_t src_len, int64_t tgt_len) {
  std::vector<Translation::Map> maps;
  for (const AttentionMapInfo& info : infos) {
    const HostBuffer* w = exe.output("attention." + info.name);
    const Shape& s = w->type().shape;  // [B, heads, Q, K]
    const int64_t heads = s[1], Q = s[2], K = s[3];
    const bool source_queries = info.axes == AttentionMap::SourceToSource;
    const bool source_keys = info.axes != AttentionMap::TargetToTarget;
    Translation::Map m;
    m.name = info.name;
    m.axes = info.axes;
    m.heads = heads;
    m.queries = std::min(Q, source_queries ? src_len : tgt_len);
    m.keys = std::min(K, source_keys ? src_len : tgt_len);
    const float* base = w->as<float>() + row * heads * Q * K;
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t q = 0; q < m.queries; ++q)
        for (int64_t k = 0; k < m.keys; ++k) m.weights.push_back(base[(h * Q + q) * K + k]);
    maps.push_back(std::move(m));
  }
  return maps;
}

}  // namespace

Expected<std::vector<Translation>> translate_rows(TranslationModel& model, const NmtArray& source,
                                                  const Vocab& target_vocab, int64_t batch,
                                                  bool keep_attention) {
  const int64_t n = source.size(), T = model.num_steps();
  if (n == 0) return std::vector<Translation>{};
  if (source.num_steps != T)
    return Error("source rows have " + std::to_string(source.num_steps) + " steps, the model " +
                 std::to_string(T));
  const int32_t bos = target_vocab.index(kBosToken), eos = target_vocab.index(kEosToken);
  const int32_t pad = target_vocab.index(kPadToken);
  const int64_t B = std::min(batch, n);
  Executable* exe = KILN_TRY(model.decoder(B));
  int32_t* src = exe->input("src")->as<int32_t>();
  int32_t* src_valid = exe->input("src_valid")->as<int32_t>();
  int32_t* dec = exe->input("dec_input")->as<int32_t>();
  const HostBuffer* logits_out = exe->output("logits");
  const int64_t V = logits_out->type().shape[2];
  std::vector<Translation> out(static_cast<size_t>(n));
  for (int64_t r0 = 0; r0 < n; r0 += B) {
    // A short last chunk repeats its first row to fill the batch; the copies are ignored.
    const int64_t rows = std::min(B, n - r0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t r = r0 + (b < rows ? b : 0);
      std::copy_n(source.tokens.data() + r * T, T, src + b * T);
      src_valid[b] = source.valid_len[static_cast<size_t>(r)];
      std::fill_n(dec + b * T, T, pad);
      dec[b * T] = bos;
    }
    std::vector<bool> done(static_cast<size_t>(rows), false);
    for (int64_t t = 0; t < T; ++t) {
      KILN_RETURN_IF_ERROR(exe->run_checked());  // a device run can fail
      const float* logits = logits_out->as<float>();
      bool all_done = true;
      for (int64_t b = 0; b < rows; ++b) {
        if (done[static_cast<size_t>(b)]) continue;
        const int32_t tok = argmax_row(logits + (b * T + t) * V, V);
        if (tok == eos) {
          done[static_cast<size_t>(b)] = true;
          continue;
        }
        out[static_cast<size_t>(r0 + b)].tokens.push_back(tok);
        if (t + 1 < T) dec[b * T + t + 1] = tok;
        all_done = false;
      }
      if (all_done) break;
    }
    if (!keep_attention) continue;
    for (int64_t b = 0; b < rows; ++b) {
      Translation& tr = out[static_cast<size_t>(r0 + b)];
      const int64_t tgt_len = std::min<int64_t>(T, static_cast<int64_t>(tr.tokens.size()) + 1);
      tr.attention = crop_attention(*exe, model.attention_maps(), b, src_valid[b], tgt_len);
    }
  }
  return out;
}

Expected<double> mean_bleu(TranslationModel& model, const TranslationData& data, int64_t batch) {
  std::vector<Translation> tr = KILN_TRY(translate_rows(model, data.source, data.target_vocab, batch));
  if (tr.empty()) return Error("no sentence pairs to score");
  double total = 0;
  for (size_t i = 0; i < tr.size(); ++i) {
    std::vector<std::string> words;
    for (int32_t id : tr[i].tokens) words.push_back(data.target_vocab.token(id));
    total += bleu(words, data.pairs.target[i], 2);
  }
  return total / static_cast<double>(tr.size());
}

std::string translation_data_path(const RunOptions& o) {
  if (!o.data.empty()) return o.data;
  return default_data_dir() + "/" + kDefaultData;
}

}  // namespace kiln
