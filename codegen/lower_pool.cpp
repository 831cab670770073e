// Inline lowerings of pooling and its gradients (codegen/lowerer.h). Windows are
// unrolled: every window element is a (clamped) load with a validity test that the
// index ranges fold away wherever the window cannot leave the input, so pooling fuses
// into its consumers' loops like any elementwise op, and the gradients are computed per
// input element (a gather over the windows that cover it: no scatter, no atomics); max
// pooling's gradient compares the stored argmax (max_pool2d_indices) of each covering
// window with the element's position instead of scanning the window again.
#include <algorithm>
#include <limits>
#include <vector>

#include "codegen/lowerer.h"

namespace kiln {

using kir::BOp;
using kir::COp;
using kir::ExprId;
using Idx = std::vector<ExprId>;

namespace {

// Position `pos` (an i64 expression) along an axis of `extent` elements: the clamped
// index to load from, and `valid` (a bool expression, or -1 when always in range).
struct AxisPos {
  ExprId index = -1;
  ExprId valid = -1;
};
AxisPos axis_pos(kir::ExprPool& P, ExprId pos, int64_t extent) {
  AxisPos a;
  a.index = P.clamp(pos, 0, std::max<int64_t>(0, extent - 1));
  if (a.index != pos) a.valid = P.compare(COp::Eq, a.index, pos);
  return a;
}
ExprId both(kir::ExprPool& P, ExprId a, ExprId b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return P.binary(BOp::And, a, b);
}
ExprId when(kir::ExprPool& P, ExprId cond, ExprId v, ExprId otherwise) {
  return cond < 0 ? v : P.select(cond, v, otherwise);
}

struct Window {
  int64_t kh, kw, sh, sw, ph, pw;
};
Window window_of(const Node& n) {
  const auto& k = n.attrs.ints("kernel");
  const auto& s = n.attrs.ints("stride");
  const auto& p = n.attrs.ints("padding");
  return {k[0], k[1], s[0], s[1], p[0], p[1]};
}

// Element (i, j) of window (oh, ow) of input x (index [n, c, ., .]).
struct WindowElement {
  ExprId value;  // x there (or `fill` outside the input)
  ExprId ih, iw; // clamped input position
  ExprId valid;  // -1: always inside
};
WindowElement window_element(Lowerer& L, const Node& n, int input, const Idx& nc, ExprId oh,
                             ExprId ow, const Window& w, int64_t i, int64_t j, ExprId fill) {
  kir::ExprPool& P = L.pool();
  const Shape& xs = L.graph().type(n.inputs[input]).shape;
  AxisPos h = axis_pos(P, P.add(P.mul(oh, w.sh), i - w.ph), xs[2]);
  AxisPos v = axis_pos(P, P.add(P.mul(ow, w.sw), j - w.pw), xs[3]);
  ExprId valid = both(P, h.valid, v.valid);
  ExprId x = L.in(n, input, {nc[0], nc[1], h.index, v.index});
  return {when(P, valid, x, fill), h.index, v.index, valid};
}

// Combines items pairwise, neighbours first, until one is left: a tree of depth log2(n)
// instead of a chain of n - 1 dependent steps (a 3x3 window's argmax: 4 compare-select
// latencies per element instead of 8). `merge(a, b)` gets a before b in window order.
template <typename Item, typename Merge>
Item merge_in_order(std::vector<Item> items, const Merge& merge) {
  while (items.size() > 1) {
    std::vector<Item> next;
    for (size_t i = 0; i + 1 < items.size(); i += 2) next.push_back(merge(items[i], items[i + 1]));
    if (items.size() % 2) next.push_back(items.back());
    items.swap(next);
  }
  return items[0];
}

ExprId max_pool(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  Window w = window_of(n);
  ExprId neg_inf = P.constant(n.dtype(), -std::numeric_limits<double>::infinity());
  std::vector<ExprId> values;
  for (int64_t i = 0; i < w.kh; ++i)
    for (int64_t j = 0; j < w.kw; ++j)
      values.push_back(window_element(L, n, 0, idx, idx[2], idx[3], w, i, j, neg_inf).value);
  return merge_in_order(values, [&](ExprId a, ExprId b) { return P.binary(BOp::Max, a, b); });
}

// ih*W + iw of the first maximum of window (idx[2], idx[3]) in row-major order (a NaN
// counts as a maximum, the last one winning), as i32. Outside the input an element reads
// -inf at its clamped position, which never beats an element inside; a window that is
// -inf throughout gives its first element's clamped position, the first position inside,
// as in PyTorch's scan from the first element inside. Merged as a tree (merge_in_order):
// the later of two runs wins when its best is greater or NaN, which picks, as a scan
// would, the last NaN or else the first maximum.
ExprId max_pool_indices(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  Window w = window_of(n);
  const TensorType& x = L.graph().type(n.inputs[0]);
  ExprId neg_inf = P.constant(x.dtype, -std::numeric_limits<double>::infinity());
  struct Best {
    ExprId value, at;
  };
  std::vector<Best> elements;
  for (int64_t i = 0; i < w.kh; ++i)
    for (int64_t j = 0; j < w.kw; ++j) {
      WindowElement e = window_element(L, n, 0, idx, idx[2], idx[3], w, i, j, neg_inf);
      elements.push_back({e.value, P.cast(DType::i32, P.add(P.mul(e.ih, x.shape[3]), e.iw))});
    }
  return merge_in_order(elements, [&](const Best& a, const Best& b) {
           ExprId later = P.binary(BOp::Or, P.compare(COp::Gt, b.value, a.value),
                                   P.compare(COp::Ne, b.value, b.value));
           return Best{P.select(later, b.value, a.value), P.select(later, b.at, a.at)};
         }).at;
}

// Number of window elements averaged at (oh, ow): the whole window with
// count_include_pad (windows never reach past the padding), else the part inside.
ExprId avg_divisor(kir::ExprPool& P, const Window& w, bool include_pad, ExprId oh, ExprId ow,
                   int64_t h, int64_t wd, DType t) {
  if (include_pad) return P.constant(t, double(w.kh * w.kw));
  auto inside = [&](ExprId o, int64_t s, int64_t p, int64_t k, int64_t extent) {
    ExprId start = P.add(P.mul(o, s), -p);
    ExprId lo = P.binary(BOp::Max, start, P.index(0));
    ExprId hi = P.binary(BOp::Min, P.add(start, k), P.index(extent));
    return P.binary(BOp::Sub, hi, lo);
  };
  ExprId count = P.mul(inside(oh, w.sh, w.ph, w.kh, h), inside(ow, w.sw, w.pw, w.kw, wd));
  return P.cast(t, count);
}

ExprId avg_pool(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  Window w = window_of(n);
  const Shape& xs = L.graph().type(n.inputs[0]).shape;
  ExprId zero = P.constant(n.dtype(), 0.0), sum = zero;
  for (int64_t i = 0; i < w.kh; ++i)
    for (int64_t j = 0; j < w.kw; ++j)
      sum = P.binary(BOp::Add, sum,
                     window_element(L, n, 0, idx, idx[2], idx[3], w, i, j, zero).value);
  bool include_pad = n.attrs.i("count_include_pad") != 0;
  return P.binary(BOp::Div, sum,
                  avg_divisor(P, w, include_pad, idx[2], idx[3], xs[2], xs[3], n.dtype()));
}

// The windows along one axis that cover input position `pos`: candidate t is window
// (pos + pad) / stride - t, valid when it exists and reaches pos.
struct Cover {
  ExprId o;      // window index (clamped into [0, out))
  ExprId valid;  // -1: always
};
Cover cover(kir::ExprPool& P, ExprId pos, int64_t t, int64_t s, int64_t p, int64_t k,
            int64_t out) {
  ExprId shifted = P.add(pos, p);  // >= 0
  ExprId o = P.add(P.div(shifted, s), -t);
  AxisPos a = axis_pos(P, o, out);
  // Window o covers [o*s - p, o*s - p + k): pos >= o*s - p holds by construction.
  ExprId reaches = P.compare(COp::Lt, P.binary(BOp::Sub, shifted, P.mul(a.index, s)), P.index(k));
  return {a.index, both(P, a.valid, reaches)};
}
int64_t covers(int64_t k, int64_t s) { return (k + s - 1) / s; }

ExprId avg_pool_grad(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  Window w = window_of(n);
  const Shape& ys = L.graph().type(n.inputs[0]).shape;
  const Shape& xs = n.shape();
  bool include_pad = n.attrs.i("count_include_pad") != 0;
  ExprId zero = P.constant(n.dtype(), 0.0), sum = zero;
  for (int64_t th = 0; th < covers(w.kh, w.sh); ++th)
    for (int64_t tw = 0; tw < covers(w.kw, w.sw); ++tw) {
      Cover ch = cover(P, idx[2], th, w.sh, w.ph, w.kh, ys[2]);
      Cover cw = cover(P, idx[3], tw, w.sw, w.pw, w.kw, ys[3]);
      ExprId dy = L.in(n, 0, {idx[0], idx[1], ch.o, cw.o});
      ExprId share = P.binary(
          BOp::Div, dy, avg_divisor(P, w, include_pad, ch.o, cw.o, xs[2], xs[3], n.dtype()));
      sum = P.binary(BOp::Add, sum, when(P, both(P, ch.valid, cw.valid), share, zero));
    }
  return sum;
}

// dx at (ih, iw): the dy of every window that covers it and whose index is ih*W + iw.
ExprId max_pool_grad(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  Window w = window_of(n);
  const Shape& ys = L.graph().type(n.inputs[1]).shape;
  const Shape& xs = n.shape();
  ExprId here = P.cast(DType::i32, P.add(P.mul(idx[2], xs[3]), idx[3]));
  ExprId zero = P.constant(n.dtype(), 0.0), sum = zero;
  for (int64_t th = 0; th < covers(w.kh, w.sh); ++th)
    for (int64_t tw = 0; tw < covers(w.kw, w.sw); ++tw) {
      Cover ch = cover(P, idx[2], th, w.sh, w.ph, w.kh, ys[2]);
      Cover cw = cover(P, idx[3], tw, w.sw, w.pw, w.kw, ys[3]);
      const Idx window = {idx[0], idx[1], ch.o, cw.o};
      ExprId hit = P.compare(COp::Eq, L.in(n, 0, window), here);
      ExprId take = both(P, both(P, ch.valid, cw.valid), hit);
      sum = P.binary(BOp::Add, sum, P.select(take, L.in(n, 1, window), zero));
    }
  return sum;
}

// Adaptive pooling along one axis of `in` elements pooled to `out`: window o covers
// [floor(o*in/out), ceil((o+1)*in/out)).
ExprId adaptive_start(kir::ExprPool& P, ExprId o, int64_t in, int64_t out) {
  return P.div(P.mul(o, in), out);
}
ExprId adaptive_end(kir::ExprPool& P, ExprId o, int64_t in, int64_t out) {
  return P.div(P.add(P.mul(o, in), in + out - 1), out);
}
int64_t adaptive_max_window(int64_t in, int64_t out) {
  int64_t m = 0;
  for (int64_t o = 0; o < out; ++o)
    m = std::max(m, ((o + 1) * in + out - 1) / out - (o * in) / out);
  return m;
}
// The most windows covering one input position.
int64_t adaptive_max_cover(int64_t in, int64_t out) {
  int64_t m = 0;
  for (int64_t i = 0; i < in; ++i)
    m = std::max(m, ((i + 1) * out + in - 1) / in - (i * out) / in);
  return m;
}
ExprId adaptive_count(kir::ExprPool& P, ExprId oh, ExprId ow, const Shape& xs, const Shape& ys,
                      DType t) {
  ExprId h = P.binary(BOp::Sub, adaptive_end(P, oh, xs[2], ys[2]), adaptive_start(P, oh, xs[2], ys[2]));
  ExprId w = P.binary(BOp::Sub, adaptive_end(P, ow, xs[3], ys[3]), adaptive_start(P, ow, xs[3], ys[3]));
  return P.cast(t, P.mul(h, w));
}

ExprId adaptive_avg_pool(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  const Shape& xs = L.graph().type(n.inputs[0]).shape;
  const Shape& ys = n.shape();
  ExprId zero = P.constant(n.dtype(), 0.0), sum = zero;
  ExprId h0 = adaptive_start(P, idx[2], xs[2], ys[2]), h1 = adaptive_end(P, idx[2], xs[2], ys[2]);
  ExprId w0 = adaptive_start(P, idx[3], xs[3], ys[3]), w1 = adaptive_end(P, idx[3], xs[3], ys[3]);
  for (int64_t i = 0; i < adaptive_max_window(xs[2], ys[2]); ++i)
    for (int64_t j = 0; j < adaptive_max_window(xs[3], ys[3]); ++j) {
      ExprId ih = P.add(h0, i), iw = P.add(w0, j);
      ExprId valid = both(P, P.compare(COp::Lt, ih, h1), P.compare(COp::Lt, iw, w1));
      ExprId x = L.in(n, 0, {idx[0], idx[1], P.clamp(ih, 0, xs[2] - 1), P.clamp(iw, 0, xs[3] - 1)});
      sum = P.binary(BOp::Add, sum, when(P, valid, x, zero));
    }
  return P.binary(BOp::Div, sum, adaptive_count(P, idx[2], idx[3], xs, ys, n.dtype()));
}

ExprId adaptive_avg_pool_grad(Lowerer& L, const Node& n, const Idx& idx) {
  kir::ExprPool& P = L.pool();
  const Shape& ys = L.graph().type(n.inputs[0]).shape;
  const Shape& xs = n.shape();
  ExprId zero = P.constant(n.dtype(), 0.0), sum = zero;
  // Windows covering input i: o in [floor(i*out/in), ceil((i+1)*out/in) - 1].
  auto first = [&](ExprId i, int64_t in, int64_t out) { return P.div(P.mul(i, out), in); };
  auto last = [&](ExprId i, int64_t in, int64_t out) {
    return P.add(P.div(P.add(P.mul(i, out), out + in - 1), in), int64_t{-1});
  };
  for (int64_t th = 0; th < adaptive_max_cover(xs[2], ys[2]); ++th)
    for (int64_t tw = 0; tw < adaptive_max_cover(xs[3], ys[3]); ++tw) {
      ExprId oh = P.add(first(idx[2], xs[2], ys[2]), th);
      ExprId ow = P.add(first(idx[3], xs[3], ys[3]), tw);
      ExprId valid = both(P, P.compare(COp::Le, oh, last(idx[2], xs[2], ys[2])),
                          P.compare(COp::Le, ow, last(idx[3], xs[3], ys[3])));
      ExprId ohc = P.clamp(oh, 0, ys[2] - 1), owc = P.clamp(ow, 0, ys[3] - 1);
      ExprId dy = L.in(n, 0, {idx[0], idx[1], ohc, owc});
      ExprId share = P.binary(BOp::Div, dy, adaptive_count(P, ohc, owc, xs, ys, n.dtype()));
      sum = P.binary(BOp::Add, sum, when(P, valid, share, zero));
    }
  return sum;
}

}  // namespace

void add_pooling_lowerings(InlineLoweringTable& t) {
  t[static_cast<int>(OpKind::MaxPool2d)] = max_pool;
  t[static_cast<int>(OpKind::MaxPool2dIndices)] = max_pool_indices;
  t[static_cast<int>(OpKind::MaxPool2dGrad)] = max_pool_grad;
  t[static_cast<int>(OpKind::AvgPool2d)] = avg_pool;
  t[static_cast<int>(OpKind::AvgPool2dGrad)] = avg_pool_grad;
  t[static_cast<int>(OpKind::AdaptiveAvgPool2d)] = adaptive_avg_pool;
  t[static_cast<int>(OpKind::AdaptiveAvgPool2dGrad)] = adaptive_avg_pool_grad;
}

}  // namespace kiln
