#include "codegen/lower_concat.h"

#include "codegen/lowerer.h"

namespace kiln {

namespace {

constexpr size_t kMaxBlocks = 8;  // wider concats read stored inputs (passes/fusion.cpp)

int concat_axis(const Node& n) {
  int axis = static_cast<int>(n.attrs.i("axis"));
  return axis < 0 ? axis + n.shape().rank() : axis;
}

}  // namespace

bool lower_as_concat_blocks(const Graph& g, const FusionPlan& plan, const FusedKernel& fk) {
  const Node& root = g.node(fk.root);
  if (fk.kind != FusedKind::Elementwise || root.op != OpKind::Concat ||
      root.inputs.size() > kMaxBlocks || root.shape().numel() == 0)
    return false;
  int computed = 0;
  for (Value in : root.inputs)
    computed += !plan.materialized[in.id] && !g.node(in.id).def().has(kLeaf);
  return computed >= 2;
}

std::vector<kir::Kernel> lower_concat_blocks(const Graph& g, const FusionPlan& plan,
                                             const FusedKernel& fk, const std::vector<int>& buf,
                                             int out_buffer, kir::ExprPool& P) {
  const Node& root = g.node(fk.root);
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
