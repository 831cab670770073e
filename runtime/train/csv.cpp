// RFC 4180 CSV parser: a single pass over the text with a small state machine per field.
// See csv.h for the accepted dialect.
#include "runtime/train/csv.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>

#include "runtime/atomic_file.h"

namespace kiln {

int CsvTable::column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::string CsvTable::where(int64_t row) const {
  if (row < 0 || row >= static_cast<int64_t>(row_lines.size())) return source;
  return source + ":" + std::to_string(row_lines[row]);
}

namespace {

std::string printable(char c) {
  if (c >= 0x20 && c < 0x7F) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(c));
  return buf;
}

}  // namespace

Expected<CsvTable> parse_csv(std::string_view text, const std::string& source,
                             const CsvOptions& options) {
  const char delim = options.delimiter;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

  if (static_cast<int64_t>(text.size()) > kMaxCsvBytes)
    return Error(source + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                 std::to_string(kMaxCsvBytes) + " for a CSV file");
  CsvTable table;
  table.source = source;
  int64_t fields = 0;  // in all rows, checked against options.max_fields
  std::vector<std::string> row;
  std::string field;
  int64_t line = 1;       // current line
  int64_t row_line = 1;   // line where the current row started
  bool have_header = false;

  auto loc = [&](int64_t l) { return source + ":" + std::to_string(l) + ": "; };

  // Ends the current row; blank lines (a single empty unquoted field) are skipped.
  auto finish_row = [&](bool blank) -> Status {
    if (blank) {
      row.clear();
      return Status::Ok();
    }
    if (!have_header) {
      table.header = std::move(row);
      have_header = true;
    } else {
      size_t want = table.header.size();
      if (row.size() > want || (row.size() < want && !options.pad_short_rows)) {
        return Error(loc(row_line) + "expected " + std::to_string(want) + " fields (as in the header), got " +
                     std::to_string(row.size()));
      }
      fields += static_cast<int64_t>(want - row.size());  // padding counts as fields too
      if (fields > options.max_fields)
        return Error(loc(row_line) + "more than " + std::to_string(options.max_fields) +
                     " fields in the file (the limit for one CSV file)");
      row.resize(want);
      table.rows.push_back(std::move(row));
      table.row_lines.push_back(row_line);
    }
    row = {};
    return Status::Ok();
  };

  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    // Start of a field.
    field.clear();
    bool quoted = false;
    if (text[i] == '"') {
      quoted = true;
      int64_t open_line = line;
      ++i;
      for (;;) {
        if (i >= n) return Error(loc(open_line) + "unterminated quoted field (the closing quote is missing)");
        char c = text[i];
        if (c == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (c == '\n') ++line;
        field += c;
        ++i;
      }
      // After the closing quote: delimiter, line end or end of text.
      if (i < n && text[i] != delim && text[i] != '\n' && text[i] != '\r') {
        return Error(loc(line) + "unexpected character " + printable(text[i]) +
                     " after a closing quote (a quote inside a quoted field must be doubled)");
      }
    } else {
      while (i < n && text[i] != delim && text[i] != '\n' && text[i] != '\r') {
        if (text[i] == '"') {
          return Error(loc(line) + "quote inside an unquoted field (quote the whole field and double the quote)");
        }
        field += text[i++];
      }
    }
    bool blank = row.empty() && !quoted && field.empty();
    if (++fields > options.max_fields)
      return Error(loc(row_line) + "more than " + std::to_string(options.max_fields) +
                   " fields in the file (the limit for one CSV file)");
    row.push_back(std::move(field));
    field = {};

    if (i >= n) {  // last field, no trailing newline
      KILN_RETURN_IF_ERROR(finish_row(blank));
      break;
    }
    char c = text[i];
    if (c == delim) {
      ++i;
      if (i >= n) {  // trailing delimiter at end of text: one more empty field
        row.emplace_back();
        KILN_RETURN_IF_ERROR(finish_row(false));
      }
      continue;
    }
    // Line end: \n, \r\n or a lone \r.
    if (c == '\r') ++i;
    if (i < n && text[i] == '\n') ++i;
    KILN_RETURN_IF_ERROR(finish_row(blank));
    ++line;
    row_line = line;
  }
  if (!have_header) return Error(source + ": empty file (expected a header row)");
  return table;
}

Expected<CsvTable> read_csv(const std::string& path, const CsvOptions& options) {
  // Only regular files of bounded size: a FIFO or /dev/zero behind the name would never end.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Error("cannot open " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  if (st.st_size > kMaxCsvBytes)
    return Error(path + ": " + std::to_string(st.st_size) + " bytes, more than the limit of " +
                 std::to_string(kMaxCsvBytes) + " for a CSV file");
  auto text = read_file(path);
  if (!text.ok()) return text.error();
  return parse_csv(*text, path, options);
}

bool csv_is_missing(std::string_view field) { return field.empty() || field == "NA"; }

std::optional<double> parse_csv_number(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  bool neg = false;
  std::string_view body = s;
  if (body.front() == '+' || body.front() == '-') {
    neg = body.front() == '-';
    body.remove_prefix(1);
    if (body.empty() || body.front() == '+' || body.front() == '-') return std::nullopt;
  }
  double v = 0;
  auto res = std::from_chars(body.data(), body.data() + body.size(), v);
  if (res.ec == std::errc::result_out_of_range) {
    // Overflow or underflow: strtod gives the saturated value that pandas would use.
    std::string copy(body);
    v = std::strtod(copy.c_str(), nullptr);
  } else if (res.ec != std::errc() || res.ptr != body.data() + body.size()) {
    return std::nullopt;
  }
  return neg ? -v : v;
}

std::string csv_escape(std::string_view field, char delimiter) {
  bool needs = !field.empty() && (field.front() == ' ' || field.back() == ' ');
  for (char c : field) {
    if (c == delimiter || c == '"' || c == '\n' || c == '\r') needs = true;
  }
  if (!needs) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace kiln
