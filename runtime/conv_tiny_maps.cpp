// Tiny maps as dense layers (conv_internal.h). On a map of a few pixels, a convolution is
// a linear map from an image's c*h*w inputs to its f*oh*ow outputs whose matrix is
// nearly full: with a 3x3 kernel and padding 1 on a 2x2 map, every output pixel reads
// every input pixel, each through a different tap. im2col builds 9 taps per output pixel
// of which 5 read padding; the dense matrix holds exactly the 4 that read the image. So
// here the weights are expanded once per call into that matrix, Wd [c*h*w, f*oh*ow]
// (zero where no tap links the two pixels), and the whole batch is one GEMM with the
// images as rows, read in place (NCHW rows are an image's c*h*w inputs):
//   forward      Y  [n, f*ohw] = X  [n, c*hw]  @ Wd
//   input grad   dX [n, c*hw]  = dY [n, f*ohw] @ Wd^T
//   weight grad  dWd           = X^T @ dY, then each tap's entries summed into dW
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
  return t;
}

const std::vector<Link>& links(const ConvParams& p, const Dims& d) {
  return link_table(p, d).links;
}

// Wd [c*hw, f*ohw]: Wd[(ch, in), (fi, out)] = w[fi, ch, tap] for each link, else 0.
// Two links never share (in, out) (distinct taps read distinct pixels), so each entry is
// one weight.
template <typename T>
const T* dense_weights(const ConvParams& p, const Dims& d, const std::vector<Link>& ls,
                       const T* w) {
  const int64_t cols = p.f * d.ohw;
  T* wd = scratch<T>().shared.get(p.c * d.hw * cols);
  parallel_for(p.c, std::max<int64_t>(1, 4096 / (d.hw * cols)), [&](int64_t c0, int64_t c1) {
    std::fill(wd + c0 * d.hw * cols, wd + c1 * d.hw * cols, T(0));
    for (int64_t ch = c0; ch < c1; ++ch)
      for (const Link& l : ls) {
        T* row = wd + (ch * d.hw + l.in) * cols + l.out;
        const T* wt = w + ch * d.kk + l.tap;
        for (int64_t fi = 0; fi < p.f; ++fi) row[fi * d.ohw] = wt[fi * d.ckk];
      }
  });
  return wd;
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
  const T* wd = dense_weights(p, d, links(p, d), w);
  const int64_t k = p.c * d.hw, cols = p.f * d.ohw;
  gemm(gemm_params(p.n, cols, k, k, cols, cols, false, false, p.accumulate, p.alpha), x, wd, y,
       {}, true);
  epilogue_by_image(p.n, p.f, d.ohw, epi);
}

template <typename T>
void input_grad_dense(const ConvParams& p, const Dims& d, const T* dy, const T* w, T* dx,
                      const Epilogue& epi) {
  const T* wd = dense_weights(p, d, links(p, d), w);
  const int64_t cols = p.c * d.hw, k = p.f * d.ohw;
  gemm(gemm_params(p.n, cols, k, k, k, cols, false, true, p.accumulate, p.alpha), dy, wd, dx,
       {}, true);
  epilogue_by_image(p.n, p.c, d.hw, epi);
}

template <typename T>
void weight_grad_dense(const ConvParams& p, const Dims& d, const T* x, const T* dy, T* dw,
                       const Epilogue& epi) {
  const std::vector<Link>& ls = links(p, d);
  const int64_t rows = p.c * d.hw, cols = p.f * d.ohw;
  T* dwd = scratch<T>().shared.get(rows * cols);
  gemm(gemm_params(rows, cols, p.n, rows, cols, cols, true, false, false, 1.0), x, dy, dwd, {},
       true);
  // dW[fi, ch, tap] = alpha * (sum of its links' entries, in link order), a block of
  // channels per task: dWd's rows of a channel hold every filter's entries side by side.
  parallel_for(p.c, 1, [&](int64_t c0, int64_t c1) {
    T* sum = scratch<T>().task.get(p.f * d.kk);
    const T alpha = T(p.alpha);
    for (int64_t ch = c0; ch < c1; ++ch) {
      std::fill(sum, sum + p.f * d.kk, T(0));
      for (const Link& l : ls) {
        const T* row = dwd + (ch * d.hw + l.in) * cols + l.out;
        for (int64_t fi = 0; fi < p.f; ++fi) sum[fi * d.kk + l.tap] += row[fi * d.ohw];
      }
      for (int64_t fi = 0; fi < p.f; ++fi)
        for (int64_t t = 0; t < d.kk; ++t) {
          T& o = dw[fi * d.ckk + ch * d.kk + t];
          o = p.accumulate ? alpha * sum[fi * d.kk + t] + o : alpha * sum[fi * d.kk + t];
        }
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
