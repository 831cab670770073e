// d2l-style tabular preprocessing (standardize, fill missing, one-hot with a missing
// column) and Kaggle submission writing. See tabular.h for the exact pandas semantics.
#include "runtime/train/tabular.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "runtime/atomic_file.h"

namespace kiln {
namespace {

// One feature column of the stacked train+test table: the source table and column.
struct StackedColumn {
  std::string name;
  int train_col = -1, test_col = -1;
};

Expected<int64_t> parse_id(const CsvTable& t, int64_t row, int col) {
  const std::string& s = t.rows[row][col];
  int64_t v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size()) {
    return Error(t.where(row) + ": " + t.header[col] + " is not an integer id: \"" + s + "\"");
  }
  return v;
}

}  // namespace

Expected<TabularData> preprocess_tabular(const CsvTable& train, const CsvTable& test,
                                         const TabularOptions& options) {
  const int train_id = train.column(options.id_column);
  const int train_label = train.column(options.label_column);
  const int test_id = test.column(options.id_column);
  if (train_id < 0) return Error(train.source + ": no \"" + options.id_column + "\" column");
  if (train_label < 0) return Error(train.source + ": no \"" + options.label_column + "\" column (the label)");
  if (test_id < 0) return Error(test.source + ": no \"" + options.id_column + "\" column");

  // Feature columns: training columns except id and label; the test file must match.
  std::vector<StackedColumn> columns;
  for (int c = 0; c < train.num_columns(); ++c) {
    if (c != train_id && c != train_label) columns.push_back({train.header[c], c, -1});
  }
  std::vector<int> test_cols;
  for (int c = 0; c < test.num_columns(); ++c) {
    if (c != test_id) test_cols.push_back(c);
  }
  if (test_cols.size() != columns.size()) {
    return Error(test.source + ": has " + std::to_string(test_cols.size()) + " feature columns but " +
                 train.source + " has " + std::to_string(columns.size()) + " (after removing \"" +
                 options.id_column + "\" and \"" + options.label_column + "\")");
  }
  for (size_t k = 0; k < columns.size(); ++k) {
    if (test.header[test_cols[k]] != columns[k].name) {
      return Error(test.source + ": feature column " + std::to_string(k + 1) + " is \"" +
                   test.header[test_cols[k]] + "\" but in " + train.source + " it is \"" + columns[k].name + "\"");
    }
    columns[k].test_col = test_cols[k];
  }

  TabularData out;
  out.num_train = train.num_rows();
  out.num_test = test.num_rows();
  const int64_t rows = out.num_train + out.num_test;
  auto cell = [&](const StackedColumn& col, int64_t r) -> const std::string& {
    return r < out.num_train ? train.rows[r][col.train_col] : test.rows[r - out.num_train][col.test_col];
  };

  // Ids and labels.
  for (int64_t r = 0; r < out.num_train; ++r) {
    out.train_ids.push_back(KILN_TRY(parse_id(train, r, train_id)));
    const std::string& s = train.rows[r][train_label];
    auto v = csv_is_missing(s) ? std::nullopt : parse_csv_number(s);
    if (!v) return Error(train.where(r) + ": label " + options.label_column + " is not a number: \"" + s + "\"");
    if (!std::isfinite(*v) || !std::isfinite(static_cast<float>(*v)))
      return Error(train.where(r) + ": label " + options.label_column + " is not a finite float32 number: \"" +
                   s + "\"");
    out.train_labels.push_back(static_cast<float>(*v));
  }
  for (int64_t r = 0; r < out.num_test; ++r) out.test_ids.push_back(KILN_TRY(parse_id(test, r, test_id)));

  // Classify columns: numeric when every non-missing value parses as a number.
  std::vector<std::vector<double>> numeric;  // per numeric column, NaN = missing
  std::vector<const StackedColumn*> numeric_cols, object_cols;
  for (const StackedColumn& col : columns) {
    std::vector<double> values(rows);
    bool is_numeric = true;
    for (int64_t r = 0; r < rows && is_numeric; ++r) {
      const std::string& s = cell(col, r);
      if (csv_is_missing(s)) {
        values[r] = NAN;
      } else if (auto v = parse_csv_number(s)) {
        values[r] = *v;
      } else {
        is_numeric = false;
      }
    }
    if (is_numeric) {
      numeric.push_back(std::move(values));
      numeric_cols.push_back(&col);
    } else {
      object_cols.push_back(&col);
    }
  }

  // Standardize (pandas skips NaN in mean and std; std uses ddof=1), then fill with 0.
  // A constant column gives 0/0 = NaN in pandas, which fillna(0) turns into 0.
  for (auto& values : numeric) {
    double sum = 0;
    int64_t n = 0;
    for (double v : values) {
      if (!std::isnan(v)) sum += v, ++n;
    }
    double mean = n ? sum / n : 0;
    double ss = 0;
    for (double v : values) {
      if (!std::isnan(v)) ss += (v - mean) * (v - mean);
    }
    double sd = n > 1 ? std::sqrt(ss / (n - 1)) : NAN;
    out.columns.push_back({numeric_cols[out.columns.size()]->name, true, mean, sd, {}});
    for (double& v : values) {
      v = (std::isnan(v) || !(sd > 0)) ? 0.0 : (v - mean) / sd;
    }
  }
  for (const StackedColumn* col : numeric_cols) out.feature_names.push_back(col->name);

  // One-hot: sorted categories per string column, then the missing-value column.
  std::vector<std::map<std::string, int64_t>> categories;  // value -> feature index
  std::vector<int64_t> nan_index;
  for (const StackedColumn* col : object_cols) {
    std::map<std::string, int64_t> cats;
    for (int64_t r = 0; r < rows; ++r) {
      const std::string& s = cell(*col, r);
      if (!csv_is_missing(s)) cats.emplace(s, 0);
    }
    for (auto& [value, index] : cats) {
      index = static_cast<int64_t>(out.feature_names.size());
      out.feature_names.push_back(col->name + "_" + value);
    }
    nan_index.push_back(static_cast<int64_t>(out.feature_names.size()));
    out.feature_names.push_back(col->name + "_nan");
    TabularColumn tc{col->name, false, 0, 0, {}};
    for (const auto& [value, index] : cats) tc.categories.push_back(value);
    out.columns.push_back(std::move(tc));
    categories.push_back(std::move(cats));
  }
  const int64_t F = out.num_features = static_cast<int64_t>(out.feature_names.size());
  // One-hot encoding multiplies: a string column with a distinct value per row gives a
  // feature per row. The matrix is checked before it is allocated.
  int64_t cells = 0;
  if (__builtin_mul_overflow(rows, F, &cells) || cells > kMaxTabularElements) {
    return Error(train.source + " and " + test.source + ": " + std::to_string(rows) + " rows x " +
                 std::to_string(F) + " features after one-hot encoding is more than the limit of " +
                 std::to_string(kMaxTabularElements) + " values (a text column with too many distinct values?)");
  }

  out.train_features.assign(out.num_train * F, 0.0f);
  out.test_features.assign(out.num_test * F, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = r < out.num_train ? &out.train_features[r * F] : &out.test_features[(r - out.num_train) * F];
    for (size_t k = 0; k < numeric.size(); ++k) dst[k] = static_cast<float>(numeric[k][r]);
    for (size_t k = 0; k < object_cols.size(); ++k) {
      const std::string& s = cell(*object_cols[k], r);
      dst[csv_is_missing(s) ? nan_index[k] : categories[k].at(s)] = 1.0f;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> tabular_metadata(const TabularData& data) {
  auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  std::string lines;
  for (const TabularColumn& c : data.columns) {
    lines += c.name + (c.numeric ? " numeric " + number(c.mean) + " " + number(c.std) : " onehot ");
    if (!c.numeric)
      for (size_t i = 0; i < c.categories.size(); ++i) lines += (i ? "|" : "") + c.categories[i];
    lines += "\n";
  }
  return {{"input",
           "a table row as " + std::to_string(data.num_features) +
               " features: per input.columns line, a numeric column (x - mean) / std (0 if "
               "missing or std <= 0), a string column one-hot over its categories then a "
               "missing-value feature"},
          {"input.columns", lines}};
}

Expected<TabularData> load_tabular(const std::string& train_csv, const std::string& test_csv,
                                   const TabularOptions& options) {
  auto train = read_csv(train_csv);
  if (!train.ok()) return train.error();
  auto test = read_csv(test_csv);
  if (!test.ok()) return test.error();
  return preprocess_tabular(*train, *test, options);
}

Expected<TabularData> load_kaggle_house(const std::string& dir) {
  return load_tabular(dir + "/kaggle_house_pred_train.csv", dir + "/kaggle_house_pred_test.csv");
}

Status write_submission(const std::string& path, const std::vector<int64_t>& ids,
                        const std::vector<float>& predictions, const std::string& id_name,
                        const std::string& value_name) {
  if (ids.size() != predictions.size()) {
    return Error("write_submission " + path + ": " + std::to_string(ids.size()) + " ids but " +
                 std::to_string(predictions.size()) + " predictions");
  }
  std::string text = csv_escape(id_name) + "," + csv_escape(value_name) + "\n";
  char buf[64];
  for (size_t i = 0; i < ids.size(); ++i) {
    text += std::to_string(ids[i]);
    text += ',';
    if (!std::isfinite(predictions[i])) {
      return Error("write_submission " + path + ": the prediction for " + id_name + " " + std::to_string(ids[i]) +
                   " is not finite (" + std::to_string(predictions[i]) + "); did training diverge?");
    }
    auto res = std::to_chars(buf, buf + sizeof buf, predictions[i]);
    text.append(buf, res.ptr);
    text += '\n';
  }
  return write_file_atomic(path, text);
}

}  // namespace kiln
