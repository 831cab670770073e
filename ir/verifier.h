// Structural and type verification of a graph. Messages name the node (%id), the op,
// the shapes and the SourceLoc.
#pragma once

#include "ir/graph.h"

namespace kiln {

// Checks: ids dense and in topological order, inputs in range, op arity and attribute
// kinds, the stored type equals re-inferred type, outputs/state updates valid, state
// updates target parameter/state leaves with matching types, leaf names unique.
Status verify(const Graph& g);

}  // namespace kiln
