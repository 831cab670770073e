// Command-line flag parsing for the `kiln` tool: --flag VALUE or --flag=VALUE, typed
// and validated, with errors that name the flag and the offending text.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/status.h"

namespace kiln::cli {

struct FlagSpec {
  std::string name;   // without dashes, e.g. "epochs"
  bool takes_value;   // false for switches like --json
  std::string help;
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // switches map to "1"
  bool has(const std::string& f) const { return values.count(f) != 0; }
};

Expected<ParsedArgs> parse_args(const std::vector<std::string>& args,
                                const std::vector<FlagSpec>& specs, const std::string& command);

Expected<long long> parse_int(const std::string& flag, const std::string& text, long long min,
                              long long max);
Expected<double> parse_double(const std::string& flag, const std::string& text);

std::string flags_help(const std::vector<FlagSpec>& specs);

// Prints "kiln: error: <message>" to stderr and returns exit code 1.
int report_error(const Error& e);

}  // namespace kiln::cli
