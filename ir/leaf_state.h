// How a parameter or state leaf describes itself: its StateKind, StateScope and
// initializer, read from its typed attributes (init, init_a, init_b; states also kind
// and scope). The leaf ops' shape rules validate them with the same function, so a
// graph that verified always answers.
#pragma once

#include "ir/graph.h"
#include "ir/state.h"

namespace kiln {

struct LeafState {
  StateKind kind = StateKind::Parameter;
  StateScope scope = StateScope::Model;
  InitSpec init;
};

// For parameter and state leaves; an error naming the problem otherwise.
Expected<LeafState> leaf_state(const Node& leaf);

}  // namespace kiln
