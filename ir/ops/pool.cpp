// Registry entries for 2-D pooling (NCHW): max_pool2d, avg_pool2d, adaptive_avg_pool2d
// and their gradients. Every op relates x [N, C, H, W] and y [N, C, OH, OW] through the
// same windows: window (oy, ox) covers input rows window(0, oy) and columns window(1, ox)
// (see `window`), and one loop (for_each_window) drives every reference.
// Gradients:
//   max_pool2d(x)           dx = max_pool2d_grad(max_pool2d_indices(x), g): g goes to each
//                           window's first maximum (PyTorch's stored argmax)
//   max_pool2d_indices(x)   none (integer output)
//   max_pool2d_grad(i, dy)  di: none; ddy = g read at each window's index (a gather)
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
using ops::hw_of;
using ops::Pair;

struct PoolGeom {
  Shape x, y;  // [N, C, H, W], [N, C, OH, OW]
  DType dtype;  // of x and y (float)
  bool adaptive = false;
  Pool2dOptions o;  // kernel, stride, padding, count_include_pad; unused when adaptive
};

bool is_adaptive(OpKind op) {
  return op == OpKind::AdaptiveAvgPool2d || op == OpKind::AdaptiveAvgPool2dGrad;
}
bool is_avg(OpKind op) { return op == OpKind::AvgPool2d || op == OpKind::AvgPool2dGrad; }
// The grad ops: their operand dy has y's shape, x's spatial size is the input_size attribute.
bool is_grad(OpKind op) {
  return op == OpKind::MaxPool2dGrad || op == OpKind::AvgPool2dGrad ||
         op == OpKind::AdaptiveAvgPool2dGrad;
}
// dy's operand position: max_pool2d_grad takes the indices first.
int dy_operand(OpKind op) { return op == OpKind::MaxPool2dGrad ? 1 : 0; }

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

// The indices are flat positions in an H x W plane, held in i32 (as PyTorch's are in i64).
Status check_index_range(const Shape& x) {
  if (x[2] <= std::numeric_limits<int32_t>::max() / x[3]) return Status::Ok();
  return Error("the input plane " + hw({x[2], x[3]}) + " has more positions than i32 indices hold");
}

Expected<PoolGeom> pool_geometry(const Node& n, Ins in) {
  const bool backward = is_grad(n.op);
  const TensorType& data = in[backward ? dy_operand(n.op) : 0];  // x, or a grad op's dy
  KILN_RETURN_IF_ERROR(ops::require_nchw(data, backward ? "dy" : "x"));
  PoolGeom g;
  g.adaptive = is_adaptive(n.op);
  g.dtype = data.dtype;
  g.x = data.shape;
  if (backward) {
    const Pair size = KILN_TRY(ops::pair_attr(n, "input_size", 0, kMaxTensorElements));
    g.x = Shape{data.shape[0], data.shape[1], size[0], size[1]};
  }
  if (g.x[2] < 1 || g.x[3] < 1)
    return Error("the input must be at least 1x1, got " + hw({g.x[2], g.x[3]}));
  g.y = KILN_TRY(pool_output(n, g));
  // The grad ops' operands must be what the forward ops make of x.
  const TensorType y{g.dtype, g.y};
  if (backward && data != y)
    return Error("dy is " + data.to_string() + ", but " + forward_name(n.op) + " of x " +
                 g.x.to_string() + " gives " + y.to_string());
  if (n.op == OpKind::MaxPool2dIndices || n.op == OpKind::MaxPool2dGrad)
    KILN_RETURN_IF_ERROR(check_index_range(g.x));
  const TensorType indices{DType::i32, g.y};
  if (n.op == OpKind::MaxPool2dGrad && in[0] != indices)
    return Error("indices are " + in[0].to_string() + ", but max_pool2d_indices of x " +
                 g.x.to_string() + " gives " + indices.to_string());
  return g;
}

Expected<TensorType> infer_pool(const Node& n, Ins in) {
  const PoolGeom g = KILN_TRY(pool_geometry(n, in));
  if (n.op == OpKind::MaxPool2dIndices) return TensorType{DType::i32, g.y};
  return TensorType{g.dtype, is_grad(n.op) ? g.x : g.y};
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

// Index (iy * width + ix, within the plane at offset `plane`) of the window's first maximum
// in row-major order. `v > best || isnan(v)` is PyTorch's exact test: padding never wins,
// and a NaN does (the last NaN, if several).
int64_t first_max(const std::vector<double>& x, int64_t plane, int64_t width, const Span& r,
                  const Span& c) {
  double best = -std::numeric_limits<double>::infinity();
  int64_t arg = r.lo * width + c.lo;
  for (int64_t iy = r.lo; iy < r.hi; ++iy)
    for (int64_t ix = c.lo; ix < c.hi; ++ix) {
      const double v = x[plane + iy * width + ix];
      if (v > best || std::isnan(v)) {
        best = v;
        arg = iy * width + ix;
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
    out.data[yi] = x[plane + first_max(x, plane, g.x[3], r, c)];
  });
  return Status::Ok();
}

Status ref_max_pool_indices(const Node& n, RefIns in, RefTensor& out) {
  const PoolGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& x = in[0]->data;
  for_each_window(g, [&](int64_t plane, int64_t yi, const Span& r, const Span& c) {
    out.data[yi] = static_cast<double>(first_max(x, plane, g.x[3], r, c));
  });
  return Status::Ok();
}

bool in_window(int64_t index, int64_t width, const Span& r, const Span& c) {
  if (index < 0) return false;
  const int64_t iy = index / width, ix = index % width;
  return iy >= r.lo && iy < r.hi && ix >= c.lo && ix < c.hi;
}

// An index outside its window is an error here (like gather's out-of-range indices); the
// JIT ignores it (no window covering that position claims it).
Status ref_max_pool_grad(const Node& n, RefIns in, RefTensor& out) {
  const PoolGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& indices = in[0]->data;
  const std::vector<double>& dy = in[1]->data;
  Status status = Status::Ok();
  for_each_window(g, [&](int64_t plane, int64_t yi, const Span& r, const Span& c) {
    const int64_t index = static_cast<int64_t>(indices[yi]);
    if (in_window(index, g.x[3], r, c))
      out.data[plane + index] += dy[yi];
    else if (status.ok())
      status = Error("max_pool2d_grad: index " + std::to_string(index) + " at position " +
                     std::to_string(yi) + " is outside its window");
  });
  return status;
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

std::vector<Tensor> grad_max_pool(GradContext& c) {
  const Pool2dOptions o = options_of(c.node);
  const Tensor& x = c.inputs[0];
  return {max_pool2d_grad(max_pool2d_indices(x, o), c.grad_out, hw_of(x), o)};
}

// max_pool2d_grad adds dy[o] at index[o] of o's plane, so its adjoint reads g there:
// ddy[o] = g[plane(o) * H*W + index[o]], a gather from g viewed as one column. The
// indices get no gradient.
std::vector<Tensor> grad_max_pool_grad(GradContext& c) {
  const Tensor& indices = c.inputs[0];
  const Shape x = c.grad_out.shape(), y = indices.shape();  // copies: building adds nodes
  const TensorType planes{DType::i64, Shape{y[0] * y[1], y[2] * y[3]}};
  const Tensor plane_start = c.b.iota(planes, 0) * static_cast<double>(x[2] * x[3]);
  const Tensor at = add(reshape(cast(indices, DType::i64), planes.shape), plane_start);
  const Tensor column = reshape(c.grad_out, Shape{x.numel(), 1});
  return {Tensor{}, reshape(gather(column, at), y)};
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
  d.push_back({OpKind::MaxPool2dIndices, "max_pool2d_indices", 1, 1, kMaxAttrs, kNoGrad,
               "(x [N, C, H, W]) -> i32 [N, C, OH, OW]: ih*W + iw of each window's first "
               "maximum in row-major order (NaN counts as a maximum; padding never wins).",
               infer_pool, ref_max_pool_indices, nullptr});
  d.push_back({OpKind::MaxPool2dGrad, "max_pool2d_grad", 2, 2, with(kMaxAttrs, {input_size}),
               kPreservesZero | kContraction,
               "(indices i32 [N, C, OH, OW], dy) -> [N, C, input_size]: each window's dy is "
               "added at its index (which must lie in the window: an error in the "
               "reference, ignored in the JIT).",
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
