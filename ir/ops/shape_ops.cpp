// Registry entries for data-movement ops: broadcast, reshape, permute, slice, pad,
// concat. They never change values, only where values sit (flag kIndexing; pad also
// fills the border with a constant). Gradients: broadcast -> sum_to, reshape -> reshape
// back, permute -> inverse permute, slice -> pad with zeros (strided: interleave zeros
// first, see grad_slice), pad -> slice, concat -> slices.
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
  if (!out.checked_numel())
    return Error("shape " + out.to_string() + " has too many elements");
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
    int64_t span = stop[d] - start[d];  // 0 <= span <= dim: no overflow below
    out.dims.push_back(span / step[d] + (span % step[d] != 0 ? 1 : 0));
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

// Puts the output gradient back where the slice took it from, zeros elsewhere:
//   step 1: pad(g, start, dim - stop, 0).
//   step s > 1 with n picked elements: first spread them s apart along the axis,
//   [.., n, ..] -> reshape [.., n, 1, ..] -> pad s-1 zeros after on the new axis ->
//   reshape [.., n*s, ..] -> keep the first (n-1)*s+1 (position j*s holds element j);
//   then pad start before and dim - start - len after, as for step 1.
// Built from reshape / pad / slice only, so the result is differentiable again.
std::vector<Tensor> grad_slice(GradContext& c) {
  const Shape in_shape = c.inputs[0].shape();  // a copy: building nodes moves node storage
  const Shape out_shape = c.out.shape();
  const auto start = c.node.attrs.ints("start");
  const auto step = c.node.attrs.ints("step");
  const int r = in_shape.rank();
  std::vector<int64_t> low(r, 0), high(r, 0);
  Tensor t = c.grad_out;
  for (int k = 0; k < r; ++k) {
    int64_t n = out_shape[k], s = step[k];
    if (n == 0) {  // nothing was picked: the whole axis is padding
      high[k] = in_shape[k];
      continue;
    }
    if (s > 1 && n > 1) {
      std::vector<int64_t> split = t.shape().dims, gap_low(r + 1, 0), gap_high(r + 1, 0);
      split.insert(split.begin() + k + 1, 1);
      gap_high[k + 1] = s - 1;
      t = pad(reshape(t, Shape(split)), gap_low, gap_high, 0.0);
      std::vector<int64_t> merged = t.shape().dims;
      merged[k] *= s;
      merged.erase(merged.begin() + k + 1);
      t = slice(reshape(t, Shape(merged)), k, 0, (n - 1) * s + 1, 1);
    }
    low[k] = start[k];
    high[k] = in_shape[k] - start[k] - ((n - 1) * s + 1);
  }
  return {pad(t, low, high, 0.0)};
}

// ---- pad ------------------------------------------------------------------------

Expected<TensorType> infer_pad(const Node& n, Ins in) {
  const auto& low = n.attrs.ints("low");
  const auto& high = n.attrs.ints("high");
  const Shape& s = in[0].shape;
  size_t r = static_cast<size_t>(s.rank());
  if (low.size() != r || high.size() != r)
    return Error("low/high need one entry per axis of " + s.to_string() + ", got low " +
                 ints_to_string(low) + " high " + ints_to_string(high));
  Shape out;
  for (size_t d = 0; d < r; ++d) {
    if (low[d] < 0 || high[d] < 0)
      return Error("axis " + std::to_string(d) + ": padding must be >= 0, got low " +
                   ints_to_string(low) + " high " + ints_to_string(high) +
                   " (use slice to cut)");
    out.dims.push_back(low[d] + s.dims[d] + high[d]);
  }
  return TensorType{in[0].dtype, out};
}

Status ref_pad(const Node& n, RefIns in, RefTensor& out) {
  const auto& low = n.attrs.ints("low");
  out.data.assign(out.data.size(), n.attrs.f("value"));
  std::vector<int64_t> ostr = out.type.shape.strides(), idx;
  for (int64_t i = 0; i < static_cast<int64_t>(in[0]->data.size()); ++i) {
    ops::unravel(i, in[0]->type.shape, idx);
    for (size_t d = 0; d < idx.size(); ++d) idx[d] += low[d];
    out.data[ops::ravel(idx, ostr)] = in[0]->data[i];
  }
  return Status::Ok();
}

// The border is a constant, so only the interior gets gradient: slice it back out.
std::vector<Tensor> grad_pad(GradContext& c) {
  const Shape in_shape = c.inputs[0].shape();
  std::vector<int64_t> start = c.node.attrs.ints("low"), stop = start;
  for (int d = 0; d < in_shape.rank(); ++d) stop[d] += in_shape[d];
  std::vector<int64_t> step(start.size(), 1);
  return {c.b.op(OpKind::Slice, {c.grad_out},
                 AttrMap{{"start", start}, {"stop", stop}, {"step", step}}, c.node.loc)};
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
  // Not kPreservesZero: the border is `value`, which need not be 0.
  d.push_back({OpKind::Pad, "pad", 1, 1,
               {{"low", AttrKind::Ints}, {"high", AttrKind::Ints}, {"value", AttrKind::Float}},
               kIndexing,
               "Pads every axis with low elements before and high after (each >= 0), all "
               "equal to value; out dim = low + in + high.",
               infer_pad, ref_pad, grad_pad});
  d.push_back({OpKind::Concat, "concat", 1, -1, {{"axis", AttrKind::Int}}, kMove,
               "Concatenates inputs (same dtype, same dims outside axis) along axis.",
               infer_concat, ref_concat, grad_concat});
}

}  // namespace kiln
