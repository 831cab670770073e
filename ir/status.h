// Error handling for kiln: SourceLoc (where in the user's code a node came from),
// Error/Expected/Status for failures user input can cause, and KILN_CHECK for
// internal invariants only (never for user input; see DESIGN.md convention 2).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <source_location>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

struct SourceLoc {
  std::string file;  // owned: graphs loaded from files outlive the buffer they came from
  uint32_t line = 0;
  uint32_t column = 0;

  static SourceLoc from(const std::source_location& loc) {
    return SourceLoc{loc.file_name(), loc.line(), loc.column()};
  }
  static SourceLoc current(std::source_location loc = std::source_location::current()) {
    return from(loc);
  }
  bool known() const { return line != 0; }
  // "file.cpp:12" (basename only keeps messages short) or "<unknown>".
  std::string to_string() const;
};

class Error {
 public:
  Error() = default;
  explicit Error(std::string message) : message_(std::move(message)) {}
  const std::string& message() const { return message_; }
  // Prefixes context, e.g. Error("bad dim").wrap("loading x.idx") -> "loading x.idx: bad dim".
  Error wrap(const std::string& context) const { return Error(context + ": " + message_); }

 private:
  std::string message_;
};

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}
  static Status Ok() { return Status(); }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

[[noreturn]] void check_failed(const char* cond, const std::string& msg, const char* file, int line);

}  // namespace kiln

// Internal invariant: a failure is a bug in kiln, not in user input.
#define KILN_CHECK(cond, msg)                                            \
  do {                                                                   \
    if (!(cond)) ::kiln::check_failed(#cond, (msg), __FILE__, __LINE__); \
  } while (0)

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

// Returns early from a function returning Status/Expected when `expr` failed.
#define KILN_RETURN_IF_ERROR(expr)              \
  do {                                          \
    auto _kiln_st = (expr);                     \
    if (!_kiln_st.ok()) return _kiln_st.error(); \
  } while (0)

// auto x = KILN_TRY(expected_expr); -- GNU statement expression (g++ and clang).
#define KILN_TRY(expr)                                     \
  ({                                                       \
    auto _kiln_ex = (expr);                                \
    if (!_kiln_ex.ok()) return _kiln_ex.error();           \
    std::move(_kiln_ex).value();                           \
  })
