// The character language models (models/language_model.h, char_models.cpp): each trains
// on a slice of The Time Machine with falling perplexity; the carried state is reset at
// every epoch (a resumed run repeats an uninterrupted one); checkpoints carry what
// generation needs; generation is d2l's predict_ch8 (greedy) or seeded sampling; the
// vocabulary survives its metadata encoding. Small on purpose (32 hidden units, 5,000
// tokens): the whole file runs in well under a minute.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "frontend/rnn_layers.h"
#include "models/language_model.h"
#include "runtime/checkpoint.h"
#include "shared_data.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

const char* const kModels[] = {"char_rnn", "char_gru", "char_lstm", "deep_lstm", "bi_gru"};

RunOptions small(int epochs, const std::string& save = "", const std::string& resume = "") {
  RunOptions o;
  o.epochs = epochs;
  o.max_tokens = 5000;  // 4 or 5 sequential minibatches of 32 x 35 per epoch
  o.hidden = 32;
  o.seed = 3;
  o.progress = false;
  o.corpus = testing::shared_data_dir() + "/timemachine.txt";
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

// Per-epoch values of `metric` recorded in a checkpoint.
std::vector<double> per_epoch(const CheckpointData& ck, const std::string& metric) {
  std::vector<double> out;
  for (const auto& items : ck.epoch_metrics)
    for (const auto& [k, v] : items)
      if (k == metric) out.push_back(v);
  return out;
}

CheckpointData load(const std::string& path) {
  Expected<CheckpointData> ck = load_checkpoint(path);
  INFO((ck.ok() ? "" : ck.error().message()));
  REQUIRE(ck.ok());
  return *ck;
}

}  // namespace

TEST_CASE("the five language models are registered with their d2l sections", "[lm]") {
  for (const char* name : kModels) {
    INFO(name);
    const ModelEntry& m = entry(name);
    CHECK_THAT(m.description, Catch::Contains("(d2l 9.") || Catch::Contains("(d2l 10."));
    CHECK(m.generate != nullptr);
    CHECK((m.options & kOptText) != 0);
    CHECK((m.options & kOptCheckpoint) != 0);
  }
  CHECK_THAT(entry("bi_gru").description, Catch::Contains("cannot predict"));
  // Language-model flags are refused by other models.
  RunOptions o;
  o.max_tokens = 100;
  Status s = check_run_options(entry("softmax"), o);
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.error().message(), Catch::Contains("--max-tokens"));
}

TEST_CASE("each language model trains on 5,000 tokens with falling perplexity", "[lm][train]") {
  testing::TempDir dir;
  for (const char* name : kModels) {
    INFO(name);
    const std::string ck_path = dir.file(std::string(name) + ".kckpt");
    RunReport r = train(name, small(4, ck_path));
    CHECK(r.model == name);
    CHECK(r.get("epochs") == 4);
    CHECK(r.get("vocab_size") == 28);  // 26 letters, space, <unk> (d2l)
    CHECK(r.get("tokens") == 5000);
    CHECK(r.get("perplexity") == Approx(std::exp(r.get("train_loss"))));
    CHECK(r.get("tokens_per_second") > 0);
    CHECK(r.get("seconds_per_epoch") > 0);
    CHECK(r.get("compile_seconds") > 0);
    CheckpointData ck = load(ck_path);
    CHECK(ck.model == name);
    CHECK(ck.epoch == 4);
    std::vector<double> ppl = per_epoch(ck, "perplexity");
    REQUIRE(ppl.size() == 4);
    INFO("perplexity by epoch " << ppl[0] << " " << ppl[1] << " " << ppl[2] << " " << ppl[3]);
    // Starts near the uniform guess over 28 tokens, then falls.
    CHECK(ppl[0] < 30);
    CHECK(ppl[0] > 12);
    CHECK(ppl[3] < 0.85 * ppl[0]);
    CHECK(ppl[3] == r.get("perplexity"));
  }
}

TEST_CASE("random sampling trains too", "[lm][train]") {
  testing::TempDir dir;
  RunOptions o = small(3, dir.file("rnd.kckpt"));
  o.random_sampling = true;
  RunReport r = train("char_rnn", o);
  std::vector<double> ppl = per_epoch(load(dir.file("rnd.kckpt")), "perplexity");
  REQUIRE(ppl.size() == 3);
  CHECK(ppl[2] < ppl[0]);
  CHECK(r.get("perplexity") == ppl[2]);
  // A checkpoint of a sequential run cannot be resumed with random sampling.
  train("char_rnn", small(1, dir.file("seq.kckpt")));
  RunOptions mixed = small(2, "", dir.file("seq.kckpt"));
  mixed.random_sampling = true;
  Expected<RunReport> refused = entry("char_rnn").run(mixed);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message(), Catch::Contains("sampling"));
}

TEST_CASE("the carried state restarts every epoch: a resumed run repeats an uninterrupted one",
          "[lm][train]") {
  testing::TempDir dir;
  const std::string whole = dir.file("whole.kckpt"), half = dir.file("half.kckpt");
  train("char_rnn", small(2, whole));
  RunReport one = train("char_rnn", small(1, half));
  // The first epoch is reproducible.
  CHECK(per_epoch(load(whole), "perplexity")[0] == one.get("perplexity"));
  // The resumed run starts its second epoch from a fresh executable (zero state); it
  // matches only if the uninterrupted run reset its carried state at the epoch start.
  train("char_rnn", small(2, half, half));
  CheckpointData a = load(whole), b = load(half);
  REQUIRE(per_epoch(a, "perplexity").size() == 2);
  REQUIRE(per_epoch(b, "perplexity").size() == 2);
  CHECK(per_epoch(a, "perplexity")[1] == per_epoch(b, "perplexity")[1]);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].name);
    CHECK(a.tensors[i].bytes == b.tensors[i].bytes);
  }
  // Checkpoints hold model-scoped state only: no carried hidden state.
  for (const CheckpointTensor& t : a.tensors) CHECK(t.kind != StateKind::Carried);
}

TEST_CASE("generate continues the prefix from the checkpoint's weights and vocabulary",
          "[lm][generate]") {
  testing::TempDir dir;
  const std::string ck_path = dir.file("lstm.kckpt");
  train("char_lstm", small(3, ck_path));
  const ModelEntry& m = entry("char_lstm");
  GenerateOptions g;
  g.checkpoint = ck_path;
  g.prefix = "time traveller";
  g.len = 50;
  Expected<GeneratedText> greedy = m.generate(g);
  INFO((greedy.ok() ? "" : greedy.error().message()));
  REQUIRE(greedy.ok());
  INFO(greedy->text);
  REQUIRE(greedy->text.size() == g.prefix.size() + 50);
  CHECK(greedy->text.substr(0, g.prefix.size()) == g.prefix);
  CHECK(greedy->unknown == 0);
  for (char c : greedy->text.substr(g.prefix.size())) CHECK((c == ' ' || (c >= 'a' && c <= 'z')));
  // Greedy decoding ignores the seed.
  g.seed = 99;
  CHECK(m.generate(g)->text == greedy->text);

  // Sampling: the same seed gives the same text; the draws differ from the argmax.
  g.temperature = 1.0;
  g.seed = 5;
  Expected<GeneratedText> s1 = m.generate(g), s2 = m.generate(g);
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  CHECK(s1->text == s2->text);
  CHECK(s1->text.size() == greedy->text.size());
  CHECK(s1->text != greedy->text);
  g.seed = 6;
  CHECK(m.generate(g)->text != s1->text);

  // Characters outside the vocabulary are read as <unk> (d2l), and counted.
  g.temperature = 0;
  g.prefix = "Time!";
  Expected<GeneratedText> unk = m.generate(g);
  REQUIRE(unk.ok());
  CHECK(unk->unknown == 2);
  CHECK(unk->text.substr(0, 5) == "Time!");
  g.len = 0;
  CHECK(m.generate(g)->text == "Time!");

  // Errors.
  g.prefix = "";
  Expected<GeneratedText> empty = m.generate(g);
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message(), Catch::Contains("prefix is empty"));
  g.prefix = "the";
  g.len = -1;
  REQUIRE_FALSE(m.generate(g).ok());
  g.len = 5;
  Expected<GeneratedText> other = entry("char_gru").generate(g);
  REQUIRE_FALSE(other.ok());
  CHECK_THAT(other.error().message(), Catch::Contains("checkpoint of model 'char_lstm'"));
  g.checkpoint = dir.file("missing.kckpt");
  Expected<GeneratedText> missing = m.generate(g);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("missing.kckpt"));
}

TEST_CASE("train and predict executables share the weights but not the carried state",
          "[lm]") {
  LanguageModelSpec spec;
  spec.name = "tiny";
  spec.vocab_size = 5;
  spec.width = 4;
  auto rnn = std::make_shared<nn::GRU>(5, 4, 1, false, 0.0, "tiny.rnn");
  spec.body = [rnn](nn::Context& ctx, const Tensor& x) { return (*rnn)(ctx, x); };
  spec.layers = rnn;
  LanguageModel lm(spec);
  Expected<Executable*> train = lm.train_step(2, 3);
  Expected<Executable*> predict = lm.predictor();
  REQUIRE(train.ok());
  REQUIRE(predict.ok());
  REQUIRE((*predict)->output("logits") != nullptr);
  CHECK((*predict)->output("logits")->type().shape == Shape{1, 5});
  CHECK((*train)->state_buffer("tiny.rnn.weight_ih_l0") ==
        (*predict)->state_buffer("tiny.rnn.weight_ih_l0"));
  CHECK((*train)->state_buffer("tiny.output.weight") == (*predict)->state_buffer("tiny.output.weight"));
  REQUIRE((*train)->state_buffer(rnn->state_name('h', 0, 0)) != nullptr);
  CHECK((*train)->state_buffer(rnn->state_name('h', 0, 0)) !=
        (*predict)->state_buffer(rnn->state_name('h', 0, 0)));
  // Bad sizes are errors, not aborts.
  CHECK_FALSE(build_lm_graph(spec, LmGraphKind::Train, 0, 3).ok());
  LanguageModelSpec no_body = spec;
  no_body.body = nullptr;
  CHECK_FALSE(build_lm_graph(no_body, LmGraphKind::Predict, 1, 1).ok());
}

TEST_CASE("the vocabulary round-trips through its metadata encoding", "[lm]") {
  Expected<Vocab> v = Vocab::build({{"b", "a", "b", "c:", "", "b"}, {"a", "12"}});
  REQUIRE(v.ok());
  const std::string text = encode_vocab(*v);
  Expected<Vocab> back = decode_vocab(text, "x.kckpt");
  INFO((back.ok() ? "" : back.error().message()));
  REQUIRE(back.ok());
  CHECK(back->idx_to_token() == v->idx_to_token());
  for (const char* bad : {"", "5:<unk>1", "5:<unk>x:a", "1:a", "5:<unk>1:a1:a"}) {
    INFO(bad);
    Expected<Vocab> r = decode_vocab(bad, "x.kckpt");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::StartsWith("x.kckpt: "));
  }
}
