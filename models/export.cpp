// export_model: build the graph the way `kiln train` / `kiln eval` do (models/harness.h),
// then take each leaf's value from the checkpoint by name.
#include "models/export.h"

#include <map>

#include "ir/leaf_state.h"
#include "models/run_common.h"
#include "runtime/checkpoint.h"

namespace kiln {

namespace {

const char* graph_kind_name(bool train) { return train ? "train" : "predict"; }

// The checkpoint's value of every parameter/state leaf of `g`. Inference needs every
// value (a missing weight would silently be its initializer); a training step may start
// leaves the checkpoint lacks (a fresh optimizer slot) from their initializers.
Expected<std::vector<NamedTensor>> leaf_values(const Graph& g, const CheckpointData& ck,
                                               const std::string& path, bool train) {
  std::map<std::string, const CheckpointTensor*> by_name;
  for (const CheckpointTensor& t : ck.tensors) by_name[t.name] = &t;
  std::vector<NamedTensor> out;
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Parameter && n.op != OpKind::State) continue;
    auto it = by_name.find(n.name);
    if (it == by_name.end()) {
      LeafState ls = KILN_TRY(leaf_state(n));
      if (train || ls.scope == StateScope::Executable) continue;
      return Error(path + ": holds no value for '" + n.name + "' (" + n.type.to_string() +
                   "), which the model's " + graph_kind_name(train) + " graph reads");
    }
    const CheckpointTensor& t = *it->second;
    if (t.type != n.type)
      return Error(path + ": '" + n.name + "' is " + t.type.to_string() + ", but the model's " +
                   graph_kind_name(train) + " graph has " + n.type.to_string());
    out.push_back({n.name, t.type, t.bytes});
  }
  return out;
}

}  // namespace

Expected<ModelFile> export_model(const ModelEntry& model, const ExportOptions& opts) {
  if (!model.spec)
    return Error("model '" + model.name + "' cannot be exported (it has no graph definition)");
  if (opts.checkpoint.empty()) return Error("export needs --checkpoint FILE");
  if (opts.batch < 1) return Error("export: the batch size must be at least 1");
  RunOptions ro;
  ro.size = opts.size;
  SupervisedSpec spec = KILN_TRY(model.spec(ro));
  CheckpointData ck = KILN_TRY(load_checkpoint(opts.checkpoint));
  if (ck.model != spec.name)
    return Error(opts.checkpoint + ": checkpoint of model '" + ck.model + "', not '" + spec.name + "'");
  KILN_RETURN_IF_ERROR(check_example_shape(ck, opts.checkpoint, spec.example_shape));

  ModelFile file;
  file.graph = KILN_TRY(build_graph(spec, opts.train ? GraphKind::Train : GraphKind::Predict,
                                    opts.batch));
  file.parameters = KILN_TRY(leaf_values(file.graph, ck, opts.checkpoint, opts.train));
  file.metadata = {{"kiln.model", model.name},
                   {"kiln.graph", graph_kind_name(opts.train)},
                   {"kiln.batch", std::to_string(opts.batch)},
                   {"kiln.example_shape", spec.example_shape.to_string()},
                   {"kiln.trained_epochs", std::to_string(ck.epoch)}};
  for (const auto& kv : spec.metadata) file.metadata.push_back(kv);
  // What the training run recorded: house_prices' feature columns, the language and
  // translation models' vocabularies and sequence lengths, the run's settings.
  for (const auto& [key, value] : ck.metadata) {
    bool present = false;
    for (const auto& kv : file.metadata) present = present || kv.first == key;
    if (!present) file.metadata.push_back({key, value});
  }
  return file;
}

}  // namespace kiln
