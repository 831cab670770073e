// Tests for runtime/tabular: d2l 4.10 preprocessing on a tiny table with hand-computed
// results, on the real Kaggle house-price data (331 features), and write_submission.
#include "runtime/train/tabular.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "runtime/atomic_file.h"
#include "shared_data.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

int index_of(const TabularData& d, const std::string& name) {
  for (size_t i = 0; i < d.feature_names.size(); ++i) {
    if (d.feature_names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

TEST_CASE("preprocess_tabular on a tiny table", "[runtime][tabular]") {
  auto train = parse_csv(
      "Id,Area,Zone,Street,SalePrice\n"
      "1,10,RL,Pave,100\n"
      "2,NA,RM,,200\n"
      "3,30,RL,Grvl,300\n",
      "train.csv");
  auto test = parse_csv(
      "Id,Area,Zone,Street\n"
      "4,40,C (all),Pave\n",
      "test.csv");
  REQUIRE(train.ok());
  REQUIRE(test.ok());
  auto d = preprocess_tabular(*train, *test);
  INFO((d.ok() ? "" : d.error().message()));
  REQUIRE(d.ok());
  // Numeric first, then Zone's sorted categories + nan, then Street's.
  CHECK(d->feature_names == std::vector<std::string>{"Area", "Zone_C (all)", "Zone_RL", "Zone_RM", "Zone_nan",
                                                     "Street_Grvl", "Street_Pave", "Street_nan"});
  CHECK(d->num_features == 8);
  CHECK(d->num_train == 3);
  CHECK(d->num_test == 1);
  CHECK(d->train_labels == std::vector<float>{100, 200, 300});
  CHECK(d->train_ids == std::vector<int64_t>{1, 2, 3});
  CHECK(d->test_ids == std::vector<int64_t>{4});

  // Area over all rows: 10, NA, 30, 40 -> mean 80/3, sample std sqrt(((10-m)^2+(30-m)^2+(40-m)^2)/2).
  double m = 80.0 / 3, sd = std::sqrt(((10 - m) * (10 - m) + (30 - m) * (30 - m) + (40 - m) * (40 - m)) / 2);
  const auto& f = d->train_features;
  CHECK(f[0 * 8 + 0] == Approx((10 - m) / sd));
  CHECK(f[1 * 8 + 0] == 0.0f);  // missing -> 0 after standardizing
  CHECK(d->test_features[0] == Approx((40 - m) / sd));

  std::vector<float> row0(f.begin(), f.begin() + 8), row1(f.begin() + 8, f.begin() + 16);
  CHECK(std::vector<float>(row0.begin() + 1, row0.end()) == std::vector<float>{0, 1, 0, 0, 0, 1, 0});
  CHECK(std::vector<float>(row1.begin() + 1, row1.end()) == std::vector<float>{0, 0, 1, 0, 0, 0, 1});
  std::vector<float> t(d->test_features.begin() + 1, d->test_features.end());
  CHECK(t == std::vector<float>{1, 0, 0, 0, 0, 1, 0});

  // The recorded preprocessing: applied to the raw test row, it gives its features.
  REQUIRE(d->columns.size() == 3);
  CHECK(d->columns[0].name == "Area");
  CHECK(d->columns[0].numeric);
  CHECK(d->columns[0].mean == Approx(m));
  CHECK(d->columns[0].std == Approx(sd));
  CHECK(d->columns[1].categories == std::vector<std::string>{"C (all)", "RL", "RM"});
  CHECK_FALSE(d->columns[2].numeric);
  std::vector<float> again = {static_cast<float>((40 - d->columns[0].mean) / d->columns[0].std)};
  for (size_t c = 1; c < 3; ++c) {
    const std::string value = c == 1 ? "C (all)" : "Pave";
    for (const std::string& cat : d->columns[c].categories) again.push_back(cat == value ? 1.0f : 0.0f);
    again.push_back(0.0f);  // not missing
  }
  CHECK(again == d->test_features);
  const auto meta = tabular_metadata(*d);
  REQUIRE(meta.size() == 2);
  CHECK(meta[0].first == "input");
  CHECK_THAT(meta[0].second, Catch::Contains("8 features"));
  CHECK(meta[1].first == "input.columns");
  CHECK_THAT(meta[1].second, Catch::StartsWith("Area numeric 26.666666666666668 ") &&
                                 Catch::Contains("\nZone onehot C (all)|RL|RM\n") &&
                                 Catch::EndsWith("Street onehot Grvl|Pave\n"));
}

TEST_CASE("preprocess_tabular: constant column and errors", "[runtime][tabular]") {
  auto train = parse_csv("Id,C,SalePrice\n1,5,1\n2,5,2\n", "train.csv");
  auto test = parse_csv("Id,C\n3,5\n", "test.csv");
  auto d = preprocess_tabular(*train, *test);
  INFO((d.ok() ? "" : d.error().message()));
  REQUIRE(d.ok());
  for (float v : d->train_features) CHECK(v == 0.0f);  // 0/0 -> NaN -> filled with 0

  auto bad_label = parse_csv("Id,C,SalePrice\n1,5,1\n2,5,cheap\n", "train.csv");
  auto e = preprocess_tabular(*bad_label, *test);
  REQUIRE(!e.ok());
  CHECK_THAT(e.error().message(), Catch::Contains("train.csv:3") && Catch::Contains("cheap"));

  auto bad_id = parse_csv("Id,C\nx7,5\n", "test.csv");
  auto e2 = preprocess_tabular(*train, *bad_id);
  REQUIRE(!e2.ok());
  CHECK_THAT(e2.error().message(), Catch::Contains("test.csv:2"));

  auto other_cols = parse_csv("Id,D\n3,5\n", "test.csv");
  auto e3 = preprocess_tabular(*train, *other_cols);
  REQUIRE(!e3.ok());
  CHECK_THAT(e3.error().message(), Catch::Contains("\"D\"") && Catch::Contains("\"C\""));

  auto no_label = parse_csv("Id,C\n1,5\n", "train.csv");
  REQUIRE(!preprocess_tabular(*no_label, *test).ok());
}

TEST_CASE("Kaggle house prices: d2l's 331 features", "[runtime][tabular][data]") {
  auto d = load_kaggle_house(kiln::testing::shared_data_dir());
  INFO((d.ok() ? "" : d.error().message()));
  REQUIRE(d.ok());
  CHECK(d->num_features == 331);
  CHECK(d->feature_names.size() == 331);
  CHECK(d->num_train == 1460);
  CHECK(d->num_test == 1459);
  CHECK(d->train_features.size() == 1460u * 331u);
  CHECK(d->test_features.size() == 1459u * 331u);
  CHECK(d->train_labels.size() == 1460);
  CHECK(d->train_labels[0] == 208500.0f);
  CHECK(d->test_ids.front() == 1461);
  CHECK(d->test_ids.back() == 2919);
  CHECK(d->feature_names[0] == "MSSubClass");
  CHECK(d->feature_names[35] == "YrSold");  // the last of the 36 numeric columns
  CHECK(d->feature_names[36] == "MSZoning_C (all)");
  CHECK(d->feature_names[330] == "SaleCondition_nan");
  CHECK(index_of(*d, "MSZoning_nan") > 0);
  CHECK(index_of(*d, "MasVnrType_None") > 0);  // the string "None" is a category, not missing
  CHECK(index_of(*d, "Id") < 0);
  CHECK(index_of(*d, "SalePrice") < 0);

  // Standardized numeric columns have mean ~0 and sample std ~1 over the non-missing rows
  // of train+test. LotArea has no missing values.
  for (const char* name : {"LotArea", "GrLivArea", "YearBuilt"}) {
    int c = index_of(*d, name);
    REQUIRE(c >= 0);
    double sum = 0, ss = 0;
    int64_t n = d->num_train + d->num_test;
    auto value = [&](int64_t r) {
      return r < d->num_train ? d->train_features[r * 331 + c] : d->test_features[(r - d->num_train) * 331 + c];
    };
    for (int64_t r = 0; r < n; ++r) sum += value(r);
    double mean = sum / n;
    for (int64_t r = 0; r < n; ++r) ss += (value(r) - mean) * (value(r) - mean);
    CHECK(std::abs(mean) < 1e-5);
    CHECK(std::sqrt(ss / (n - 1)) == Approx(1.0).epsilon(1e-4));
  }
  // LotFrontage: mean 69.3058, sample std 23.3449 over 2433 values (checked with Python).
  int lf = index_of(*d, "LotFrontage");
  REQUIRE(lf >= 0);
  CHECK(d->train_features[0 * 331 + lf] == Approx((65 - 69.30579531442663) / 23.34490470692737).epsilon(1e-5));
  // Every one-hot group has exactly one 1 per row.
  int first_dummy = index_of(*d, "MSZoning_C (all)");
  REQUIRE(first_dummy == 36);
  for (int64_t r = 0; r < d->num_train; ++r) {
    float total = 0;
    for (int c = first_dummy; c < 331; ++c) total += d->train_features[r * 331 + c];
    REQUIRE(total == 43.0f);  // 43 string columns
  }
}

TEST_CASE("house prices: missing file error", "[runtime][tabular]") {
  testing::TempDir dir;
  auto d = load_kaggle_house(dir.path());
  REQUIRE(!d.ok());
  CHECK_THAT(d.error().message(), Catch::Contains("kaggle_house_pred_train.csv"));
}

TEST_CASE("write_submission", "[runtime][tabular]") {
  testing::TempDir dir;
  std::string path = dir.file("submission.csv");
  REQUIRE(write_submission(path, {1461, 1462}, {119500.5f, 0.1f}).ok());
  CHECK(*read_file(path) == "Id,SalePrice\n1461,119500.5\n1462,0.1\n");
  CHECK(dir.list() == std::vector<std::string>{"submission.csv"});

  Status mismatch = write_submission(path, {1}, {1.0f, 2.0f});
  REQUIRE(!mismatch.ok());
  CHECK_THAT(mismatch.error().message(), Catch::Contains("1 ids but 2 predictions"));
  Status nan = write_submission(path, {7}, {std::nanf("")});
  REQUIRE(!nan.ok());
  CHECK_THAT(nan.error().message(), Catch::Contains("Id 7"));
  CHECK(*read_file(path) == "Id,SalePrice\n1461,119500.5\n1462,0.1\n");  // untouched
}

TEST_CASE("preprocess_tabular refuses non-finite labels", "[runtime][tabular][hardening]") {
  auto test = parse_csv("Id,C\n9,5\n", "test.csv");
  for (const char* label : {"inf", "-inf", "nan", "1e999", "1e39"}) {
    auto train = parse_csv(std::string("Id,C,SalePrice\n1,5,1\n2,6,") + label + "\n", "train.csv");
    REQUIRE(train.ok());
    auto d = preprocess_tabular(*train, *test);
    INFO(label);
    REQUIRE(!d.ok());
    CHECK_THAT(d.error().message(), Catch::Contains("train.csv:3") && Catch::Contains("finite"));
  }
}

TEST_CASE("preprocess_tabular bounds the one-hot matrix", "[runtime][tabular][hardening]") {
  // A text column with a distinct value per row: rows x rows features. 17000 rows give
  // 2.9e8 values, over the 2^28 limit, refused before the matrix is allocated.
  std::string text = "Id,Name,SalePrice\n";
  for (int i = 0; i < 17000; ++i) text += std::to_string(i) + ",n" + std::to_string(i) + ",1\n";
  auto train = parse_csv(text, "train.csv");
  auto test = parse_csv("Id,Name\n99999,x\n", "test.csv");
  REQUIRE(train.ok());
  REQUIRE(test.ok());
  auto d = preprocess_tabular(*train, *test);
  REQUIRE(!d.ok());
  CHECK_THAT(d.error().message(), Catch::Contains("train.csv") && Catch::Contains("17001 rows x 17002 features") &&
                                      Catch::Contains(std::to_string(kMaxTabularElements)));
}
