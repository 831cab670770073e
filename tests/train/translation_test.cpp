// Tests for runtime/train/translation: d2l 9.5's pipeline on the 20 French-English
// pairs (vocabularies checked against counts made here from the raw file), d2l's
// preprocessing, truncate_pad and valid lengths, the reverse and num_examples options,
// and errors naming the file and line.
#include "runtime/train/translation.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>

#include "runtime/atomic_file.h"
#include "shared_data.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

using Strings = std::vector<std::string>;
using Ints = std::vector<int32_t>;

std::string pairs_file() { return kiln::testing::shared_data_dir() + "/fr-en-small.txt"; }

// The words of one column of the (already preprocessed) file, split at tabs and spaces.
std::vector<Strings> column(int col) {
  std::ifstream in(pairs_file());
  std::vector<Strings> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    size_t tab = line.find('\t');
    std::string side = col == 0 ? line.substr(0, tab) : line.substr(tab + 1);
    Strings words;
    size_t i = 0;
    while (i <= side.size()) {
      size_t end = std::min(side.find(' ', i), side.size());
      if (end > i) words.push_back(side.substr(i, end - i));
      i = end + 1;
    }
    out.push_back(words);
  }
  return out;
}

// d2l's Vocab(tokens, min_freq, reserved_tokens=['<pad>', '<bos>', '<eos>']).
Strings expected_vocab(const std::vector<Strings>& sentences, int64_t min_freq) {
  std::map<std::string, int64_t> count;
  Strings first;
  for (const auto& s : sentences)
    for (const auto& w : s)
      if (count[w]++ == 0) first.push_back(w);
  std::stable_sort(first.begin(), first.end(), [&](const auto& a, const auto& b) { return count[a] > count[b]; });
  Strings v = {"<unk>", "<pad>", "<bos>", "<eos>"};
  for (const auto& w : first)
    if (count[w] >= min_freq) v.push_back(w);
  return v;
}

Ints row(const NmtArray& a, int64_t i) {
  auto b = a.tokens.begin() + i * a.num_steps;
  return Ints(b, b + a.num_steps);
}

}  // namespace

TEST_CASE("preprocess_nmt as d2l", "[text][translation]") {
  CHECK(preprocess_nmt("Go.") == "go .");
  CHECK(preprocess_nmt("Hi,you!Va\xE2\x80\xAF!Non\xC2\xA0?") == "hi ,you !va !non ?");
  CHECK(preprocess_nmt("Wait !") == "wait !");    // a space already there
  CHECK(preprocess_nmt("?Ok") == "?ok");          // never at position 0
  CHECK(preprocess_nmt("a\n.b") == "a\n .b");    // d2l inserts after a line end too
  CHECK(preprocess_nmt("\xC3\x89T\xC3\x89 \xC5\x92UF \xC5\xB8 \xC4\x80\xC4\xB9 \xC3\x97") ==
        "\xC3\xA9t\xC3\xA9 \xC5\x93uf \xC3\xBF \xC4\x81\xC4\xBA \xC3\x97");  // ÉTÉ ŒUF Ÿ ĀĹ × -> été œuf ÿ āĺ ×
  CHECK(nmt_words("Ils  regardent.") == Strings{"ils", "regardent", "."});
  CHECK(preprocess_nmt("CAF\xC9.") == "caf\xC9 .");  // a Latin-1 byte is kept, not lowered
}

TEST_CASE("fr-en-small: 20 pairs and d2l's vocabularies", "[text][translation]") {
  TranslationOptions o;
  o.min_freq = 1;
  auto d = load_translation_data(pairs_file(), o);
  REQUIRE(d.ok());
  REQUIRE(d->size() == 20);
  CHECK(d->pairs.source[7] == Strings{"ils", "regardent", "."});
  CHECK(d->pairs.target[7] == Strings{"they", "are", "watching", "."});
  CHECK(d->pairs.lines.front() == 1);
  CHECK(d->pairs.lines.back() == 20);
  CHECK(d->pairs.source == column(0));
  CHECK(d->pairs.target == column(1));

  CHECK(d->source_vocab.idx_to_token() == expected_vocab(column(0), 1));
  CHECK(d->target_vocab.idx_to_token() == expected_vocab(column(1), 1));
  CHECK(d->source_vocab.size() == 4 + 43);  // every French word
  CHECK(d->target_vocab.size() == 4 + 35);
  const Strings& tv = d->target_vocab.idx_to_token();
  CHECK(Strings(tv.begin(), tv.begin() + 6) == Strings{"<unk>", "<pad>", "<bos>", "<eos>", ".", "is"});

  // d2l's min_freq 2 keeps only the words seen twice: "regardent" becomes <unk>.
  o.min_freq = 2;
  auto d2 = load_translation_data(pairs_file(), o);
  REQUIRE(d2.ok());
  CHECK(d2->source_vocab.idx_to_token() == expected_vocab(column(0), 2));
  CHECK(d2->target_vocab.idx_to_token() == expected_vocab(column(1), 2));
  CHECK(d2->source_vocab.size() == 4 + 10);
  CHECK(d2->source_vocab.index("regardent") == Vocab::kUnk);
  CHECK(d2->source_vocab.index("est") != Vocab::kUnk);
}

TEST_CASE("truncate_pad and valid lengths", "[text][translation]") {
  CHECK(truncate_pad({5, 6, 7}, 5, 1) == Ints{5, 6, 7, 1, 1});
  CHECK(truncate_pad({5, 6, 7}, 3, 1) == Ints{5, 6, 7});
  CHECK(truncate_pad({5, 6, 7}, 2, 1) == Ints{5, 6});

  TranslationOptions o;
  o.min_freq = 1;
  o.num_steps = 8;
  auto d = load_translation_data(pairs_file(), o);
  REQUIRE(d.ok());
  const Vocab& sv = d->source_vocab;
  const int32_t pad = sv["<pad>"], eos = sv["<eos>"];
  CHECK(pad == 1);
  CHECK(eos == 3);
  CHECK(row(d->source, 7) == Ints{sv["ils"], sv["regardent"], sv["."], eos, pad, pad, pad, pad});
  CHECK(d->source.valid_len[7] == 4);
  REQUIRE(d->source.size() == 20);
  REQUIRE(d->source.tokens.size() == 20u * 8u);
  for (int64_t i = 0; i < 20; ++i) {
    auto words = static_cast<int32_t>(d->pairs.target[static_cast<size_t>(i)].size());
    CHECK(d->target.valid_len[static_cast<size_t>(i)] == std::min(words + 1, 8));
  }

  // Three steps cut "ils regardent ." before its <eos>.
  o.num_steps = 3;
  auto cut = load_translation_data(pairs_file(), o);
  REQUIRE(cut.ok());
  CHECK(row(cut->source, 7) == Ints{sv["ils"], sv["regardent"], sv["."]});
  CHECK(cut->source.valid_len[7] == 3);

  // Unknown words are <unk>, which counts as valid.
  auto arr = build_nmt_array({{"ils", "nagent", "."}}, sv, 5);
  REQUIRE(arr.ok());
  CHECK(row(*arr, 0) == Ints{sv["ils"], Vocab::kUnk, sv["."], eos, pad});
  CHECK(arr->valid_len == Ints{4});
}

TEST_CASE("translation options: reverse and num_examples", "[text][translation]") {
  TranslationOptions o;
  o.min_freq = 1;
  auto fwd = load_translation_data(pairs_file(), o);
  o.reverse = true;
  auto rev = load_translation_data(pairs_file(), o);
  REQUIRE(fwd.ok());
  REQUIRE(rev.ok());
  CHECK(rev->pairs.source == fwd->pairs.target);
  CHECK(rev->pairs.target == fwd->pairs.source);
  CHECK(rev->source_vocab.idx_to_token() == fwd->target_vocab.idx_to_token());
  CHECK(rev->source.tokens == fwd->target.tokens);
  CHECK(rev->pairs.source[7] == Strings{"they", "are", "watching", "."});

  TranslationOptions five;
  five.num_examples = 5;
  auto p = read_translation_pairs(pairs_file(), five);
  REQUIRE(p.ok());
  CHECK(p->size() == 5);  // exactly five (d2l's `i > num_examples` would keep six)
  CHECK(p->source[4] == Strings{"elle", "est", "japonaise", "."});
}

TEST_CASE("translation errors name the file and line", "[text][translation]") {
  auto missing = load_translation_data("/nonexistent/fra-eng.txt");
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("/nonexistent/fra-eng.txt") && Catch::Contains("cannot open"));

  auto no_tab = parse_translation_pairs("go .\tva !\nno tab here\n", "p.txt");
  REQUIRE(!no_tab.ok());
  CHECK_THAT(no_tab.error().message(), Catch::Contains("p.txt:2:") && Catch::Contains("no tab"));
  auto tabs = parse_translation_pairs("go .\tva !\tCC-BY 2.0\n", "p.txt");
  REQUIRE(!tabs.ok());
  CHECK_THAT(tabs.error().message(), Catch::Contains("p.txt:1:") && Catch::Contains("2 tabs"));
  auto empty_side = parse_translation_pairs("go .\tva !\r\n\r\nhi .\t  \r\n", "p.txt");
  REQUIRE(!empty_side.ok());
  CHECK_THAT(empty_side.error().message(), Catch::Contains("p.txt:3:") && Catch::Contains("empty target"));
  auto bad_utf8 = parse_translation_pairs("go .\tva !\nd\xE9j\xE0 .\tdone .\n", "p.txt");
  REQUIRE(!bad_utf8.ok());
  CHECK_THAT(bad_utf8.error().message(), Catch::Contains("p.txt:2:") && Catch::Contains("invalid UTF-8"));

  // CRLF line ends and blank lines are fine.
  auto crlf = parse_translation_pairs("Go.\tVa !\r\n\r\nHi.\tSalut.\r\n", "p.txt");
  REQUIRE(crlf.ok());
  CHECK(crlf->target == std::vector<Strings>{{"va", "!"}, {"salut", "."}});
  CHECK(crlf->lines == std::vector<int64_t>{1, 3});

  testing::TempDir dir;
  REQUIRE(write_file_atomic(dir.file("empty.txt"), "\n\n").ok());
  auto empty = load_translation_data(dir.file("empty.txt"));
  REQUIRE(!empty.ok());
  CHECK_THAT(empty.error().message(), Catch::Contains("empty.txt") && Catch::Contains("no sentence pairs"));

  TranslationOptions zero;
  zero.num_steps = 0;
  auto steps = load_translation_data(pairs_file(), zero);
  REQUIRE(!steps.ok());
  CHECK_THAT(steps.error().message(), Catch::Contains("num_steps must be >= 1"));
  auto no_pad = build_nmt_array({{"a"}}, Vocab(), 4);
  REQUIRE(!no_pad.ok());
  CHECK_THAT(no_pad.error().message(), Catch::Contains("<pad>"));
}
