// Contraction lowerings (codegen/lowerer.h): matmul, the three convolutions and max
// pooling's gradient (a runtime scatter with an epilogue, runtime/pool.h). Each
// fills the kernel's geometry and GEMM view (runtime/abi.h) and maps a view index back
// to the output's NCHW (or [..., M, N]) multi-index for the epilogue.
#include <map>

#include "codegen/lowerer.h"

namespace kiln {

using kir::ExprId;
using Idx = std::vector<ExprId>;
using ViewIndex = std::array<ExprId, 3>;

namespace {

void matmul_geometry(const Graph& g, const Node& n, kir::ContractionKernel& k) {
  const Shape& os = n.shape();
  int r = os.rank();
  k.m = os[r - 2];
  k.n = os[r - 1];
  k.k = g.type(n.inputs[0]).shape[r - 1];
  k.batch = 1;
  for (int d = 0; d < r - 2; ++d) k.batch *= os[d];
  k.view = {k.batch, k.m, k.n};
}

// [batch, m, n] -> [batch dims..., m, n].
Idx matmul_index(kir::ExprPool& P, const kir::ContractionKernel&, const Shape& out,
                 const ViewIndex& v) {
  int r = out.rank();
  Idx idx(r);
  ExprId rest = v[0];
  for (int d = r - 3; d >= 0; --d) {
    idx[d] = d == 0 ? rest : P.mod(rest, out[d]);
    rest = P.div(rest, out[d]);
  }
  idx[r - 2] = v[1];
  idx[r - 1] = v[2];
  return idx;
}

kir::ConvGeometry conv_geometry(const Shape& x, const Shape& w, const Shape& y, const Node& n) {
  kir::ConvGeometry c;
  c.n = x[0], c.c = x[1], c.h = x[2], c.w = x[3];
  c.f = w[0], c.kh = w[2], c.kw = w[3];
  c.oh = y[2], c.ow = y[3];
  const auto& s = n.attrs.ints("stride");
  const auto& p = n.attrs.ints("padding");
  const auto& d = n.attrs.ints("dilation");
  c.stride_h = s[0], c.stride_w = s[1], c.pad_h = p[0], c.pad_w = p[1];
  c.dil_h = d[0], c.dil_w = d[1];
  c.groups = n.attrs.i("groups");
  return c;
}

void conv_forward_geometry(const Graph& g, const Node& n, kir::ContractionKernel& k) {
  k.conv = conv_geometry(g.type(n.inputs[0]).shape, g.type(n.inputs[1]).shape, n.shape(), n);
  const kir::ConvGeometry& c = k.conv;
  k.view = {c.n * c.groups, c.f / c.groups, c.oh * c.ow};
}
void conv_input_grad_geometry(const Graph& g, const Node& n, kir::ContractionKernel& k) {
  k.conv = conv_geometry(n.shape(), g.type(n.inputs[1]).shape, g.type(n.inputs[0]).shape, n);
  const kir::ConvGeometry& c = k.conv;
  k.view = {c.n * c.groups, c.c / c.groups, c.h * c.w};
}
void conv_weight_grad_geometry(const Graph& g, const Node& n, kir::ContractionKernel& k) {
  k.conv = conv_geometry(g.type(n.inputs[0]).shape, n.shape(), g.type(n.inputs[1]).shape, n);
  const kir::ConvGeometry& c = k.conv;
  k.view = {c.groups, c.f / c.groups, (c.c / c.groups) * c.kh * c.kw};
}

// [n*groups, channels/groups, h*w] -> [n, channel, y, x] for an NCHW tensor.
Idx nchw_index(kir::ExprPool& P, int64_t groups, int64_t per_group, int64_t width,
               const ViewIndex& v) {
  ExprId n = P.div(v[0], groups);
  ExprId ch = P.add(P.mul(P.mod(v[0], groups), per_group), v[1]);
  return {n, ch, P.div(v[2], width), P.mod(v[2], width)};
}
Idx conv_forward_index(kir::ExprPool& P, const kir::ContractionKernel& k, const Shape&,
                       const ViewIndex& v) {
  return nchw_index(P, k.conv.groups, k.view[1], k.conv.ow, v);
}
Idx conv_input_grad_index(kir::ExprPool& P, const kir::ContractionKernel& k, const Shape&,
                          const ViewIndex& v) {
  return nchw_index(P, k.conv.groups, k.view[1], k.conv.w, v);
}
// max_pool2d_grad(indices, dy) -> dx [n, c, h, w]: the window's geometry, view [n, c, h*w].
void max_pool_grad_geometry(const Graph& g, const Node& n, kir::ContractionKernel& k) {
  const Shape& x = n.shape();
  const Shape& y = g.type(n.inputs[1]).shape;
  kir::ConvGeometry& c = k.conv;
  c.n = x[0], c.c = x[1], c.h = x[2], c.w = x[3];
  c.f = x[1], c.oh = y[2], c.ow = y[3];
  const auto& w = n.attrs.ints("kernel");
  const auto& s = n.attrs.ints("stride");
  const auto& p = n.attrs.ints("padding");
  c.kh = w[0], c.kw = w[1], c.stride_h = s[0], c.stride_w = s[1], c.pad_h = p[0], c.pad_w = p[1];
  k.view = {c.n, c.c, c.h * c.w};
}
Idx max_pool_grad_index(kir::ExprPool& P, const kir::ContractionKernel& k, const Shape&,
                        const ViewIndex& v) {
  return nchw_index(P, 1, k.view[1], k.conv.w, v);
}
// [groups, f/groups, (c/groups)*kh*kw] -> [f, c/groups, kh, kw].
Idx conv_weight_grad_index(kir::ExprPool& P, const kir::ContractionKernel& k, const Shape&,
                           const ViewIndex& v) {
  const kir::ConvGeometry& c = k.conv;
  ExprId f = P.add(P.mul(v[0], k.view[1]), v[1]);
  ExprId ci = P.div(v[2], c.kh * c.kw);
  return {f, ci, P.mod(P.div(v[2], c.kw), c.kh), P.mod(v[2], c.kw)};
}

}  // namespace

// The prologue of a convolution (kernel_ir.h): operand x, an unmaterialized value of shape
// [n, c, h, w], computed at (image, channel, pixel) of the view [n, c, h*w].
void lower_prologue(const Graph& g, const std::vector<int>& buffer_of,
                    const std::vector<NodeId>& positive_of, NodeId x, kir::ContractionKernel& k,
                    kir::ExprPool& P) {
  const Shape& s = g.node(x).shape();
  KILN_CHECK(s.rank() == 4, "a convolution prologue computes an NCHW operand");
  k.prologue_view = {s[0], s[1], s[2] * s[3]};
  Lowerer L(g, buffer_of, positive_of, P, x, false);
  const ExprId n = P.loop_index(0, s[0]), c = P.loop_index(1, s[1]);
  const ExprId q = P.loop_index(2, s[2] * s[3]);
  const Idx idx = {n, c, P.div(q, s[3]), P.mod(q, s[3])};
  // Loads of other [n, c, h, w] values (the convolution output, a residual) at x's own
  // index are at this linear offset.
  L.know_linear(s, idx, P.add(P.mul(P.add(P.mul(n, s[1]), c), s[2] * s[3]), q));
  k.prologue = L.compute(x, idx);
}

const ContractionLowering* contraction_lowering(OpKind op) {
  static const std::map<OpKind, ContractionLowering> table = {
      {OpKind::Matmul, {kir::ContractionOp::Matmul, matmul_geometry, matmul_index}},
      {OpKind::Conv2d, {kir::ContractionOp::Conv2d, conv_forward_geometry, conv_forward_index}},
      {OpKind::Conv2dInputGrad,
       {kir::ContractionOp::Conv2dInputGrad, conv_input_grad_geometry, conv_input_grad_index}},
      {OpKind::Conv2dWeightGrad,
       {kir::ContractionOp::Conv2dWeightGrad, conv_weight_grad_geometry, conv_weight_grad_index}},
      {OpKind::MaxPool2dGrad,
       {kir::ContractionOp::MaxPool2dGrad, max_pool_grad_geometry, max_pool_grad_index}},
  };
  auto it = table.find(op);
  return it == table.end() ? nullptr : &it->second;
}

}  // namespace kiln
