// simplify's rewrites of matrix products: per-step weight gradients merged into one
// GEMM, transposed products computed in the layout their reader wants, and products
// with a one-hot matrix turned into row gathers.
#include "passes/simplify.h"

namespace kiln {

namespace {

// matmul(transpose(a), b) with rank-2 a and b: *a and *b set.
bool transposed_product(const Graph& g, const Node& n, Value* a, Value* b) {
  if (n.op != OpKind::Matmul || n.shape().rank() != 2) return false;
  const Node& t = g.node(n.inputs[0]);
  if (t.op != OpKind::Permute || t.attrs.ints("perm") != std::vector<int64_t>{1, 0})
    return false;
  *a = t.inputs[0];
  *b = n.inputs[1];
  return true;
}

// Graph outputs and state updates, by NodeId: uses that users() does not list.
std::vector<char> bound_values(const Graph& g) {
  std::vector<char> bound(g.size(), 0);
  for (const Output& o : g.outputs()) bound[o.value.id] = 1;
  for (const StateUpdate& u : g.state_updates()) bound[u.value.id] = 1;
  return bound;
}

}  // namespace

// a1^T b1 + a2^T b2 => [a1; a2]^T [b1; b2]: a weight gradient summed over the time steps
// of a recurrent layer (sum_t h_t^T dg_t) becomes one GEMM over the stacked steps (K =
// T*B) instead of T GEMMs with K = B that each read and write the whole gradient.
bool merge_transposed_products(Graph& g) {
  bool changed = false;
  const int n = g.size();
  const std::vector<std::vector<NodeId>> users = g.users();
  const std::vector<char> bound = bound_values(g);
  auto single_use = [&](Value v) {
    return v.id >= n || (users[v.id].size() == 1 && !bound[v.id]);
  };
  for (NodeId id = 0; id < n; ++id) {
    const Node node = g.node(id);
    if (node.op != OpKind::Add || !is_float(node.dtype()) || node.shape().rank() != 2) continue;
    const Node &x = g.node(node.inputs[0]), &y = g.node(node.inputs[1]);
    Value a1, b1, a2, b2;
    if (!transposed_product(g, x, &a1, &b1) || !transposed_product(g, y, &a2, &b2) ||
        !single_use(node.inputs[0]) || !single_use(node.inputs[1]) ||
        g.type(a1).shape[1] != g.type(a2).shape[1] || g.type(b1).shape[1] != g.type(b2).shape[1])
      continue;
    Expected<Value> a = g.add(OpKind::Concat, {a1, a2}, AttrMap{{"axis", int64_t{0}}}, node.loc);
    if (!a.ok()) continue;
    Expected<Value> b = g.add(OpKind::Concat, {b1, b2}, AttrMap{{"axis", int64_t{0}}}, node.loc);
    if (!b.ok()) continue;
    Expected<Value> at =
        g.add(OpKind::Permute, {*a}, AttrMap{{"perm", std::vector<int64_t>{1, 0}}}, node.loc);
    if (!at.ok()) continue;
    Expected<Value> m = g.add(OpKind::Matmul, {*at, *b}, AttrMap{}, node.loc);
    if (!m.ok() || g.type(*m) != node.type) continue;
    g.replace_all_uses(Value{id}, *m);
    changed = true;
  }
  if (changed) g.compact();
  return changed;
}

// transpose(a @ b) => b^T @ a^T (rank 2, the product used only there): a weight
// gradient that autodiff produces transposed (the gradient of W in x @ W^T is
// (x^T dy)^T) is computed in W's own layout by the GEMM, which reads transposed
// operands in place, instead of being read back transposed, with a stride of a whole
// row per element, by the clipping norm and the optimizer update.
bool transpose_products(Graph& g) {
  bool changed = false;
  const int n = g.size();
  const std::vector<std::vector<NodeId>> users = g.users();
  const std::vector<char> bound = bound_values(g);
  for (NodeId id = 0; id < n; ++id) {
    const Node node = g.node(id);
    if (node.op != OpKind::Permute || node.attrs.ints("perm") != std::vector<int64_t>{1, 0})
      continue;
    const NodeId mm = node.inputs[0].id;
    const Node prod = g.node(mm);
    if (prod.op != OpKind::Matmul || prod.shape().rank() != 2 || !is_float(prod.dtype()) ||
        users[mm].size() != 1 || bound[mm] || g.type(prod.inputs[0]).shape.rank() != 2 ||
        g.type(prod.inputs[1]).shape.rank() != 2)
      continue;
    const AttrMap swap{{"perm", std::vector<int64_t>{1, 0}}};
    Expected<Value> bt = g.add(OpKind::Permute, {prod.inputs[1]}, swap, node.loc);
    if (!bt.ok()) continue;
    Expected<Value> at = g.add(OpKind::Permute, {prod.inputs[0]}, swap, node.loc);
    if (!at.ok()) continue;
    Expected<Value> m = g.add(OpKind::Matmul, {*bt, *at}, AttrMap{}, node.loc);
    if (!m.ok() || g.type(*m) != node.type) continue;
    g.replace_all_uses(Value{id}, *m);
    changed = true;
  }
  if (changed) g.compact();
  return changed;
}

namespace {

// The one_hot under `v` seen through reshapes that only merge its leading axes ([I..., V]
// as [M, V]), or -1.
NodeId one_hot_rows(const Graph& g, Value v) {
  const int64_t depth = g.type(v).shape.rank() == 2 ? g.type(v).shape[1] : -1;
  NodeId id = v.id;
  while (g.node(id).op == OpKind::Reshape) id = g.node(id).inputs[0].id;
  const Node& n = g.node(id);
  if (n.op != OpKind::OneHot || n.attrs.i("depth") != depth || n.dtype() != g.type(v).dtype)
    return -1;
  return id;
}

// The rows of [B; 0] that product = one_hot(i, V) @ B selects: row i, or the zero row V
// where i is outside [0, V).
Expected<Value> gathered_rows(Graph& g, const Node& product, const Node& one_hot) {
  const Value idx = one_hot.inputs[0];
  const int64_t depth = one_hot.attrs.i("depth");
  const int64_t rows = product.shape()[0], cols = product.shape()[1];
  const DType it = g.type(idx).dtype;
  const SourceLoc loc = product.loc;
  auto constant = [&](DType dt, Shape s, double v) {
    return g.add_leaf(OpKind::Constant, TensorType{dt, std::move(s)}, AttrMap{{"value", v}}, loc);
  };
  const Value flat =
      KILN_TRY(g.add(OpKind::Reshape, {idx}, AttrMap{{"shape", std::vector<int64_t>{rows}}}, loc));
  const Value zero_index = KILN_TRY(constant(it, Shape{rows}, 0.0));
  const Value zero_row_index = KILN_TRY(constant(it, Shape{rows}, static_cast<double>(depth)));
  const Value zero_row = KILN_TRY(constant(product.dtype(), Shape{1, cols}, 0.0));
  const Value nonnegative = KILN_TRY(g.add(OpKind::Ge, {flat, zero_index}, {}, loc));
  const Value below = KILN_TRY(g.add(OpKind::Lt, {flat, zero_row_index}, {}, loc));
  const Value inside = KILN_TRY(g.add(OpKind::And, {nonnegative, below}, {}, loc));
  const Value row = KILN_TRY(g.add(OpKind::Select, {inside, flat, zero_row_index}, {}, loc));
  const Value table = KILN_TRY(g.add(OpKind::Concat, {product.inputs[1], zero_row},
                                     AttrMap{{"axis", int64_t{0}}}, loc));
  return g.add(OpKind::Gather, {table, row}, {}, loc);
}

}  // namespace

// one_hot(i, V) @ B => rows of [B; 0] gathered by i, or by V (the zero row) where i is
// outside [0, V) (one_hot's all-zero row). d2l's character models feed one-hot
// characters to their input projection, a GEMM with K = V that runs at a fraction of the
// GEMM's rate, and whose weight gradient one_hot^T @ dY is a second one; the gather moves
// M*N values, and its gradient is a scatter-add of dY's rows (no mask pass over dY: the
// out-of-range rows land in the zero row, whose gradient is dropped). Applied before
// autodiff.
bool one_hot_products(Graph& g) {
  bool changed = false;
  const int n = g.size();
  for (NodeId id = 0; id < n; ++id) {
    const Node node = g.node(id);
    if (node.op != OpKind::Matmul || node.shape().rank() != 2 || !is_float(node.dtype()))
      continue;
    const NodeId oh = one_hot_rows(g, node.inputs[0]);
    if (oh < 0) continue;
    const Node one_hot = g.node(oh);  // a copy: adding nodes may move the graph's
    Expected<Value> out = gathered_rows(g, node, one_hot);
    if (!out.ok() || g.type(*out) != node.type) continue;
    g.replace_all_uses(Value{id}, *out);
    changed = true;
  }
  if (changed) g.compact();
  return changed;
}

}  // namespace kiln
