// Reading a leaf's state description from its attributes (see ir/leaf_state.h).
#include "ir/leaf_state.h"

namespace kiln {

namespace {

const std::string* string_attr(const Node& n, const char* name) {
  const AttrValue* v = n.attrs.find(name);
  return v && std::holds_alternative<std::string>(*v) ? &std::get<std::string>(*v) : nullptr;
}

double float_attr(const Node& n, const char* name) {
  const AttrValue* v = n.attrs.find(name);
  return v && std::holds_alternative<double>(*v) ? std::get<double>(*v) : 0.0;
}

}  // namespace

Expected<LeafState> leaf_state(const Node& n) {
  if (n.op != OpKind::Parameter && n.op != OpKind::State)
    return Error(std::string(op_name(n.op)) + " is not a parameter or state leaf");
  LeafState s;
  if (const std::string* init = string_attr(n, "init")) {
    std::optional<InitKind> k = parse_init_kind(*init);
    if (!k) return Error("unknown init '" + *init + "' (expected " + init_kind_list() + ")");
    s.init.kind = *k;
  }
  s.init.a = float_attr(n, "init_a");
  s.init.b = float_attr(n, "init_b");
  if (n.op == OpKind::Parameter) return s;
  const std::string* kind = string_attr(n, "kind");
  if (!kind) return Error("state leaf needs a 'kind' attribute (" + state_kind_list() + ")");
  std::optional<StateKind> k = parse_state_kind(*kind);
  if (!k || *k == StateKind::Parameter)
    return Error("state kind '" + *kind + "' is not one of " + state_kind_list() +
                 " (trainable weights are parameter leaves)");
  s.kind = *k;
  if (const std::string* scope = string_attr(n, "scope")) {
    std::optional<StateScope> sc = parse_state_scope(*scope);
    if (!sc) return Error("unknown state scope '" + *scope + "' (expected model or executable)");
    s.scope = *sc;
  }
  return s;
}

}  // namespace kiln
