// Corpus reading: UTF-8 checking, universal-newline line splitting, d2l's cleaning,
// character/word tokens, and the index stream, built in one pass over the text (tokens
// get provisional ids in first-occurrence order, which is also the tie order of the
// vocabulary, and are renumbered once the vocabulary is sorted).
#include "runtime/train/corpus.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <unordered_map>

#include "runtime/atomic_file.h"
#include "runtime/host_buffer.h"

namespace kiln {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The valid range of the second byte after `lead` (RFC 3629's table: this rules out
// overlong forms, surrogates and code points above U+10FFFF).
void second_byte_range(unsigned char lead, unsigned char& lo, unsigned char& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (lead == 0xE0) lo = 0xA0;
  if (lead == 0xED) hi = 0x9F;
  if (lead == 0xF0) lo = 0x90;
  if (lead == 0xF4) hi = 0x8F;
}

// Calls f(line) for every line of `text`, without its terminator (\n, \r\n or \r).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      f(text.substr(i));
      return;
    }
    f(text.substr(i, end - i));
    i = end + 1;
    if (text[end] == '\r' && i < text.size() && text[i] == '\n') ++i;
  }
}

// Calls f(token) for every token of one (valid UTF-8) line.
template <typename F>
void for_each_token(std::string_view line, TokenKind kind, F&& f) {
  size_t i = 0;
  if (kind == TokenKind::Char) {
    while (i < line.size()) {
      size_t start = i;
      decode_utf8(line, i);
      f(line.substr(start, i - start));
    }
    return;
  }
  size_t word = std::string_view::npos;  // start of the current word
  while (i < line.size()) {
    size_t start = i;
    char32_t cp = decode_utf8(line, i);
    if (is_unicode_space(cp)) {
      if (word != std::string_view::npos) f(line.substr(word, start - word));
      word = std::string_view::npos;
    } else if (word == std::string_view::npos) {
      word = start;
    }
  }
  if (word != std::string_view::npos) f(line.substr(word));
}

// Tokenizes every line of `text` (already checked), cleaning it first when asked.
// on_line() is called once per line, before its tokens.
template <typename OnLine, typename OnToken>
void tokenize_lines(std::string_view text, const TokenizeOptions& options, OnLine&& on_line, OnToken&& on_token) {
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  std::string cleaned;
  for_each_line(text, [&](std::string_view line) {
    on_line();
    if (options.d2l_clean) {
      cleaned = d2l_clean_line(line);
      line = cleaned;
    }
    for_each_token(line, options.kind, on_token);
  });
}

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

char32_t decode_utf8(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  int len = utf8_sequence_length(c);
  bool whole = len > 1 && i + static_cast<size_t>(len) <= s.size();
  for (int k = 1; whole && k < len; ++k) whole = is_continuation(static_cast<unsigned char>(s[i + k]));
  if (!whole) {
    ++i;
    return c;
  }
  char32_t cp = c & (0xFF >> (len + 1));
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += static_cast<size_t>(len);
  return cp;
}

int utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // continuation byte, overlong lead (C0, C1) or beyond U+10FFFF (F5-FF)
}

Status check_utf8(std::string_view text, const std::string& source) {
  int64_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      // \r\n counts once: the \n after a \r does not start another line.
      if (c == '\n' && !(i > 0 && text[i - 1] == '\r')) ++line;
      if (c == '\r') ++line;
      ++i;
      continue;
    }
    int len = utf8_sequence_length(c);
    bool ok = len > 0 && i + static_cast<size_t>(len) <= text.size();
    if (ok) {
      unsigned char lo, hi;
      second_byte_range(c, lo, hi);
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = c1 >= lo && c1 <= hi;
      for (int k = 2; ok && k < len; ++k) ok = is_continuation(static_cast<unsigned char>(text[i + k]));
    }
    if (!ok) {
      std::string bytes;
      for (size_t k = i; k < text.size() && k < i + 4; ++k) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%s0x%02x", k == i ? "" : " ", static_cast<unsigned char>(text[k]));
        bytes += buf;
        if (k > i && !is_continuation(static_cast<unsigned char>(text[k]))) break;
      }
      return Error(source + ":" + std::to_string(line) + ": invalid UTF-8 at byte " + std::to_string(i) + " (" +
                   bytes + ")");
    }
    i += static_cast<size_t>(len);
  }
  return Status::Ok();
}

bool is_unicode_space(char32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string d2l_clean_line(std::string_view line) {
  // The regex keeps the runs of letters and puts one space between them; strip() then
  // drops the space a leading or trailing run of non-letters became.
  std::string out;
  out.reserve(line.size());
  bool gap = false;  // a run of non-letters since the last letter
  for (char ch : line) {
    auto c = static_cast<unsigned char>(ch);
    bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
    if (!upper && !lower) {
      gap = true;
      continue;
    }
    if (gap && !out.empty()) out += ' ';
    gap = false;
    out += static_cast<char>(upper ? c - 'A' + 'a' : c);
  }
  return out;
}

Expected<std::vector<std::vector<std::string>>> tokenize_text(std::string_view text, const std::string& source,
                                                              const TokenizeOptions& options) {
  KILN_RETURN_IF_ERROR(check_utf8(text, source));
  std::vector<std::vector<std::string>> lines;
  try {
    tokenize_lines(
        text, options, [&] { lines.emplace_back(); },
        [&](std::string_view token) { lines.back().emplace_back(token); });
  } catch (const std::bad_alloc&) {
    return Error(source + ": out of memory tokenizing " + std::to_string(text.size()) + " bytes");
  }
  return lines;
}

Expected<Corpus> make_corpus(std::string_view text, const std::string& source, const CorpusOptions& options) {
  if (options.max_tokens < 0)
    return Error(source + ": max_tokens must be >= 0 (0 keeps all), got " + std::to_string(options.max_tokens));
  if (static_cast<int64_t>(text.size()) > kMaxCorpusBytes)
    return Error(source + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                 std::to_string(kMaxCorpusBytes) + " for a text corpus");
  KILN_RETURN_IF_ERROR(check_utf8(text, source));
  // There are at most as many tokens as bytes.
  KILN_RETURN_IF_ERROR(check_host_allocation(text.size() * sizeof(int32_t), source + ": token indices"));
  Corpus corpus;
  corpus.source = source;
  try {
    std::unordered_map<std::string, int32_t, TransparentHash, std::equal_to<>> provisional;
    std::vector<Vocab::TokenCount> counts;  // by provisional id = first-occurrence order
    std::vector<int32_t>& stream = corpus.tokens;
    tokenize_lines(
        text, options.tokenize, [&] { ++corpus.num_lines; },
        [&](std::string_view token) {
          auto it = provisional.find(token);
          int32_t id;
          if (it != provisional.end()) {
            id = it->second;
          } else {
            // Fewer distinct tokens than bytes, and kMaxCorpusBytes fits int32.
            id = static_cast<int32_t>(counts.size());
            provisional.emplace(std::string(token), id);
            counts.emplace_back(std::string(token), 0);
          }
          ++counts[static_cast<size_t>(id)].second;
          stream.push_back(id);
        });
    if (stream.empty())
      return Error(source + ": no tokens (the file is empty" +
                   std::string(options.tokenize.d2l_clean ? ", or has no letters A-Z, a-z to keep" : "") + ")");
    auto vocab = Vocab::from_counts(std::move(counts), options.vocab);
    if (!vocab.ok()) return vocab.error().wrap(source);
    corpus.vocab = std::move(*vocab);
    // Renumber into the vocabulary's order (tokens under min_freq become <unk>).
    std::vector<int32_t> remap(provisional.size());
    for (const auto& [token, id] : provisional) remap[static_cast<size_t>(id)] = corpus.vocab.index(token);
    if (options.max_tokens > 0 && corpus.size() > options.max_tokens) {
      stream.resize(static_cast<size_t>(options.max_tokens));
      stream.shrink_to_fit();
    }
    for (int32_t& t : stream) t = remap[static_cast<size_t>(t)];
  } catch (const std::bad_alloc&) {
    return Error(source + ": out of memory building the corpus of " + std::to_string(text.size()) + " bytes");
  }
  return corpus;
}

Expected<std::string> read_text_file(const std::string& path) {
  // Only regular files of bounded size: a FIFO or /dev/zero behind the name would never end.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error("cannot open " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  if (st.st_size > kMaxCorpusBytes)
    return Error(path + ": " + std::to_string(st.st_size) + " bytes, more than the limit of " +
                 std::to_string(kMaxCorpusBytes) + " for a text file");
  return read_file(path);
}

Expected<Corpus> load_corpus(const std::string& path, const CorpusOptions& options) {
  std::string text = KILN_TRY(read_text_file(path));
  return make_corpus(text, path, options);
}

}  // namespace kiln
