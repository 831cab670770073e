// Synthetic regression data from d2l: y = X w + b + noise (3.2, 4.5) and the
// polynomial of 4.4.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

struct SyntheticData {
  std::vector<float> x;  // [n, width]
  std::vector<float> y;  // [n]
  int64_t n = 0, width = 0;
};

// d2l synthetic_data: X ~ N(0, 1), y = X w + b + N(0, noise^2).
SyntheticData linear_data(const std::vector<double>& w, double b, int64_t n, double noise,
                          uint64_t seed);

// d2l 4.4: x ~ N(0,1); features x^i / i! for i < max_degree; y = features[:4] . true_w
// + N(0, 0.1^2), true_w = [5, 1.2, -3.4, 5.6]. Returns all max_degree features.
SyntheticData polynomial_data(int64_t n, int max_degree, uint64_t seed);

// The first `k` columns of d.
SyntheticData take_columns(const SyntheticData& d, int64_t k);
// Rows [begin, end) of d.
SyntheticData take_rows(const SyntheticData& d, int64_t begin, int64_t end);

}  // namespace kiln
