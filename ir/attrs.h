// Typed node attributes. Each op's registry entry declares the attributes it takes
// (name + kind); the verifier checks nodes against that declaration, so there are no
// untyped attribute blobs (DESIGN.md convention 4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ir/dtype.h"

namespace kiln {

enum class AttrKind : uint8_t { Int, Float, Ints, Floats, String, Type };

using AttrValue =
    std::variant<int64_t, double, std::vector<int64_t>, std::vector<double>, std::string, DType>;

AttrKind attr_kind(const AttrValue& v);
const char* attr_kind_name(AttrKind k);
std::string attr_to_string(const AttrValue& v);

// A small name-sorted map; nodes carry few attributes.
class AttrMap {
 public:
  AttrMap() = default;
  AttrMap(std::initializer_list<std::pair<std::string, AttrValue>> items) {
    for (auto& [k, v] : items) set(k, v);
  }
  void set(const std::string& name, AttrValue v);
  bool has(const std::string& name) const { return find(name) != nullptr; }
  const AttrValue* find(const std::string& name) const;
  // Typed getters; KILN_CHECK on a missing/mistyped attribute (the verifier has run).
  int64_t i(const std::string& name) const;
  double f(const std::string& name) const;
  const std::vector<int64_t>& ints(const std::string& name) const;
  const std::vector<double>& floats(const std::string& name) const;
  const std::string& s(const std::string& name) const;
  DType type(const std::string& name) const;
  int64_t i_or(const std::string& name, int64_t dflt) const;
  double f_or(const std::string& name, double dflt) const;

  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }
  bool operator==(const AttrMap& o) const { return items_ == o.items_; }

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;
};

struct AttrSpec {
  const char* name;
  AttrKind kind;
  bool required = true;
};

}  // namespace kiln
