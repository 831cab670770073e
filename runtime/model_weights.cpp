// Parameters of kiln model files for the runtime (see runtime/model_weights.h).
#include "runtime/model_weights.h"

#include <set>

#include <flatbuffers/flatbuffers.h>

#include "ir/schema/flatbuffer_io.h"
#include "ir/schema/format_versions.h"
#include "model_generated.h"
#include "runtime/atomic_file.h"

namespace kiln {
namespace {

using namespace fbio;

const FileKind kModelKind{"kiln model file", "kiln model file", "model", "KMDL",
                          kModelFormatVersion, fb::Model::VT_VERSION};

}  // namespace

Expected<std::vector<ModuleWeight>> read_model_weights(std::span<const uint8_t> bytes,
                                                       const std::string& source) {
  Envelope env;
  const fb::Model& fm = *KILN_TRY(env.open<fb::Model>(bytes, source, kModelKind));
  const std::string at = source + ": ";
  Budget budget(bytes.size());
  std::vector<ModuleWeight> out;
  std::set<std::string> names;
  for (flatbuffers::uoffset_t i = 0; i < elems(fm.parameters()); ++i) {
    const fb::Tensor& t = *fm.parameters()->Get(i);
    std::string where = at + "parameter " + std::to_string(i);
    ModuleWeight w;
    w.name = KILN_TRY(read_tensor_name(t, where, budget));
    if (!names.insert(w.name).second) return Error(where + "duplicate name");
    Expected<TensorType> type = read_type(t.dtype(), t.shape());
    if (!type.ok()) return Error(where + type.error().message());
    w.type = std::move(*type);
    Expected<std::vector<uint8_t>> data = read_data(t, w.type);
    if (!data.ok()) return Error(where + data.error().message());
    w.bytes = std::move(*data);
    out.push_back(std::move(w));
  }
  return out;
}

Expected<std::vector<ModuleWeight>> load_model_weights(const std::string& path) {
  Expected<std::string> contents = read_file(path);
  if (!contents.ok()) return contents.error();
  return read_model_weights(
      {reinterpret_cast<const uint8_t*>(contents->data()), contents->size()}, path);
}

Expected<std::vector<ModuleWeight>> weights_for_plan(const ExecutablePlan& plan,
                                                     std::vector<ModuleWeight> all,
                                                     const std::string& source) {
  std::set<std::string> model_state, have;
  for (const PlanBuffer& b : plan.buffers)
    if (b.kind == PlanBufferKind::State && b.scope == StateScope::Model) model_state.insert(b.name);
  std::vector<ModuleWeight> out;
  for (ModuleWeight& w : all)
    if (model_state.count(w.name)) {
      have.insert(w.name);
      out.push_back(std::move(w));
    }
  for (const PlanBuffer& b : plan.buffers)
    if (b.kind == PlanBufferKind::State && b.scope == StateScope::Model &&
        b.state_kind == StateKind::Parameter && !have.count(b.name))
      return Error(source + ": no value for parameter '" + b.name + "' of plan '" + plan.name +
                   "'");
  return out;
}

}  // namespace kiln
