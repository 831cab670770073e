// Concatenation by placement: a kernel that only stacks other kernels' outputs (a concat
// along an axis with nothing but size-1 axes before it, seen through reshapes) is not
// run; each piece's kernel writes straight into its slice of the stacked buffer, as
// XLA's buffer assignment does for in-place concatenation. The recurrent layers'
// per-step hidden states and gate gradients, stacked for the output layer and for the
// weight gradients, are the case this is for: the stacking copy was a pass over a
// [T*B, gates*H] buffer per step of training, besides writing every piece twice.
//
// A piece qualifies when it is another kernel's output (not a buffer leaf, a graph
// output or a state's storage), appears once in the concat and in no other placement,
// and starts at a multiple of 64 bytes in the stack (the arena's alignment). The stacked
// buffer then lives from its first piece's kernel to the last use of the stack or of any
// piece, and the pieces are views into it (kir::Buffer::alias_of).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "passes/fusion.h"

namespace kiln {

struct ConcatPlacement {
  int kernel = -1;   // index in FusionPlan::kernels of the stacking kernel (not run)
  NodeId root = -1;  // its root, the stacked value
  std::vector<std::pair<NodeId, int64_t>> pieces;  // (piece, byte offset in root)
};

// The placements of `plan`; `assigned[v] >= 0` marks values that already own a buffer
// (graph outputs, states updated in place), which cannot become pieces.
std::vector<ConcatPlacement> find_concat_placements(const Graph& g, const FusionPlan& plan,
                                                    const std::vector<int>& assigned);

}  // namespace kiln
