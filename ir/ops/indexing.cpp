// Registry entries for integer-indexed ops: gather (rows of a table), one_hot, and
// scatter_add (the adjoint of gather). Out-of-range indices are an error in the
// reference (the JIT clamps). Gradients: gather -> scatter_add into the table's rows,
// scatter_add -> gather of dL/dout for the updates; indices get no gradient.
#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;

Status index_error(const char* op, double idx, int64_t rows, size_t pos) {
  return Error(std::string(op) + ": index " + std::to_string(static_cast<int64_t>(idx)) +
               " out of range [0, " + std::to_string(rows) + ") at position " +
               std::to_string(pos));
}

// ---- gather ---------------------------------------------------------------------

Expected<TensorType> infer_gather(const Node&, Ins in) {
  const TensorType& table = in[0];
  if (table.shape.rank() < 1) return Error("table must have rank >= 1, got " + table.to_string());
  KILN_RETURN_IF_ERROR(ops::require_int(in[1]));
  Shape out = in[1].shape;
  out.dims.insert(out.dims.end(), table.shape.dims.begin() + 1, table.shape.dims.end());
  return TensorType{table.dtype, out};
}

Status ref_gather(const Node&, RefIns in, RefTensor& out) {
  const RefTensor& table = *in[0];
  const RefTensor& idx = *in[1];
  int64_t rows = table.type.shape[0];
  size_t row = rows == 0 ? 0 : table.data.size() / static_cast<size_t>(rows);
  for (size_t i = 0; i < idx.data.size(); ++i) {
    double r = idx.data[i];
    if (r < 0 || r >= static_cast<double>(rows)) return index_error("gather", r, rows, i);
    size_t src = static_cast<size_t>(r) * row;
    for (size_t d = 0; d < row; ++d) out.data[i * row + d] = table.data[src + d];
  }
  return Status::Ok();
}

std::vector<Tensor> grad_gather(GradContext& c) {
  return {scatter_add(c.inputs[1], c.grad_out, c.inputs[0].shape()[0]), Tensor{}};
}

// ---- one_hot --------------------------------------------------------------------

Expected<TensorType> infer_one_hot(const Node& n, Ins in) {
  KILN_RETURN_IF_ERROR(ops::require_int(in[0]));
  int64_t depth = n.attrs.i("depth");
  if (depth < 0) return Error("depth must be >= 0, got " + std::to_string(depth));
  Shape out = in[0].shape;
  out.dims.push_back(depth);
  return TensorType{n.attrs.type("dtype"), out};
}

// Indices outside [0, depth) give an all-zero row.
Status ref_one_hot(const Node& n, RefIns in, RefTensor& out) {
  int64_t depth = n.attrs.i("depth");
  for (size_t i = 0; i < in[0]->data.size(); ++i) {
    double v = in[0]->data[i];
    if (v >= 0 && v < static_cast<double>(depth))
      out.data[i * static_cast<size_t>(depth) + static_cast<size_t>(v)] = 1.0;
  }
  return Status::Ok();
}

// ---- scatter_add ----------------------------------------------------------------

Expected<TensorType> infer_scatter_add(const Node& n, Ins in) {
  KILN_RETURN_IF_ERROR(ops::require_int(in[0]));
  const TensorType& upd = in[1];
  KILN_RETURN_IF_ERROR(ops::require_numeric(upd, "updates"));
  const Shape& is = in[0].shape;
  bool prefix = upd.shape.rank() >= is.rank();
  for (int d = 0; prefix && d < is.rank(); ++d) prefix = upd.shape[d] == is[d];
  if (!prefix)
    return Error("updates shape " + upd.shape.to_string() +
                 " must start with the indices shape " + is.to_string());
  int64_t rows = n.attrs.i("rows");
  if (rows < 0) return Error("rows must be >= 0, got " + std::to_string(rows));
  Shape out{rows};
  out.dims.insert(out.dims.end(), upd.shape.dims.begin() + is.rank(), upd.shape.dims.end());
  return TensorType{upd.dtype, out};
}

Status ref_scatter_add(const Node& n, RefIns in, RefTensor& out) {
  const RefTensor& idx = *in[0];
  const RefTensor& upd = *in[1];
  int64_t rows = n.attrs.i("rows");
  size_t row = rows == 0 ? 0 : out.data.size() / static_cast<size_t>(rows);
  if (idx.data.empty()) return Status::Ok();
  for (size_t i = 0; i < idx.data.size(); ++i) {
    double r = idx.data[i];
    if (r < 0 || r >= static_cast<double>(rows)) return index_error("scatter_add", r, rows, i);
    size_t dst = static_cast<size_t>(r) * row;
    for (size_t d = 0; d < row; ++d) out.data[dst + d] += upd.data[i * row + d];
  }
  return Status::Ok();
}

std::vector<Tensor> grad_scatter_add(GradContext& c) {
  return {Tensor{}, gather(c.grad_out, c.inputs[0])};
}

}  // namespace

void register_indexing_ops(std::vector<OpDef>& d) {
  d.push_back({OpKind::Gather, "gather", 2, 2, {}, 0,
               "(table [V, D...], indices int [I...]) -> [I..., D...]: rows of table. "
               "Out-of-range indices: error in the reference, clamped in the JIT.",
               infer_gather, ref_gather, grad_gather});
  d.push_back({OpKind::OneHot, "one_hot", 1, 1,
               {{"depth", AttrKind::Int}, {"dtype", AttrKind::Type}}, kNoGrad,
               "(indices int [I...]) -> dtype[I..., depth]; out-of-range indices give zeros.",
               infer_one_hot, ref_one_hot, nullptr});
  d.push_back({OpKind::ScatterAdd, "scatter_add", 2, 2, {{"rows", AttrKind::Int}},
               kPreservesZero,
               "(indices int [I...], updates [I..., D...]) -> [rows, D...]; "
               "out[indices[i], d] += updates[i, d], zero elsewhere.",
               infer_scatter_add, ref_scatter_add, grad_scatter_add});
}

}  // namespace kiln
