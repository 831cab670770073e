// Command-line helpers shared by `kiln` and `kiln-opt`, on top of CLI11: typed flags
// whose values are checked while parsing (errors name the flag and the offending text),
// and one place that turns CLI11's parse outcome into the tools' exit codes:
//   0  success, or --help (printed to stdout)
//   1  an error: a flag's value is malformed or out of range, a file cannot be read, a
//      model fails ("<tool>: error: ..." on stderr)
//   2  a usage error: unknown command, flag or extra argument, a missing argument or
//      flag value ("<tool>: error: ..." and a pointer to --help on stderr)
// CLI11 stays out of this header (forward declarations only).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/status.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace kiln::cli {

inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// --NAME N: a decimal integer in [min, max]. "--epochs: expected an integer from 1 to
// 1000000, got 'three'".
CLI::Option* add_int(CLI::App& app, const std::string& flag, int& target, long long min,
                     long long max, const std::string& help);
CLI::Option* add_int(CLI::App& app, const std::string& flag, int64_t& target, long long min,
                     long long max, const std::string& help);
CLI::Option* add_int(CLI::App& app, const std::string& flag, uint64_t& target, long long min,
                     long long max, const std::string& help);

// What a --NAME X number must satisfy beyond being finite.
enum class NumberCheck {
  Any,          // any finite number
  Positive,     // > 0
  NonNegative,  // >= 0
  Fraction,     // in [0, 1)
};
CLI::Option* add_double(CLI::App& app, const std::string& flag, double& target, NumberCheck check,
                        const std::string& help);

// --NAME VALUE with VALUE one of `choices`: "--print-after: unknown pass 'x' (dsl, ...)";
// `what` names the kind of value ("pass").
CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::string& target,
                        const std::vector<std::string>& choices, const std::string& what,
                        const std::string& help);

// Runs `app` over argv. Returns -1 when the command line parsed and the tool should go
// on; otherwise the exit code, with help or the error already printed. `tool` prefixes
// error messages ("kiln", "kiln-opt"). Unknown flags and extra arguments of the selected
// (sub)command are reported by name: every subcommand must allow_extras() so that they
// reach this function instead of CLI11's generic message.
int parse_command_line(CLI::App& app, int argc, const char* const* argv, const std::string& tool);

// Prints "<tool>: error: <message>" to stderr and returns kExitError.
int report_error(const std::string& tool, const std::string& message);
inline int report_error(const Error& e) { return report_error("kiln", e.message()); }

// Prints the usage error and "Run '<command> --help' for usage." and returns kExitUsage.
int report_usage_error(const std::string& tool, const std::string& message,
                       const std::string& command);

// Runs `body`, turning an escaping exception into "<tool>: error: internal error: ..."
// and exit code 1: no exception leaves main.
int guarded_main(const std::string& tool, const std::function<int()>& body);

}  // namespace kiln::cli
