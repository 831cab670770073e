// Graph and model files (ir/serialize.h): a graph with every attribute kind, source
// locations and odd names survives bytes -> graph and prints identically; model files keep
// their parameters (64-byte aligned in the buffer), signature and metadata; a table of
// corrupted inputs each gives its expected message naming the source and the field; and
// thousands of mutated buffers never crash a loader.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "fuzz/mutate.h"
#include "fuzz/samples.h"
#include "graph_generated.h"
#include "ir/printer.h"
#include "ir/serialize.h"
#include "ir/verifier.h"
#include "loader_cases.h"
#include "model_generated.h"

using namespace kiln;

namespace {

using fuzz::every_attr_graph;
using fuzz::indexing_graph;
using fuzz::sample_model;
using fuzz::tt;

std::string printed(const Graph& g) { return print_graph(g, PrintOptions{.locations = true}); }

Graph load(const std::vector<uint8_t>& bytes, const std::string& source = "g.kgraph") {
  Expected<Graph> g = deserialize_graph(bytes, source);
  INFO((g.ok() ? std::string() : g.error().message()));
  REQUIRE(g.ok());
  return std::move(*g);
}

std::string graph_error(std::span<const uint8_t> bytes) {
  return testing::load_error(deserialize_graph, bytes, "bad.kgraph");
}

std::string model_error(std::span<const uint8_t> bytes) {
  return testing::load_error(deserialize_model, bytes, "bad.kmodel");
}

int first_node(const Graph& g, OpKind op) {
  for (const Node& n : g.nodes())
    if (n.op == op) return n.id;
  FAIL("no such node");
  return -1;
}

// A graph written by hand with the generated API: one iota node whose `axis` attribute
// is given by `make_attr`, so tests can write what serialize_graph never would.
template <typename F>
std::vector<uint8_t> raw_iota_graph(F make_attr) {
  flatbuffers::FlatBufferBuilder b;
  auto attr = make_attr(b);
  std::vector<flatbuffers::Offset<fb::Attr>> attrs{attr};
  std::vector<int64_t> shape{4};
  auto node = fb::CreateNodeDirect(b, "iota", nullptr, &attrs, fb::DType::I32, &shape);
  std::vector<flatbuffers::Offset<fb::Node>> nodes{node};
  b.Finish(fb::CreateGraphDirect(b, kGraphFormatVersion, "raw", &nodes), fb::GraphIdentifier());
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

}  // namespace

TEST_CASE("graph round trip: every attribute kind prints identically", "[serialize]") {
  Graph g = every_attr_graph();
  std::vector<uint8_t> bytes = serialize_graph(g);
  REQUIRE(bytes.size() > 8);
  CHECK(std::memcmp(bytes.data() + 4, "KGRF", 4) == 0);
  Graph back = load(bytes);
  CHECK(printed(back) == printed(g));
  CHECK(back.name() == g.name());
  REQUIRE(back.size() == g.size());
  for (int i = 0; i < g.size(); ++i) {
    const Node& a = g.node(i);
    const Node& b = back.node(i);
    CHECK(a.loc.file == b.loc.file);
    CHECK(a.loc.line == b.loc.line);
    CHECK(a.loc.column == b.loc.column);
    CHECK(a.name == b.name);
    CHECK(a.attrs == b.attrs);
  }
  // -0.0 keeps its sign (flatbuffers would drop a field equal to its default 0.0).
  const double init_a = back.node(1).attrs.f("init_a");
  CHECK(std::signbit(init_a));
  // Writing is deterministic.
  CHECK(serialize_graph(back) == bytes);
}

TEST_CASE("graph round trip: indexing and reduction ops", "[serialize]") {
  Graph g = indexing_graph();
  Graph back = load(serialize_graph(g));
  CHECK(printed(back) == printed(g));
}

TEST_CASE("graph round trip: empty graph and unaligned input", "[serialize]") {
  Graph empty;
  Graph back = load(serialize_graph(empty));
  CHECK(back.size() == 0);
  CHECK(printed(back) == printed(empty));

  // A buffer at an odd address is copied to an aligned one before reading.
  std::vector<uint8_t> bytes = serialize_graph(every_attr_graph());
  std::vector<uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  Expected<Graph> g = deserialize_graph(std::span(shifted).subspan(1), "odd.kgraph");
  REQUIRE(g.ok());
  CHECK(printed(*g) == printed(every_attr_graph()));
}

TEST_CASE("model round trip: graph, parameters, signature, metadata", "[serialize]") {
  ModelFile m = sample_model();
  std::vector<uint8_t> bytes = serialize_model(m);
  CHECK(std::memcmp(bytes.data() + 4, "KMDL", 4) == 0);
  Expected<ModelFile> back = deserialize_model(bytes, "m.kmodel");
  INFO((back.ok() ? std::string() : back.error().message()));
  REQUIRE(back.ok());
  CHECK(printed(back->graph) == printed(m.graph));
  REQUIRE(back->parameters.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(back->parameters[i].name == m.parameters[i].name);
    CHECK(back->parameters[i].type == m.parameters[i].type);
    CHECK(back->parameters[i].bytes == m.parameters[i].bytes);
  }
  CHECK(back->metadata == m.metadata);

  // The recorded signature is the graph's interface, readable without the graph.
  const fb::Model* fm = fb::GetModel(bytes.data());
  REQUIRE(fm->inputs()->size() == 1);
  CHECK(fm->inputs()->Get(0)->name()->str() == "x");
  REQUIRE(fm->outputs()->size() == 2);
  CHECK(fm->outputs()->Get(0)->name()->str() == "y");
  CHECK(model_outputs(m.graph)[0].type == tt(DType::f32, {2, 8}));
  // Weights sit 64-byte aligned relative to the start of the buffer.
  for (flatbuffers::uoffset_t i = 0; i < fm->parameters()->size(); ++i) {
    const uint8_t* data = fm->parameters()->Get(i)->data()->data();
    CHECK((data - bytes.data()) % 64 == 0);
  }
}

TEST_CASE("graph loader: corrupted inputs give messages naming source and field",
          "[serialize]") {
  const Graph g = every_attr_graph();
  testing::CorruptCases<fb::Graph> cases(serialize_graph(g), "bad.kgraph");
  const std::vector<uint8_t>& valid = cases.valid();
  const int mm = first_node(g, OpKind::Matmul);
  const std::string mm_at = "node " + std::to_string(mm) + " (matmul): ";
  // Node `i` of a graph.
  auto node = [](fb::Graph* r, int i) { return r->mutable_nodes()->GetMutableObject(i); };

  cases.add_envelope({.name = "kiln graph file",
                      .corrupt = "kiln graph file",
                      .format = "graph",
                      .short_size = 4,
                      .cuts = {12, valid.size() / 3, valid.size() / 2, valid.size() - 8},
                      .noise_bytes = 200,
                      .noise_seed = 7});
  {
    ModelFile m;
    m.graph = g;
    cases.add("a model given to the graph reader", serialize_model(m),
              "not a kiln graph file: found a kiln model, expected identifier 'KGRF'");
  }
  cases.add_patched("input out of range",
                    [&](fb::Graph* r) { node(r, mm)->mutable_inputs()->Mutate(0, 40); },
                    "bad.kgraph: " + mm_at + "input 40 out of range");
  cases.add_patched("forward input",
                    [&](fb::Graph* r) { node(r, mm)->mutable_inputs()->Mutate(1, mm + 1); },
                    mm_at + "input " + std::to_string(mm + 1) + " is not an earlier node");
  cases.add_patched("unknown op",
                    [&](fb::Graph* r) {
                      flatbuffers::String* op = node(r, mm)->mutable_op();
                      op->data()[5] = 'x';  // "matmul" -> "matmux" (the string is shared)
                    },
                    "node " + std::to_string(mm) + ": unknown op 'matmux'");
  cases.add_patched("unknown dtype value",
                    [&](fb::Graph* r) { node(r, 0)->mutate_dtype(static_cast<fb::DType>(9)); },
                    "node 0 (input): type: unknown dtype value 9");
  cases.add_patched("negative dim",
                    [&](fb::Graph* r) { node(r, 0)->mutable_shape()->Mutate(0, -2); },
                    "node 0 (input): type: negative dimension -2");
  cases.add_patched("element count overflow",
                    [&](fb::Graph* r) {
                      auto* shape = node(r, 1)->mutable_shape();
                      shape->Mutate(0, int64_t{1} << 39);
                      shape->Mutate(1, int64_t{1} << 39);
                    },
                    "node 1 (parameter): type: element count of [549755813888,549755813888] "
                    "exceeds");
  cases.add_patched("stale type",
                    [&](fb::Graph* r) { node(r, mm)->mutable_shape()->Mutate(1, 5); },
                    "stored type f32[2,5] but inferred f32[2,4]");
  cases.add_patched("output out of range",
                    [](fb::Graph* r) {
                      r->mutable_outputs()->GetMutableObject(0)->mutate_value(99);
                    },
                    "bad.kgraph: output 0 \"y\": node 99 out of range");
  cases.add_patched("state update target out of range",
                    [](fb::Graph* r) {
                      r->mutable_state_updates()->GetMutableObject(0)->mutate_state(-1);
                    },
                    "state update 0 state: node -1 out of range");
  cases.add("unknown attribute kind", raw_iota_graph([](flatbuffers::FlatBufferBuilder& b) {
              return fb::CreateAttr(b, b.CreateString("axis"), static_cast<fb::AttrValue>(42),
                                    fb::CreateIntAttr(b, 0).Union());
            }),
            "node 0 (iota): attribute 'axis': unknown attribute kind 42");
  cases.add("attribute without value", raw_iota_graph([](flatbuffers::FlatBufferBuilder& b) {
              return fb::CreateAttr(b, b.CreateString("axis"), fb::AttrValue::IntAttr);
            }),
            "node 0 (iota): attribute 'axis': has no value");
  cases.add("attribute of the wrong kind", raw_iota_graph([](flatbuffers::FlatBufferBuilder& b) {
              return fb::CreateAttr(b, b.CreateString("axis"), fb::AttrValue::FloatAttr,
                                    fb::CreateFloatAttr(b, 0.0).Union());
            }),
            "node 0 (iota): attribute 'axis' must be int, got float");
  cases.add("misnamed attribute", raw_iota_graph([](flatbuffers::FlatBufferBuilder& b) {
              return fb::CreateAttr(b, b.CreateString("axes"), fb::AttrValue::IntAttr,
                                    fb::CreateIntAttr(b, 0).Union());
            }),
            "node 0 (iota): missing attribute 'axis'");
  // The first attribute of the first node of `op`.
  auto first_attr = [&](fb::Graph* r, OpKind op) {
    return node(r, first_node(g, op))->mutable_attrs()->GetMutableObject(0);
  };
  cases.add_patched("attribute dtype value unknown",
                    [&](fb::Graph* r) {
                      auto* attr = first_attr(r, OpKind::Cast);
                      const_cast<fb::DTypeAttr*>(attr->value_as_DTypeAttr())
                          ->mutate_value(static_cast<fb::DType>(200));
                    },
                    "(cast): attribute 'dtype': unknown dtype value 200");
  cases.add_patched("huge ints attribute",
                    [&](fb::Graph* r) {
                      auto* attr = first_attr(r, OpKind::Broadcast);
                      const_cast<fb::IntsAttr*>(attr->value_as_IntsAttr())
                          ->mutable_value()
                          ->Mutate(0, std::numeric_limits<int64_t>::max());
                    },
                    "(broadcast): attribute 'shape': value 9223372036854775807 out of range");
  cases.check(deserialize_graph);
}

TEST_CASE("model loader: corrupted inputs give messages naming source and field",
          "[serialize]") {
  const ModelFile m = sample_model();
  const std::vector<uint8_t> valid = serialize_model(m);
  auto patched = [&](auto&& edit) { return testing::patched<fb::Model>(valid, edit); };
  CHECK_THAT(model_error({}), Catch::Contains("bad.kmodel: empty file (expected a kiln model file)"));
  CHECK_THAT(model_error(serialize_graph(m.graph)),
             Catch::Contains("not a kiln model file: found a kiln graph"));
  CHECK_THAT(model_error(patched([](fb::Model* r) { r->mutate_version(2); })),
             Catch::Contains("bad.kmodel: model format version 2, this kiln reads version 1"));
  CHECK_THAT(model_error(patched([](fb::Model* r) { r->mutable_graph()->mutate_version(7); })),
             Catch::Contains("bad.kmodel: graph format version 7, this kiln reads version 1"));
  CHECK_THAT(model_error(patched([](fb::Model* r) {
               r->mutable_graph()->mutable_nodes()->GetMutableObject(3)->mutate_dtype(
                   static_cast<fb::DType>(77));
             })),
             Catch::Contains("bad.kmodel: graph: node 3 (constant): type: unknown dtype value 77"));
  // Data size mismatch: the shape says 16 floats, the data holds 12.
  CHECK_THAT(model_error(patched([](fb::Model* r) {
               r->mutable_parameters()->GetMutableObject(0)->mutable_shape()->Mutate(0, 4);
             })),
             Catch::Contains("bad.kmodel: parameter 0 \"net.fc1.weight\": data has 48 bytes, "
                             "f32[4,4] needs 64"));
  CHECK_THAT(model_error(patched([](fb::Model* r) {
               r->mutable_parameters()->GetMutableObject(1)->mutate_dtype(fb::DType::F64);
             })),
             Catch::Contains("parameter 1 \"step\": f64[] but the graph's leaf is i64[]"));
  CHECK_THAT(model_error(patched([](fb::Model* r) {
               r->mutable_inputs()->GetMutableObject(0)->mutate_dtype(fb::DType::I32);
             })),
             Catch::Contains("input 0 \"x\": i32[2,3] does not match the graph's \"x\" f32[2,3]"));
  {
    ModelFile bad = m;
    bad.parameters[1].name = "x";  // an input, not a parameter
    bad.parameters[1].type = tt(DType::f32, {2, 3});
    bad.parameters[1].bytes.assign(24, 0);
    CHECK_THAT(model_error(serialize_model(bad)),
               Catch::Contains("parameter 1 \"x\": the graph has no parameter or state leaf"));
    bad = m;
    bad.parameters[1] = bad.parameters[0];
    CHECK_THAT(model_error(serialize_model(bad)),
               Catch::Contains("parameter 1 \"net.fc1.weight\": duplicate name"));
    bad = m;
    bad.metadata.push_back({"image_size", "32x32"});
    CHECK_THAT(model_error(serialize_model(bad)),
               Catch::Contains("metadata 3: duplicate key \"image_size\""));
  }
}

TEST_CASE("graph loader: a table referenced many times cannot amplify memory", "[serialize]") {
  // One constant node with 100,000 values, referenced as 2,000 nodes: a 0.8 MB file that
  // would decode into 1.6 GB of copies.
  flatbuffers::FlatBufferBuilder b;
  std::vector<double> values(100000, 1.0);
  std::vector<flatbuffers::Offset<fb::Attr>> attrs{fb::CreateAttr(
      b, b.CreateString("data"), fb::AttrValue::FloatsAttr,
      fb::CreateFloatsAttr(b, b.CreateVector(values)).Union())};
  std::vector<int64_t> shape{100000};
  auto node = fb::CreateNodeDirect(b, "constant", nullptr, &attrs, fb::DType::F64, &shape);
  std::vector<flatbuffers::Offset<fb::Node>> nodes(2000, node);
  b.Finish(fb::CreateGraphDirect(b, kGraphFormatVersion, "amplified", &nodes),
           fb::GraphIdentifier());
  std::vector<uint8_t> bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  CHECK_THAT(graph_error(bytes), Catch::Contains("decoded data exceeds 16 times the file size"));
  // The same node referenced twice is fine.
  nodes.resize(2);
  flatbuffers::FlatBufferBuilder b2;
  auto attrs2 = std::vector<flatbuffers::Offset<fb::Attr>>{fb::CreateAttr(
      b2, b2.CreateString("data"), fb::AttrValue::FloatsAttr,
      fb::CreateFloatsAttr(b2, b2.CreateVector(values)).Union())};
  auto node2 = fb::CreateNodeDirect(b2, "constant", nullptr, &attrs2, fb::DType::F64, &shape);
  std::vector<flatbuffers::Offset<fb::Node>> two(2, node2);
  b2.Finish(fb::CreateGraphDirect(b2, kGraphFormatVersion, "shared", &two), fb::GraphIdentifier());
  Expected<Graph> ok = deserialize_graph(std::span(b2.GetBufferPointer(), b2.GetSize()), "shared");
  INFO((ok.ok() ? std::string() : ok.error().message()));
  CHECK(ok.ok());
}

TEST_CASE("graph and model loaders survive thousands of mutated buffers", "[serialize][fuzz]") {
  const std::vector<uint8_t> graphs[] = {serialize_graph(every_attr_graph()),
                                          serialize_graph(indexing_graph())};
  const std::vector<uint8_t> model = serialize_model(sample_model());
  std::mt19937_64 rng(20240611);
  testing::FuzzTally tally;
  for (int iter = 0; iter < 10000; ++iter) {
    tally.run(deserialize_graph, fuzz::mutant(graphs[iter % 2], "KGRF", iter, rng), "fuzz.kgraph",
              [](const Graph& g) {
                REQUIRE(verify(g).ok());
                Expected<Graph> again = deserialize_graph(serialize_graph(g), "again");
                REQUIRE(again.ok());
                REQUIRE(printed(*again) == printed(g));
              });
    tally.run(deserialize_model, fuzz::mutant(model, "KMDL", iter, rng), "fuzz.kmodel",
              [](const ModelFile& m) {
                for (const NamedTensor& t : m.parameters) REQUIRE(t.bytes.size() == t.type.bytes());
              });
  }
  CHECK(tally.refused > 5000);  // most mutations are caught...
  CHECK(tally.loaded > 10);     // ...and some (e.g. in names or float values) are harmless
}
