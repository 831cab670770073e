// d2l 10.2 (PyTorch edition): attention pooling by Nadaraya-Watson kernel regression.
// The data generator, the row layout the compiled model reads and a host (double)
// reference of the pooling, shared by models/nw_regression.cpp and its tests.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::nw {

inline constexpr int64_t kTrain = 50;          // d2l's n_train (and 50 test points)
inline constexpr double kNoiseStd = 0.5;       // y_train = f(x_train) + N(0, 0.5^2)
inline constexpr const char* kWidth = "nw_regression.w";  // the learned scalar width

// Every example the model reads is one query with its key-value set, padded to kTrain
// keys: [query, valid_len, keys[kTrain], values[kTrain]]. valid_len (kTrain - 1 for the
// leave-one-out training queries, kTrain for test queries) masks the padding through
// d2l's masked_softmax, so training and prediction share one model and one weight.
inline constexpr int64_t kRowWidth = 2 + 2 * kTrain;

// d2l's f(x) = 2 sin(x) + x^0.8.
double truth(double x);

struct Data {
  std::vector<float> x_train, y_train;  // sort(rand(50) * 5), f(x) + noise
  std::vector<float> x_test, y_truth;   // arange(0, 5, 0.1), f(x_test)
};
// One draw of d2l's data set from a std::mt19937_64 seeded with `seed` (`kiln train`
// passes --seed + 1, as linreg does; the width's initial value uses --seed).
Data make_data(uint64_t seed);

// Row i: training query x_i with the keys/values of the other kTrain - 1 examples, in
// order (d2l: X_tile[(1 - eye(n)).bool()]), then one padding key masked out.
std::vector<float> leave_one_out_rows(const Data& d);
// One row per query with all kTrain training examples as keys and values.
std::vector<float> query_rows(const Data& d, const std::vector<float>& queries);

// Host reference in double: softmax_i(-((query - key_i) * w)^2 / 2) over `keys` (w = 1 is
// the non-parametric pooling), and the pooled prediction sum_i weight_i * value_i.
std::vector<double> pooling_weights(double query, const std::vector<double>& keys, double w);
double pooling_predict(double query, const std::vector<double>& keys,
                       const std::vector<double>& values, double w);
// Mean over the kTrain training queries of the squared error of the leave-one-out
// prediction with width w (the model's `train_loss`; d2l prints kTrain times it).
double leave_one_out_mse(const Data& d, double w);

}  // namespace kiln::nw
