// Language-model generation (d2l's predict_ch8, plus temperature sampling) and the
// vocabulary's encoding in checkpoint metadata.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string_view>

#include "models/language_model.h"
#include "runtime/checkpoint.h"
#include "runtime/thread_pool.h"

namespace kiln {

namespace {

// The index of the largest logit (the lowest index among equal ones).
int32_t argmax_of(const float* logits, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

// A draw from softmax(logits / temperature), by inverse CDF on a 53-bit uniform.
int32_t sample_of(const float* logits, int32_t n, double temperature, std::mt19937_64& rng) {
  double top = logits[0];
  for (int32_t i = 1; i < n; ++i) top = std::max(top, static_cast<double>(logits[i]));
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int32_t i = 0; i < n; ++i) sum += p[i] = std::exp((logits[i] - top) / temperature);
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (int32_t i = 0; i < n; ++i) {
    acc += p[i];
    if (u < acc) return i;
  }
  return n - 1;
}

std::string metadata(const CheckpointData& ck, const std::string& key) {
  for (const auto& [k, v] : ck.metadata)
    if (k == key) return v;
  return "";
}

}  // namespace

std::string encode_vocab(const Vocab& vocab) {
  std::string out;
  for (const std::string& t : vocab.idx_to_token()) out += std::to_string(t.size()) + ":" + t;
  return out;
}

Expected<Vocab> decode_vocab(const std::string& text, const std::string& source) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    size_t colon = text.find(':', i);
    if (colon == std::string::npos || colon == i || colon - i > 10)
      return Error(source + ": malformed vocabulary at byte " + std::to_string(i));
    size_t len = 0;
    for (size_t j = i; j < colon; ++j) {
      if (text[j] < '0' || text[j] > '9')
        return Error(source + ": malformed vocabulary at byte " + std::to_string(j));
      len = len * 10 + static_cast<size_t>(text[j] - '0');
    }
    if (len > text.size() - colon - 1)
      return Error(source + ": malformed vocabulary at byte " + std::to_string(i));
    tokens.push_back(text.substr(colon + 1, len));
    i = colon + 1 + len;
  }
  if (tokens.empty() || tokens[0] != kUnkToken)
    return Error(source + ": the vocabulary does not start with " + kUnkToken);
  // Strictly decreasing counts keep the listed order (Vocab sorts by count, stably).
  std::vector<Vocab::TokenCount> counts;
  for (size_t k = 1; k < tokens.size(); ++k)
    counts.push_back({tokens[k], static_cast<int64_t>(tokens.size() - k)});
  Expected<Vocab> v = Vocab::from_counts(std::move(counts));
  if (!v.ok()) return v.error().wrap(source + ": bad vocabulary");
  if (v->idx_to_token() != tokens) return Error(source + ": bad vocabulary (repeated tokens)");
  return v;
}

Expected<GeneratedText> generate_text(LanguageModel& model, const Vocab& vocab,
                                      const std::string& prefix, int64_t len, double temperature,
                                      uint64_t seed) {
  if (prefix.empty()) return Error("the prefix is empty (give --prefix TEXT)");
  if (len < 0) return Error("--len must be at least 0, got " + std::to_string(len));
  if (!std::isfinite(temperature) || temperature < 0)
    return Error("--temperature must be a finite number >= 0");
  if (vocab.size() != model.spec().vocab_size)
    return Error("the vocabulary has " + std::to_string(vocab.size()) + " tokens, the model " +
                 std::to_string(model.spec().vocab_size));
  KILN_RETURN_IF_ERROR(check_utf8(prefix, "--prefix"));
  Executable* exe = KILN_TRY(model.predictor());
  exe->reset_state(StateKind::Carried);
  int32_t* x = exe->input("x")->as<int32_t>();
  const float* logits = exe->output("logits")->as<float>();

  GeneratedText out;
  out.text = prefix;
  for (size_t i = 0; i < prefix.size();) {
    const size_t start = i;
    decode_utf8(prefix, i);
    const int32_t id = vocab.index(std::string_view(prefix).substr(start, i - start));
    if (id == Vocab::kUnk) ++out.unknown;
    *x = id;
    KILN_RETURN_IF_ERROR(exe->run_checked());  // a device run can fail
  }
  std::mt19937_64 rng(seed);
  for (int64_t k = 0; k < len; ++k) {
    const int32_t next = temperature > 0 ? sample_of(logits, vocab.size(), temperature, rng)
                                         : argmax_of(logits, vocab.size());
    out.text += vocab.token(next);
    if (k + 1 < len) {
      *x = next;
      KILN_RETURN_IF_ERROR(exe->run_checked());
    }
  }
  return out;
}

Expected<GeneratedText> generate_language_model(const std::string& name,
                                                const LanguageModelMaker& make,
                                                const GenerateOptions& o) {
  if (o.checkpoint.empty()) return Error("generation needs --checkpoint FILE");
  if (o.prefix.empty()) return Error("the prefix is empty (give --prefix TEXT)");
  if (o.len < 0) return Error("--len must be at least 0, got " + std::to_string(o.len));
  if (o.threads > 0) set_num_threads(o.threads);
  CheckpointData ck = KILN_TRY(load_checkpoint(o.checkpoint));
  if (ck.model != name)
    return Error(o.checkpoint + ": checkpoint of model '" + ck.model + "', not '" + name + "'");
  const std::string hidden_text = metadata(ck, "hidden");
  char* end = nullptr;
  const long long hidden = std::strtoll(hidden_text.c_str(), &end, 10);
  if (hidden_text.empty() || *end != '\0' || hidden < 1 || hidden > (1 << 20))
    return Error(o.checkpoint + ": no valid 'hidden' in the checkpoint's metadata");
  Vocab vocab = KILN_TRY(decode_vocab(metadata(ck, "vocab"), o.checkpoint));
  LanguageModel model(make(vocab.size(), hidden), 0);
  KILN_TRY(model.predictor());  // creates the parameters the checkpoint then overwrites
  KILN_RETURN_IF_ERROR(restore_state(model.state(), ck, o.checkpoint, RestoreMode::Subset));
  return generate_text(model, vocab, o.prefix, o.len, o.temperature, o.seed);
}

}  // namespace kiln
