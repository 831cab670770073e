// Reverse-mode automatic differentiation as a rule-table driver (DESIGN.md
// convention 6). The driver walks the graph backwards from the loss, calls each op's
// gradient rule from the registry (rules are written with the DSL, so the gradients are
// ordinary IR nodes appended to the same graph and can be differentiated again), sums
// the contributions flowing into each value, and reports an error naming the op and the
// node's SourceLoc when a needed rule is missing.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace kiln {

// Appends nodes computing d(loss)/d(w) for every w in `wrt` and returns them, in order.
// `loss` must be a float scalar. A w the loss does not depend on gets a zero constant of
// w's type. `loc` is used for error messages about the call itself and for the seed.
Expected<std::vector<Value>> gradients(Graph& g, Value loss, const std::vector<Value>& wrt,
                                       SourceLoc loc = {});

// Same, with the gradient rule of each op looked up by `rules` instead of the registry
// (tests use it to check the missing-rule error; passes may use it to override rules).
using GradRuleLookup = GradFn (*)(OpKind);
Expected<std::vector<Value>> gradients_with_rules(Graph& g, Value loss,
                                                  const std::vector<Value>& wrt,
                                                  GradRuleLookup rules, SourceLoc loc = {});

}  // namespace kiln
