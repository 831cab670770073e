// split_reductions (see split_reductions.h).
#include "passes/split_reductions.h"

namespace kiln {

namespace {

bool splittable(OpKind op) {
  return op == OpKind::ReduceSum || op == OpKind::ReduceMean || op == OpKind::ReduceMax;
}

// The trailing reduced axes of size > 1 when a kept axis of size > 1 separates them from
// another reduced axis of size > 1; else empty (one reduction is already contiguous).
std::vector<int64_t> trailing_axes(const Shape& s, const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(s.rank(), false);
  for (int64_t a : axes) reduced[a] = true;
  std::vector<int64_t> tail;
  int d = s.rank() - 1;
  for (; d >= 0; --d) {
    if (s[d] == 1) continue;
    if (!reduced[d]) break;
    tail.insert(tail.begin(), d);
  }
  bool kept_between = false, reduced_before = false;
  for (; d >= 0; --d) {
    if (s[d] == 1) continue;
    if (reduced[d]) reduced_before = kept_between;
    else kept_between = true;
    if (reduced_before) break;
  }
  if (tail.empty() || !reduced_before) return {};
  return tail;
}

}  // namespace

Expected<bool> SplitReductionsPass::run(Graph& g) {
  bool changed = false;
  const int n = g.size();
  for (NodeId id = 0; id < n; ++id) {
    const Node node = g.node(id);  // a copy: adding nodes may move the storage
    if (!splittable(node.op) || !is_float(node.dtype())) continue;
    const Value x = node.inputs[0];
    const Shape& shape = g.type(x).shape;
    if (shape.numel() < min_elements_) continue;
    const std::vector<int64_t>& axes = node.attrs.ints("axes");
    std::vector<int64_t> tail = trailing_axes(shape, axes);
    if (tail.empty()) continue;
    Expected<Value> inner =
        g.add(node.op, {x}, AttrMap{{"axes", tail}, {"keepdims", int64_t{1}}}, node.loc);
    if (!inner.ok()) return inner.error().wrap("split_reductions");
    Expected<Value> outer = g.add(node.op, {*inner}, node.attrs, node.loc);
    if (!outer.ok()) return outer.error().wrap("split_reductions");
    g.replace_all_uses(Value{id}, *outer);
    changed = true;
  }
  if (changed) g.compact();
  return changed;
}

}  // namespace kiln
