// Tests for runtime/train/vocab: d2l's Vocab order (frequency, then first occurrence),
// min_freq, reserved tokens, lookups and the errors of bad reserved tokens and counts.
#include "runtime/train/vocab.h"

#include <catch2/catch.hpp>

using namespace kiln;

namespace {

using Lines = std::vector<std::vector<std::string>>;
using Strings = std::vector<std::string>;

// b, a and c occur twice, d once; b occurs first, then a, then c. Sorting alphabetically
// or by last occurrence would give another order.
const Lines kLines = {{"b", "a", "c", "a"}, {"c", "b", "d"}};

}  // namespace

TEST_CASE("Vocab orders by frequency, ties in first-occurrence order", "[text][vocab]") {
  auto v = Vocab::build(kLines);
  REQUIRE(v.ok());
  CHECK(v->idx_to_token() == Strings{"<unk>", "b", "a", "c", "d"});
  CHECK(v->size() == 5);
  CHECK(v->index("b") == 1);
  CHECK((*v)["d"] == 4);
  CHECK(v->index("zebra") == Vocab::kUnk);
  CHECK(v->index("<unk>") == 0);
  CHECK(v->indices({"c", "x", "a"}) == std::vector<int32_t>{3, 0, 2});
  CHECK(v->contains("a"));
  CHECK(!v->contains("x"));
  CHECK(v->token(3) == "c");
  std::vector<Vocab::TokenCount> freqs = {{"b", 2}, {"a", 2}, {"c", 2}, {"d", 1}};
  CHECK(v->token_freqs() == freqs);
  auto back = v->to_tokens({4, 0, 1});
  REQUIRE(back.ok());
  CHECK(*back == Strings{"d", "<unk>", "b"});
}

TEST_CASE("Vocab min_freq and reserved tokens", "[text][vocab]") {
  VocabOptions o;
  o.min_freq = 2;
  auto v = Vocab::build(kLines, o);
  REQUIRE(v.ok());
  CHECK(v->idx_to_token() == Strings{"<unk>", "b", "a", "c"});
  CHECK(v->index("d") == Vocab::kUnk);
  CHECK(v->token_freqs().size() == 4);  // d is counted, though left out

  o.min_freq = 3;
  auto none = Vocab::build(kLines, o);
  REQUIRE(none.ok());
  CHECK(none->idx_to_token() == Strings{"<unk>"});

  // A reserved token that also occurs is not added twice.
  VocabOptions r;
  r.reserved_tokens = {"<pad>", "a"};
  auto rv = Vocab::build(kLines, r);
  REQUIRE(rv.ok());
  CHECK(rv->idx_to_token() == Strings{"<unk>", "<pad>", "a", "b", "c", "d"});
  CHECK(rv->index("a") == 2);

  Vocab empty;
  CHECK(empty.idx_to_token() == Strings{"<unk>"});
}

TEST_CASE("Vocab errors", "[text][vocab]") {
  VocabOptions twice;
  twice.reserved_tokens = {"<pad>", "<pad>"};
  auto a = Vocab::build(kLines, twice);
  REQUIRE(!a.ok());
  CHECK_THAT(a.error().message(), Catch::Contains("'<pad>' given twice"));

  VocabOptions unk;
  unk.reserved_tokens = {"<unk>"};
  auto b = Vocab::build(kLines, unk);
  REQUIRE(!b.ok());
  CHECK_THAT(b.error().message(), Catch::Contains("<unk> is always index 0"));

  auto dup = Vocab::from_counts({{"x", 1}, {"x", 2}});
  REQUIRE(!dup.ok());
  CHECK_THAT(dup.error().message(), Catch::Contains("'x' counted twice"));
  auto zero = Vocab::from_counts({{"x", 0}});
  REQUIRE(!zero.ok());
  CHECK_THAT(zero.error().message(), Catch::Contains("count 0"));

  auto v = Vocab::build(kLines);
  REQUIRE(v.ok());
  auto out = v->to_tokens({1, 5});
  REQUIRE(!out.ok());
  CHECK_THAT(out.error().message(), Catch::Contains("index 5") && Catch::Contains("5 tokens"));
  CHECK(!v->to_tokens({-1}).ok());
}
