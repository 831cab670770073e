// A tiny JSON writer for one flat object per line, as printed by the CLI's `--json`
// flag (e.g. {"model":"mlp","epochs":10,"test_acc":0.8512}). Keys keep insertion order;
// strings are escaped per RFC 8259 (invalid UTF-8 becomes U+FFFD); numbers print in
// their shortest round-trip form; NaN and infinities, which JSON cannot represent, are
// written as null. Nested objects or arrays can be added as pre-rendered JSON text.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln {

// "text" with quotes, escaped.
std::string json_quote(std::string_view s);
// Shortest round-trip decimal for finite values, "null" for NaN/inf.
std::string json_number(double v);

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, bool value);
  JsonObject& add(std::string_view key, double value);
  JsonObject& add(std::string_view key, float value);
  template <std::integral T>
  JsonObject& add(std::string_view key, T value) {
    return add_raw(key, std::to_string(value));
  }
  // `json` must already be valid JSON (an array, a nested object's str(), ...).
  JsonObject& add_raw(std::string_view key, std::string json);
  JsonObject& add_null(std::string_view key) { return add_raw(key, "null"); }

  bool empty() const { return fields_.empty(); }
  // One line, no trailing newline: {"a":1,"b":"x"}.
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // key, rendered value
};

}  // namespace kiln
