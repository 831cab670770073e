// d2l's Vocab: counting, the frequency order with first-occurrence ties, lookups.
#include "runtime/train/vocab.h"

#include <algorithm>

namespace kiln {

Vocab::Vocab() { add(kUnkToken); }

void Vocab::add(const std::string& token) {
  token_to_idx_.emplace(token, size());
  idx_to_token_.push_back(token);
}

Expected<Vocab> Vocab::build(const std::vector<std::vector<std::string>>& lines, const VocabOptions& options) {
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> slot;  // token -> position in counts
  std::vector<TokenCount> counts;
  for (const auto& line : lines) {
    for (const std::string& token : line) {
      auto it = slot.find(token);
      if (it == slot.end()) {
        slot.emplace(token, counts.size());
        counts.emplace_back(token, 1);
      } else {
        ++counts[it->second].second;
      }
    }
  }
  return from_counts(std::move(counts), options);
}

Expected<Vocab> Vocab::from_counts(std::vector<TokenCount> counts, const VocabOptions& options) {
  if (static_cast<int64_t>(counts.size() + options.reserved_tokens.size()) >= kMaxVocabSize)
    return Error("vocabulary: " + std::to_string(counts.size()) + " distinct tokens, more than the limit of " +
                 std::to_string(kMaxVocabSize));
  Vocab v;
  for (const std::string& r : options.reserved_tokens) {
    if (v.contains(r))
      return Error("vocabulary: reserved token '" + r + "' given twice" +
                   (r == kUnkToken ? std::string(" (<unk> is always index 0)") : std::string()));
    v.add(r);
  }
  {
    std::unordered_map<std::string_view, bool> seen;
    for (const auto& [token, count] : counts) {
      if (count < 1) return Error("vocabulary: token '" + token + "' has count " + std::to_string(count));
      if (!seen.emplace(token, true).second) return Error("vocabulary: token '" + token + "' counted twice");
    }
  }
  // Python's sorted(..., reverse=True) is stable: equal counts keep first-occurrence order.
  std::stable_sort(counts.begin(), counts.end(),
                   [](const TokenCount& a, const TokenCount& b) { return a.second > b.second; });
  for (const auto& [token, count] : counts) {
    if (count < options.min_freq) break;  // sorted, so every later one is rarer
    if (!v.contains(token)) v.add(token);
  }
  v.token_freqs_ = std::move(counts);
  return v;
}

int32_t Vocab::index(std::string_view token) const {
  auto it = token_to_idx_.find(token);
  return it == token_to_idx_.end() ? kUnk : it->second;
}

std::vector<int32_t> Vocab::indices(const std::vector<std::string>& tokens) const {
  std::vector<int32_t> out;
  out.reserve(tokens.size());
  for (const std::string& t : tokens) out.push_back(index(t));
  return out;
}

bool Vocab::contains(std::string_view token) const { return token_to_idx_.find(token) != token_to_idx_.end(); }

const std::string& Vocab::token(int32_t i) const {
  KILN_CHECK(i >= 0 && i < size(), "vocabulary index " + std::to_string(i) + " out of range");
  return idx_to_token_[static_cast<size_t>(i)];
}

Expected<std::vector<std::string>> Vocab::to_tokens(const std::vector<int32_t>& indices) const {
  std::vector<std::string> out;
  out.reserve(indices.size());
  for (int32_t i : indices) {
    if (i < 0 || i >= size())
      return Error("token index " + std::to_string(i) + " is outside the vocabulary of " +
                   std::to_string(size()) + " tokens");
    out.push_back(idx_to_token_[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace kiln
