// CLI11 glue for the tools: checked numeric and choice flags, exit codes, error text.
#include "tools/args.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>

namespace kiln::cli {

namespace {

// Empty when `text` is a decimal integer in [min, max] (stored in *out), else the reason.
std::string check_int(const std::string& text, long long min, long long max, long long* out) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  bool syntax = !text.empty() && *end == '\0' && errno != ERANGE &&
                (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-' || text[0] == '+');
  if (syntax && v >= min && v <= max) {
    if (out) *out = v;
    return "";
  }
  std::string range = max == std::numeric_limits<long long>::max()
                          ? ">= " + std::to_string(min)
                          : "from " + std::to_string(min) + " to " + std::to_string(max);
  return "expected an integer " + range + ", got '" + text + "'";
}

const char* describe(NumberCheck c) {
  switch (c) {
    case NumberCheck::Any: return "a number";
    case NumberCheck::Positive: return "a number > 0";
    case NumberCheck::NonNegative: return "a number >= 0";
    case NumberCheck::Fraction: return "a number in [0, 1)";
  }
  return "a number";
}

std::string check_double(const std::string& text, NumberCheck c, double* out) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  bool ok = !text.empty() && !std::isspace(static_cast<unsigned char>(text[0])) && *end == '\0' &&
            errno != ERANGE && std::isfinite(v);
  if (ok) {
    switch (c) {
      case NumberCheck::Any: break;
      case NumberCheck::Positive: ok = v > 0; break;
      case NumberCheck::NonNegative: ok = v >= 0; break;
      case NumberCheck::Fraction: ok = v >= 0 && v < 1; break;
    }
  }
  if (!ok) return std::string("expected ") + describe(c) + ", got '" + text + "'";
  if (out) *out = v;
  return "";
}

template <class T>
CLI::Option* add_int_impl(CLI::App& app, const std::string& flag, T& target, long long min,
                          long long max, const std::string& help) {
  CLI::Option* o = app.add_option_function<std::string>(
      flag,
      [&target, min, max](const std::string& text) {
        long long v = 0;
        check_int(text, min, max, &v);  // already validated
        target = static_cast<T>(v);
      },
      help);
  o->type_name("N");
  o->check(CLI::Validator(
      [min, max](std::string& text) { return check_int(text, min, max, nullptr); }, "", "int"));
  return o;
}

// The (sub)command the user selected: the deepest parsed subcommand.
bool has_subcommands(CLI::App& app) {
  return !app.get_subcommands([](CLI::App*) { return true; }).empty();
}

CLI::App* selected(CLI::App& app) {
  CLI::App* a = &app;
  while (!a->get_subcommands().empty()) a = a->get_subcommands().front();
  return a;
}

std::string command_path(CLI::App* a) {
  std::string path = a->get_name();
  for (CLI::App* p = a->get_parent(); p; p = p->get_parent()) path = p->get_name() + " " + path;
  return path;
}

// CLI11's wording for a few usage errors, rephrased like the rest of kiln's messages.
std::string usage_message(const CLI::ParseError& e) {
  std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
    size_t colon = what.find(": ");
    if (colon != std::string::npos && what.rfind("--", 0) == 0) {
      std::string flag = what.substr(0, colon);
      if (what.find("missing", colon) != std::string::npos) return "flag '" + flag + "' needs a value";
      if (what.find("At Most", colon) != std::string::npos)
        return "flag '" + flag + "' given more than once";
    }
  }
  return what;
}

}  // namespace

CLI::Option* add_int(CLI::App& app, const std::string& flag, int& target, long long min,
                     long long max, const std::string& help) {
  return add_int_impl(app, flag, target, min, max, help);
}
CLI::Option* add_int(CLI::App& app, const std::string& flag, int64_t& target, long long min,
                     long long max, const std::string& help) {
  return add_int_impl(app, flag, target, min, max, help);
}
CLI::Option* add_int(CLI::App& app, const std::string& flag, uint64_t& target, long long min,
                     long long max, const std::string& help) {
  return add_int_impl(app, flag, target, min, max, help);
}

CLI::Option* add_double(CLI::App& app, const std::string& flag, double& target, NumberCheck check,
                        const std::string& help) {
  CLI::Option* o = app.add_option_function<std::string>(
      flag,
      [&target, check](const std::string& text) {
        double v = 0;
        check_double(text, check, &v);  // already validated
        target = v;
      },
      help);
  o->type_name("X");
  o->check(CLI::Validator(
      [check](std::string& text) { return check_double(text, check, nullptr); }, "", "number"));
  return o;
}

CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::string& target,
                        const std::vector<std::string>& choices, const std::string& what,
                        const std::string& help) {
  CLI::Option* o = app.add_option(flag, target, help);
  o->check(CLI::Validator(
      [choices, what](std::string& text) -> std::string {
        std::string list;
        for (const std::string& c : choices) {
          if (c == text) return "";
          list += (list.empty() ? "" : ", ") + c;
        }
        return "unknown " + what + " '" + text + "' (" + list + ")";
      },
      "", "choice"));
  return o;
}

int report_error(const std::string& tool, const std::string& message) {
  std::fprintf(stderr, "%s: error: %s\n", tool.c_str(), message.c_str());
  return kExitError;
}

int report_usage_error(const std::string& tool, const std::string& message,
                       const std::string& command) {
  std::fprintf(stderr, "%s: error: %s\nRun '%s --help' for usage.\n", tool.c_str(),
               message.c_str(), command.c_str());
  return kExitUsage;
}

int parse_command_line(CLI::App& app, int argc, const char* const* argv, const std::string& tool) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    std::fflush(stdout);
    return app.exit(e, std::cout, std::cerr);
  } catch (const CLI::ParseError& e) {
    CLI::App* sub = selected(app);
    // A value that is there but wrong is an error; a malformed command line is usage.
    if (dynamic_cast<const CLI::ValidationError*>(&e) || dynamic_cast<const CLI::ConversionError*>(&e))
      return report_error(tool, e.what());
    return report_usage_error(tool, usage_message(e), command_path(sub));
  }
  CLI::App* sub = selected(app);
  for (CLI::App* a = sub; a; a = a->get_parent()) {
    std::vector<std::string> extra = a->remaining();
    if (extra.empty()) continue;
    const std::string& first = extra.front();
    bool is_flag = first.size() > 1 && first[0] == '-';
    if (a == &app && sub == &app && !is_flag && has_subcommands(app))
      return report_usage_error(tool, "unknown command '" + first + "'", command_path(&app));
    std::string msg = is_flag ? "unknown flag '" + first + "'" : "unexpected argument '" + first + "'";
    return report_usage_error(tool, msg + " for '" + command_path(a) + "'", command_path(a));
  }
  if (sub == &app && has_subcommands(app)) {
    std::fputs(app.help().c_str(), stderr);
    return kExitUsage;
  }
  return -1;
}

int guarded_main(const std::string& tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return report_error(tool, std::string("internal error: ") + e.what());
  } catch (...) {
    return report_error(tool, "internal error: unknown exception");
  }
}

}  // namespace kiln::cli
