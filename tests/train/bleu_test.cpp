// Tests for runtime/train/bleu: d2l 9.7's BLEU, expected values worked out by hand from
// the formula (length penalty, clipped n-gram precisions weighted 1/2^n).
#include "runtime/train/bleu.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace kiln;

TEST_CASE("bleu of a prediction equal to its label is 1", "[text][bleu]") {
  // d2l 9.7's translations that come out right.
  CHECK(bleu("va !", "va !", 2) == Approx(1.0));
  CHECK(bleu("j'ai perdu .", "j'ai perdu .", 2) == Approx(1.0));
  CHECK(bleu("je suis chez moi .", "je suis chez moi .", 2) == Approx(1.0));
}

TEST_CASE("bleu by hand", "[text][bleu]") {
  // Same length (no penalty); unigrams il, est, . match 3 of 4; bigrams: only "il est"
  // of "il est", "est calme", "calme ." -> sqrt(3/4) * (1/3)^(1/4) = 0.658 (d2l's
  // "he's calm ." line).
  double calm = std::sqrt(0.75) * std::pow(1.0 / 3.0, 0.25);
  CHECK(bleu("il est calme .", "il est riche .", 2) == Approx(calm));
  CHECK(calm == Approx(0.658).epsilon(1e-3));

  // Shorter than the label: penalty exp(1 - 4/3); unigrams 3/3, bigrams "il est" 1 of 2.
  CHECK(bleu("il est .", "il est riche .", 2) == Approx(std::exp(1.0 - 4.0 / 3.0) * std::pow(0.5, 0.25)));
  // Longer than the label: no penalty (min(0, ...)); unigrams 2 of 3.
  CHECK(bleu("a b c", "a b", 1) == Approx(std::sqrt(2.0 / 3.0)));

  // Clipping: "le" occurs once in the label, so only one of the three matches.
  CHECK(bleu("le le le", "le chat", 1) == Approx(std::sqrt(1.0 / 3.0)));

  // Order matters for bigrams: both unigrams match, the bigram "b a" does not.
  CHECK(bleu("b a", "a b", 2) == 0.0);
}

TEST_CASE("bleu counts n-grams only up to the prediction's length", "[text][bleu]") {
  CHECK(bleu(".", ".", 4) == Approx(1.0));
  // Two words, k = 4: n = 1, 2 only; penalty exp(1 - 3/2).
  CHECK(bleu("a b", "a b c", 4) == Approx(std::exp(-0.5)));
  // k < 1: only the length penalty, as d2l's loop over range(1, k + 1).
  CHECK(bleu("a", "a b", 0) == Approx(std::exp(-1.0)));
}

TEST_CASE("bleu of empty sentences, and of token indices", "[text][bleu]") {
  CHECK(bleu("", "il est .", 2) == 0.0);
  CHECK(bleu("   ", "il est .", 2) == 0.0);
  CHECK(bleu("a", "", 2) == 0.0);
  CHECK(bleu(std::vector<std::string>{}, std::vector<std::string>{"a"}, 2) == 0.0);
  // Runs of spaces make no empty words.
  CHECK(bleu("il  est calme .", "il est riche .", 2) == Approx(bleu("il est calme .", "il est riche .", 2)));

  std::vector<int32_t> pred = {5, 6, 7, 3}, label = {5, 6, 8, 3};  // il est calme . / il est riche .
  CHECK(bleu(pred, label, 2) == Approx(std::sqrt(0.75) * std::pow(1.0 / 3.0, 0.25)));
  CHECK(bleu(std::vector<int32_t>{}, label, 2) == 0.0);
}
