// The tools' --json output, written with nlohmann-json (only its forward declarations
// here): one object per line, keys in insertion order, numbers in their shortest
// round-trip form (full precision), NaN and infinities as null, invalid UTF-8 in strings
// replaced by U+FFFD.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace kiln {
struct RunReport;
}  // namespace kiln

namespace kiln::cli {

// `j` on one line, without the newline.
std::string json_line(const nlohmann::ordered_json& j);

// {"model": ..., every metric, every note}; counts (epochs, folds, features, examples)
// are integers, other metrics numbers.
nlohmann::ordered_json report_json(const RunReport& r);

// The metrics and notes as aligned "name value" lines on stdout, then with `json` the
// report as one JSON object on the last line.
void print_report(const RunReport& r, bool json);

}  // namespace kiln::cli
