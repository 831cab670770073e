// The translation harness (models/translation_model.h) and its models: the masked loss
// is d2l's MaskedSoftmaxCELoss; decoding is causal (a logit at position t never depends
// on later decoder inputs, which is what makes prefix re-decoding equal d2l's
// step-by-step decoding) and does not depend on the decoding batch; every model's loss
// falls in a few epochs on the 20-pair file; checkpoints translate and resume exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "frontend/embedding.h"
#include "models/translation_model.h"
#include "runtime/checkpoint.h"
#include "shared_data.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

const char* const kModels[] = {"seq2seq", "seq2seq_attention", "transformer"};

TranslationOptions file_options() {
  TranslationOptions t;
  t.min_freq = 1;
  return t;
}

TranslationData load_data() {
  Expected<TranslationData> d =
      load_translation_data(testing::shared_data_dir() + "/fr-en-small.txt", file_options());
  INFO((d.ok() ? "" : d.error().message()));
  REQUIRE(d.ok());
  return std::move(*d);
}

RunOptions small(int epochs, const std::string& save = "", const std::string& resume = "") {
  RunOptions o;
  o.epochs = epochs;
  o.min_freq = 1;
  o.seed = 5;
  o.progress = false;
  o.data = testing::shared_data_dir() + "/fr-en-small.txt";
  o.save = save;
  o.resume = resume;
  return o;
}

const ModelEntry& entry(const std::string& name) {
  const ModelEntry* m = find_model(name);
  REQUIRE(m != nullptr);
  return *m;
}

RunReport train(const std::string& name, const RunOptions& o) {
  Expected<RunReport> r = entry(name).run(o);
  INFO((r.ok() ? "" : r.error().message()));
  REQUIRE(r.ok());
  return *r;
}

std::vector<double> per_epoch(const std::string& path, const std::string& metric) {
  Expected<CheckpointData> ck = load_checkpoint(path);
  REQUIRE(ck.ok());
  std::vector<double> out;
  for (const auto& items : ck->epoch_metrics)
    for (const auto& [k, v] : items)
      if (k == metric) out.push_back(v);
  return out;
}

// An untrained model of a registered maker over the 20-pair file's vocabularies.
TranslationModel untrained(const std::string& name, const TranslationData& data) {
  const TranslationEntry* e = find_translation_model(name);
  REQUIRE(e != nullptr);
  return TranslationModel(e->make(data.source_vocab.size(), data.target_vocab.size()),
                          data.source.num_steps, 1);
}

// A network without recurrence or dropout: logits = Embedding(dec_input) @ W + the mean
// source embedding, so the masked loss can be recomputed on the host from the Decode
// graph's logits.
TranslationModelSpec bag_of_words(int64_t src_vocab, int64_t tgt_vocab) {
  auto src = std::make_shared<nn::Embedding>(src_vocab, tgt_vocab, nn::Init::normal(0, 1), "bag.src");
  auto tgt = std::make_shared<nn::Embedding>(tgt_vocab, tgt_vocab, nn::Init::normal(0, 1), "bag.tgt");
  TranslationModelSpec s;
  s.name = "bag";
  s.src_vocab = src_vocab;
  s.tgt_vocab = tgt_vocab;
  s.net = [src, tgt](nn::Context& ctx, const TranslationInputs& in) {
    Tensor context = mean((*src)(ctx, in.src), {1}, true);  // [B, 1, V]
    TranslationNet net;
    net.logits = (*tgt)(ctx, in.dec_input) + context;
    return net;
  };
  s.layers = std::make_shared<std::pair<decltype(src), decltype(tgt)>>(src, tgt);
  return s;
}

}  // namespace

TEST_CASE("the training loss is d2l's MaskedSoftmaxCELoss", "[translation]") {
  TranslationData data = load_data();
  TranslationModel model(bag_of_words(data.source_vocab.size(), data.target_vocab.size()),
                         data.source.num_steps);
  const int64_t B = 4, T = data.source.num_steps, V = data.target_vocab.size();
  Expected<Executable*> dec = model.decoder(B);
  Expected<Executable*> step = model.train_step(B);
  REQUIRE(dec.ok());
  REQUIRE(step.ok());
  // Rows 0..3 of the data, with the decoder input d2l builds: <bos>, then Y[:, :-1].
  const int32_t bos = data.target_vocab.index(kBosToken);
  std::vector<int32_t> dec_input(static_cast<size_t>(B * T));
  for (int64_t b = 0; b < B; ++b) {
    dec_input[b * T] = bos;
    for (int64_t t = 1; t < T; ++t) dec_input[b * T + t] = data.target.tokens[b * T + t - 1];
  }
  for (Executable* exe : {*dec, *step}) {
    std::copy_n(data.source.tokens.data(), B * T, exe->input("src")->as<int32_t>());
    std::copy_n(data.source.valid_len.data(), B, exe->input("src_valid")->as<int32_t>());
    std::copy(dec_input.begin(), dec_input.end(), exe->input("dec_input")->as<int32_t>());
  }
  std::copy_n(data.target.tokens.data(), B * T, (*step)->input("tgt")->as<int32_t>());
  std::copy_n(data.target.valid_len.data(), B, (*step)->input("tgt_valid")->as<int32_t>());
  (*dec)->run();  // before the step updates the weights
  const float* logits = (*dec)->output("logits")->as<float>();
  double objective = 0, masked = 0, valid = 0;
  for (int64_t b = 0; b < B; ++b) {
    double row = 0;
    for (int64_t t = 0; t < data.target.valid_len[b]; ++t) {
      const float* z = logits + (b * T + t) * V;
      double mx = z[0], se = 0;
      for (int64_t v = 1; v < V; ++v) mx = std::max<double>(mx, z[v]);
      for (int64_t v = 0; v < V; ++v) se += std::exp(z[v] - mx);
      row += mx + std::log(se) - z[data.target.tokens[b * T + t]];
      valid += 1;
    }
    masked += row;
    objective += row / static_cast<double>(T);  // the mean over all T steps, pads as 0
  }
  (*step)->run();
  CHECK((*step)->output("loss")->as<float>()[0] == Approx(objective).epsilon(1e-4));
  CHECK((*step)->output("token_loss")->as<float>()[0] == Approx(masked / valid).epsilon(1e-4));
}

TEST_CASE("decoding is causal and independent of the decoding batch", "[translation]") {
  TranslationData data = load_data();
  for (const char* name : kModels) {
    INFO(name);
    TranslationModel model = untrained(name, data);
    const int64_t T = data.source.num_steps;
    Expected<Executable*> dec = model.decoder(3);
    REQUIRE(dec.ok());
    Executable& exe = **dec;
    std::copy_n(data.source.tokens.data(), 3 * T, exe.input("src")->as<int32_t>());
    std::copy_n(data.source.valid_len.data(), 3, exe.input("src_valid")->as<int32_t>());
    int32_t* in = exe.input("dec_input")->as<int32_t>();
    std::copy_n(data.target.tokens.data(), 3 * T, in);
    exe.run();
    const HostBuffer* out = exe.output("logits");
    std::vector<float> before(out->as<float>(), out->as<float>() + out->type().shape.numel());
    // Changing the inputs after position 4 leaves positions 0..4 as they were.
    const int64_t V = out->type().shape[2], cut = 4;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = cut + 1; t < T; ++t) in[b * T + t] = static_cast<int32_t>((t * 7 + b) % V);
    exe.run();
    const float* after = out->as<float>();
    int64_t same_prefix = 0, changed_suffix = 0;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t v = 0; v < V; ++v) {
          const size_t i = static_cast<size_t>((b * T + t) * V + v);
          if (t <= cut) same_prefix += before[i] == after[i];
          else changed_suffix += before[i] != after[i];
        }
    CHECK(same_prefix == 3 * (cut + 1) * V);
    CHECK(changed_suffix > 0);

    // Greedy translations of all 20 pairs: one row per run, or 3 per run (the last
    // batch padded) give the same tokens.
    Expected<std::vector<Translation>> one = translate_rows(model, data.source, data.target_vocab, 1);
    Expected<std::vector<Translation>> three = translate_rows(model, data.source, data.target_vocab, 3);
    REQUIRE(one.ok());
    REQUIRE(three.ok());
    REQUIRE(one->size() == 20);
    REQUIRE(three->size() == 20);
    for (size_t i = 0; i < 20; ++i) {
      CHECK((*one)[i].tokens == (*three)[i].tokens);
      CHECK((*one)[i].tokens.size() <= static_cast<size_t>(T));
    }
  }
}

TEST_CASE("each translation model's loss falls on the 20 pairs", "[translation][train]") {
  testing::TempDir dir;
  for (const char* name : kModels) {
    INFO(name);
    const std::string ck = dir.file(std::string(name) + ".kckpt");
    RunReport r = train(name, small(30, ck));
    CHECK(r.get("epochs") == 30);
    CHECK(r.get("pairs") == 20);
    CHECK(r.get("bleu") >= 0);
    CHECK(r.get("bleu") <= 1);
    std::vector<double> loss = per_epoch(ck, "train_loss");
    REQUIRE(loss.size() == 30);
    INFO("loss by epoch " << loss.front() << " ... " << loss.back());
    CHECK(loss.back() < 0.6 * loss.front());
    // The checkpoint translates: one line per sentence, words of the target vocabulary.
    TranslateOptions t;
    t.checkpoint = ck;
    t.sentences = {"ils regardent .", "Elle est vieille."};
    Expected<std::vector<TranslatedSentence>> out = entry(name).translate(t);
    INFO((out.ok() ? "" : out.error().message()));
    REQUIRE(out.ok());
    REQUIRE(out->size() == 2);
    CHECK((*out)[0].unknown == 0);
    CHECK((*out)[1].unknown == 0);  // preprocessed: "elle est vieille ."
  }
}

TEST_CASE("a resumed translation run repeats the uninterrupted one", "[translation][train]") {
  testing::TempDir dir;
  RunReport whole = train("seq2seq", small(6));
  train("seq2seq", small(3, dir.file("half.kckpt")));
  RunReport resumed = train("seq2seq", small(6, "", dir.file("half.kckpt")));
  CHECK(resumed.get("epochs") == 6);
  CHECK(resumed.get("train_loss") == whole.get("train_loss"));
  CHECK(resumed.get("bleu") == whole.get("bleu"));
  // Other data options are refused.
  RunOptions other = small(6, "", dir.file("half.kckpt"));
  other.min_freq = 2;
  Expected<RunReport> refused = entry("seq2seq").run(other);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message(), Catch::Contains("min_freq"));
}

TEST_CASE("translation options are checked", "[translation]") {
  RunOptions o = small(1);
  o.data = testing::shared_data_dir() + "/no-such-file.txt";
  Expected<RunReport> missing = entry("seq2seq").run(o);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("no-such-file.txt"));
  // --min-freq and --reverse belong to translation models only.
  RunOptions lm;
  lm.min_freq = 1;
  Status s = check_run_options(entry("char_rnn"), lm);
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.error().message(), Catch::Contains("--min-freq"));
  TranslateOptions t;
  t.checkpoint = "/nonexistent/x.kckpt";
  t.sentences = {"il est riche ."};
  Expected<std::vector<TranslatedSentence>> out = entry("seq2seq").translate(t);
  REQUIRE_FALSE(out.ok());
  CHECK_THAT(out.error().message(), Catch::Contains("x.kckpt"));
}

TEST_CASE("attention maps are cropped to the sentence and drawn per head", "[translation]") {
  TranslationData data = load_data();
  const std::pair<const char*, size_t> expected[] = {{"seq2seq_attention", 1}, {"transformer", 24}};
  testing::TempDir dir;
  for (const auto& [name, panels] : expected) {
    INFO(name);
    TranslationModel model = untrained(name, data);
    Expected<std::vector<Translation>> tr =
        translate_rows(model, data.source, data.target_vocab, 4, /*keep_attention=*/true);
    REQUIRE(tr.ok());
    for (size_t i = 0; i < tr->size(); ++i) {
      const Translation& t = (*tr)[i];
      const int64_t src_len = data.source.valid_len[i];
      const int64_t tgt_len = std::min<int64_t>(data.source.num_steps, t.tokens.size() + 1);
      size_t heads = 0;
      for (const Translation::Map& m : t.attention) {
        heads += static_cast<size_t>(m.heads);
        CHECK(m.keys == (m.axes == AttentionMap::TargetToTarget ? tgt_len : src_len));
        CHECK(m.queries == (m.axes == AttentionMap::SourceToSource ? src_len : tgt_len));
        // Masked keys carry no weight, so each cropped row still sums to 1.
        for (int64_t r = 0; r < m.heads * m.queries; ++r) {
          double total = 0;
          for (int64_t k = 0; k < m.keys; ++k) total += m.weights[static_cast<size_t>(r * m.keys + k)];
          CHECK(total == Approx(1).epsilon(1e-4));
        }
      }
      CHECK(heads == panels);
    }
    // The heat maps: one panel per head and map.
    RunOptions o = small(1);
    const std::string svg = dir.file(std::string(name) + ".svg");
    Status wrote = entry(name).attention(o, svg);
    INFO((wrote.ok() ? "" : wrote.error().message()));
    REQUIRE(wrote.ok());
    std::ifstream in(svg);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t count = 0;
    for (size_t p = text.find("data-panel="); p != std::string::npos; p = text.find("data-panel=", p + 1))
      ++count;
    CHECK(count == panels);
  }
}
