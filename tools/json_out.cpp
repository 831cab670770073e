// JSON and text rendering of run reports for `kiln train` and `kiln eval`.
#include "tools/json_out.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "models/registry.h"

namespace kiln::cli {

std::string json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace);
}

nlohmann::ordered_json report_json(const RunReport& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  for (const auto& [k, v] : r.metrics) {
    bool count = k == "epochs" || k == "folds" || k == "features" || k == "examples" ||
                 k == "tokens" || k == "vocab_size";
    if (count && std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
      j[k] = static_cast<long long>(v);
    } else {
      j[k] = v;  // NaN and infinities dump as null
    }
  }
  for (const auto& [k, v] : r.notes) j[k] = v;
  return j;
}

void print_report(const RunReport& r, bool json) {
  for (const auto& [k, v] : r.metrics) std::printf("%-22s %.6g\n", k.c_str(), v);
  for (const auto& [k, v] : r.notes) std::printf("%-22s %s\n", k.c_str(), v.c_str());
  if (json) std::printf("%s\n", json_line(report_json(r)).c_str());
  std::fflush(stdout);
}

}  // namespace kiln::cli
