// d2l's BLEU with clipped n-gram matches and the brevity penalty.
#include "runtime/train/bleu.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace kiln {

namespace {

template <typename T>
double bleu_of(const std::vector<T>& pred, const std::vector<T>& label, int k) {
  const auto len_pred = static_cast<int64_t>(pred.size()), len_label = static_cast<int64_t>(label.size());
  if (len_pred == 0) return 0.0;
  double score = std::exp(std::min(0.0, 1.0 - static_cast<double>(len_label) / static_cast<double>(len_pred)));
  for (int64_t n = 1; n <= std::min<int64_t>(k, len_pred); ++n) {
    std::map<std::vector<T>, int64_t> label_subs;  // label n-gram -> matches it can still take
    for (int64_t i = 0; i + n <= len_label; ++i) ++label_subs[std::vector<T>(label.begin() + i, label.begin() + i + n)];
    int64_t matches = 0;
    for (int64_t i = 0; i + n <= len_pred; ++i) {
      auto it = label_subs.find(std::vector<T>(pred.begin() + i, pred.begin() + i + n));
      if (it != label_subs.end() && it->second > 0) {
        ++matches;
        --it->second;
      }
    }
    score *= std::pow(static_cast<double>(matches) / static_cast<double>(len_pred - n + 1), std::pow(0.5, n));
  }
  return score;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t end = std::min(s.find(' ', i), s.size());
    if (end > i) out.emplace_back(s.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

}  // namespace

double bleu(const std::vector<std::string>& pred, const std::vector<std::string>& label, int k) {
  return bleu_of(pred, label, k);
}

double bleu(const std::vector<int32_t>& pred, const std::vector<int32_t>& label, int k) {
  return bleu_of(pred, label, k);
}

double bleu(std::string_view pred, std::string_view label, int k) { return bleu_of(words(pred), words(label), k); }

}  // namespace kiln
