#include "codegen/lower_concat.h"

#include "codegen/lowerer.h"

#include <algorithm>
#include <climits>

namespace kiln {

namespace {

constexpr size_t kMaxBlocks = 8;  // wider concats read stored inputs (passes/fusion.cpp)

// Stored inputs are copied block by block when each block's rows are at least this many
// elements long (vector copies); narrower blocks stay one select-chain kernel.
constexpr int64_t kMinCopyRun = 16;

int concat_axis(const Node& n) {
  int axis = static_cast<int>(n.attrs.i("axis"));
  return axis < 0 ? axis + n.shape().rank() : axis;
}

// The concat a kernel computes: its root, or the concat under the root's fused reshapes
// (a reshape keeps the linear layout, so the concat's blocks are the root's), or -1.
NodeId kernel_concat(const Graph& g, const FusedKernel& fk) {
  NodeId id = fk.root;
  while (g.node(id).op == OpKind::Reshape) {
    const NodeId in = g.node(id).inputs[0].id;
    if (std::find(fk.fused.begin(), fk.fused.end(), in) == fk.fused.end()) return -1;
    id = in;
  }
  return g.node(id).op == OpKind::Concat ? id : -1;
}

}  // namespace

bool lower_as_concat_blocks(const Graph& g, const FusionPlan& plan, const FusedKernel& fk) {
  if (fk.kind != FusedKind::Elementwise) return false;
  const NodeId c = kernel_concat(g, fk);
  if (c < 0) return false;
  const Node& concat = g.node(c);
  if (concat.inputs.size() > kMaxBlocks || concat.shape().numel() == 0) return false;
  const int axis = concat_axis(concat);
  int computed = 0;
  int64_t narrowest = INT64_MAX;
  for (Value in : concat.inputs) {
    computed += !plan.materialized[in.id] && !g.node(in.id).def().has(kLeaf);
    const Shape& s = g.type(in).shape;
    int64_t run = 1;
    for (int d = axis; d < s.rank(); ++d) run *= s[d];
    if (run > 0) narrowest = std::min(narrowest, run);
  }
  return computed >= 2 || narrowest >= kMinCopyRun;
}

std::vector<kir::Kernel> lower_concat_blocks(const Graph& g, const FusionPlan& plan,
                                             const FusedKernel& fk, const std::vector<int>& buf,
                                             int out_buffer, kir::ExprPool& P) {
  const Node& root = g.node(kernel_concat(g, fk));
  const int axis = concat_axis(root);
  std::vector<kir::Kernel> out;
  int64_t offset = 0;
  for (size_t i = 0; i < root.inputs.size(); ++i) {
    const Shape& s = g.type(root.inputs[i]).shape;
    const int64_t start = offset;
    offset += s[axis];
    if (s.numel() == 0) continue;
    kir::LoopKernel l;
    l.dims = s.dims;
    l.reduced.assign(s.dims.size(), false);
    l.out_buffer = out_buffer;
    l.out_dtype = root.dtype();
    Lowerer L(g, buf, plan.positive_of, P, fk.root, false);
    std::vector<kir::ExprId> idx;
    for (int d = 0; d < s.rank(); ++d) idx.push_back(P.loop_index(d, s[d]));
    l.value = L.in(root, static_cast<int>(i), idx);
    std::vector<kir::ExprId> at = idx;
    at[axis] = P.add(idx[axis], start);
    l.out_offset = L.linear(root.shape(), at);
    kir::Kernel k;
    k.root = fk.root;
    k.name = "concat_" + std::to_string(fk.root) + "_" + std::to_string(i);
    k.body = std::move(l);
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace kiln
