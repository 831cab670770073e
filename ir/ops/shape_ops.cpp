// Registry entries for data-movement ops: broadcast, reshape, permute, slice, concat.
// They never change values, only where values sit (flag kIndexing). Gradients:
// broadcast -> sum_to, reshape -> reshape back, permute -> inverse permute,
// slice -> scatter into zeros built from reshape + concat (no pad op needed, see
// grad_slice), concat -> slices.
#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;
using ops::ints_to_string;

// ---- broadcast ------------------------------------------------------------------

Expected<TensorType> infer_broadcast(const Node& n, Ins in) {
  const std::vector<int64_t>& shape = n.attrs.ints("shape");
  const Shape& s = in[0].shape;
  for (int64_t d : shape)
    if (d < 0) return Error("negative dimension in shape " + ints_to_string(shape));
  int out_rank = static_cast<int>(shape.size());
  if (s.rank() > out_rank)
    return Error("cannot broadcast " + s.to_string() + " to lower rank " + ints_to_string(shape));
  int off = out_rank - s.rank();
  for (int i = 0; i < s.rank(); ++i)
    if (s[i] != 1 && s[i] != shape[off + i])
      return Error("cannot broadcast " + s.to_string() + " to " + ints_to_string(shape) +
                   ": dim " + std::to_string(i) + " is " + std::to_string(s[i]) + ", not 1 or " +
                   std::to_string(shape[off + i]));
  return TensorType{in[0].dtype, Shape(shape)};
}

Status ref_broadcast(const Node&, RefIns in, RefTensor& out) {
  const Shape& is = in[0]->type.shape;
  const Shape& os = out.type.shape;
  std::vector<int64_t> istr = is.strides(), idx;
  int off = os.rank() - is.rank();
  for (int64_t i = 0; i < static_cast<int64_t>(out.data.size()); ++i) {
    ops::unravel(i, os, idx);
    int64_t src = 0;
    for (int d = 0; d < is.rank(); ++d) src += (is[d] == 1 ? 0 : idx[off + d]) * istr[d];
    out.data[i] = in[0]->data[src];
  }
  return Status::Ok();
}

std::vector<Tensor> grad_broadcast(GradContext& c) {
  Shape in_shape = c.inputs[0].shape();  // a copy: building nodes moves node storage
  return {sum_to(c.grad_out, in_shape)};
}

// ---- reshape --------------------------------------------------------------------

Expected<TensorType> infer_reshape(const Node& n, Ins in) {
  const std::vector<int64_t>& shape = n.attrs.ints("shape");
  for (int64_t d : shape)
    if (d < 0) return Error("negative dimension in shape " + ints_to_string(shape));
  Shape out(shape);
  if (out.numel() != in[0].shape.numel())
    return Error("cannot reshape " + in[0].shape.to_string() + " (" +
                 std::to_string(in[0].shape.numel()) + " elements) to " + out.to_string() + " (" +
                 std::to_string(out.numel()) + " elements)");
  return TensorType{in[0].dtype, out};
}

Status ref_copy(const Node&, RefIns in, RefTensor& out) {
  out.data = in[0]->data;
  return Status::Ok();
}

std::vector<Tensor> grad_reshape(GradContext& c) {
  Shape in_shape = c.inputs[0].shape();
  return {reshape(c.grad_out, in_shape)};
}

// ---- permute --------------------------------------------------------------------

Expected<TensorType> infer_permute(const Node& n, Ins in) {
  const std::vector<int64_t>& perm = n.attrs.ints("perm");
  const Shape& s = in[0].shape;
  if (static_cast<int>(perm.size()) != s.rank())
    return Error("perm " + ints_to_string(perm) + " has " + std::to_string(perm.size()) +
                 " entries but the input " + s.to_string() + " has rank " +
                 std::to_string(s.rank()));
  std::vector<char> seen(perm.size(), 0);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= s.rank() || seen[p])
      return Error("perm " + ints_to_string(perm) + " is not a permutation of 0.." +
                   std::to_string(s.rank() - 1));
    seen[p] = 1;
    out.dims.push_back(s[static_cast<int>(p)]);
  }
  return TensorType{in[0].dtype, out};
}

Status ref_permute(const Node& n, RefIns in, RefTensor& out) {
  const std::vector<int64_t>& perm = n.attrs.ints("perm");
  std::vector<int64_t> istr = in[0]->type.shape.strides(), idx;
  for (int64_t i = 0; i < static_cast<int64_t>(out.data.size()); ++i) {
    ops::unravel(i, out.type.shape, idx);
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); ++d) src += idx[d] * istr[perm[d]];
    out.data[i] = in[0]->data[src];
  }
  return Status::Ok();
}

std::vector<Tensor> grad_permute(GradContext& c) {
  const std::vector<int64_t>& perm = c.node.attrs.ints("perm");
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  return {permute(c.grad_out, inv)};
}

// ---- slice ----------------------------------------------------------------------

Expected<TensorType> infer_slice(const Node& n, Ins in) {
  const auto& start = n.attrs.ints("start");
  const auto& stop = n.attrs.ints("stop");
  const auto& step = n.attrs.ints("step");
  const Shape& s = in[0].shape;
  size_t r = static_cast<size_t>(s.rank());
  if (start.size() != r || stop.size() != r || step.size() != r)
    return Error("start/stop/step need one entry per axis of " + s.to_string() + ", got " +
                 ints_to_string(start) + " " + ints_to_string(stop) + " " + ints_to_string(step));
  Shape out;
  for (size_t d = 0; d < r; ++d) {
    if (step[d] < 1) return Error("step must be >= 1, got " + ints_to_string(step));
    if (start[d] < 0 || start[d] > stop[d] || stop[d] > s.dims[d])
      return Error("axis " + std::to_string(d) + ": need 0 <= start <= stop <= " +
                   std::to_string(s.dims[d]) + ", got start " + std::to_string(start[d]) +
                   " stop " + std::to_string(stop[d]) + " for " + s.to_string());
    out.dims.push_back((stop[d] - start[d] + step[d] - 1) / step[d]);
  }
  return TensorType{in[0].dtype, out};
}

Status ref_slice(const Node& n, RefIns in, RefTensor& out) {
  const auto& start = n.attrs.ints("start");
  const auto& step = n.attrs.ints("step");
  std::vector<int64_t> istr = in[0]->type.shape.strides(), idx;
  for (int64_t i = 0; i < static_cast<int64_t>(out.data.size()); ++i) {
    ops::unravel(i, out.type.shape, idx);
    int64_t src = 0;
    for (size_t d = 0; d < idx.size(); ++d) src += (start[d] + idx[d] * step[d]) * istr[d];
    out.data[i] = in[0]->data[src];
  }
  return Status::Ok();
}

// Scatters the output gradient back into zeros, one axis at a time, using only
// reshape / concat / slice (so the result is differentiable again):
//   step s > 1 with n picked elements: [.., n, ..] -> reshape [.., n, 1, ..] ->
//   concat zeros [.., n, s-1, ..] on the new axis -> reshape [.., n*s, ..] -> keep the
//   first (n-1)*s+1 (so position j*s holds element j and the gaps are zero);
//   then concat zeros before (start) and after (dim - start - len) along the axis.
std::vector<Tensor> grad_slice(GradContext& c) {
  const Tensor& x = c.inputs[0];
  DType dt = x.dtype();
  auto zeros = [&](std::vector<int64_t> dims) {
    return c.b.constant(0.0, TensorType{dt, Shape(std::move(dims))});
  };
  if (c.out.numel() == 0) return {zeros(x.shape().dims)};
  const auto& start = c.node.attrs.ints("start");
  const auto& step = c.node.attrs.ints("step");
  Tensor t = c.grad_out;
  for (int k = 0; k < x.rank(); ++k) {
    int64_t dim = x.shape()[k], n = c.out.shape()[k], s = step[k], st = start[k];
    int64_t len = (n - 1) * s + 1;
    if (st == 0 && len == dim) continue;
    if (s > 1 && n > 1) {
      std::vector<int64_t> cur = t.shape().dims;
      std::vector<int64_t> split = cur;
      split.insert(split.begin() + k + 1, 1);
      std::vector<int64_t> gap = split;
      gap[k + 1] = s - 1;
      t = concat({reshape(t, Shape(split)), zeros(gap)}, k + 1);
      std::vector<int64_t> merged = cur;
      merged[k] = n * s;
      t = reshape(t, Shape(merged));
      t = slice(t, k, 0, len, 1);
    }
    std::vector<Tensor> pieces;
    std::vector<int64_t> pad = t.shape().dims;
    if (st > 0) {
      pad[k] = st;
      pieces.push_back(zeros(pad));
    }
    pieces.push_back(t);
    if (dim - st - len > 0) {
      pad[k] = dim - st - len;
      pieces.push_back(zeros(pad));
    }
    if (pieces.size() > 1) t = concat(pieces, k);
  }
  return {t};
}

// ---- concat ---------------------------------------------------------------------

Expected<TensorType> infer_concat(const Node& n, Ins in) {
  int64_t axis = n.attrs.i("axis");
  const TensorType& t0 = in[0];
  if (axis < 0 || axis >= t0.shape.rank())
    return Error("axis " + std::to_string(axis) + " out of range for " + t0.to_string());
  Shape out = t0.shape;
  for (size_t i = 1; i < in.size(); ++i) {
    const TensorType& t = in[i];
    if (t.dtype != t0.dtype)
      return Error("input " + std::to_string(i) + " is " + t.to_string() + ", input 0 is " +
                   t0.to_string() + " (dtypes differ)");
    bool ok = t.shape.rank() == t0.shape.rank();
    for (int d = 0; ok && d < t0.shape.rank(); ++d) ok = d == axis || t.shape[d] == t0.shape[d];
    if (!ok)
      return Error("input " + std::to_string(i) + " shape " + t.shape.to_string() +
                   " does not match input 0 shape " + t0.shape.to_string() + " outside axis " +
                   std::to_string(axis));
    out.dims[axis] += t.shape[static_cast<int>(axis)];
  }
  return TensorType{t0.dtype, out};
}

Status ref_concat(const Node& n, RefIns in, RefTensor& out) {
  int64_t axis = n.attrs.i("axis");
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < static_cast<int64_t>(out.data.size()); ++i) {
    ops::unravel(i, out.type.shape, idx);
    size_t k = 0;
    while (idx[axis] >= in[k]->type.shape[static_cast<int>(axis)]) {
      idx[axis] -= in[k]->type.shape[static_cast<int>(axis)];
      ++k;
    }
    out.data[i] = in[k]->data[ops::ravel(idx, in[k]->type.shape.strides())];
  }
  return Status::Ok();
}

std::vector<Tensor> grad_concat(GradContext& c) {
  int axis = static_cast<int>(c.node.attrs.i("axis"));
  std::vector<Tensor> grads;
  int64_t off = 0;
  for (const Tensor& x : c.inputs) {
    int64_t n = x.shape()[axis];
    grads.push_back(slice(c.grad_out, axis, off, off + n, 1));
    off += n;
  }
  return grads;
}

constexpr uint32_t kMove = kIndexing | kPreservesZero;

}  // namespace

void register_shape_ops(std::vector<OpDef>& d) {
  d.push_back({OpKind::Broadcast, "broadcast", 1, 1, {{"shape", AttrKind::Ints}}, kMove,
               "NumPy broadcast to shape, right-aligned: each input dim is 1 or equal to the "
               "output dim; input rank <= output rank.",
               infer_broadcast, ref_broadcast, grad_broadcast});
  d.push_back({OpKind::Reshape, "reshape", 1, 1, {{"shape", AttrKind::Ints}}, kMove,
               "Row-major reshape to shape (same numel).", infer_reshape, ref_copy,
               grad_reshape});
  d.push_back({OpKind::Permute, "permute", 1, 1, {{"perm", AttrKind::Ints}}, kMove,
               "out.dims[i] = in.dims[perm[i]].", infer_permute, ref_permute, grad_permute});
  d.push_back({OpKind::Slice, "slice", 1, 1,
               {{"start", AttrKind::Ints}, {"stop", AttrKind::Ints}, {"step", AttrKind::Ints}},
               kMove,
               "Strided slice on every axis: 0 <= start <= stop <= dim, step >= 1; out dim = "
               "ceil((stop - start) / step).",
               infer_slice, ref_slice, grad_slice});
  d.push_back({OpKind::Concat, "concat", 1, -1, {{"axis", AttrKind::Int}}, kMove,
               "Concatenates inputs (same dtype, same dims outside axis) along axis.",
               infer_concat, ref_concat, grad_concat});
}

}  // namespace kiln
