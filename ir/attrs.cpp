// AttrMap implementation.
#include "ir/attrs.h"

#include <algorithm>
#include <cstdio>

#include "ir/status.h"

namespace kiln {

AttrKind attr_kind(const AttrValue& v) { return static_cast<AttrKind>(v.index()); }

const char* attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::Ints: return "ints";
    case AttrKind::Floats: return "floats";
    case AttrKind::String: return "string";
    case AttrKind::Type: return "dtype";
  }
  return "?";
}

static std::string format_double(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  std::string s = buf;
  // Keep a marker that this is a float so the parser can tell 1.0 from 1.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string attr_to_string(const AttrValue& v) {
  switch (attr_kind(v)) {
    case AttrKind::Int: return std::to_string(std::get<int64_t>(v));
    case AttrKind::Float: return format_double(std::get<double>(v));
    case AttrKind::Ints: {
      std::string s = "[";
      const auto& xs = std::get<std::vector<int64_t>>(v);
      for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
      return s + "]";
    }
    case AttrKind::Floats: {
      std::string s = "f[";
      const auto& xs = std::get<std::vector<double>>(v);
      for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + format_double(xs[i]);
      return s + "]";
    }
    case AttrKind::String: {
      std::string s = "\"";
      for (char c : std::get<std::string>(v)) {
        if (c == '"' || c == '\\') s += '\\';
        s += c;
      }
      return s + "\"";
    }
    case AttrKind::Type: return dtype_name(std::get<DType>(v));
  }
  return "?";
}

void AttrMap::set(const std::string& name, AttrValue v) {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& kv, const std::string& n) { return kv.first < n; });
  if (it != items_.end() && it->first == name) {
    it->second = std::move(v);
  } else {
    items_.insert(it, {name, std::move(v)});
  }
}

const AttrValue* AttrMap::find(const std::string& name) const {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& kv, const std::string& n) { return kv.first < n; });
  if (it != items_.end() && it->first == name) return &it->second;
  return nullptr;
}

template <typename T>
static const T& get_typed(const AttrMap& m, const std::string& name) {
  const AttrValue* v = m.find(name);
  KILN_CHECK(v != nullptr, "missing attribute '" + name + "'");
  KILN_CHECK(std::holds_alternative<T>(*v), "attribute '" + name + "' has the wrong kind");
  return std::get<T>(*v);
}

int64_t AttrMap::i(const std::string& name) const { return get_typed<int64_t>(*this, name); }
double AttrMap::f(const std::string& name) const { return get_typed<double>(*this, name); }
const std::vector<int64_t>& AttrMap::ints(const std::string& name) const {
  return get_typed<std::vector<int64_t>>(*this, name);
}
const std::vector<double>& AttrMap::floats(const std::string& name) const {
  return get_typed<std::vector<double>>(*this, name);
}
const std::string& AttrMap::s(const std::string& name) const {
  return get_typed<std::string>(*this, name);
}
DType AttrMap::type(const std::string& name) const { return get_typed<DType>(*this, name); }
int64_t AttrMap::i_or(const std::string& name, int64_t dflt) const {
  return has(name) ? i(name) : dflt;
}
double AttrMap::f_or(const std::string& name, double dflt) const {
  return has(name) ? f(name) : dflt;
}

}  // namespace kiln
