// Sentence pairs for machine translation, d2l section 9.5: a UTF-8 file of lines
// "source<TAB>target" (d2l's fra-eng file is English<TAB>French; kiln's fr-en-small.txt
// is French<TAB>English; `reverse` swaps the columns). The text is preprocessed as d2l's
// preprocess_nmt (U+202F and U+00A0 become spaces, lower case, a space inserted before
// , . ! ? when none precedes it), every side split into words at spaces, each side
// given a word vocabulary with the reserved tokens <pad>, <bos>, <eos> (indices 1, 2,
// 3 after <unk>), and every sentence turned into num_steps indices: its words, <eos>,
// then <pad>s, or cut at num_steps (d2l's truncate_pad), with its valid length (the
// tokens that are not <pad>).
//
// Where kiln differs from d2l's code, on purpose: an empty line (also the one after the
// final newline) is skipped, but a line without a tab, with more than one tab, or with
// an empty side is an error naming the file and line, where d2l silently drops it;
// "\r\n" ends a line as "\n" does; repeated spaces do not make empty tokens; and
// num_examples keeps exactly that many pairs (d2l's `i > num_examples` keeps one more).
// Lower-casing covers ASCII, Latin-1 and Latin Extended-A (every French letter,
// including Œ and Ÿ); other scripts are left as they are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/status.h"
#include "runtime/train/vocab.h"

namespace kiln {

inline constexpr const char* kPadToken = "<pad>";
inline constexpr const char* kBosToken = "<bos>";
inline constexpr const char* kEosToken = "<eos>";

struct TranslationOptions {
  bool reverse = false;       // the file is target<TAB>source
  int64_t num_examples = 0;   // > 0: only the first num_examples pairs
  int64_t min_freq = 2;       // d2l's; words seen fewer times become <unk>
  int64_t num_steps = 10;     // d2l 9.7's sequence length
};

// The tokenized pairs, in file order.
struct TranslationPairs {
  std::string source_name;                        // the path, for messages
  std::vector<std::vector<std::string>> source;   // words of each source sentence
  std::vector<std::vector<std::string>> target;
  std::vector<int64_t> lines;                     // 1-based line of each pair

  int64_t size() const { return static_cast<int64_t>(source.size()); }
};

// Sentences as fixed-length rows of indices.
struct NmtArray {
  int64_t num_steps = 0;
  std::vector<int32_t> tokens;     // [n, num_steps]
  std::vector<int32_t> valid_len;  // [n]

  int64_t size() const { return static_cast<int64_t>(valid_len.size()); }
};

struct TranslationData {
  TranslationPairs pairs;
  Vocab source_vocab, target_vocab;
  NmtArray source, target;

  int64_t size() const { return pairs.size(); }
};

// d2l's preprocess_nmt over a whole text (expects UTF-8; a byte that starts no UTF-8
// sequence passes through unchanged).
std::string preprocess_nmt(std::string_view text);
// A sentence as d2l's predict_seq2seq reads it, preprocessed first, so that "Ils
// regardent." gives {"ils", "regardent", "."}.
std::vector<std::string> nmt_words(std::string_view sentence);

// Parses tab-separated pairs; `source_name` names the text in errors
// ("fr-en.txt:7: expected source<TAB>target, found no tab").
Expected<TranslationPairs> parse_translation_pairs(std::string_view text, const std::string& source_name,
                                                   const TranslationOptions& options = {});
// Reads a regular UTF-8 file (at most kMaxCorpusBytes) and parses it.
Expected<TranslationPairs> read_translation_pairs(const std::string& path, const TranslationOptions& options = {});

// d2l's truncate_pad: the first num_steps tokens of `line`, or `line` followed by pads.
std::vector<int32_t> truncate_pad(const std::vector<int32_t>& line, int64_t num_steps, int32_t pad);
// d2l's build_array_nmt: each sentence's indices, <eos>, truncate_pad; valid lengths
// count the entries that are not <pad>. `vocab` must hold <pad> and <eos>; num_steps >= 1.
Expected<NmtArray> build_nmt_array(const std::vector<std::vector<std::string>>& sentences, const Vocab& vocab,
                                   int64_t num_steps);

// The whole pipeline (d2l's load_data_nmt without the data loader); num_steps must be
// >= 1 and the file must hold at least one pair.
Expected<TranslationData> make_translation_data(TranslationPairs pairs, const TranslationOptions& options = {});
Expected<TranslationData> load_translation_data(const std::string& path, const TranslationOptions& options = {});

}  // namespace kiln
