// Tabular preprocessing as in d2l section 4.10 (Kaggle house prices): drop the id
// column, take the label column out of the training features, stack train and test
// features, standardize every numeric column ((x - mean) / std over all rows, std with
// ddof=1 as pandas' .std(), missing values then filled with 0) and one-hot encode every
// string column with an extra column for missing values, in the order pandas'
// get_dummies(dummy_na=True) produces: numeric columns first in file order, then per
// string column (in file order) one column per category in sorted order followed by
// "<col>_nan". Missing means an empty field or "NA" (pandas 1.x's reading of this data;
// pandas 2.x would also treat the MasVnrType value "None" as missing, giving 330
// features instead of d2l's 331). `write_submission` writes Kaggle's "Id,SalePrice" file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/status.h"
#include "runtime/train/csv.h"

namespace kiln {

struct TabularOptions {
  std::string id_column = "Id";
  std::string label_column = "SalePrice";
};

// How one input column became features, so that an application can preprocess a new row
// the same way: a numeric column is one feature, (x - mean) / std (0 when missing, or when
// std is not positive); a string column is one feature per category, in this order, then
// one for a missing value.
struct TabularColumn {
  std::string name;
  bool numeric = true;
  double mean = 0, std = 0;             // numeric columns
  std::vector<std::string> categories;  // string columns, sorted
};

struct TabularData {
  std::vector<TabularColumn> columns;      // the feature columns, in feature order
  std::vector<std::string> feature_names;  // e.g. "LotArea", "MSZoning_RL", "MSZoning_nan"
  int64_t num_features = 0;
  int64_t num_train = 0, num_test = 0;
  std::vector<float> train_features;  // [num_train, num_features], row-major
  std::vector<float> train_labels;    // [num_train]
  std::vector<float> test_features;   // [num_test, num_features]
  std::vector<int64_t> train_ids, test_ids;
};

// The most values (rows x features after one-hot encoding) preprocessing produces: 2^28,
// 1 GiB of float32 (the Kaggle house prices give 2919 x 331).
inline constexpr int64_t kMaxTabularElements = int64_t{1} << 28;

// Preprocesses parsed tables. Labels must be finite float32 numbers; more than
// kMaxTabularElements values is an error. The test table must have the training table's columns
// minus the label, in the same order. Errors name file:line for bad ids or labels.
Expected<TabularData> preprocess_tabular(const CsvTable& train, const CsvTable& test,
                                         const TabularOptions& options = {});

// The preprocessing as model-file metadata (models/export.h): "input" says what a row
// becomes; "input.columns" has one line per column in feature order, "NAME numeric MEAN
// STD" (shortest round-trip numbers) or "NAME onehot CAT1|CAT2|..." (then NAME_nan).
std::vector<std::pair<std::string, std::string>> tabular_metadata(const TabularData& data);

// Reads two CSV files and preprocesses them.
Expected<TabularData> load_tabular(const std::string& train_csv, const std::string& test_csv,
                                   const TabularOptions& options = {});

// d2l's data set: <dir>/kaggle_house_pred_train.csv and kaggle_house_pred_test.csv.
Expected<TabularData> load_kaggle_house(const std::string& dir);

// Writes "<id_name>,<value_name>" and one row per id atomically (temp file + rename);
// values print in their shortest round-trip form. Non-finite predictions are an error.
Status write_submission(const std::string& path, const std::vector<int64_t>& ids,
                        const std::vector<float>& predictions, const std::string& id_name = "Id",
                        const std::string& value_name = "SalePrice");

}  // namespace kiln
