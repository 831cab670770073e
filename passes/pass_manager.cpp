// PassManager: runs passes in order, verifying and timing each.
#include <chrono>

#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln {

Status PassManager::run(Graph& g) {
  timings_.clear();
  for (auto& pass : passes_) {
    auto start = std::chrono::steady_clock::now();
    Expected<bool> changed = pass->run(g);
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!changed.ok()) return changed.error().wrap("pass '" + pass->name() + "'");
    timings_.push_back({pass->name(), secs, *changed, g.size()});
    if (verify_) {
      Status st = verify(g);
      if (!st.ok()) return st.error().wrap("verifier after pass '" + pass->name() + "'");
    }
    if (after_) after_(pass->name(), g);
  }
  return Status::Ok();
}

}  // namespace kiln
