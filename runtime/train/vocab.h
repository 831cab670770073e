// A token vocabulary as d2l's `Vocab` (section 8.2): index 0 is "<unk>", then the
// reserved tokens in the order given, then every token whose frequency is at least
// min_freq, most frequent first; tokens of equal frequency keep the order in which they
// first occur (Python's stable sort over a Counter, which remembers insertion order).
// A token already present (a reserved one) is not added twice. Looking up a token that
// is not in the vocabulary gives 0, the index of "<unk>". Indices are int32, the dtype
// kiln's models take for labels and embedding indices.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/status.h"

namespace kiln {

inline constexpr const char* kUnkToken = "<unk>";

// The most entries a vocabulary may have (indices are int32).
inline constexpr int64_t kMaxVocabSize = int64_t{1} << 30;

struct VocabOptions {
  int64_t min_freq = 0;  // tokens seen fewer times are left out (they map to <unk>)
  std::vector<std::string> reserved_tokens;  // e.g. {"<pad>", "<bos>", "<eos>"}
};

class Vocab {
 public:
  static constexpr int32_t kUnk = 0;
  // (token, count), as from_counts takes them and token_freqs returns them.
  using TokenCount = std::pair<std::string, int64_t>;

  // Only "<unk>".
  Vocab();

  // Counts the tokens of `lines` (d2l's count_corpus over a list of token lists).
  // Errors: a reserved token given twice, or "<unk>" among the reserved tokens.
  static Expected<Vocab> build(const std::vector<std::vector<std::string>>& lines,
                               const VocabOptions& options = {});
  // The same from counts already made; `counts` lists each distinct token once, in the
  // order of its first occurrence, with its count (>= 1). A token listed twice, a count
  // below 1 and more than kMaxVocabSize entries are errors too.
  static Expected<Vocab> from_counts(std::vector<TokenCount> counts, const VocabOptions& options = {});

  int32_t size() const { return static_cast<int32_t>(idx_to_token_.size()); }
  // The index of `token`, or kUnk when it is not in the vocabulary (d2l's vocab[token]).
  int32_t index(std::string_view token) const;
  int32_t operator[](std::string_view token) const { return index(token); }
  std::vector<int32_t> indices(const std::vector<std::string>& tokens) const;
  bool contains(std::string_view token) const;
  // The token at index i; 0 <= i < size() (the caller's invariant).
  const std::string& token(int32_t i) const;
  // d2l's to_tokens; an index outside [0, size()) is an error naming it and the size.
  Expected<std::vector<std::string>> to_tokens(const std::vector<int32_t>& indices) const;

  const std::vector<std::string>& idx_to_token() const { return idx_to_token_; }
  // Every counted token (also those under min_freq) with its count, most frequent
  // first, ties in first-occurrence order (d2l's token_freqs).
  const std::vector<TokenCount>& token_freqs() const { return token_freqs_; }

 private:
  // Transparent hashing, so that lookups by string_view allocate nothing.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> idx_to_token_;
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> token_to_idx_;
  std::vector<TokenCount> token_freqs_;

  void add(const std::string& token);
};

}  // namespace kiln
