// The training-step graph of every zoo model (forward, loss, backward and optimizer update
// after the pass pipeline) survives graph -> bytes -> graph and prints identically, with
// source locations; the model-file form (graph plus parameter values) round-trips too.
// house_prices reads its CSVs from the shared data folder (KILN_SHARED_DATA); no model is
// skipped.
#include <catch2/catch.hpp>

#include "ir/printer.h"
#include "ir/serialize.h"
#include "ir/state.h"
#include "models/registry.h"
#include "shared_data.h"

using namespace kiln;

namespace {

std::string printed(const Graph& g) { return print_graph(g, PrintOptions{.locations = true}); }

// Deterministic values for every parameter/state leaf, as a model file would carry them.
std::vector<NamedTensor> leaf_values(const Graph& g) {
  std::vector<NamedTensor> out;
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Parameter && n.op != OpKind::State) continue;
    NamedTensor t{n.name, n.type, std::vector<uint8_t>(n.type.bytes())};
    for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes[i] = static_cast<uint8_t>(i * 31 + n.id);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

TEST_CASE("every zoo model's training graph round-trips through a graph file", "[serialize][zoo]") {
  std::vector<const ModelEntry*> models = all_models();
  REQUIRE(models.size() >= 7);
  for (const ModelEntry* entry : models) {
    INFO(entry->name);
    RunOptions o;
    o.epochs = 1;
    o.limit = 16;
    o.progress = false;
    if (entry->name == "house_prices") o.data = testing::shared_data_dir();
    if (entry->options & kOptText) o.corpus = testing::shared_data_dir() + "/timemachine.txt";
    if (entry->options & kOptTranslation) {
      o.data = testing::shared_data_dir() + "/fr-en-small.txt";
      o.limit = -1;  // every pair, so the vocabularies are the file's
    }
    Expected<SupervisedSpec> spec = entry->spec(o);
    INFO((spec.ok() ? std::string() : spec.error().message()));
    REQUIRE(spec.ok());
    Expected<Graph> g = build_graph(*spec, GraphKind::Train, 4);
    INFO((g.ok() ? std::string() : g.error().message()));
    REQUIRE(g.ok());
    REQUIRE(g->size() > 5);
    REQUIRE(!g->state_updates().empty());

    std::vector<uint8_t> bytes = serialize_graph(*g);
    Expected<Graph> back = deserialize_graph(bytes, entry->name + ".kgraph");
    INFO((back.ok() ? std::string() : back.error().message()));
    REQUIRE(back.ok());
    CHECK(printed(*back) == printed(*g));
    for (int i = 0; i < g->size(); ++i) {
      CHECK(back->node(i).loc.file == g->node(i).loc.file);
      CHECK(back->node(i).loc.column == g->node(i).loc.column);
    }

    ModelFile m{*g, leaf_values(*g), {{"model", entry->name}, {"batch", "4"}}};
    Expected<ModelFile> mb = deserialize_model(serialize_model(m), entry->name + ".kmodel");
    INFO((mb.ok() ? std::string() : mb.error().message()));
    REQUIRE(mb.ok());
    CHECK(printed(mb->graph) == printed(*g));
    REQUIRE(mb->parameters.size() == m.parameters.size());
    for (size_t i = 0; i < m.parameters.size(); ++i) {
      CHECK(mb->parameters[i].name == m.parameters[i].name);
      CHECK(mb->parameters[i].bytes == m.parameters[i].bytes);
    }
    CHECK(mb->metadata == m.metadata);
  }
}
