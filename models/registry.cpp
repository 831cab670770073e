// Model registry storage.
#include "models/registry.h"

#include <algorithm>
#include <map>

namespace kiln {

static std::map<std::string, ModelEntry>& registry() {
  static std::map<std::string, ModelEntry> r;
  return r;
}

ModelRegistration::ModelRegistration(ModelEntry entry) {
  std::string name = entry.name;
  registry()[name] = std::move(entry);
}

const ModelEntry* find_model(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<const ModelEntry*> all_models() {
  std::vector<const ModelEntry*> out;
  for (auto& [name, e] : registry()) out.push_back(&e);
  return out;
}

void RunReport::set(const std::string& k, double v) {
  for (auto& [name, value] : metrics)
    if (name == k) {
      value = v;
      return;
    }
  metrics.push_back({k, v});
}

double RunReport::get(const std::string& k, double dflt) const {
  for (auto& [name, value] : metrics)
    if (name == k) return value;
  return dflt;
}

}  // namespace kiln
