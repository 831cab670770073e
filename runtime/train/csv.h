// CSV reading (RFC 4180): comma-separated fields, fields optionally enclosed in double
// quotes, "" inside quotes for a literal quote, quoted fields may span lines; CRLF or LF
// line ends, an optional UTF-8 byte-order mark, blank lines skipped. The first row is
// the header. Fields stay strings; `csv_is_missing` says which ones are missing values
// (empty or "NA", as R and pandas write them) and `parse_csv_number` converts numbers.
// Every error names the file and line ("train.csv:17: ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/status.h"

namespace kiln {

// Limits on one CSV file, so that a huge or hostile file is an error naming it rather
// than an allocation failure: at most kMaxCsvBytes bytes (1 GiB) and, by default,
// kMaxCsvFields fields in all (2^24, each a std::string; the Kaggle house-price training
// file has 118,260).
inline constexpr int64_t kMaxCsvBytes = int64_t{1} << 30;
inline constexpr int64_t kMaxCsvFields = int64_t{1} << 24;

struct CsvOptions {
  char delimiter = ',';
  // Rows with fewer fields than the header are padded with empty (missing) fields
  // instead of rejected. Rows with more fields are always an error.
  bool pad_short_rows = false;
  // More fields than this in the whole file is an error.
  int64_t max_fields = kMaxCsvFields;
};

struct CsvTable {
  std::string source;                          // file name used in messages
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each has header.size() fields
  std::vector<int64_t> row_lines;              // 1-based line where each row starts

  int64_t num_rows() const { return static_cast<int64_t>(rows.size()); }
  int64_t num_columns() const { return static_cast<int64_t>(header.size()); }
  // Index of the named column, or -1.
  int column(std::string_view name) const;
  // "file.csv:12" for row r (for error messages).
  std::string where(int64_t row) const;
};


// Reads a regular file of at most kMaxCsvBytes and parses it.
Expected<CsvTable> read_csv(const std::string& path, const CsvOptions& options = {});
// Parses CSV text; `source` names it in error messages. More than options.max_fields
// fields, or more than kMaxCsvBytes of text, is an error.
Expected<CsvTable> parse_csv(std::string_view text, const std::string& source,
                             const CsvOptions& options = {});

// Empty or "NA".
bool csv_is_missing(std::string_view field);
// Parses a decimal or scientific number (surrounding spaces allowed, "+" allowed,
// "inf"/"nan" accepted as strtod would); nullopt if the whole field is not a number.
std::optional<double> parse_csv_number(std::string_view field);
// Quotes a field when needed (delimiter, quote, CR or LF inside, or leading/trailing space).
std::string csv_escape(std::string_view field, char delimiter = ',');

}  // namespace kiln
