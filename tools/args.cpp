// Flag parsing implementation.
#include "tools/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln::cli {

Expected<ParsedArgs> parse_args(const std::vector<std::string>& args,
                                const std::vector<FlagSpec>& specs, const std::string& command) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      if (a.size() > 1 && a[0] == '-' && a != "-")
        return Error("unknown flag '" + a + "' for '" + command + "' (flags start with --)");
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) return Error("unknown flag '--" + name + "' for '" + command + "'");
    if (out.values.count(name)) return Error("flag '--" + name + "' given twice");
    if (spec->takes_value) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return Error("flag '--" + name + "' needs a value");
        value = args[++i];
      }
      out.values[name] = value;
    } else {
      if (inline_value) return Error("flag '--" + name + "' takes no value");
      out.values[name] = "1";
    }
  }
  return out;
}

Expected<long long> parse_int(const std::string& flag, const std::string& text, long long min,
                              long long max) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    return Error("--" + flag + " expects an integer, got '" + text + "'");
  if (v < min || v > max)
    return Error("--" + flag + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max) + ", got " + text);
  return v;
}

Expected<double> parse_double(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    return Error("--" + flag + " expects a number, got '" + text + "'");
  return v;
}

std::string flags_help(const std::vector<FlagSpec>& specs) {
  std::string s;
  for (const FlagSpec& f : specs) {
    std::string left = "  --" + f.name + (f.takes_value ? " X" : "");
    if (left.size() < 22) left.resize(22, ' ');
    s += left + " " + f.help + "\n";
  }
  return s;
}

int report_error(const Error& e) {
  std::fprintf(stderr, "kiln: error: %s\n", e.message().c_str());
  return 1;
}

}  // namespace kiln::cli
