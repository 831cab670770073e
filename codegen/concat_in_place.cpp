#include "codegen/concat_in_place.h"

#include <set>

namespace kiln {

namespace {

// The node under a chain of reshapes that are inlined into the kernel (`fused`),
// recording the reshapes it passed in `seen`.
NodeId under_reshapes(const Graph& g, NodeId id, const std::set<NodeId>& fused,
                      std::set<NodeId>& seen) {
  while (g.node(id).op == OpKind::Reshape && fused.count(id)) {
    seen.insert(id);
    id = g.node(id).inputs[0].id;
  }
  return id;
}

// The pieces of a kernel that is a pure contiguous stacking, or an empty list.
std::vector<std::pair<NodeId, int64_t>> stacking_pieces(const Graph& g, const FusionPlan& plan,
                                                        const FusedKernel& k) {
  if (k.kind != FusedKind::Elementwise) return {};
  std::set<NodeId> fused(k.fused.begin(), k.fused.end()), seen;
  fused.insert(k.root);
  const NodeId c = under_reshapes(g, k.root, fused, seen);
  const Node& concat = g.node(c);
  if (concat.op != OpKind::Concat || !fused.count(c)) return {};
  seen.insert(c);
  const int axis = static_cast<int>(concat.attrs.i("axis"));
  if (axis < 0) return {};
  for (int d = 0; d < axis; ++d)
    if (concat.type.shape[d] != 1) return {};  // the pieces would interleave
  std::vector<std::pair<NodeId, int64_t>> pieces;
  int64_t offset = 0;
  for (Value in : concat.inputs) {
    const NodeId x = under_reshapes(g, in.id, fused, seen);
    if (!plan.materialized[x]) return {};
    pieces.push_back({x, offset});
    offset += static_cast<int64_t>(g.node(x).type.bytes());
  }
  // A pure copy: nothing but these reshapes and the concat is inlined.
  if (seen.size() != fused.size()) return {};
  return pieces;
}

}  // namespace

std::vector<ConcatPlacement> find_concat_placements(const Graph& g, const FusionPlan& plan,
                                                    const std::vector<int>& assigned) {
  std::vector<ConcatPlacement> out;
  std::set<NodeId> claimed;
  for (size_t ki = 0; ki < plan.kernels.size(); ++ki) {
    const FusedKernel& k = plan.kernels[ki];
    if (assigned[k.root] >= 0 || claimed.count(k.root)) continue;
    std::vector<std::pair<NodeId, int64_t>> pieces = stacking_pieces(g, plan, k);
    if (pieces.empty()) continue;
    std::set<NodeId> distinct;
    bool ok = true;
    for (const auto& [x, offset] : pieces) {
      ok = ok && offset % 64 == 0 && plan.kernel_of[x] >= 0 && !is_buffer_leaf(g.node(x)) &&
           assigned[x] < 0 && !claimed.count(x) && distinct.insert(x).second &&
           g.node(x).dtype() == g.node(k.root).dtype();
    }
    if (!ok) continue;
    claimed.insert(k.root);
    claimed.insert(distinct.begin(), distinct.end());
    out.push_back({static_cast<int>(ki), k.root, std::move(pieces)});
  }
  return out;
}

}  // namespace kiln
