// BLEU as d2l section 9.7 defines it for one predicted sentence against one label:
//
//   score = exp(min(0, 1 - len_label / len_pred)) * prod_{n=1..k} p_n ^ (1 / 2^n)
//
// where p_n is the fraction of the prediction's n-grams that match the label's, each
// label n-gram matching at most as often as it occurs there (clipping). The first
// factor penalizes predictions shorter than the label. Only n-grams up to the
// prediction's length count (a prediction of 2 words is scored on unigrams and bigrams
// even for k = 4; d2l's formula would divide by zero), and an empty prediction scores 0.
// k < 1 leaves only the length penalty, as d2l's loop over range(1, k + 1) does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

double bleu(const std::vector<std::string>& pred, const std::vector<std::string>& label, int k);
// Token indices (a model's greedy output against the target sentence, <eos> removed).
double bleu(const std::vector<int32_t>& pred, const std::vector<int32_t>& label, int k);
// Sentences split at spaces, as d2l's bleu(pred_seq, label_seq, k) does (runs of spaces
// give no empty words).
double bleu(std::string_view pred, std::string_view label, int k);

}  // namespace kiln
