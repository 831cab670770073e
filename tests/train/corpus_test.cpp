// Tests for runtime/train/corpus: d2l's time machine corpus (170,580 characters, 28
// entries, words the/i/and/of/a), checked against counts this file makes on its own
// (std::regex cleaning, a plain frequency count); the Chinese lyrics as code points;
// line ends, whitespace, cleaning; and the errors for missing files and bad UTF-8.
#include "runtime/train/corpus.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>

#include "fuzz/mutate.h"
#include "runtime/atomic_file.h"
#include "shared_data.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

using Strings = std::vector<std::string>;

std::string data_file(const std::string& name) { return kiln::testing::shared_data_dir() + "/" + name; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// d2l's read_time_machine written independently: regex, strip, lower.
Strings d2l_lines(const std::string& path) {
  std::ifstream in(path);
  Strings lines;
  std::string line;
  const std::regex non_letters("[^A-Za-z]+");
  while (std::getline(in, line)) {
    std::string s = std::regex_replace(line, non_letters, " ");
    size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lines.push_back(s);
  }
  return lines;
}

// d2l's Vocab order from a token stream: count, then a stable sort by descending count
// over the tokens in first-occurrence order.
Strings expected_order(const Strings& stream) {
  std::map<std::string, int64_t> count;
  Strings first;
  for (const auto& t : stream)
    if (count[t]++ == 0) first.push_back(t);
  std::stable_sort(first.begin(), first.end(), [&](const auto& a, const auto& b) { return count[a] > count[b]; });
  first.insert(first.begin(), "<unk>");
  return first;
}

// The UTF-8 length a lead byte announces, for checking tokens.
size_t lead_length(unsigned char c) { return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }

}  // namespace

TEST_CASE("time machine characters: d2l's 170580 tokens and 28-entry vocabulary", "[text][corpus]") {
  const std::string path = data_file("timemachine.txt");
  CorpusOptions o;
  o.tokenize.d2l_clean = true;
  auto c = load_corpus(path, o);
  REQUIRE(c.ok());
  CHECK(c->size() == 170580);
  CHECK(c->vocab.size() == 28);
  CHECK(c->num_lines == 3221);
  CHECK(c->source == path);
  const Strings& itos = c->vocab.idx_to_token();
  REQUIRE(itos.size() >= 5);
  CHECK(Strings(itos.begin(), itos.begin() + 5) == Strings{"<unk>", " ", "e", "t", "a"});

  // The same from an independent cleaning and count.
  Strings lines = d2l_lines(path);
  REQUIRE(lines.size() == 3221);
  CHECK(lines[0] == "the time machine by h g wells");
  Strings stream;
  for (const auto& l : lines)
    for (char ch : l) stream.emplace_back(1, ch);
  CHECK(itos == expected_order(stream));
  REQUIRE(static_cast<int64_t>(stream.size()) == c->size());
  bool same = true;
  for (size_t i = 0; i < stream.size(); ++i) same = same && c->vocab.token(c->tokens[i]) == stream[i];
  CHECK(same);

  // max_tokens keeps the first tokens; the vocabulary still comes from all of them.
  o.max_tokens = 10000;
  auto cut = load_corpus(path, o);
  REQUIRE(cut.ok());
  CHECK(cut->size() == 10000);
  CHECK(cut->vocab.idx_to_token() == itos);
  CHECK(std::equal(cut->tokens.begin(), cut->tokens.end(), c->tokens.begin()));
}

TEST_CASE("time machine words: the, i, and, of, a", "[text][corpus]") {
  CorpusOptions o;
  o.tokenize.d2l_clean = true;
  o.tokenize.kind = TokenKind::Word;
  auto c = load_corpus(data_file("timemachine.txt"), o);
  REQUIRE(c.ok());
  const Strings& itos = c->vocab.idx_to_token();
  REQUIRE(itos.size() > 6);
  CHECK(Strings(itos.begin(), itos.begin() + 6) == Strings{"<unk>", "the", "i", "and", "of", "a"});
  CHECK(c->vocab.size() == 4580);  // d2l: len(vocab) for word tokens
  // d2l 8.2's token_freqs()[:5].
  const auto& f = c->vocab.token_freqs();
  REQUIRE(f.size() >= 5);
  CHECK(f[0] == Vocab::TokenCount{"the", 2261});
  CHECK(f[1] == Vocab::TokenCount{"i", 1267});
  CHECK(f[2] == Vocab::TokenCount{"and", 1245});
  CHECK(f[3] == Vocab::TokenCount{"of", 1155});
  CHECK(f[4] == Vocab::TokenCount{"a", 816});

  auto lines = tokenize_text(slurp(data_file("timemachine.txt")), "tm", o.tokenize);
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == 3221);
  CHECK((*lines)[0] == Strings{"the", "time", "machine", "by", "h", "g", "wells"});
}

TEST_CASE("jaychou lyrics tokenize into code points", "[text][corpus]") {
  const std::string path = data_file("jaychou_lyrics.txt");
  auto c = load_corpus(path);  // no cleaning: it would drop every Chinese character
  REQUIRE(c.ok());
  // Independently: one token per code point (a byte that is not 10xxxxxx), line ends excepted.
  std::string bytes = slurp(path);
  int64_t code_points = 0;
  for (unsigned char b : bytes) code_points += (b & 0xC0) != 0x80 && b != '\n' && b != '\r';
  CHECK(c->size() == code_points);
  CHECK(c->size() < static_cast<int64_t>(bytes.size()) / 2);  // characters, not bytes

  bool multibyte = false, all_whole = true;
  for (const std::string& t : c->vocab.idx_to_token()) {
    if (t == "<unk>") continue;
    auto lead = static_cast<unsigned char>(t[0]);
    bool whole = (lead & 0xC0) != 0x80 && t.size() == lead_length(lead);
    for (size_t k = 1; k < t.size(); ++k) whole = whole && (static_cast<unsigned char>(t[k]) & 0xC0) == 0x80;
    all_whole = all_whole && whole;
    multibyte = multibyte || t.size() > 1;
  }
  CHECK(multibyte);
  CHECK(all_whole);
  CHECK(c->vocab.contains("的"));
  CHECK(c->vocab.contains("\u3000"));  // the ideographic space is a character like any other

  // The vocabulary's order from an independent count of the code points.
  Strings stream;
  for (size_t i = 0; i < bytes.size();) {
    size_t n = lead_length(static_cast<unsigned char>(bytes[i]));
    if (bytes[i] != '\n') stream.push_back(bytes.substr(i, n));
    i += n;
  }
  CHECK(c->vocab.idx_to_token() == expected_order(stream));
  CHECK(c->vocab.token(2) == "的");
}

TEST_CASE("tokenize_text: line ends, whitespace, cleaning", "[text][corpus]") {
  // \r\n, a lone \r and \n end lines; a BOM is skipped; spaces are characters.
  auto chars = tokenize_text("\xEF\xBB\xBF" "a b\r\nc\rd\n\n", "t");
  REQUIRE(chars.ok());
  CHECK(*chars == std::vector<Strings>{{"a", " ", "b"}, {"c"}, {"d"}, {}});

  // Words split at any Unicode whitespace (Python's str.split()), here U+3000 and U+00A0.
  TokenizeOptions w;
  w.kind = TokenKind::Word;
  auto words = tokenize_text("  ab\xE3\x80\x80" "cd\te\xC2\xA0" "f \n\xE4\xBD\xA0\xE5\xA5\xBD", "t", w);
  REQUIRE(words.ok());
  CHECK(*words == std::vector<Strings>{{"ab", "cd", "e", "f"}, {"你好"}});

  CHECK(d2l_clean_line("  The Time-Machine, by H.G. Wells 1898!  ") == "the time machine by h g wells");
  CHECK(d2l_clean_line("caf\xC3\xA9 au lait") == "caf au lait");
  CHECK(d2l_clean_line("1234 ...") == "");
  TokenizeOptions clean;
  clean.d2l_clean = true;
  auto cleaned = tokenize_text("Hi, Jo!\n", "t", clean);
  REQUIRE(cleaned.ok());
  CHECK(*cleaned == std::vector<Strings>{{"h", "i", " ", "j", "o"}});

  // Rare tokens become <unk>; reserved tokens come before the counted ones.
  CorpusOptions rare;
  rare.vocab.min_freq = 2;
  auto r = make_corpus("aab\nba", "r.txt", rare);
  REQUIRE(r.ok());
  CHECK(r->tokens == std::vector<int32_t>{1, 1, 2, 2, 1});
  CorpusOptions few;
  few.vocab.min_freq = 3;
  few.vocab.reserved_tokens = {"<pad>"};
  auto f = make_corpus("aab\nba", "f.txt", few);
  REQUIRE(f.ok());
  CHECK(f->vocab.idx_to_token() == Strings{"<unk>", "<pad>", "a"});
  CHECK(f->tokens == std::vector<int32_t>{2, 2, 0, 0, 2});

  CHECK(is_unicode_space(U'\u3000'));
  CHECK(is_unicode_space(U'\x1f'));
  CHECK(!is_unicode_space(U'a'));
  CHECK(!is_unicode_space(U'\u200b'));  // zero-width space is not whitespace to Python
}

TEST_CASE("corpus errors name the file, line and byte", "[text][corpus]") {
  auto missing = load_corpus("/nonexistent/dir/corpus.txt");
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("/nonexistent/dir/corpus.txt") &&
                                            Catch::Contains("cannot open"));

  auto bad = make_corpus("ok\nbad \xFF here\n", "bad.txt");
  REQUIRE(!bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("bad.txt:2:") && Catch::Contains("byte 7") &&
                                        Catch::Contains("0xff"));
  // \r\n is one line end when counting lines.
  auto crlf = check_utf8("a\r\nb\r\n\xC3", "c.txt");
  REQUIRE(!crlf.ok());
  CHECK_THAT(crlf.error().message(), Catch::Contains("c.txt:3:") && Catch::Contains("byte 6"));

  // Overlong, surrogate, above U+10FFFF, lone continuation, truncated, bad continuation.
  for (std::string s : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xE6\x83",
                        "\xE6\x41\x41", "\xF5\x80\x80\x80"}) {
    INFO(s.size());
    CHECK(!check_utf8("x" + s + "y", "u.txt").ok());
  }
  // The largest valid forms of each length and a 4-byte character pass.
  CHECK(check_utf8("\x7F\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xF0\x9F\x98\x80\xED\x9F\xBF", "u.txt").ok());

  testing::TempDir dir;
  REQUIRE(write_file_atomic(dir.file("latin1.txt"), "caf\xE9\n").ok());
  auto latin1 = load_corpus(dir.file("latin1.txt"));
  REQUIRE(!latin1.ok());
  CHECK_THAT(latin1.error().message(), Catch::Contains(dir.file("latin1.txt") + ":1:") &&
                                           Catch::Contains("invalid UTF-8 at byte 3"));

  REQUIRE(write_file_atomic(dir.file("empty.txt"), "").ok());
  auto empty = load_corpus(dir.file("empty.txt"));
  REQUIRE(!empty.ok());
  CHECK_THAT(empty.error().message(), Catch::Contains("empty.txt") && Catch::Contains("no tokens"));
  CorpusOptions clean;
  clean.tokenize.d2l_clean = true;
  auto digits = make_corpus("123\n456\n", "digits.txt", clean);
  REQUIRE(!digits.ok());
  CHECK_THAT(digits.error().message(), Catch::Contains("no letters"));

  auto folder = load_corpus(dir.path());
  REQUIRE(!folder.ok());
  CHECK_THAT(folder.error().message(), Catch::Contains("not a regular file"));

  CorpusOptions neg;
  neg.max_tokens = -1;
  auto n = make_corpus("abc", "n.txt", neg);
  REQUIRE(!n.ok());
  CHECK_THAT(n.error().message(), Catch::Contains("max_tokens"));

  CorpusOptions reserved;
  reserved.vocab.reserved_tokens = {"<unk>"};
  auto r = make_corpus("abc", "r.txt", reserved);
  REQUIRE(!r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("r.txt") && Catch::Contains("given twice"));
}

TEST_CASE("corpus loading survives mutated text", "[text][corpus][fuzz]") {
  // Mutated lyrics: either an error or a corpus of exactly one token per code point.
  std::string head = slurp(data_file("jaychou_lyrics.txt")).substr(0, 600);
  REQUIRE(head.size() == 600);
  std::vector<uint8_t> seed(head.begin(), head.end());
  std::mt19937_64 rng(9);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> m = fuzz::mutate(seed, rng);
    std::string text(m.begin(), m.end());
    auto c = make_corpus(text, "m.txt");
    if (!c.ok()) {
      ++refused;
      continue;
    }
    ++accepted;
    int64_t cps = 0;
    for (unsigned char b : text) cps += (b & 0xC0) != 0x80 && b != '\n' && b != '\r';
    if (text.substr(0, 3) == "\xEF\xBB\xBF") --cps;
    REQUIRE(c->size() == cps);
  }
  CHECK(accepted > 0);
  CHECK(refused > 0);
}
