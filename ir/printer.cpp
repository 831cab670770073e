// Textual IR: print_graph writes the stable form documented in ir/printer.h,
// parse_graph reads it back (parse(print(g)) prints identically; floats use %.17g so
// they round-trip exactly), and graph_to_dot exports Graphviz. The parser is a small
// hand-written recursive-descent reader; errors carry line:column and what it expected.
#include "ir/printer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>

namespace kiln {
namespace {

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

bool is_plain_ident(const std::string& s) {
  if (s.empty() || !is_ident_start(s[0])) return false;
  for (char c : s)
    if (!is_ident_char(c)) return false;
  return true;
}

std::string quote(const std::string& s) { return attr_to_string(AttrValue{s}); }

std::string node_line(const Node& n, const PrintOptions& opts) {
  std::string s = "  %" + std::to_string(n.id) + " = " + op_name(n.op) + "(";
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i) s += ", ";
    s += "%" + std::to_string(n.inputs[i].id);
  }
  s += ")";
  // Attributes sorted by name, with the node name as the `name` pseudo-attribute.
  std::vector<std::pair<std::string, std::string>> attrs;
  for (const auto& [k, v] : n.attrs.items()) attrs.push_back({k, attr_to_string(v)});
  if (!n.name.empty()) {
    auto it = attrs.begin();
    while (it != attrs.end() && it->first < "name") ++it;
    attrs.insert(it, {"name", quote(n.name)});
  }
  if (!attrs.empty()) {
    s += " {";
    for (size_t i = 0; i < attrs.size(); ++i)
      s += (i ? ", " : "") + attrs[i].first + "=" + attrs[i].second;
    s += "}";
  }
  s += " : " + n.type.to_string();
  if (opts.locations && n.loc.known()) s += "  # " + n.loc.to_string();
  return s + "\n";
}

// ---- parser -----------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Expected<Graph> parse() {
    Graph g;
    KILN_RETURN_IF_ERROR(expect_word("graph"));
    skip_ws();
    if (peek() == '"') {
      g.set_name(KILN_TRY(parse_string()));
    } else if (is_ident_start(peek())) {
      g.set_name(parse_ident());
    }
    KILN_RETURN_IF_ERROR(expect('{'));
    while (true) {
      skip_ws();
      if (at_end()) return fail("expected '}' closing the graph");
      if (peek() == '}') {
        ++pos_;
        break;
      }
      if (peek() == '%') {
        KILN_RETURN_IF_ERROR(parse_node(g));
        continue;
      }
      size_t start = pos_;
      std::string word = is_ident_start(peek()) ? parse_ident() : "";
      if (word == "output") {
        std::string name = KILN_TRY(parse_string());
        KILN_RETURN_IF_ERROR(expect('='));
        Value v = KILN_TRY(parse_ref());
        g.add_output(name, v);
      } else if (word == "update") {
        Value st = KILN_TRY(parse_ref());
        KILN_RETURN_IF_ERROR(expect('='));
        Value v = KILN_TRY(parse_ref());
        g.add_state_update(st, v);
      } else {
        pos_ = start;
        return fail("expected a node (%N = ...), 'output', 'update' or '}'");
      }
    }
    skip_ws();
    if (!at_end()) return fail("unexpected text after the graph");
    return g;
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }

  void skip_ws() {
    while (!at_end()) {
      char c = s_[pos_];
      if (c == '#') {
        while (!at_end() && s_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  Error fail(const std::string& what) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string near = std::string(s_.substr(pos_, 20));
    for (char& c : near)
      if (c == '\n') c = ' ';
    return Error(std::to_string(line) + ":" + std::to_string(col) + ": " + what +
                 (at_end() ? " (at end of input)" : " (near '" + near + "')"));
  }

  Status expect(char c) {
    skip_ws();
    if (peek() != c) return fail(std::string("expected '") + c + "'");
    ++pos_;
    return Status::Ok();
  }

  Status expect_word(const char* w) {
    skip_ws();
    size_t start = pos_;
    if (!is_ident_start(peek()) || parse_ident() != w) {
      pos_ = start;
      return fail(std::string("expected '") + w + "'");
    }
    return Status::Ok();
  }

  std::string parse_ident() {
    size_t start = pos_;
    while (!at_end() && is_ident_char(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  Expected<std::string> parse_string() {
    skip_ws();
    if (peek() != '"') return fail("expected a string");
    ++pos_;
    std::string out;
    while (true) {
      if (at_end()) return fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') break;
      if (c == '\\') {
        if (at_end()) return fail("unterminated string");
        c = s_[pos_++];
      }
      out += c;
    }
    return out;
  }

  Expected<int64_t> parse_int() {
    skip_ws();
    size_t start = pos_;
    if (peek() == '-' || peek() == '+') ++pos_;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) {
      pos_ = start;
      return fail("expected an integer");
    }
    while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    std::string tok(s_.substr(start, pos_ - start));
    errno = 0;
    long long v = std::strtoll(tok.c_str(), nullptr, 10);
    if (errno == ERANGE) {
      pos_ = start;
      return fail("integer out of range");
    }
    return static_cast<int64_t>(v);
  }

  // A number token: digits, sign, '.', exponent, or inf/nan words. Sets is_float.
  Expected<AttrValue> parse_number() {
    skip_ws();
    size_t start = pos_;
    if (peek() == '-' || peek() == '+') ++pos_;
    bool is_float = false;
    if (is_ident_start(peek())) {
      std::string w = parse_ident();
      if (w != "inf" && w != "nan") {
        pos_ = start;
        return fail("expected a number");
      }
      is_float = true;
    } else {
      if (!std::isdigit(static_cast<unsigned char>(peek())) && peek() != '.') {
        pos_ = start;
        return fail("expected a number");
      }
      while (!at_end()) {
        char c = s_[pos_];
        if (std::isdigit(static_cast<unsigned char>(c))) {
          ++pos_;
        } else if (c == '.' || c == 'e' || c == 'E') {
          is_float = true;
          ++pos_;
          if ((c == 'e' || c == 'E') && (peek() == '-' || peek() == '+')) ++pos_;
        } else {
          break;
        }
      }
    }
    std::string tok(s_.substr(start, pos_ - start));
    if (!is_float) {
      pos_ = start;
      return AttrValue{KILN_TRY(parse_int())};
    }
    char* end = nullptr;
    double d = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) {
      pos_ = start;
      return fail("malformed number '" + tok + "'");
    }
    return AttrValue{d};
  }

  Expected<AttrValue> parse_attr_value() {
    skip_ws();
    char c = peek();
    if (c == '"') return AttrValue{KILN_TRY(parse_string())};
    if (c == '[') {
      ++pos_;
      std::vector<int64_t> xs;
      skip_ws();
      if (peek() == ']') {
        ++pos_;
        return AttrValue{xs};
      }
      while (true) {
        xs.push_back(KILN_TRY(parse_int()));
        skip_ws();
        if (peek() == ']') {
          ++pos_;
          return AttrValue{xs};
        }
        KILN_RETURN_IF_ERROR(expect(','));
      }
    }
    if (c == 'f' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '[') {
      pos_ += 2;
      std::vector<double> xs;
      skip_ws();
      if (peek() == ']') {
        ++pos_;
        return AttrValue{xs};
      }
      while (true) {
        AttrValue v = KILN_TRY(parse_number());
        xs.push_back(std::holds_alternative<double>(v) ? std::get<double>(v)
                                                       : static_cast<double>(std::get<int64_t>(v)));
        skip_ws();
        if (peek() == ']') {
          ++pos_;
          return AttrValue{xs};
        }
        KILN_RETURN_IF_ERROR(expect(','));
      }
    }
    if (is_ident_start(c)) {
      size_t start = pos_;
      std::string w = parse_ident();
      if (std::optional<DType> t = parse_dtype(w)) return AttrValue{*t};
      pos_ = start;
      if (w == "inf" || w == "nan") return parse_number();
      return fail("expected an attribute value, got '" + w + "'");
    }
    return parse_number();
  }

  Expected<TensorType> parse_type() {
    skip_ws();
    size_t start = pos_;
    std::string w = is_ident_start(peek()) ? parse_ident() : "";
    std::optional<DType> dt = parse_dtype(w);
    if (!dt) {
      pos_ = start;
      return fail("expected a dtype (f32, f64, i32, i64, bool)");
    }
    KILN_RETURN_IF_ERROR(expect('['));
    Shape shape;
    skip_ws();
    if (peek() != ']') {
      while (true) {
        int64_t d = KILN_TRY(parse_int());
        if (d < 0) return fail("negative dimension");
        shape.dims.push_back(d);
        skip_ws();
        if (peek() == ']') break;
        KILN_RETURN_IF_ERROR(expect(','));
      }
    }
    ++pos_;
    TensorType t{*dt, shape};
    // Checked here, where the shape is made, so an error points at the type.
    if (Status st = t.validate(); !st.ok()) {
      pos_ = start;
      return fail(st.error().message());
    }
    return t;
  }

  Expected<Value> parse_ref() {
    KILN_RETURN_IF_ERROR(expect('%'));
    size_t start = pos_;
    int64_t id = KILN_TRY(parse_int());
    auto it = ids_.find(id);
    if (it == ids_.end()) {
      pos_ = start;
      return fail("%" + std::to_string(id) + " is not defined before this use");
    }
    return it->second;
  }

  Status parse_node(Graph& g) {
    size_t line_start = pos_;
    KILN_RETURN_IF_ERROR(expect('%'));
    int64_t id = KILN_TRY(parse_int());
    if (ids_.count(id)) return fail("%" + std::to_string(id) + " defined twice");
    KILN_RETURN_IF_ERROR(expect('='));
    skip_ws();
    size_t op_pos = pos_;
    std::string opname = is_ident_start(peek()) ? parse_ident() : "";
    std::optional<OpKind> op = parse_op(opname);
    if (!op) {
      pos_ = op_pos;
      return fail("unknown op '" + opname + "'");
    }
    KILN_RETURN_IF_ERROR(expect('('));
    std::vector<Value> inputs;
    skip_ws();
    if (peek() != ')') {
      while (true) {
        inputs.push_back(KILN_TRY(parse_ref()));
        skip_ws();
        if (peek() == ')') break;
        KILN_RETURN_IF_ERROR(expect(','));
      }
    }
    ++pos_;
    AttrMap attrs;
    std::string name;
    skip_ws();
    if (peek() == '{') {
      ++pos_;
      skip_ws();
      while (peek() != '}') {
        skip_ws();
        if (!is_ident_start(peek())) return fail("expected an attribute name");
        std::string key = parse_ident();
        KILN_RETURN_IF_ERROR(expect('='));
        if (key == "name") {
          name = KILN_TRY(parse_string());
        } else {
          if (attrs.has(key)) return fail("attribute '" + key + "' given twice");
          attrs.set(key, KILN_TRY(parse_attr_value()));
        }
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          skip_ws();
        } else if (peek() != '}') {
          return fail("expected ',' or '}' in attributes");
        }
      }
      ++pos_;
    }
    KILN_RETURN_IF_ERROR(expect(':'));
    TensorType type = KILN_TRY(parse_type());
    size_t end_pos = pos_;
    pos_ = line_start;  // errors about the node point at its start
    Expected<Value> v = op_def(*op).has(kLeaf)
                            ? g.add_leaf(*op, type, std::move(attrs), {}, std::move(name))
                            : g.add(*op, std::move(inputs), std::move(attrs), {}, std::move(name));
    if (!v.ok()) return fail(v.error().message());
    if (g.type(*v) != type)
      return fail("%" + std::to_string(id) + " is declared " + type.to_string() +
                  " but its op infers " + g.type(*v).to_string());
    pos_ = end_pos;
    ids_[id] = *v;
    return Status::Ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::map<int64_t, Value> ids_;
};

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string print_graph(const Graph& g, const PrintOptions& opts) {
  std::string s = "graph";
  if (!g.name().empty()) s += " " + (is_plain_ident(g.name()) ? g.name() : quote(g.name()));
  s += " {\n";
  for (const Node& n : g.nodes()) s += node_line(n, opts);
  for (const Output& o : g.outputs())
    s += "  output " + quote(o.name) + " = %" + std::to_string(o.value.id) + "\n";
  for (const StateUpdate& u : g.state_updates())
    s += "  update %" + std::to_string(u.state.id) + " = %" + std::to_string(u.value.id) + "\n";
  return s + "}\n";
}

Expected<Graph> parse_graph(std::string_view text) { return Parser(text).parse(); }

std::string graph_to_dot(const Graph& g) {
  std::string s = "digraph \"" + dot_escape(g.name().empty() ? "graph" : g.name()) + "\" {\n";
  s += "  node [shape=box, fontname=\"monospace\"];\n";
  for (const Node& n : g.nodes()) {
    std::string head = "%" + std::to_string(n.id) + " " + op_name(n.op);
    if (!n.name.empty()) head += " \"" + n.name + "\"";
    std::string label = dot_escape(head) + "\\n" + n.type.to_string();  // "\n" = dot newline
    const char* style = n.def().has(kLeaf) ? ", style=filled, fillcolor=\"#e8f0fe\"" : "";
    s += "  n" + std::to_string(n.id) + " [label=\"" + label + "\"" + style + "];\n";
  }
  for (const Node& n : g.nodes())
    for (Value v : n.inputs)
      s += "  n" + std::to_string(v.id) + " -> n" + std::to_string(n.id) + ";\n";
  for (const Output& o : g.outputs()) {
    std::string id = "out_" + std::to_string(&o - g.outputs().data());
    s += "  " + id + " [label=\"" + dot_escape(o.name) + "\", shape=ellipse];\n";
    s += "  n" + std::to_string(o.value.id) + " -> " + id + ";\n";
  }
  for (const StateUpdate& u : g.state_updates())
    s += "  n" + std::to_string(u.value.id) + " -> n" + std::to_string(u.state.id) +
         " [style=dashed, label=\"update\"];\n";
  return s + "}\n";
}

}  // namespace kiln
