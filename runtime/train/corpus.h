// Text corpora for the language models of d2l chapter 8: read a UTF-8 text file, clean
// it as d2l's read_time_machine does (optional), split it into character or word tokens,
// build a Vocab and turn the text into one stream of token indices (d2l's
// load_corpus_time_machine). Characters are Unicode code points, so Chinese text
// (the lyrics of the Chinese edition) becomes characters, not bytes.
//
// Lines end at "\n", "\r\n" or a lone "\r" (Python's universal newlines); the line end
// itself is never a token, and the lines' tokens are concatenated. A UTF-8 byte-order
// mark at the start is skipped. Errors name the file and line ("lyrics.txt:12: ...").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/status.h"
#include "runtime/train/vocab.h"

namespace kiln {

// The largest corpus file: 1 GiB (timemachine.txt is 179 KB).
inline constexpr int64_t kMaxCorpusBytes = int64_t{1} << 30;

enum class TokenKind {
  Char,  // Unicode code points (d2l's tokenize(lines, 'char') = list(line))
  Word,  // runs of non-whitespace (d2l's tokenize(lines, 'word') = line.split())
};

struct TokenizeOptions {
  TokenKind kind = TokenKind::Char;
  // d2l's read_time_machine, per line: every run of characters other than A-Z and a-z
  // becomes one space, then the line is stripped and lower-cased. Only ASCII letters
  // survive, so leave it off for text in other scripts.
  bool d2l_clean = false;
};

struct CorpusOptions {
  TokenizeOptions tokenize;
  VocabOptions vocab;
  // > 0 keeps the corpus's first max_tokens tokens; the vocabulary still comes from the
  // whole text, as in d2l. 0 keeps all.
  int64_t max_tokens = 0;
};

// The corpus as indices into its vocabulary.
struct Corpus {
  std::string source;           // the path, for messages
  Vocab vocab;
  std::vector<int32_t> tokens;  // every line's tokens, concatenated (then truncated)
  int64_t num_lines = 0;        // lines of the text (empty ones included)

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
};

// Ok when `text` is valid UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF); otherwise the error names `source`, the line and the byte offset
// ("x.txt:3: invalid UTF-8 at byte 57 (0xff)").
Status check_utf8(std::string_view text, const std::string& source);
// The length of the UTF-8 sequence that `lead` starts (1-4), or 0 for a continuation
// or invalid lead byte.
int utf8_sequence_length(unsigned char lead);
// Decodes the code point at s[i] (i < s.size()) and moves i past it; a byte that starts
// no complete sequence (lead byte, then continuation bytes) decodes as itself and moves
// i by one. Overlong forms and surrogates are not refused here: check_utf8 does that.
char32_t decode_utf8(std::string_view s, size_t& i);
// Whitespace as Python's str.split() sees it (ASCII whitespace, U+001C-U+001F, U+0085,
// U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
bool is_unicode_space(char32_t c);

// d2l's cleaning of one line: re.sub('[^A-Za-z]+', ' ', line).strip().lower().
std::string d2l_clean_line(std::string_view line);

// Splits `text` into lines of tokens (d2l's tokenize over read_time_machine's lines);
// invalid UTF-8 is an error naming `source`.
Expected<std::vector<std::vector<std::string>>> tokenize_text(std::string_view text, const std::string& source,
                                                              const TokenizeOptions& options = {});

// Tokenizes `text`, builds the vocabulary and the index stream. A text with no token at
// all (empty, or nothing left after cleaning) is an error, and so is a negative
// max_tokens.
Expected<Corpus> make_corpus(std::string_view text, const std::string& source, const CorpusOptions& options = {});

// Reads a regular file of at most kMaxCorpusBytes and makes its corpus. A missing or
// unreadable file is an error naming the path.
Expected<Corpus> load_corpus(const std::string& path, const CorpusOptions& options = {});

// Reads a regular text file of at most kMaxCorpusBytes (no decoding); also used by the
// translation pairs' loader.
Expected<std::string> read_text_file(const std::string& path);

}  // namespace kiln
