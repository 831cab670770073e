// Graph and model files (see ir/serialize.h): writing walks the Graph into the generated
// flatbuffers tables (ops by name, locations with shared file strings); reading goes
// envelope first (size, identifier, version read from a shallowly verified root, full
// flatbuffers verification; ir/schema/flatbuffer_io.h, shared with the checkpoint reader),
// then decodes each field with a check that names it, and ends with ir/verifier.h.
#include "ir/serialize.h"

#include <optional>
#include <set>

#include <flatbuffers/flatbuffers.h>

#include "graph_generated.h"
#include "ir/schema/flatbuffer_io.h"
#include "ir/verifier.h"
#include "model_generated.h"

namespace kiln {
namespace {

using namespace fbio;  // to_fb, str, scalars, read_type, Budget, Envelope, ...

static_assert(kMaxSerializedRank == fbio::kMaxRank &&
                  kMaxSerializedElements == fbio::kMaxElements,
              "ir/serialize.h documents the shape limits ir/schema/flatbuffer_io.h enforces");

const FileKind kGraphKind{"kiln graph file", "kiln graph file", "graph", "KGRF",
                          kGraphFormatVersion, fb::Graph::VT_VERSION};
const FileKind kModelKind{"kiln model file", "kiln model file", "model", "KMDL",
                          kModelFormatVersion, fb::Model::VT_VERSION};

// ---- graph: writing -----------------------------------------------------------------

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

Offset<fb::Attr> write_attr(FlatBufferBuilder& b, const std::string& name, const AttrValue& v) {
  Offset<void> value;
  fb::AttrValue type = fb::AttrValue::NONE;
  switch (attr_kind(v)) {
    case AttrKind::Int:
      value = fb::CreateIntAttr(b, std::get<int64_t>(v)).Union();
      type = fb::AttrValue::IntAttr;
      break;
    case AttrKind::Float:
      value = fb::CreateFloatAttr(b, std::get<double>(v)).Union();
      type = fb::AttrValue::FloatAttr;
      break;
    case AttrKind::Ints:
      value = fb::CreateIntsAttr(b, b.CreateVector(std::get<std::vector<int64_t>>(v))).Union();
      type = fb::AttrValue::IntsAttr;
      break;
    case AttrKind::Floats:
      value = fb::CreateFloatsAttr(b, b.CreateVector(std::get<std::vector<double>>(v))).Union();
      type = fb::AttrValue::FloatsAttr;
      break;
    case AttrKind::String:
      value = fb::CreateStringAttr(b, b.CreateString(std::get<std::string>(v))).Union();
      type = fb::AttrValue::StringAttr;
      break;
    case AttrKind::Type:
      value = fb::CreateDTypeAttr(b, to_fb(std::get<DType>(v))).Union();
      type = fb::AttrValue::DTypeAttr;
      break;
  }
  return fb::CreateAttr(b, b.CreateSharedString(name), type, value);
}

// Upper bound of the bytes a graph takes, to refuse graphs beyond flatbuffers' limit.
size_t graph_bytes_estimate(const Graph& g) {
  size_t n = 1024;
  for (const Node& node : g.nodes()) {
    n += 128 + node.inputs.size() * 4 + node.type.shape.dims.size() * 8 + node.name.size() +
         node.loc.file.size();
    for (const auto& [name, v] : node.attrs.items()) {
      n += 64 + name.size();
      if (auto* xs = std::get_if<std::vector<int64_t>>(&v)) n += xs->size() * 8;
      if (auto* xs = std::get_if<std::vector<double>>(&v)) n += xs->size() * 8;
      if (auto* s = std::get_if<std::string>(&v)) n += s->size();
    }
  }
  for (const Output& o : g.outputs()) n += 32 + o.name.size();
  return n + g.state_updates().size() * 32;
}

Offset<fb::Graph> write_graph(FlatBufferBuilder& b, const Graph& g) {
  KILN_CHECK(graph_bytes_estimate(g) < kMaxFileBytes,
             "serialize: graph '" + g.name() + "' exceeds flatbuffers' 2 GiB limit");
  std::vector<Offset<fb::Node>> nodes;
  nodes.reserve(g.nodes().size());
  for (const Node& n : g.nodes()) {
    std::vector<int32_t> inputs;
    for (Value v : n.inputs) inputs.push_back(v.id);
    std::vector<Offset<fb::Attr>> attrs;
    for (const auto& [name, v] : n.attrs.items()) attrs.push_back(write_attr(b, name, v));
    auto op = b.CreateSharedString(op_name(n.op));
    auto in = b.CreateVector(inputs);
    auto at = b.CreateVector(attrs);
    auto shape = b.CreateVector(n.type.shape.dims);
    auto name = n.name.empty() ? 0 : b.CreateString(n.name);
    auto file = n.loc.file.empty() ? 0 : b.CreateSharedString(n.loc.file);
    nodes.push_back(fb::CreateNode(b, op, in, at, to_fb(n.type.dtype), shape, name, file,
                                   n.loc.line, n.loc.column));
  }
  std::vector<Offset<fb::Output>> outputs;
  for (const Output& o : g.outputs())
    outputs.push_back(fb::CreateOutput(b, b.CreateString(o.name), o.value.id));
  std::vector<Offset<fb::StateUpdate>> updates;
  for (const StateUpdate& u : g.state_updates())
    updates.push_back(fb::CreateStateUpdate(b, u.state.id, u.value.id));
  auto name = b.CreateString(g.name());
  auto nv = b.CreateVector(nodes);
  auto ov = b.CreateVector(outputs);
  auto uv = b.CreateVector(updates);
  return fb::CreateGraph(b, kGraphFormatVersion, name, nv, ov, uv);
}

// ---- graph: reading -----------------------------------------------------------------

// Largest magnitude of an `ints` attribute value. Attribute ints are dims, axes, slice
// bounds and paddings, and shape rules add them (pad: low + dim + high): with this bound
// any two of them plus a dim stay below 2^63.
constexpr int64_t kMaxAttrInt = int64_t{1} << 61;

Expected<AttrValue> read_attr_value(const fb::Attr& a) {
  switch (a.value_type()) {
    case fb::AttrValue::IntAttr:
      if (auto* v = a.value_as_IntAttr()) return AttrValue{v->value()};
      break;
    case fb::AttrValue::FloatAttr:
      if (auto* v = a.value_as_FloatAttr()) return AttrValue{v->value()};
      break;
    case fb::AttrValue::IntsAttr:
      if (auto* v = a.value_as_IntsAttr()) {
        std::vector<int64_t> xs = scalars(v->value());
        for (int64_t x : xs)
          if (x < -kMaxAttrInt || x > kMaxAttrInt)
            return Error("value " + std::to_string(x) + " out of range");
        return AttrValue{std::move(xs)};
      }
      break;
    case fb::AttrValue::FloatsAttr:
      if (auto* v = a.value_as_FloatsAttr()) return AttrValue{scalars(v->value())};
      break;
    case fb::AttrValue::StringAttr:
      if (auto* v = a.value_as_StringAttr()) return AttrValue{str(v->value())};
      break;
    case fb::AttrValue::DTypeAttr:
      if (auto* v = a.value_as_DTypeAttr()) {
        Expected<DType> d = read_enum(v->value());
        if (!d.ok()) return d.error();
        return AttrValue{*d};
      }
      break;
    default:
      return Error("unknown attribute kind " + std::to_string(static_cast<int>(a.value_type())));
  }
  return Error("has no value");
}

// Attributes of node `at`, checked against the op's registry entry.
Expected<AttrMap> read_attrs(const fb::Node& fn, const OpDef& def, const std::string& at) {
  AttrMap attrs;
  if (const auto* list = fn.attrs()) {
    for (flatbuffers::uoffset_t i = 0; i < list->size(); ++i) {
      const fb::Attr* a = list->Get(i);
      if (!a->name() || a->name()->size() == 0)
        return Error(at + "attribute " + std::to_string(i) + " has no name");
      std::string name = str(a->name());
      Expected<AttrValue> v = read_attr_value(*a);
      if (!v.ok()) return Error(at + "attribute '" + name + "': " + v.error().message());
      if (attrs.has(name)) return Error(at + "duplicate attribute '" + name + "'");
      if (name == "shape" && attr_kind(*v) == AttrKind::Ints) {
        Expected<int64_t> n = checked_numel(std::get<std::vector<int64_t>>(*v));
        if (!n.ok()) return Error(at + "attribute 'shape': " + n.error().message());
      }
      attrs.set(name, std::move(*v));
    }
  }
  for (const AttrSpec& spec : def.attrs) {
    const AttrValue* v = attrs.find(spec.name);
    if (!v && spec.required) return Error(at + "missing attribute '" + spec.name + "'");
    if (v && attr_kind(*v) != spec.kind)
      return Error(at + "attribute '" + spec.name + "' must be " + attr_kind_name(spec.kind) +
                   ", got " + attr_kind_name(attr_kind(*v)));
  }
  for (const auto& [name, v] : attrs.items()) {
    bool known = false;
    for (const AttrSpec& spec : def.attrs) known |= name == spec.name;
    if (!known) return Error(at + "unknown attribute '" + name + "'");
  }
  return attrs;
}

// What decoding a node copies, in bytes (roughly), before it is decoded.
size_t node_cost(const fb::Node& fn) {
  size_t n = sizeof(Node) + elems(fn.op()) + elems(fn.inputs()) * 4 + elems(fn.shape()) * 8 +
             elems(fn.name()) + elems(fn.loc_file());
  if (const auto* attrs = fn.attrs()) {
    for (flatbuffers::uoffset_t i = 0; i < attrs->size(); ++i) {
      const fb::Attr* a = attrs->Get(i);
      n += 32 + elems(a->name());
      if (auto* v = a->value_as_IntsAttr()) n += elems(v->value()) * 8;
      if (auto* v = a->value_as_FloatsAttr()) n += elems(v->value()) * 8;
      if (auto* v = a->value_as_StringAttr()) n += elems(v->value());
    }
  }
  return n;
}

Expected<Node> read_node(const fb::Node& fn, int index, int num_nodes, const std::string& at0,
                         Budget& budget) {
  std::string at = at0 + "node " + std::to_string(index);
  KILN_RETURN_IF_ERROR(budget.take(node_cost(fn), at + ": "));
  if (!fn.op() || fn.op()->size() == 0) return Error(at + ": missing op name");
  std::string op = str(fn.op());
  std::optional<OpKind> kind = parse_op(op);
  if (!kind) return Error(at + ": unknown op '" + op + "'");
  at += " (" + op + "): ";
  const OpDef& def = op_def(*kind);
  Node n;
  n.id = index;
  n.op = *kind;
  std::vector<int32_t> inputs = scalars(fn.inputs());
  if (static_cast<int64_t>(inputs.size()) > kMaxSerializedNodeInputs)
    return Error(at + std::to_string(inputs.size()) + " inputs, at most " +
                 std::to_string(kMaxSerializedNodeInputs));
  int arity = static_cast<int>(inputs.size());
  if (arity < def.min_inputs || (def.max_inputs >= 0 && arity > def.max_inputs))
    return Error(at + "has " + std::to_string(arity) + " inputs, the op takes " +
                 std::to_string(def.min_inputs) +
                 (def.max_inputs < 0 ? " or more"
                                     : def.max_inputs == def.min_inputs
                                           ? ""
                                           : " to " + std::to_string(def.max_inputs)));
  for (int32_t in : inputs) {
    if (in < 0 || in >= num_nodes)
      return Error(at + "input " + std::to_string(in) + " out of range (the graph has " +
                   std::to_string(num_nodes) + " nodes)");
    if (in >= index)
      return Error(at + "input " + std::to_string(in) + " is not an earlier node");
    n.inputs.push_back(Value{in});
  }
  n.attrs = KILN_TRY(read_attrs(fn, def, at));
  Expected<TensorType> type = read_type(fn.dtype(), fn.shape());
  if (!type.ok()) return Error(at + "type: " + type.error().message());
  n.type = std::move(*type);
  n.name = str(fn.name());
  n.loc = SourceLoc{str(fn.loc_file()), fn.loc_line(), fn.loc_column()};
  return n;
}

// `at` prefixes every message: "model.kiln: " or "model.kiln: graph: ".
Expected<Graph> read_graph(const fb::Graph& fg, const std::string& at, Budget& budget) {
  Graph g(str(fg.name()));
  const auto* nodes = fg.nodes();
  const int num_nodes = nodes ? static_cast<int>(nodes->size()) : 0;
  g.mutable_nodes().reserve(num_nodes);
  for (int i = 0; i < num_nodes; ++i)
    g.mutable_nodes().push_back(KILN_TRY(read_node(*nodes->Get(i), i, num_nodes, at, budget)));
  auto node_ref = [&](int32_t id, const std::string& what) -> Expected<Value> {
    if (id < 0 || id >= num_nodes)
      return Error(at + what + ": node " + std::to_string(id) + " out of range (the graph has " +
                   std::to_string(num_nodes) + " nodes)");
    return Value{id};
  };
  if (const auto* outs = fg.outputs()) {
    for (flatbuffers::uoffset_t i = 0; i < outs->size(); ++i) {
      const fb::Output* o = outs->Get(i);
      KILN_RETURN_IF_ERROR(budget.take(32 + elems(o->name()), at));
      std::string name = str(o->name());
      Value v = KILN_TRY(node_ref(o->value(), "output " + std::to_string(i) + " \"" + name + "\""));
      g.add_output(std::move(name), v);
    }
  }
  if (const auto* ups = fg.state_updates()) {
    for (flatbuffers::uoffset_t i = 0; i < ups->size(); ++i) {
      const fb::StateUpdate* u = ups->Get(i);
      std::string what = "state update " + std::to_string(i);
      Value s = KILN_TRY(node_ref(u->state(), what + " state"));
      Value v = KILN_TRY(node_ref(u->value(), what + " value"));
      g.add_state_update(s, v);
    }
  }
  if (Status st = verify(g); !st.ok()) return Error(at + st.error().message());
  return g;
}

// ---- models -------------------------------------------------------------------------

std::vector<Offset<fb::Signature>> write_signature(FlatBufferBuilder& b,
                                                   const std::vector<TensorSignature>& sig) {
  std::vector<Offset<fb::Signature>> out;
  for (const TensorSignature& s : sig)
    out.push_back(fb::CreateSignature(b, b.CreateString(s.name), to_fb(s.type.dtype),
                                      b.CreateVector(s.type.shape.dims)));
  return out;
}

Status check_signature(const flatbuffers::Vector<Offset<fb::Signature>>* stored,
                       const std::vector<TensorSignature>& expected, const std::string& what,
                       const std::string& at) {
  size_t n = stored ? stored->size() : 0;
  if (n != expected.size())
    return Error(at + what + " signature has " + std::to_string(n) + " entries, the graph has " +
                 std::to_string(expected.size()));
  for (size_t i = 0; i < n; ++i) {
    const fb::Signature* s = stored->Get(static_cast<flatbuffers::uoffset_t>(i));
    std::string name = str(s->name());
    std::string where = at + what + " " + std::to_string(i) + " \"" + name + "\": ";
    Expected<TensorType> t = read_type(s->dtype(), s->shape());
    if (!t.ok()) return Error(where + t.error().message());
    TensorSignature got{name, *t};
    if (!(got == expected[i]))
      return Error(where + t->to_string() + " does not match the graph's \"" + expected[i].name +
                   "\" " + expected[i].type.to_string());
  }
  return Status::Ok();
}

Expected<NamedTensor> read_parameter(const fb::Tensor& t, size_t index, const Graph& g,
                                     const std::string& at, Budget& budget) {
  std::string where = at + "parameter " + std::to_string(index);
  NamedTensor out;
  out.name = KILN_TRY(read_tensor_name(t, where, budget));
  Expected<TensorType> type = read_type(t.dtype(), t.shape());
  if (!type.ok()) return Error(where + type.error().message());
  out.type = std::move(*type);
  Expected<std::vector<uint8_t>> bytes = read_data(t, out.type);
  if (!bytes.ok()) return Error(where + bytes.error().message());
  Value leaf = g.find_leaf(out.name);
  if (!leaf.valid() ||
      (g.node(leaf).op != OpKind::Parameter && g.node(leaf).op != OpKind::State))
    return Error(where + "the graph has no parameter or state leaf of that name");
  if (g.type(leaf) != out.type)
    return Error(where + out.type.to_string() + " but the graph's leaf is " +
                 g.type(leaf).to_string());
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace

std::vector<uint8_t> serialize_graph(const Graph& g) {
  FlatBufferBuilder b(4096);
  b.ForceDefaults(true);  // keeps -0.0 and makes every field explicit
  b.Finish(write_graph(b, g), fb::GraphIdentifier());
  return finish(b);
}

Expected<Graph> deserialize_graph(std::span<const uint8_t> bytes, const std::string& source) {
  Envelope env;
  const fb::Graph& fg = *KILN_TRY(env.open<fb::Graph>(bytes, source, kGraphKind));
  Budget budget(bytes.size());
  return read_graph(fg, source + ": ", budget);
}

std::vector<TensorSignature> model_inputs(const Graph& g) {
  std::vector<TensorSignature> out;
  for (Value v : g.inputs()) out.push_back({g.node(v).name, g.type(v)});
  return out;
}

std::vector<TensorSignature> model_outputs(const Graph& g) {
  std::vector<TensorSignature> out;
  for (const Output& o : g.outputs()) {
    bool valid = o.value.valid() && o.value.id < g.size();
    out.push_back({o.name, valid ? g.type(o.value) : TensorType{}});
  }
  return out;
}

std::vector<uint8_t> serialize_model(const ModelFile& m) {
  size_t total = graph_bytes_estimate(m.graph);
  for (const NamedTensor& t : m.parameters)
    total += tensor_size_estimate("serialize_model: parameter", t.name, t.type, t.bytes);
  KILN_CHECK(total < kMaxFileBytes, "serialize_model: model '" + m.graph.name() +
                                        "' exceeds flatbuffers' 2 GiB limit");
  FlatBufferBuilder b(4096 + total);
  b.ForceDefaults(true);
  auto graph = write_graph(b, m.graph);
  std::vector<Offset<fb::Tensor>> params;
  for (const NamedTensor& t : m.parameters)
    params.push_back(write_tensor(b, t.name, t.type, t.bytes));
  auto pv = b.CreateVector(params);
  auto inputs = write_signature(b, model_inputs(m.graph));
  auto iv = b.CreateVector(inputs);
  auto outputs = write_signature(b, model_outputs(m.graph));
  auto ov = b.CreateVector(outputs);
  auto meta = b.CreateVector(write_key_values(b, m.metadata));
  b.Finish(fb::CreateModel(b, kModelFormatVersion, graph, pv, iv, ov, meta),
           fb::ModelIdentifier());
  return finish(b);
}

Expected<ModelFile> deserialize_model(std::span<const uint8_t> bytes, const std::string& source) {
  Envelope env;
  const fb::Model& fm = *KILN_TRY(env.open<fb::Model>(bytes, source, kModelKind));
  const std::string at = source + ": ";
  if (!fm.graph()) return Error(at + "missing graph");
  if (fm.graph()->version() != kGraphFormatVersion)
    return Error(at + "graph format version " + std::to_string(fm.graph()->version()) +
                 ", this kiln reads version " + std::to_string(kGraphFormatVersion));
  ModelFile m;
  Budget budget(bytes.size());
  m.graph = KILN_TRY(read_graph(*fm.graph(), at + "graph: ", budget));
  KILN_RETURN_IF_ERROR(check_signature(fm.inputs(), model_inputs(m.graph), "input", at));
  KILN_RETURN_IF_ERROR(check_signature(fm.outputs(), model_outputs(m.graph), "output", at));
  std::set<std::string> names;
  if (const auto* params = fm.parameters()) {
    for (flatbuffers::uoffset_t i = 0; i < params->size(); ++i) {
      NamedTensor t = KILN_TRY(read_parameter(*params->Get(i), i, m.graph, at, budget));
      if (!names.insert(t.name).second)
        return Error(at + "parameter " + std::to_string(i) + " \"" + t.name +
                     "\": duplicate name");
      m.parameters.push_back(std::move(t));
    }
  }
  m.metadata = KILN_TRY(read_metadata(fm.metadata(), at, budget));
  return m;
}

}  // namespace kiln
