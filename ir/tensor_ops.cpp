// Tensor operations on the IR builder: one helper per primitive op, with NumPy-style
// broadcasting and scalar promotion. Gradient rules (ir/ops/*) and the frontend use them.
#include "ir/tensor_ops.h"

#include <algorithm>
#include <numeric>

namespace kiln {

namespace {

SourceLoc L(const Loc& loc) { return SourceLoc::from(loc); }

Builder* builder_of(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->valid()) return t->builder();
  return nullptr;
}

Tensor unary(OpKind k, const Tensor& x, const Loc& loc) {
  if (!x.valid()) return Tensor{};
  return x.builder()->op(k, {x}, {}, L(loc));
}

// NumPy broadcast of two shapes; false when incompatible.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out) {
  int r = std::max(a.rank(), b.rank());
  out.dims.assign(r, 1);
  for (int i = 0; i < r; ++i) {
    int64_t da = i < r - a.rank() ? 1 : a.dims[i - (r - a.rank())];
    int64_t db = i < r - b.rank() ? 1 : b.dims[i - (r - b.rank())];
    if (da != db && da != 1 && db != 1) return false;
    out.dims[i] = da == 1 ? db : da;
  }
  return true;
}

Tensor binary(OpKind k, const Tensor& a, const Tensor& b, const Loc& loc) {
  Builder* bld = builder_of({&a, &b});
  if (!bld || !a.valid() || !b.valid()) return Tensor{};
  Shape out;
  if (!broadcast_shapes(a.shape(), b.shape(), out)) {
    bld->record_error(Error(bld->resolve_loc(L(loc)).to_string() + ": " + op_name(k) +
                            "(" + a.type().to_string() + ", " + b.type().to_string() +
                            "): shapes cannot be broadcast together"));
    return Tensor{};
  }
  Tensor aa = a.shape() == out ? a : broadcast_to(a, out, loc);
  Tensor bb = b.shape() == out ? b : broadcast_to(b, out, loc);
  return bld->op(k, {aa, bb}, {}, L(loc));
}

int normalize_axis(Builder* b, int axis, int rank, const Loc& loc) {
  int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    b->record_error(Error(b->resolve_loc(L(loc)).to_string() + ": axis " +
                          std::to_string(axis) + " out of range for rank " +
                          std::to_string(rank)));
    return -1;
  }
  return a;
}

Tensor reduce(OpKind k, const Tensor& x, std::vector<int64_t> axes, bool keepdims,
              const Loc& loc) {
  if (!x.valid()) return Tensor{};
  Builder* b = x.builder();
  if (axes.empty()) {
    axes.resize(x.rank());
    std::iota(axes.begin(), axes.end(), 0);
  }
  for (int64_t& a : axes) {
    int n = normalize_axis(b, static_cast<int>(a), x.rank(), loc);
    if (n < 0) return Tensor{};
    a = n;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (axes.empty()) return x;  // rank-0 input: nothing to reduce
  return b->op(k, {x}, AttrMap{{"axes", axes}, {"keepdims", int64_t{keepdims ? 1 : 0}}}, L(loc));
}

}  // namespace

Tensor scalar_like(const Tensor& x, double v, Loc loc) {
  if (!x.valid()) return Tensor{};
  return x.builder()->constant(v, TensorType{x.dtype(), x.shape()}, L(loc));
}

Tensor neg(const Tensor& x, Loc loc) { return unary(OpKind::Neg, x, loc); }
Tensor abs(const Tensor& x, Loc loc) { return unary(OpKind::Abs, x, loc); }
Tensor exp(const Tensor& x, Loc loc) { return unary(OpKind::Exp, x, loc); }
Tensor log(const Tensor& x, Loc loc) { return unary(OpKind::Log, x, loc); }
Tensor sqrt(const Tensor& x, Loc loc) { return unary(OpKind::Sqrt, x, loc); }
Tensor tanh(const Tensor& x, Loc loc) { return unary(OpKind::Tanh, x, loc); }
Tensor sigmoid(const Tensor& x, Loc loc) { return unary(OpKind::Sigmoid, x, loc); }
Tensor relu(const Tensor& x, Loc loc) { return unary(OpKind::Relu, x, loc); }
Tensor logical_not(const Tensor& x, Loc loc) { return unary(OpKind::Not, x, loc); }
Tensor square(const Tensor& x, Loc loc) { return mul(x, x, loc); }

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  if (!x.valid()) return Tensor{};
  if (x.dtype() == dtype) return x;
  return x.builder()->op(OpKind::Cast, {x}, AttrMap{{"dtype", dtype}}, L(loc));
}

Tensor add(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Add, a, b, loc); }
Tensor sub(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Sub, a, b, loc); }
Tensor mul(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Mul, a, b, loc); }
Tensor div(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Div, a, b, loc); }
Tensor pow(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Pow, a, b, loc); }
Tensor pow(const Tensor& a, double b, Loc loc) {
  if (b == 2.0) return mul(a, a, loc);
  if (b == 1.0) return a;
  return pow(a, scalar_like(a, b, loc), loc);
}
Tensor maximum(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Max, a, b, loc); }
Tensor minimum(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Min, a, b, loc); }
Tensor maximum(const Tensor& a, double b, Loc loc) { return maximum(a, scalar_like(a, b, loc), loc); }
Tensor minimum(const Tensor& a, double b, Loc loc) { return minimum(a, scalar_like(a, b, loc), loc); }
Tensor less(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Lt, a, b, loc); }
Tensor less_equal(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Le, a, b, loc); }
Tensor greater(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Gt, a, b, loc); }
Tensor greater_equal(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Ge, a, b, loc); }
Tensor equal(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Eq, a, b, loc); }
Tensor not_equal(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Ne, a, b, loc); }
Tensor logical_and(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::And, a, b, loc); }
Tensor logical_or(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Or, a, b, loc); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Loc loc) {
  Builder* bld = builder_of({&cond, &a, &b});
  if (!bld || !cond.valid() || !a.valid() || !b.valid()) return Tensor{};
  Shape ab, out;
  if (!broadcast_shapes(a.shape(), b.shape(), ab) || !broadcast_shapes(ab, cond.shape(), out)) {
    bld->record_error(Error(bld->resolve_loc(L(loc)).to_string() + ": select(" +
                            cond.type().to_string() + ", " + a.type().to_string() + ", " +
                            b.type().to_string() + "): shapes cannot be broadcast together"));
    return Tensor{};
  }
  auto bc = [&](const Tensor& t) { return t.shape() == out ? t : broadcast_to(t, out, loc); };
  return bld->op(OpKind::Select, {bc(cond), bc(a), bc(b)}, {}, L(loc));
}

// Operators: the TensorArg carries the caller's location.
static Tensor with_loc(OpKind k, const TensorArg& a, const Tensor& b) {
  Builder* bld = builder_of({&a.t, &b});
  if (!bld) return Tensor{};
  Builder::LocScope scope(*bld, a.loc);
  return binary(k, a.t, b, Loc::current());
}
Tensor operator+(TensorArg a, const Tensor& b) { return with_loc(OpKind::Add, a, b); }
Tensor operator-(TensorArg a, const Tensor& b) { return with_loc(OpKind::Sub, a, b); }
Tensor operator*(TensorArg a, const Tensor& b) { return with_loc(OpKind::Mul, a, b); }
Tensor operator/(TensorArg a, const Tensor& b) { return with_loc(OpKind::Div, a, b); }
Tensor operator+(TensorArg a, double b) { return with_loc(OpKind::Add, a, scalar_like(a.t, b)); }
Tensor operator-(TensorArg a, double b) { return with_loc(OpKind::Sub, a, scalar_like(a.t, b)); }
Tensor operator*(TensorArg a, double b) { return with_loc(OpKind::Mul, a, scalar_like(a.t, b)); }
Tensor operator/(TensorArg a, double b) { return with_loc(OpKind::Div, a, scalar_like(a.t, b)); }
Tensor operator+(double a, TensorArg b) {
  if (!b.t.valid()) return Tensor{};
  Builder::LocScope scope(*b.t.builder(), b.loc);
  return add(scalar_like(b.t, a), b.t);
}
Tensor operator-(double a, TensorArg b) {
  if (!b.t.valid()) return Tensor{};
  Builder::LocScope scope(*b.t.builder(), b.loc);
  return sub(scalar_like(b.t, a), b.t);
}
Tensor operator*(double a, TensorArg b) {
  if (!b.t.valid()) return Tensor{};
  Builder::LocScope scope(*b.t.builder(), b.loc);
  return mul(scalar_like(b.t, a), b.t);
}
Tensor operator/(double a, TensorArg b) {
  if (!b.t.valid()) return Tensor{};
  Builder::LocScope scope(*b.t.builder(), b.loc);
  return div(scalar_like(b.t, a), b.t);
}
Tensor operator-(TensorArg a) {
  if (!a.t.valid()) return Tensor{};
  Builder::LocScope scope(*a.t.builder(), a.loc);
  return neg(a.t);
}

Tensor broadcast_to(const Tensor& x, Shape shape, Loc loc) {
  if (!x.valid()) return Tensor{};
  if (x.shape() == shape) return x;
  return x.builder()->op(OpKind::Broadcast, {x}, AttrMap{{"shape", shape.dims}}, L(loc));
}

Tensor reshape(const Tensor& x, Shape shape, Loc loc) {
  if (!x.valid()) return Tensor{};
  std::vector<int64_t> dims = shape.dims;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1 && infer < 0) {
      infer = static_cast<int>(i);
    } else {
      known *= dims[i];
    }
  }
  if (infer >= 0 && known > 0 && x.numel() % known == 0) dims[infer] = x.numel() / known;
  if (Shape(dims) == x.shape()) return x;
  return x.builder()->op(OpKind::Reshape, {x}, AttrMap{{"shape", dims}}, L(loc));
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm, Loc loc) {
  if (!x.valid()) return Tensor{};
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
  if (identity && static_cast<int>(perm.size()) == x.rank()) return x;
  return x.builder()->op(OpKind::Permute, {x}, AttrMap{{"perm", perm}}, L(loc));
}

Tensor transpose(const Tensor& x, Loc loc) {
  if (!x.valid()) return Tensor{};
  if (x.rank() < 2) {
    x.builder()->record_error(Error(x.builder()->resolve_loc(L(loc)).to_string() +
                                    ": transpose needs rank >= 2, got " + x.type().to_string()));
    return Tensor{};
  }
  std::vector<int64_t> perm(x.rank());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[x.rank() - 1], perm[x.rank() - 2]);
  return permute(x, perm, loc);
}

Tensor flatten(const Tensor& x, int start_axis, Loc loc) {
  if (!x.valid()) return Tensor{};
  int a = normalize_axis(x.builder(), start_axis, std::max(x.rank(), 1), loc);
  if (a < 0) return Tensor{};
  std::vector<int64_t> dims(x.shape().dims.begin(), x.shape().dims.begin() + a);
  int64_t rest = 1;
  for (int i = a; i < x.rank(); ++i) rest *= x.shape()[i];
  dims.push_back(rest);
  return reshape(x, Shape(dims), loc);
}

Tensor slice(const Tensor& x, int axis, int64_t start, int64_t stop, int64_t step, Loc loc) {
  if (!x.valid()) return Tensor{};
  int a = normalize_axis(x.builder(), axis, x.rank(), loc);
  if (a < 0) return Tensor{};
  std::vector<int64_t> starts(x.rank(), 0), stops = x.shape().dims, steps(x.rank(), 1);
  starts[a] = start;
  stops[a] = stop;
  steps[a] = step;
  return x.builder()->op(OpKind::Slice, {x},
                         AttrMap{{"start", starts}, {"stop", stops}, {"step", steps}}, L(loc));
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& low, const std::vector<int64_t>& high,
           double value, Loc loc) {
  if (!x.valid()) return Tensor{};
  bool nothing = low.size() == static_cast<size_t>(x.rank()) && high.size() == low.size();
  for (size_t d = 0; nothing && d < low.size(); ++d) nothing = low[d] == 0 && high[d] == 0;
  if (nothing) return x;
  // Wrong lengths and negative padding are reported by the shape rule.
  return x.builder()->op(OpKind::Pad, {x},
                         AttrMap{{"low", low}, {"high", high}, {"value", value}}, L(loc));
}

Tensor stop_gradient(const Tensor& x, Loc loc) { return unary(OpKind::StopGradient, x, loc); }

Tensor concat(const std::vector<Tensor>& xs, int axis, Loc loc) {
  if (xs.empty() || !xs[0].valid()) return Tensor{};
  if (xs.size() == 1) return xs[0];
  int a = normalize_axis(xs[0].builder(), axis, xs[0].rank(), loc);
  if (a < 0) return Tensor{};
  return xs[0].builder()->op(OpKind::Concat, xs, AttrMap{{"axis", int64_t{a}}}, L(loc));
}

Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::ReduceSum, x, std::move(axes), keepdims, loc);
}
Tensor max(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::ReduceMax, x, std::move(axes), keepdims, loc);
}
Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::ReduceMean, x, std::move(axes), keepdims, loc);
}

Tensor sum_to(const Tensor& x, Shape shape, Loc loc) {
  if (!x.valid()) return Tensor{};
  if (x.shape() == shape) return x;
  int lead = x.rank() - shape.rank();
  std::vector<int64_t> axes;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < lead || (shape.dims[i - lead] == 1 && x.shape()[i] != 1)) axes.push_back(i);
  }
  Tensor s = axes.empty() ? x : sum(x, axes, /*keepdims=*/true, loc);
  return reshape(s, shape, loc);
}

Tensor matmul(const Tensor& a, const Tensor& b, Loc loc) {
  Builder* bld = builder_of({&a, &b});
  if (!bld || !a.valid() || !b.valid()) return Tensor{};
  if (a.rank() == 0 || b.rank() == 0) {
    bld->record_error(Error(bld->resolve_loc(L(loc)).to_string() + ": matmul(" +
                            a.type().to_string() + ", " + b.type().to_string() +
                            "): operands must have rank >= 1"));
    return Tensor{};
  }
  Tensor aa = a.rank() == 1 ? reshape(a, Shape{1, a.dim(0)}, loc) : a;
  Tensor bb = b.rank() == 1 ? reshape(b, Shape{b.dim(0), 1}, loc) : b;
  // Broadcast batch dims.
  Shape ba(std::vector<int64_t>(aa.shape().dims.begin(), aa.shape().dims.end() - 2));
  Shape bb_batch(std::vector<int64_t>(bb.shape().dims.begin(), bb.shape().dims.end() - 2));
  Shape batch;
  if (!broadcast_shapes(ba, bb_batch, batch)) {
    bld->record_error(Error(bld->resolve_loc(L(loc)).to_string() + ": matmul(" +
                            a.type().to_string() + ", " + b.type().to_string() +
                            "): batch dimensions cannot be broadcast together"));
    return Tensor{};
  }
  auto with_batch = [&](const Tensor& t) {
    Shape s = batch;
    s.dims.push_back(t.dim(-2));
    s.dims.push_back(t.dim(-1));
    return broadcast_to(t, s, loc);
  };
  Tensor out = bld->op(OpKind::Matmul, {with_batch(aa), with_batch(bb)}, {}, L(loc));
  if (!out.valid()) return out;
  std::vector<int64_t> dims = batch.dims;
  if (a.rank() > 1) dims.push_back(aa.dim(-2));
  if (b.rank() > 1) dims.push_back(bb.dim(-1));
  return reshape(out, Shape(dims), loc);
}

Tensor gather(const Tensor& table, const Tensor& indices, Loc loc) {
  Builder* bld = builder_of({&table, &indices});
  if (!bld || !table.valid() || !indices.valid()) return Tensor{};
  return bld->op(OpKind::Gather, {table, indices}, {}, L(loc));
}

Tensor one_hot(const Tensor& indices, int64_t depth, DType dtype, Loc loc) {
  if (!indices.valid()) return Tensor{};
  return indices.builder()->op(OpKind::OneHot, {indices},
                               AttrMap{{"depth", depth}, {"dtype", dtype}}, L(loc));
}

Tensor scatter_add(const Tensor& indices, const Tensor& updates, int64_t rows, Loc loc) {
  Builder* bld = builder_of({&indices, &updates});
  if (!bld || !indices.valid() || !updates.valid()) return Tensor{};
  return bld->op(OpKind::ScatterAdd, {indices, updates}, AttrMap{{"rows", rows}}, L(loc));
}

// ---- convolution and pooling (shape rules in ir/ops/conv.cpp and ir/ops/pool.cpp) ----

static std::vector<int64_t> ints(const std::array<int64_t, 2>& p) { return {p[0], p[1]}; }

static AttrMap conv_attrs(const Conv2dOptions& o) {
  return AttrMap{{"stride", ints(o.stride)},
                 {"padding", ints(o.padding)},
                 {"dilation", ints(o.dilation)},
                 {"groups", o.groups}};
}

static AttrMap pool_attrs(const Pool2dOptions& o) {
  return AttrMap{
      {"kernel", ints(o.kernel)}, {"stride", ints(o.stride)}, {"padding", ints(o.padding)}};
}

static AttrMap avg_pool_attrs(const Pool2dOptions& o) {
  AttrMap a = pool_attrs(o);
  a.set("count_include_pad", int64_t{o.count_include_pad ? 1 : 0});
  return a;
}

// A two-operand op; invalid when either operand is.
static Tensor op2(OpKind k, const Tensor& a, const Tensor& b, AttrMap attrs, const Loc& loc) {
  Builder* bld = builder_of({&a, &b});
  if (!bld || !a.valid() || !b.valid()) return Tensor{};
  return bld->op(k, {a, b}, std::move(attrs), L(loc));
}

static Tensor op1(OpKind k, const Tensor& x, AttrMap attrs, const Loc& loc) {
  if (!x.valid()) return Tensor{};
  return x.builder()->op(k, {x}, std::move(attrs), L(loc));
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& o, Loc loc) {
  return op2(OpKind::Conv2d, x, w, conv_attrs(o), loc);
}

Tensor conv2d_input_grad(const Tensor& dy, const Tensor& w, std::array<int64_t, 2> input_size,
                         const Conv2dOptions& o, Loc loc) {
  AttrMap a = conv_attrs(o);
  a.set("input_size", ints(input_size));
  return op2(OpKind::Conv2dInputGrad, dy, w, std::move(a), loc);
}

Tensor conv2d_weight_grad(const Tensor& x, const Tensor& dy, std::array<int64_t, 2> kernel_size,
                          const Conv2dOptions& o, Loc loc) {
  AttrMap a = conv_attrs(o);
  a.set("kernel_size", ints(kernel_size));
  return op2(OpKind::Conv2dWeightGrad, x, dy, std::move(a), loc);
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o, Loc loc) {
  return op1(OpKind::MaxPool2d, x, pool_attrs(o), loc);
}

Tensor max_pool2d_indices(const Tensor& x, const Pool2dOptions& o, Loc loc) {
  return op1(OpKind::MaxPool2dIndices, x, pool_attrs(o), loc);
}

Tensor max_pool2d_grad(const Tensor& indices, const Tensor& dy, std::array<int64_t, 2> input_size,
                       const Pool2dOptions& o, Loc loc) {
  AttrMap a = pool_attrs(o);
  a.set("input_size", ints(input_size));
  return op2(OpKind::MaxPool2dGrad, indices, dy, std::move(a), loc);
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o, Loc loc) {
  return op1(OpKind::AvgPool2d, x, avg_pool_attrs(o), loc);
}

Tensor avg_pool2d_grad(const Tensor& dy, std::array<int64_t, 2> input_size, const Pool2dOptions& o,
                       Loc loc) {
  AttrMap a = avg_pool_attrs(o);
  a.set("input_size", ints(input_size));
  return op1(OpKind::AvgPool2dGrad, dy, std::move(a), loc);
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size, Loc loc) {
  return op1(OpKind::AdaptiveAvgPool2d, x, AttrMap{{"output_size", ints(output_size)}}, loc);
}

// output_size is dy's spatial size; a dy of another rank is reported by the shape rule.
Tensor adaptive_avg_pool2d_grad(const Tensor& dy, std::array<int64_t, 2> input_size, Loc loc) {
  if (!dy.valid()) return Tensor{};
  std::vector<int64_t> out = dy.rank() == 4 ? std::vector<int64_t>{dy.shape()[2], dy.shape()[3]}
                                            : std::vector<int64_t>{};
  return op1(OpKind::AdaptiveAvgPool2dGrad, dy,
             AttrMap{{"output_size", out}, {"input_size", ints(input_size)}}, loc);
}

static Tensor rng(OpKind k, Builder& b, const Shape& shape, const Tensor& counter, int64_t seed,
                  DType dtype, const Loc& loc) {
  if (!counter.valid()) return Tensor{};
  Tensor t = b.op(k, {counter},
                  AttrMap{{"seed", seed}, {"key", b.next_rng_key()}, {"shape", shape.dims},
                          {"dtype", dtype}},
                  L(loc));
  return t;
}

Tensor rng_uniform(Builder& b, Shape shape, const Tensor& counter, int64_t seed,
                   DType dtype, Loc loc) {
  return rng(OpKind::RngUniform, b, shape, counter, seed, dtype, loc);
}

Tensor rng_normal(Builder& b, Shape shape, const Tensor& counter, int64_t seed,
                  DType dtype, Loc loc) {
  return rng(OpKind::RngNormal, b, shape, counter, seed, dtype, loc);
}

}  // namespace kiln
