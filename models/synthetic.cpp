// Synthetic data generators.
#include "models/synthetic.h"

#include <cmath>
#include <random>

namespace kiln {

SyntheticData linear_data(const std::vector<double>& w, double b, int64_t n, double noise,
                          uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  SyntheticData d;
  d.n = n;
  d.width = static_cast<int64_t>(w.size());
  d.x.resize(n * d.width);
  d.y.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    double y = b;
    for (int64_t j = 0; j < d.width; ++j) {
      double v = normal(rng);
      d.x[i * d.width + j] = static_cast<float>(v);
      y += v * w[j];
    }
    d.y[i] = static_cast<float>(y + noise * normal(rng));
  }
  return d;
}

SyntheticData polynomial_data(int64_t n, int max_degree, uint64_t seed) {
  const double true_w[4] = {5.0, 1.2, -3.4, 5.6};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  SyntheticData d;
  d.n = n;
  d.width = max_degree;
  d.x.resize(n * max_degree);
  d.y.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    double x = normal(rng);
    double y = 0.0;
    for (int k = 0; k < max_degree; ++k) {
      double f = std::pow(x, k) / std::tgamma(k + 1.0);
      d.x[i * max_degree + k] = static_cast<float>(f);
      if (k < 4) y += f * true_w[k];
    }
    d.y[i] = static_cast<float>(y + 0.1 * normal(rng));
  }
  return d;
}

SyntheticData take_columns(const SyntheticData& d, int64_t k) {
  SyntheticData out;
  out.n = d.n;
  out.width = k;
  out.y = d.y;
  out.x.resize(d.n * k);
  for (int64_t i = 0; i < d.n; ++i)
    for (int64_t j = 0; j < k; ++j) out.x[i * k + j] = d.x[i * d.width + j];
  return out;
}

SyntheticData take_rows(const SyntheticData& d, int64_t begin, int64_t end) {
  SyntheticData out;
  out.n = end - begin;
  out.width = d.width;
  out.x.assign(d.x.begin() + begin * d.width, d.x.begin() + end * d.width);
  out.y.assign(d.y.begin() + begin, d.y.begin() + end);
  return out;
}

}  // namespace kiln
