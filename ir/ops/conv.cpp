// Registry entries for 2-D convolution (NCHW, grouped, strided, padded, dilated) and its
// two gradients: conv2d_input_grad (the transposed convolution) and conv2d_weight_grad.
// The three ops relate the same three tensors x [N, C, H, W], w [F, C/groups, KH, KW] and
// y [N, F, OH, OW]; each takes two of them as operands and gets the third's shape from
// its attributes. One function checks that geometry (conv_geometry) and one loop visits
// every (x, w, y) tap (for_each_tap), so the three references cannot disagree.
// The ops are bilinear, so every gradient is again one of the three:
//   conv2d(x, w)              dx = conv2d_input_grad(g, w)   dw = conv2d_weight_grad(x, g)
//   conv2d_input_grad(dy, w)  ddy = conv2d(g, w)             dw = conv2d_weight_grad(g, dy)
//   conv2d_weight_grad(x, dy) dx = conv2d_input_grad(dy, g)  ddy = conv2d(x, g)
#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;
using ops::hw;
using ops::hw_of;
using ops::Pair;

struct ConvGeom {
  Shape x, w, y;  // [N, C, H, W], [F, C/groups, KH, KW], [N, F, OH, OW]
  Conv2dOptions o;
};

Expected<Conv2dOptions> conv_options(const Node& n) {
  Conv2dOptions o;
  o.stride = KILN_TRY(ops::pair_attr(n, "stride", 1));
  o.padding = KILN_TRY(ops::pair_attr(n, "padding", 0));
  o.dilation = KILN_TRY(ops::pair_attr(n, "dilation", 1));
  o.groups = n.attrs.i("groups");
  if (o.groups < 1 || o.groups > ops::kMaxWindowAttr)
    return Error("groups must be in [1, " + std::to_string(ops::kMaxWindowAttr) + "], got " +
                 std::to_string(o.groups));
  return o;
}

// Channel counts agree with the groups: C and F divisible by them, w holding C/groups
// input channels per filter.
Status check_channels(const Shape& x, const Shape& w, int64_t groups) {
  const std::string g = std::to_string(groups);
  if (x[1] % groups != 0)
    return Error("input channels " + std::to_string(x[1]) + " are not divisible by groups " + g);
  if (w[1] != x[1] / groups)
    return Error("w " + w.to_string() + " has " + std::to_string(w[1]) +
                 " input channels per filter, expected C/groups = " + std::to_string(x[1]) +
                 "/" + g + " = " + std::to_string(x[1] / groups));
  if (w[0] % groups != 0)
    return Error("output channels " + std::to_string(w[0]) + " are not divisible by groups " + g);
  return Status::Ok();
}

// [N, F, OH, OW] of conv2d(x, w), or an error when the kernel does not fit.
Expected<Shape> conv_output(const Shape& x, const Shape& w, const Conv2dOptions& o) {
  Pair out;
  for (int d = 0; d < 2; ++d)
    out[d] = ops::window_out(x[2 + d], w[2 + d], o.stride[d], o.padding[d], o.dilation[d]);
  if (out[0] < 1 || out[1] < 1)
    return Error("kernel " + hw({w[2], w[3]}) + " (dilation " + hw(o.dilation) +
                 ") is larger than the padded input " +
                 hw({x[2] + 2 * o.padding[0], x[3] + 2 * o.padding[1]}));
  return Shape{x[0], w[0], out[0], out[1]};
}

// Operand names of each op, for messages.
std::array<const char*, 2> operand_names(OpKind op) {
  switch (op) {
    case OpKind::Conv2dInputGrad: return {"dy", "w"};
    case OpKind::Conv2dWeightGrad: return {"x", "dy"};
    default: return {"x", "w"};
  }
}

Expected<ConvGeom> conv_geometry(const Node& n, Ins in) {
  const auto names = operand_names(n.op);
  KILN_RETURN_IF_ERROR(ops::require_nchw(in[0], names[0]));
  KILN_RETURN_IF_ERROR(ops::require_nchw(in[1], names[1]));
  if (in[0].dtype != in[1].dtype)
    return Error(std::string("dtypes differ: ") + names[0] + " is " + in[0].to_string() + ", " +
                 names[1] + " is " + in[1].to_string());
  ConvGeom g;
  g.o = KILN_TRY(conv_options(n));
  const Shape& a = in[0].shape;
  const Shape& b = in[1].shape;
  switch (n.op) {
    case OpKind::Conv2dInputGrad: {
      const Pair size = KILN_TRY(ops::pair_attr(n, "input_size", 0, kMaxTensorElements));
      g.y = a;
      g.w = b;
      g.x = Shape{a[0], b[1] * g.o.groups, size[0], size[1]};
      break;
    }
    case OpKind::Conv2dWeightGrad: {
      const Pair k = KILN_TRY(ops::pair_attr(n, "kernel_size", 1));
      g.x = a;
      g.y = b;
      g.w = Shape{b[1], a[1] / g.o.groups, k[0], k[1]};
      break;
    }
    default:
      g.x = a;
      g.w = b;
  }
  KILN_RETURN_IF_ERROR(check_channels(g.x, g.w, g.o.groups));
  const Shape y = KILN_TRY(conv_output(g.x, g.w, g.o));
  if (n.op != OpKind::Conv2d && y != g.y)
    return Error("conv2d of x " + g.x.to_string() + " with w " + g.w.to_string() + " gives " +
                 y.to_string() + ", but dy is " + g.y.to_string());
  g.y = y;
  return g;
}

Expected<TensorType> infer_conv(const Node& n, Ins in) {
  const ConvGeom g = KILN_TRY(conv_geometry(n, in));
  switch (n.op) {
    case OpKind::Conv2dInputGrad: return TensorType{in[0].dtype, g.x};
    case OpKind::Conv2dWeightGrad: return TensorType{in[0].dtype, g.w};
    default: return TensorType{in[0].dtype, g.y};
  }
}

// Calls fn(xi, wi, yi) with the flat indices of every product x[xi] * w[wi] that
// contributes to y[yi]; taps falling into the zero padding are skipped.
template <typename Fn>
void for_each_tap(const ConvGeom& g, Fn fn) {
  const int64_t N = g.x[0], C = g.x[1], H = g.x[2], W = g.x[3];
  const int64_t F = g.w[0], CG = g.w[1], KH = g.w[2], KW = g.w[3];
  const int64_t OH = g.y[2], OW = g.y[3], FG = F / g.o.groups;
  const auto [sh, sw] = g.o.stride;
  const auto [ph, pw] = g.o.padding;
  const auto [dh, dw] = g.o.dilation;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f) {
      const int64_t c0 = f / FG * CG;  // first input channel of f's group
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t yi = ((n * F + f) * OH + oy) * OW + ox;
          for (int64_t c = 0; c < CG; ++c)
            for (int64_t ky = 0; ky < KH; ++ky) {
              const int64_t iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= H) continue;
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= W) continue;
                fn(((n * C + c0 + c) * H + iy) * W + ix, ((f * CG + c) * KH + ky) * KW + kx, yi);
              }
            }
        }
    }
}

Expected<ConvGeom> ref_geometry(const Node& n, RefIns in) {
  std::vector<TensorType> types = {in[0]->type, in[1]->type};
  return conv_geometry(n, types);
}

Status ref_conv2d(const Node& n, RefIns in, RefTensor& out) {
  const ConvGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& x = in[0]->data;
  const std::vector<double>& w = in[1]->data;
  for_each_tap(g, [&](int64_t xi, int64_t wi, int64_t yi) { out.data[yi] += x[xi] * w[wi]; });
  return Status::Ok();
}

Status ref_input_grad(const Node& n, RefIns in, RefTensor& out) {
  const ConvGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& dy = in[0]->data;
  const std::vector<double>& w = in[1]->data;
  for_each_tap(g, [&](int64_t xi, int64_t wi, int64_t yi) { out.data[xi] += dy[yi] * w[wi]; });
  return Status::Ok();
}

Status ref_weight_grad(const Node& n, RefIns in, RefTensor& out) {
  const ConvGeom g = KILN_TRY(ref_geometry(n, in));
  const std::vector<double>& x = in[0]->data;
  const std::vector<double>& dy = in[1]->data;
  for_each_tap(g, [&](int64_t xi, int64_t wi, int64_t yi) { out.data[wi] += x[xi] * dy[yi]; });
  return Status::Ok();
}

// The node's options; its attributes were checked when it was built.
Conv2dOptions options_of(const Node& n) {
  Expected<Conv2dOptions> o = conv_options(n);
  KILN_CHECK(o.ok(), "conv node with unchecked attributes");
  return *o;
}

std::vector<Tensor> grad_conv2d(GradContext& c) {
  const Conv2dOptions o = options_of(c.node);
  const Tensor x = c.inputs[0], w = c.inputs[1], g = c.grad_out;
  return {conv2d_input_grad(g, w, hw_of(x), o), conv2d_weight_grad(x, g, hw_of(w), o)};
}

std::vector<Tensor> grad_input_grad(GradContext& c) {
  const Conv2dOptions o = options_of(c.node);
  const Tensor dy = c.inputs[0], w = c.inputs[1], g = c.grad_out;
  return {conv2d(g, w, o), conv2d_weight_grad(g, dy, hw_of(w), o)};
}

std::vector<Tensor> grad_weight_grad(GradContext& c) {
  const Conv2dOptions o = options_of(c.node);
  const Tensor x = c.inputs[0], dy = c.inputs[1], g = c.grad_out;
  return {conv2d_input_grad(dy, g, hw_of(x), o), conv2d(x, g, o)};
}

std::vector<AttrSpec> conv_attrs(const char* extra = nullptr) {
  std::vector<AttrSpec> a = {{"stride", AttrKind::Ints},
                             {"padding", AttrKind::Ints},
                             {"dilation", AttrKind::Ints},
                             {"groups", AttrKind::Int}};
  if (extra) a.push_back({extra, AttrKind::Ints});
  return a;
}

}  // namespace

void register_conv_ops(std::vector<OpDef>& d) {
  d.push_back({OpKind::Conv2d, "conv2d", 2, 2, conv_attrs(), kPreservesZero | kContraction,
               "(x [N, C, H, W], w [F, C/groups, KH, KW]) -> [N, F, OH, OW], OH = (H + 2*pad - "
               "dil*(KH-1) - 1) / stride + 1; zero padding, float only.",
               infer_conv, ref_conv2d, grad_conv2d});
  d.push_back({OpKind::Conv2dInputGrad, "conv2d_input_grad", 2, 2, conv_attrs("input_size"),
               kPreservesZero | kContraction,
               "(dy [N, F, OH, OW], w) -> dx [N, C, input_size]: the transposed convolution, "
               "the gradient of conv2d with respect to x.",
               infer_conv, ref_input_grad, grad_input_grad});
  d.push_back({OpKind::Conv2dWeightGrad, "conv2d_weight_grad", 2, 2, conv_attrs("kernel_size"),
               kPreservesZero | kContraction,
               "(x [N, C, H, W], dy [N, F, OH, OW]) -> dw [F, C/groups, kernel_size]: the "
               "gradient of conv2d with respect to w.",
               infer_conv, ref_weight_grad, grad_weight_grad});
}

}  // namespace kiln
