// simplify: constant folding, common-subexpression elimination, algebraic identities
// and dead-code elimination, iterated to a fixed point.
#pragma once

#include "passes/pass.h"

namespace kiln {

struct SimplifyOptions {
  // Fold nodes whose inputs are all constants when the result is a splat or has at most
  // this many elements (bigger folded tensors would bloat the graph).
  int64_t max_folded_elements = 4096;
};

class SimplifyPass : public Pass {
 public:
  explicit SimplifyPass(SimplifyOptions opts = {}) : opts_(opts) {}
  std::string name() const override { return "simplify"; }
  Expected<bool> run(Graph& g) override;

 private:
  SimplifyOptions opts_;
};

// Individual rewrites, exposed for tests and for kiln-opt style use.
Expected<bool> fold_constants(Graph& g, int64_t max_elements = 4096);
bool eliminate_common_subexpressions(Graph& g);
bool apply_algebraic_identities(Graph& g);
bool eliminate_dead_code(Graph& g);

}  // namespace kiln
