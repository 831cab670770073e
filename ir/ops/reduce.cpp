// Registry entries for reductions: reduce_sum, reduce_max, reduce_mean over a sorted,
// unique list of axes, optionally keeping reduced axes as size 1 (keepdims, default 0).
// Gradients re-expand dL/dout to the input shape (reshape to keepdims + broadcast);
// reduce_max splits it evenly among the positions equal to the max (eq mask / count).
#include <cmath>
#include <limits>

#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;

// Input shape with reduced axes set to 1.
Shape kept_shape(const Shape& in, const std::vector<int64_t>& axes) {
  Shape s = in;
  for (int64_t a : axes) s.dims[a] = 1;
  return s;
}

Expected<TensorType> infer_reduce(const Node& n, Ins in) {
  const std::vector<int64_t>& axes = n.attrs.ints("axes");
  KILN_RETURN_IF_ERROR(ops::check_axes(axes, in[0].shape.rank()));
  int64_t kd = n.attrs.i_or("keepdims", 0);
  if (kd != 0 && kd != 1) return Error("keepdims must be 0 or 1, got " + std::to_string(kd));
  if (n.op == OpKind::ReduceMean) {
    KILN_RETURN_IF_ERROR(ops::require_float(in[0]));
  } else {
    KILN_RETURN_IF_ERROR(ops::require_numeric(in[0]));
  }
  Shape out;
  for (int d = 0; d < in[0].shape.rank(); ++d) {
    bool reduced = false;
    for (int64_t a : axes) reduced |= a == d;
    if (!reduced) {
      out.dims.push_back(in[0].shape[d]);
    } else if (kd) {
      out.dims.push_back(1);
    }
  }
  return TensorType{in[0].dtype, out};
}

// Output offset of each input element (reduced axes collapsed).
template <typename F>
void for_each_reduced(const Node& n, const RefTensor& x, F f) {
  Shape ks = kept_shape(x.type.shape, n.attrs.ints("axes"));
  std::vector<int64_t> kstr = ks.strides(), idx;
  for (int64_t i = 0; i < static_cast<int64_t>(x.data.size()); ++i) {
    ops::unravel(i, x.type.shape, idx);
    int64_t o = 0;
    for (size_t d = 0; d < idx.size(); ++d) o += (ks.dims[d] == 1 ? 0 : idx[d]) * kstr[d];
    f(o, x.data[i]);
  }
}

Status ref_sum(const Node& n, RefIns in, RefTensor& out) {
  for_each_reduced(n, *in[0], [&](int64_t o, double v) { out.data[o] += v; });
  return Status::Ok();
}

Status ref_max(const Node& n, RefIns in, RefTensor& out) {
  out.data.assign(out.data.size(), -std::numeric_limits<double>::infinity());
  for_each_reduced(n, *in[0], [&](int64_t o, double v) {
    double& m = out.data[o];
    if (std::isnan(v) || v > m) m = std::isnan(m) ? m : v;
  });
  return Status::Ok();
}

Status ref_mean(const Node& n, RefIns in, RefTensor& out) {
  for_each_reduced(n, *in[0], [&](int64_t o, double v) { out.data[o] += v; });
  int64_t count = 1;
  for (int64_t a : n.attrs.ints("axes")) count *= in[0]->type.shape[static_cast<int>(a)];
  for (double& v : out.data) v /= static_cast<double>(count);
  return Status::Ok();
}

// dL/dout reshaped so reduced axes have size 1, then broadcast to the input shape.
Tensor expand_grad(GradContext& c, const Tensor& g) {
  const Shape in_shape = c.inputs[0].shape();  // a copy: building nodes moves node storage
  Shape ks = kept_shape(in_shape, c.node.attrs.ints("axes"));
  return broadcast_to(reshape(g, ks), in_shape);
}

std::vector<Tensor> grad_sum(GradContext& c) { return {expand_grad(c, c.grad_out)}; }

std::vector<Tensor> grad_mean(GradContext& c) {
  int64_t count = 1;
  for (int64_t a : c.node.attrs.ints("axes")) count *= c.inputs[0].shape()[static_cast<int>(a)];
  Tensor g = div(c.grad_out, scalar_like(c.grad_out, static_cast<double>(count)));
  return {expand_grad(c, g)};
}

// The positions equal to the max share the gradient evenly, as JAX and PyTorch's amax
// do: grad_in = grad_out * eq(x, max) / count_of_ties. (Passing the full gradient to
// each of k ties would scale it by k.) The division happens on the reduced shape, and
// `where` rather than a multiply by the mask keeps the inf of grad/0 (a NaN max equals
// nothing, so its count is 0) out of the result: such rows get 0, as before.
std::vector<Tensor> grad_max(GradContext& c) {
  const Tensor& x = c.inputs[0];
  const std::vector<int64_t> axes = c.node.attrs.ints("axes");  // a copy, as above
  const bool keepdims = c.node.attrs.i_or("keepdims", 0) != 0;
  Tensor mask = equal(x, expand_grad(c, c.out));
  Tensor ones = cast(mask, x.dtype());
  // sum() over no axes would mean all axes; a reduction over none has one element each.
  Tensor count = axes.empty() ? ones : sum(ones, axes, keepdims);
  Tensor share = div(c.grad_out, count);
  return {where(mask, expand_grad(c, share), c.b.constant(0.0, x.type()))};
}

}  // namespace

void register_reduce_ops(std::vector<OpDef>& d) {
  std::vector<AttrSpec> attrs = {{"axes", AttrKind::Ints}, {"keepdims", AttrKind::Int, false}};
  uint32_t flags = kReduction | kPreservesZero;
  d.push_back({OpKind::ReduceSum, "reduce_sum", 1, 1, attrs, flags,
               "Sum over axes (sorted, unique); keepdims 0/1.", infer_reduce, ref_sum, grad_sum});
  d.push_back({OpKind::ReduceMax, "reduce_max", 1, 1, attrs, flags,
               "Max over axes (-inf for empty, NaN propagates); the gradient is split evenly "
               "among tied maxima.",
               infer_reduce, ref_max, grad_max});
  d.push_back({OpKind::ReduceMean, "reduce_mean", 1, 1, attrs, flags,
               "Mean over axes (float only).", infer_reduce, ref_mean, grad_mean});
}

}  // namespace kiln
