// Registry entries for 2-D pooling (NCHW): max_pool2d, avg_pool2d, adaptive_avg_pool2d
// and their gradients. Every op relates x [N, C, H, W] and y [N, C, OH, OW] through the
// same windows: window (oy, ox) covers input rows window(0, oy) and columns window(1, ox)
// (see `window`), and one loop (for_each_window) drives every reference.
// Gradients:
//   max_pool2d(x)           dx = max_pool2d_grad(x, g): g goes to each window's first maximum
//   max_pool2d_grad(x, dy)  dx: none (piecewise constant); ddy = g read at each window's
//                           first maximum (grad_max_pool_grad, built from primitives)
//   avg_pool2d(x)           dx = avg_pool2d_grad(g); avg_pool2d_grad(dy) ddy = avg_pool2d(g)
//   adaptive_avg_pool2d and its grad: likewise (the average pools are linear, and each
//                           grad op is the adjoint of its pool)
#include <limits>

#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;
using ops::hw;
using ops::Pair;

struct PoolGeom {
  Shape x, y;  // [N, C, H, W], [N, C, OH, OW]
  bool adaptive = false;
  Pool2dOptions o;  // kernel, stride, padding, count_include_pad; unused when adaptive
};

bool is_adaptive(OpKind op) {
  return op == OpKind::AdaptiveAvgPool2d || op == OpKind::AdaptiveAvgPool2dGrad;
}
bool is_avg(OpKind op) { return op == OpKind::AvgPool2d || op == OpKind::AvgPool2dGrad; }
// The grad ops whose only operand is dy (x's spatial size is the input_size attribute).
bool takes_dy_only(OpKind op) {
  return op == OpKind::AvgPool2dGrad || op == OpKind::AdaptiveAvgPool2dGrad;
}

const char* forward_name(OpKind op) {
  switch (op) {
    case OpKind::MaxPool2dGrad: return "max_pool2d";
    case OpKind::AvgPool2dGrad: return "avg_pool2d";
    default: return "adaptive_avg_pool2d";
  }
}

Expected<Pool2dOptions> pool_options(const Node& n) {
  Pool2dOptions o;
  o.kernel = KILN_TRY(ops::pair_attr(n, "kernel", 1));
  o.stride = KILN_TRY(ops::pair_attr(n, "stride", 1));
  o.padding = KILN_TRY(ops::pair_attr(n, "padding", 0));
  // PyTorch's rule; it also guarantees every window overlaps the input (so a max is
  // never taken over padding alone and an average never divides by zero).
  for (int d = 0; d < 2; ++d)
    if (o.padding[d] > o.kernel[d] / 2)
      return Error("padding " + hw(o.padding) + " must be at most half the kernel " +
                   hw(o.kernel));
  if (is_avg(n.op)) {
    int64_t include = n.attrs.i_or("count_include_pad", 1);
    if (include != 0 && include != 1)
      return Error("count_include_pad must be 0 or 1, got " + std::to_string(include));
    o.count_include_pad = include == 1;
  }
  return o;
}

// [N, C, OH, OW] of pooling x with g's options or output_size.
Expected<Shape> pool_output(const Node& n, PoolGeom& g) {
  const Shape& x = g.x;
  if (g.adaptive) {
    const Pair out = KILN_TRY(ops::pair_attr(n, "output_size", 1));
    return Shape{x[0], x[1], out[0], out[1]};
  }
  g.o = KILN_TRY(pool_options(n));
  Pair out;
  for (int d = 0; d < 2; ++d)
    out[d] = ops::window_out(x[2 + d], g.o.kernel[d], g.o.stride[d], g.o.padding[d]);
  if (out[0] < 1 || out[1] < 1)
    return Error("kernel " + hw(g.o.kernel) + " is larger than the padded input " +
                 hw({x[2] + 2 * g.o.padding[0], x[3] + 2 * g.o.padding[1]}));
  return Shape{x[0], x[1], out[0], out[1]};
}

Expected<PoolGeom> pool_geometry(const Node& n, Ins in) {
  const bool dy_only = takes_dy_only(n.op);
  KILN_RETURN_IF_ERROR(ops::require_nchw(in[0], dy_only ? "dy" : "x"));
  PoolGeom g;
  g.adaptive = is_adaptive(n.op);
  g.x = in[0].shape;
  if (dy_only) {
    const Pair size = KILN_TRY(ops::pair_attr(n, "input_size", 0, kMaxTensorElements));
    g.x = Shape{in[0].shape[0], in[0].shape[1], size[0], size[1]};
  }
  if (g.x[2] < 1 || g.x[3] < 1)
    return Error("the input must be at least 1x1, got " + hw({g.x[2], g.x[3]}));
  g.y = KILN_TRY(pool_output(n, g));
  // The grad ops' dy must be what the forward op makes of x.
  const TensorType* dy = dy_only ? &in[0] : n.op == OpKind::MaxPool2dGrad ? &in[1] : nullptr;
  const TensorType y{in[0].dtype, g.y};
  if (dy && *dy != y)
    return Error("dy is " + dy->to_string() + ", but " + forward_name(n.op) + " of x " +
                 g.x.to_string() + " gives " + y.to_string());
  return g;
}

Expected<TensorType> infer_pool(const Node& n, Ins in) {
  const PoolGeom g = KILN_TRY(pool_geometry(n, in));
  const bool backward = n.op == OpKind::MaxPool2dGrad || takes_dy_only(n.op);
  return TensorType{in[0].dtype, backward ? g.x : g.y};
}

// The input positions [lo, hi) of window j along `axis` (0 = rows, 1 = columns), and the
// window's extent counted by the average's divisor.
struct Span {
  int64_t lo, hi, extent;
};

Span window(const PoolGeom& g, int axis, int64_t j) {
  const int64_t n = g.x[2 + axis];
  if (g.adaptive) {  // [floor(j*n/m), ceil((j+1)*n/m)), PyTorch's rule
    const int64_t m = g.y[2 + axis];
    const int64_t lo = j * n / m, hi = ((j + 1) * n + m - 1) / m;
    return {lo, hi, hi - lo};
  }
  const int64_t k = g.o.kernel[axis];
  const int64_t start = j * g.o.stride[axis] - g.o.padding[axis];
  const int64_t lo = std::max<int64_t>(start, 0), hi = std::min(start + k, n);
  // With padding <= kernel/2 (and no ceil mode) a window never reaches past the padding,
  // so counting the padding means counting the whole kernel.
  return {lo, hi, g.o.count_include_pad ? k : hi - lo};
}

// Calls fn(plane, yi, rows, cols) for every output element: plane is the offset of its
// [H, W] input plane, yi its flat output index.
template <typename Fn>
void for_each_window(const PoolGeom& g, Fn fn) {
  const int64_t planes = g.x[0] * g.x[1], OH = g.y[2], OW = g.y[3];
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < OH; ++oy) {
      const Span rows = window(g, 0, oy);
      for (int64_t ox = 0; ox < OW; ++ox)
        fn(p * g.x[2] * g.x[3], (p * OH + oy) * OW + ox, rows, window(g, 1, ox));
    }
}

// Flat index of the window's first maximum in row-major order. `v > best || isnan(v)` is
// PyTorch's exact test: padding never wins, and a NaN does (the last NaN, if several).
int64_t first_max(const std::vector<double>& x, int64_t plane, int64_t width, const Span& r,
                  const Span& c) {
  double best = -std::numeric_limits<double>::infinity();
  int64_t arg = plane + r.lo * width + c.lo;
  for (int64_t iy = r.lo; iy < r.hi; ++iy)
    for (int64_t ix = c.lo; ix < c.hi; ++ix) {
      const int64_t i = plane + iy * width + ix;
      if (x[i] > best || std::isnan(x[i])) {
        best = x[i];
        arg = i;
      }
    }
  return arg;
}

Expected<PoolGeom> ref_geometry(const Node& n, RefIns in) {
  std::vector<TensorType> types;
  for (const RefTensor* t : in) types.push_back(t->type);
  return pool_geometry(n, types);
}

Status ref_max_pool(const Node& n, RefIns in, RefTensor& out) {
  const PoolGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& x = in[0]->data;
  for_each_window(g, [&](int64_t plane, int64_t yi, const Span& r, const Span& c) {
    out.data[yi] = x[first_max(x, plane, g.x[3], r, c)];
  });
  return Status::Ok();
}

Status ref_max_pool_grad(const Node& n, RefIns in, RefTensor& out) {
  const PoolGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& x = in[0]->data;
  const std::vector<double>& dy = in[1]->data;
  for_each_window(g, [&](int64_t plane, int64_t yi, const Span& r, const Span& c) {
    out.data[first_max(x, plane, g.x[3], r, c)] += dy[yi];
  });
  return Status::Ok();
}

// avg_pool2d and adaptive_avg_pool2d.
Status ref_avg_pool(const Node& n, RefIns in, RefTensor& out) {
  const PoolGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& x = in[0]->data;
  for_each_window(g, [&](int64_t plane, int64_t yi, const Span& r, const Span& c) {
    double sum = 0;
    for (int64_t iy = r.lo; iy < r.hi; ++iy)
      for (int64_t ix = c.lo; ix < c.hi; ++ix) sum += x[plane + iy * g.x[3] + ix];
    out.data[yi] = sum / static_cast<double>(r.extent * c.extent);
  });
  return Status::Ok();
}

// avg_pool2d_grad and adaptive_avg_pool2d_grad: each window's share of dy to its inputs.
Status ref_avg_pool_grad(const Node& n, RefIns in, RefTensor& out) {
  const PoolGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& dy = in[0]->data;
  for_each_window(g, [&](int64_t plane, int64_t yi, const Span& r, const Span& c) {
    const double share = dy[yi] / static_cast<double>(r.extent * c.extent);
    for (int64_t iy = r.lo; iy < r.hi; ++iy)
      for (int64_t ix = c.lo; ix < c.hi; ++ix) out.data[plane + iy * g.x[3] + ix] += share;
  });
  return Status::Ok();
}

// The node's options; its attributes were checked when it was built.
Pool2dOptions options_of(const Node& n) {
  Expected<Pool2dOptions> o = pool_options(n);
  KILN_CHECK(o.ok(), "pool node with unchecked attributes");
  return *o;
}

Pair hw_of(const Tensor& t) { return {t.shape()[2], t.shape()[3]}; }

std::vector<Tensor> grad_max_pool(GradContext& c) {
  return {max_pool2d_grad(c.inputs[0], c.grad_out, options_of(c.node))};
}

// padded[:, :, i + stride*oy, j + stride*ox] for every output position (oy, ox): the
// element at kernel offset (i, j) of each window, as an [N, C, OH, OW] tensor.
Tensor window_tap(const Tensor& padded, const Pair& out, const Pool2dOptions& o, int64_t i,
                  int64_t j) {
  const Shape& s = padded.shape();
  std::vector<int64_t> start = {0, 0, i, j};
  std::vector<int64_t> stop = {s[0], s[1], i + (out[0] - 1) * o.stride[0] + 1,
                               j + (out[1] - 1) * o.stride[1] + 1};
  std::vector<int64_t> step = {1, 1, o.stride[0], o.stride[1]};
  return padded.builder()->op(OpKind::Slice, {padded},
                              AttrMap{{"start", start}, {"stop", stop}, {"step", step}}, {});
}

// max_pool2d_grad sends dy[o] to the first maximum of window o, so its adjoint reads g
// there: ddy[o] = g[first maximum of window o]. Per kernel offset (i, j), in row-major
// order, on strided views of the padded x, g and an "inside the input" mask:
//   hit   = x_ij == max_pool2d(x) and (i, j) is inside the input
//   first = hit and no earlier offset hit;  ddy = sum over offsets of first ? g_ij : 0
// (A NaN maximum equals nothing, so such windows get 0.) x gets no gradient: the op is
// piecewise constant in x.
std::vector<Tensor> grad_max_pool_grad(GradContext& c) {
  const Pool2dOptions o = options_of(c.node);
  const Tensor x = c.inputs[0], g = c.grad_out;
  const Pair out = hw_of(c.inputs[1]);
  const std::vector<int64_t> pad_hw = {0, 0, o.padding[0], o.padding[1]};
  const Tensor xp = pad(x, pad_hw, pad_hw, -std::numeric_limits<double>::infinity());
  const Tensor gp = pad(g, pad_hw, pad_hw, 0.0);
  const Tensor inside =
      pad(c.b.constant(1.0, TensorType{DType::boolean, x.shape()}), pad_hw, pad_hw, 0.0);
  const Tensor m = max_pool2d(x, o);
  const Tensor zero = c.b.constant(0.0, m.type());
  Tensor taken, ddy;
  for (int64_t i = 0; i < o.kernel[0]; ++i)
    for (int64_t j = 0; j < o.kernel[1]; ++j) {
      Tensor hit = logical_and(equal(window_tap(xp, out, o, i, j), m),
                               window_tap(inside, out, o, i, j));
      Tensor first = taken.valid() ? logical_and(hit, logical_not(taken)) : hit;
      taken = taken.valid() ? logical_or(taken, hit) : hit;
      Tensor term = where(first, window_tap(gp, out, o, i, j), zero);
      ddy = ddy.valid() ? add(ddy, term) : term;
    }
  return {Tensor{}, ddy};
}

std::vector<Tensor> grad_avg_pool(GradContext& c) {
  return {avg_pool2d_grad(c.grad_out, hw_of(c.inputs[0]), options_of(c.node))};
}

std::vector<Tensor> grad_avg_pool_grad(GradContext& c) {
  return {avg_pool2d(c.grad_out, options_of(c.node))};
}

std::vector<Tensor> grad_adaptive(GradContext& c) {
  return {adaptive_avg_pool2d_grad(c.grad_out, hw_of(c.inputs[0]))};
}

std::vector<Tensor> grad_adaptive_grad(GradContext& c) {
  return {adaptive_avg_pool2d(c.grad_out, hw_of(c.inputs[0]))};
}

const std::vector<AttrSpec> kMaxAttrs = {
    {"kernel", AttrKind::Ints}, {"stride", AttrKind::Ints}, {"padding", AttrKind::Ints}};

std::vector<AttrSpec> with(std::vector<AttrSpec> a, std::vector<AttrSpec> more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

}  // namespace

void register_pool_ops(std::vector<OpDef>& d) {
  const std::vector<AttrSpec> avg = with(kMaxAttrs, {{"count_include_pad", AttrKind::Int, false}});
  const AttrSpec input_size = {"input_size", AttrKind::Ints};
  const AttrSpec output_size = {"output_size", AttrKind::Ints};
  d.push_back({OpKind::MaxPool2d, "max_pool2d", 1, 1, kMaxAttrs, kPreservesZero,
               "(x [N, C, H, W]) -> [N, C, OH, OW], the max of each window; padding (at most "
               "half the kernel) never wins.",
               infer_pool, ref_max_pool, grad_max_pool});
  d.push_back({OpKind::MaxPool2dGrad, "max_pool2d_grad", 2, 2, kMaxAttrs, kPreservesZero,
               "(x, dy) -> like x: each window's dy is added at the window's first maximum "
               "in row-major order (PyTorch's rule).",
               infer_pool, ref_max_pool_grad, grad_max_pool_grad});
  d.push_back({OpKind::AvgPool2d, "avg_pool2d", 1, 1, avg, kPreservesZero,
               "(x [N, C, H, W]) -> [N, C, OH, OW], the mean of each window; the divisor "
               "counts the zero padding when count_include_pad is 1 (the default).",
               infer_pool, ref_avg_pool, grad_avg_pool});
  d.push_back({OpKind::AvgPool2dGrad, "avg_pool2d_grad", 1, 1, with(avg, {input_size}),
               kPreservesZero,
               "(dy [N, C, OH, OW]) -> [N, C, input_size]: each window's dy / divisor added "
               "to its inputs (the adjoint of avg_pool2d).",
               infer_pool, ref_avg_pool_grad, grad_avg_pool_grad});
  d.push_back({OpKind::AdaptiveAvgPool2d, "adaptive_avg_pool2d", 1, 1, {output_size},
               kPreservesZero,
               "(x [N, C, H, W]) -> [N, C, output_size]; window j of an axis of size n pooled "
               "to m covers [floor(j*n/m), ceil((j+1)*n/m)).",
               infer_pool, ref_avg_pool, grad_adaptive});
  d.push_back({OpKind::AdaptiveAvgPool2dGrad, "adaptive_avg_pool2d_grad", 1, 1,
               {output_size, input_size}, kPreservesZero,
               "(dy [N, C, output_size]) -> [N, C, input_size]: the adjoint of "
               "adaptive_avg_pool2d.",
               infer_pool, ref_avg_pool_grad, grad_adaptive_grad});
}

}  // namespace kiln
