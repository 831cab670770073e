// d2l 9.5's machine-translation data: preprocessing, pairs, vocabularies, fixed-length
// index arrays.
#include "runtime/train/translation.h"

#include <algorithm>
#include <utility>

#include "runtime/host_buffer.h"
#include "runtime/train/corpus.h"

namespace kiln {

namespace {

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Appends Python's str.lower() of `c` for ASCII, Latin-1 and Latin Extended-A (other
// code points unchanged); returns the last code point appended.
char32_t append_lower(std::string& out, char32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) {
    c += 0x20;
  } else if (c == 0x130) {  // İ lowers to i + combining dot above, two code points
    out += 'i';
    c = 0x307;
  } else if (c == 0x178) {  // Ÿ
    c = 0xFF;
  } else if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) {
    c |= 1;  // capitals at even code points
  } else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) {
    c += c & 1;  // capitals at odd code points
  }
  append_utf8(out, c);
  return c;
}

// Words at single spaces (d2l's split(' ')), without the empty words runs of spaces give.
std::vector<std::string> split_spaces(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    size_t end = s.find(' ', i);
    if (end == std::string_view::npos) end = s.size();
    if (end > i) words.emplace_back(s.substr(i, end - i));
    i = end + 1;
  }
  return words;
}

std::vector<std::string> reserved_nmt_tokens() { return {kPadToken, kBosToken, kEosToken}; }

}  // namespace

std::string preprocess_nmt(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  char32_t prev = ' ';  // d2l inserts no space at position 0
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    char32_t c = decode_utf8(text, i);
    if (c >= 0x80 && i - start == 1) {  // a byte that starts no sequence passes through
      out += text[start];
      prev = c;
      continue;
    }
    if (c == 0x202F || c == 0xA0) c = ' ';
    // "go." -> "go .": punctuation becomes a word of its own.
    if (prev != ' ' && (c == ',' || c == '.' || c == '!' || c == '?')) out += ' ';
    prev = append_lower(out, c);
  }
  return out;
}

std::vector<std::string> nmt_words(std::string_view sentence) { return split_spaces(preprocess_nmt(sentence)); }

Expected<TranslationPairs> parse_translation_pairs(std::string_view text, const std::string& source_name,
                                                   const TranslationOptions& options) {
  if (options.num_examples < 0)
    return Error(source_name + ": num_examples must be >= 0 (0 keeps all), got " +
                 std::to_string(options.num_examples));
  KILN_RETURN_IF_ERROR(check_utf8(text, source_name));
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  TranslationPairs pairs;
  pairs.source_name = source_name;
  int64_t line_no = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (options.num_examples > 0 && pairs.size() >= options.num_examples) break;
    size_t end = text.find_first_of("\r\n", i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(i, end - i);
    i = end + 1;
    if (end < text.size() && text[end] == '\r' && i < text.size() && text[i] == '\n') ++i;
    ++line_no;
    if (line.find_first_not_of(' ') == std::string_view::npos) continue;  // blank
    std::string where = source_name + ":" + std::to_string(line_no) + ": ";
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) return Error(where + "expected source<TAB>target, found no tab");
    size_t tabs = 1;
    for (size_t p = tab + 1; p < line.size(); ++p) tabs += line[p] == '\t';
    if (tabs > 1)
      return Error(where + "expected source<TAB>target, found " + std::to_string(tabs) + " tabs (" +
                   std::to_string(tabs + 1) + " columns; keep the first two, e.g. with cut -f1,2)");
    std::vector<std::string> first = nmt_words(line.substr(0, tab));
    std::vector<std::string> second = nmt_words(line.substr(tab + 1));
    if (options.reverse) std::swap(first, second);
    if (first.empty()) return Error(where + "empty source sentence");
    if (second.empty()) return Error(where + "empty target sentence");
    pairs.source.push_back(std::move(first));
    pairs.target.push_back(std::move(second));
    pairs.lines.push_back(line_no);
  }
  return pairs;
}

Expected<TranslationPairs> read_translation_pairs(const std::string& path, const TranslationOptions& options) {
  std::string text = KILN_TRY(read_text_file(path));
  return parse_translation_pairs(text, path, options);
}

std::vector<int32_t> truncate_pad(const std::vector<int32_t>& line, int64_t num_steps, int32_t pad) {
  auto n = static_cast<size_t>(std::max<int64_t>(num_steps, 0));
  if (line.size() >= n) return std::vector<int32_t>(line.begin(), line.begin() + static_cast<ptrdiff_t>(n));
  std::vector<int32_t> out = line;
  out.resize(n, pad);
  return out;
}

Expected<NmtArray> build_nmt_array(const std::vector<std::vector<std::string>>& sentences, const Vocab& vocab,
                                   int64_t num_steps) {
  if (num_steps < 1) return Error("num_steps must be >= 1, got " + std::to_string(num_steps));
  if (!vocab.contains(kPadToken) || !vocab.contains(kEosToken))
    return Error("the vocabulary has no <pad> or no <eos> token (build it with them reserved)");
  auto n = static_cast<int64_t>(sentences.size());
  constexpr int64_t kMaxElements = int64_t{1} << 40;
  if (n > 0 && num_steps > kMaxElements / n)
    return Error(std::to_string(n) + " sentences of " + std::to_string(num_steps) + " steps: too many tokens");
  KILN_RETURN_IF_ERROR(check_host_allocation(static_cast<uint64_t>(n * num_steps) * sizeof(int32_t),
                                             "translation array [" + std::to_string(n) + ", " +
                                                 std::to_string(num_steps) + "]"));
  const int32_t pad = vocab.index(kPadToken), eos = vocab.index(kEosToken);
  NmtArray a;
  a.num_steps = num_steps;
  a.tokens.reserve(static_cast<size_t>(n * num_steps));
  a.valid_len.reserve(static_cast<size_t>(n));
  for (const auto& words : sentences) {
    std::vector<int32_t> ids = vocab.indices(words);
    ids.push_back(eos);
    std::vector<int32_t> row = truncate_pad(ids, num_steps, pad);
    int32_t valid = 0;
    for (int32_t t : row) valid += t != pad;  // as d2l: (array != pad).sum(1)
    a.tokens.insert(a.tokens.end(), row.begin(), row.end());
    a.valid_len.push_back(valid);
  }
  return a;
}

Expected<TranslationData> make_translation_data(TranslationPairs pairs, const TranslationOptions& options) {
  const std::string& name = pairs.source_name;
  if (options.num_steps < 1)
    return Error(name + ": num_steps must be >= 1, got " + std::to_string(options.num_steps));
  if (pairs.size() == 0) return Error(name + ": no sentence pairs (the file is empty)");
  VocabOptions vo;
  vo.min_freq = options.min_freq;
  vo.reserved_tokens = reserved_nmt_tokens();
  TranslationData d;
  auto src_vocab = Vocab::build(pairs.source, vo);
  if (!src_vocab.ok()) return src_vocab.error().wrap(name);
  auto tgt_vocab = Vocab::build(pairs.target, vo);
  if (!tgt_vocab.ok()) return tgt_vocab.error().wrap(name);
  d.source_vocab = std::move(*src_vocab);
  d.target_vocab = std::move(*tgt_vocab);
  auto src = build_nmt_array(pairs.source, d.source_vocab, options.num_steps);
  if (!src.ok()) return src.error().wrap(name);
  auto tgt = build_nmt_array(pairs.target, d.target_vocab, options.num_steps);
  if (!tgt.ok()) return tgt.error().wrap(name);
  d.source = std::move(*src);
  d.target = std::move(*tgt);
  d.pairs = std::move(pairs);
  return d;
}

Expected<TranslationData> load_translation_data(const std::string& path, const TranslationOptions& options) {
  TranslationPairs pairs = KILN_TRY(read_translation_pairs(path, options));
  return make_translation_data(std::move(pairs), options);
}

}  // namespace kiln
