// Tiny maps as dense layers (conv_internal.h). On a map of a few pixels, a convolution is
// a linear map from an image's c*h*w inputs to its f*oh*ow outputs whose matrix is
// nearly full: with a 3x3 kernel and padding 1 on a 2x2 map, every output pixel reads
// every input pixel, each through a different tap. im2col builds 9 taps per output pixel
// of which 5 read padding; the dense matrix holds exactly the 4 that read the image. So
// here the weights are expanded once per call into that matrix, stored transposed as
// WdT [f*ohw, c*hw] (zero where no tap links the two pixels; row (fi, out) is filter fi's
// weights in order), and the whole batch is one GEMM with the images as rows,
// read in place (NCHW rows are an image's c*h*w inputs):
//   forward      Y    [n, f*ohw] = X  [n, c*hw]  @ WdT^T
//   input grad   dX   [n, c*hw]  = dY [n, f*ohw] @ WdT
//   weight grad  dWdT            = dY^T @ X, then each tap's entries summed into dW
// ResNet-18's 2x2 maps at --size 32 (256->256 3x3, and 256->512 with stride 2 to 1x1)
// do 44% of im2col's multiply-adds, in one large GEMM with no col to build. Used when
// the links that exist fill most of Wd (use_dense_map); groups of 1 only.
//
// The GEMMs split over rows and columns only, so every sum has a fixed order and the
// bits never depend on the thread count.
#include <algorithm>
#include <array>
#include <vector>

#include "runtime/conv_internal.h"

namespace kiln::conv_detail {

namespace {

// Links (input pixel, output pixel, tap) that read the image, as a share of Wd's
// entries, above which the dense matrix pays: 1.0 on ResNet's 2x2 and 2x2->1x1 maps,
// 0.39 on 4x4 -> 2x2 with stride 2 (which stays on the folded path).
constexpr double kMinDensity = 0.75;
// ... and below which share of the folded path's multiply-adds (1x1 maps, where the
// folded path keeps only the live tap, have nothing to gain: 0.44 on 2x2 does).
constexpr double kMaxFoldedShare = 0.6;
constexpr int64_t kMaxDenseElems = 16 << 20;  // Wd's size cap (64 MB of f32)

struct Link {
  int64_t in, out, tap;  // input pixel, output pixel, kernel tap
};

// Every link of the geometry, by output pixel then tap, and how many taps have one.
// Thread-local, and rebuilt only when the geometry changes (use_dense_map and the pass it
// picks both ask).
struct LinkTable {
  std::vector<Link> links;
  int64_t live_taps = 0;
  // The tap linking input pixel `in` to output pixel `out`, at [out * hw + in], or -1.
  // Two links never share (in, out) (distinct taps read distinct pixels).
  std::vector<int64_t> tap_of;
};

const LinkTable& link_table(const ConvParams& p, const Dims& d) {
  thread_local LinkTable t;
  thread_local std::array<int64_t, 12> built_for{};
  const std::array<int64_t, 12> geometry{p.h,      p.w,      p.oh,    p.ow,    p.kh,    p.kw,
                                         p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
  if (geometry == built_for && !t.links.empty()) return t;
  built_for = geometry;
  t.links.clear();
  std::vector<bool> live(d.kk, false);
  for (int64_t j = 0; j < d.ohw; ++j)
    for (int64_t tap = 0; tap < d.kk; ++tap) {
      const int64_t ih = j / p.ow * p.stride_h - p.pad_h + tap / p.kw * p.dil_h;
      const int64_t iw = j % p.ow * p.stride_w - p.pad_w + tap % p.kw * p.dil_w;
      if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w) {
        t.links.push_back({ih * p.w + iw, j, tap});
        live[tap] = true;
      }
    }
  t.live_taps = std::count(live.begin(), live.end(), true);
  t.tap_of.assign(static_cast<size_t>(d.ohw * d.hw), -1);
  for (const Link& l : t.links) t.tap_of[static_cast<size_t>(l.out * d.hw + l.in)] = l.tap;
  return t;
}

const std::vector<Link>& links(const ConvParams& p, const Dims& d) {
  return link_table(p, d).links;
}

// WdT [f*ohw, c*hw], the transpose of Wd: WdT[(fi, out), (ch, in)] = w[fi, ch, tap] for
// each link, else 0. Row by row, so both w (a filter's c*kk weights, in L1 for its ohw
// rows) and WdT are walked in order. Built as Wd [c*hw, f*ohw] link by link over every
// filter, w was read a filter apart (9 KB on 256 channels), so that the reads fell in 4
// sets of L1: the 256->256 2x2 forward at batch 64 took 2.16 ms, now 1.53, of which the
// GEMM is 1.2 (least of 60 short runs, interleaved; a Wd built in filter blocks instead,
// read untransposed by the GEMM, ran the same).
template <typename T>
const T* transposed_dense_weights(const ConvParams& p, const Dims& d, const T* w) {
  const std::vector<int64_t>& grid = link_table(p, d).tap_of;
  const int64_t cols = p.c * d.hw;
  T* wdt = scratch<T>().shared.get(p.f * d.ohw * cols);
  parallel_for(p.f * d.ohw, std::max<int64_t>(1, 8192 / cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t* taps = grid.data() + r % d.ohw * d.hw;
      const T* wf = w + r / d.ohw * d.ckk;
      T* row = wdt + r * cols;
      for (int64_t ch = 0; ch < p.c; ++ch, row += d.hw, wf += d.kk)
        for (int64_t in = 0; in < d.hw; ++in) row[in] = taps[in] >= 0 ? wf[taps[in]] : T(0);
    }
  });
  return wdt;
}

// The epilogue on images [0, n) of a [n, rows, cols] view, a block of images per task.
void epilogue_by_image(int64_t n, int64_t rows, int64_t cols, const Epilogue& epi) {
  if (!epi) return;
  parallel_for(n, std::max<int64_t>(1, 16384 / (rows * cols)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) epi(i, 0, rows, 0, cols);
  });
}

}  // namespace

bool use_dense_map(const ConvParams& p, const Dims& d) {
  if (d.groups != 1 || d.hw * d.ohw > kMaxDenseElems / std::max<int64_t>(1, p.c * p.f))
    return false;
  // Links vs the folded path's multiply-adds (every live tap at every output pixel).
  const LinkTable& t = link_table(p, d);
  const double links = double(t.links.size()), folded = double(d.ohw * t.live_taps);
  return links >= kMinDensity * double(d.hw * d.ohw) && links <= kMaxFoldedShare * folded;
}

template <typename T>
void forward_dense(const ConvParams& p, const Dims& d, const T* x, const T* w, T* y,
                   const Epilogue& epi) {
  const T* wdt = transposed_dense_weights(p, d, w);
  const int64_t k = p.c * d.hw, cols = p.f * d.ohw;
  gemm(gemm_params(p.n, cols, k, k, k, cols, false, true, p.accumulate, p.alpha), x, wdt, y,
       {}, true);
  epilogue_by_image(p.n, p.f, d.ohw, epi);
}

template <typename T>
void input_grad_dense(const ConvParams& p, const Dims& d, const T* dy, const T* w, T* dx,
                      const Epilogue& epi) {
  const T* wdt = transposed_dense_weights(p, d, w);
  const int64_t cols = p.c * d.hw, k = p.f * d.ohw;
  gemm(gemm_params(p.n, cols, k, k, cols, cols, false, false, p.accumulate, p.alpha), dy, wdt,
       dx, {}, true);
  epilogue_by_image(p.n, p.c, d.hw, epi);
}

template <typename T>
void weight_grad_dense(const ConvParams& p, const Dims& d, const T* x, const T* dy, T* dw,
                       const Epilogue& epi) {
  const std::vector<Link>& ls = links(p, d);
  const int64_t rows = p.f * d.ohw, cols = p.c * d.hw;
  T* dwdt = scratch<T>().shared.get(rows * cols);
  gemm(gemm_params(rows, cols, p.n, rows, cols, cols, true, false, false, 1.0), dy, x, dwdt, {},
       true);
  // dW[fi, ch, tap] = alpha * (sum of its links' entries, in link order), a block of
  // filters per task. Per filter, link by link, every channel at once into a [c, kk]
  // sum in L1: the adds to one (ch, tap) lie a link apart, not in a chain (summing a
  // channel's links in turn ran at a third of the speed).
  parallel_for(p.f, std::max<int64_t>(1, 4096 / (d.ohw * cols)), [&](int64_t f0, int64_t f1) {
    T* sum = scratch<T>().task.get(d.ckk);
    const T alpha = T(p.alpha);
    for (int64_t fi = f0; fi < f1; ++fi) {
      std::fill(sum, sum + d.ckk, T(0));
      for (const Link& l : ls) {
        const T* v = dwdt + (fi * d.ohw + l.out) * cols + l.in;
        T* s = sum + l.tap;
        for (int64_t ch = 0; ch < p.c; ++ch) s[ch * d.kk] += v[ch * d.hw];
      }
      T* o = dw + fi * d.ckk;
      for (int64_t i = 0; i < d.ckk; ++i)
        o[i] = p.accumulate ? alpha * sum[i] + o[i] : alpha * sum[i];
    }
  });
  if (epi)
    parallel_for(p.f, std::max<int64_t>(1, 16384 / d.ckk),
                 [&](int64_t f0, int64_t f1) { epi(0, f0, f1, 0, d.ckk); });
}

#define KILN_DENSE_MAP_INSTANCES(T)                                                         \
  template void forward_dense<T>(const ConvParams&, const Dims&, const T*, const T*, T*,    \
                                 const Epilogue&);                                          \
  template void input_grad_dense<T>(const ConvParams&, const Dims&, const T*, const T*, T*, \
                                    const Epilogue&);                                       \
  template void weight_grad_dense<T>(const ConvParams&, const Dims&, const T*, const T*, T*, \
                                     const Epilogue&);
KILN_DENSE_MAP_INSTANCES(float)
KILN_DENSE_MAP_INSTANCES(double)
#undef KILN_DENSE_MAP_INSTANCES

}  // namespace kiln::conv_detail
