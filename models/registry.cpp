// Model registry storage.
#include "models/registry.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/atomic_file.h"
#include "runtime/train/curves.h"

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

Status check_run_options(const ModelEntry& m, const RunOptions& o) {
  struct Given {
    bool set;
    uint32_t needs;
    const char* flag;
  };
  const Given given[] = {
      {!o.data.empty(), kOptData, "--data"},
      {!o.output.empty(), kOptOutput, "--output"},
      {!o.plot.empty(), kOptPlot, "--plot"},
      {!o.save.empty(), kOptCheckpoint | kOptSave, "--save"},
      {!o.resume.empty(), kOptCheckpoint, "--resume"},
      {o.limit > 0, kOptLimit, "--limit"},
      {!std::isnan(o.wd), kOptOptimizer, "--wd"},
      {!o.optimizer.empty(), kOptOptimizer, "--optimizer"},
      {!std::isnan(o.momentum), kOptOptimizer, "--momentum"},
      {o.size > 0, kOptSize, "--size"},
      {!o.corpus.empty(), kOptText, "--corpus"},
      {o.max_tokens >= 0, kOptText, "--max-tokens"},
      {o.random_sampling, kOptText, "--random-sampling"},
      {o.hidden > 0, kOptText, "--hidden"},
      {o.min_freq >= 0, kOptTranslation, "--min-freq"},
      {o.reverse, kOptTranslation, "--reverse"},
  };
  for (const Given& g : given)
    if (g.set && !(m.options & g.needs)) {
      std::string takes;
      for (const Given& h : given)
        if (m.options & h.needs) takes += std::string(takes.empty() ? "" : ", ") + h.flag;
      return Error("model '" + m.name + "' does not use " + g.flag + " (it takes " +
                   (takes.empty() ? "only the common options" : takes) + ")");
    }
  for (const std::string* path : {&o.output, &o.plot, &o.save})
    if (!path->empty()) KILN_RETURN_IF_ERROR(check_writable(*path));
  if (!o.plot.empty()) {
    KILN_RETURN_IF_ERROR(check_writable(curves_csv_path(o.plot)));
  }
  return Status::Ok();
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
