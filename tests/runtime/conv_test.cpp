// Convolution correctness against a naive direct loop in double: every kind (forward,
// input gradient, weight gradient) on odd shapes (stride, padding, dilation, groups,
// non-square images and kernels, pointwise), f32 and f64, alpha and accumulation, the
// epilogue callback (each element exactly once, after its final value, from several
// threads), the same bits on any thread count, small maps (where the batch is folded
// into the GEMM), Winograd F(2x2, 3x3) (3x3 pad 1, every kind) and empty
// shapes.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/conv.h"
#include "runtime/conv_winograd.h"
#include "epilogue_value.h"
#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

using namespace kiln;

namespace {

struct Shape {
  int64_t n, c, h, w, f, kh, kw, sh, sw, ph, pw, dh, dw, groups;
};

ConvParams params(const Shape& s, ConvKind kind) {
  ConvParams p;
  p.kind = kind;
  p.n = s.n;
  p.c = s.c;
  p.h = s.h;
  p.w = s.w;
  p.f = s.f;
  p.kh = s.kh;
  p.kw = s.kw;
  p.stride_h = s.sh;
  p.stride_w = s.sw;
  p.pad_h = s.ph;
  p.pad_w = s.pw;
  p.dil_h = s.dh;
  p.dil_w = s.dw;
  p.groups = s.groups;
  p.oh = (s.h + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh + 1;
  p.ow = (s.w + 2 * s.pw - s.dw * (s.kw - 1) - 1) / s.sw + 1;
  return p;
}

std::string describe(const ConvParams& p) {
  std::ostringstream os;
  os << "kind " << p.kind << " n" << p.n << " c" << p.c << " " << p.h << "x" << p.w << " f" << p.f
     << " k" << p.kh << "x" << p.kw << " s" << p.stride_h << "," << p.stride_w << " p" << p.pad_h
     << "," << p.pad_w << " d" << p.dil_h << "," << p.dil_w << " g" << p.groups << " -> "
     << p.oh << "x" << p.ow << " acc " << p.accumulate << " alpha " << p.alpha;
  return os.str();
}

// Element counts of x, w and y.
int64_t x_size(const ConvParams& p) { return p.n * p.c * p.h * p.w; }
int64_t w_size(const ConvParams& p) { return p.f * (p.c / p.groups) * p.kh * p.kw; }
int64_t y_size(const ConvParams& p) { return p.n * p.f * p.oh * p.ow; }

// The three sums of a convolution in double, by visiting every (image, filter, channel,
// tap, output pixel) that reads the input: sum[i] = the kind's result before alpha and
// accumulation, absum[i] = the sum of the magnitudes of its terms (the error scale).
struct Reference {
  std::vector<double> sum, absum;
};

Reference reference(const ConvParams& p, const std::vector<double>& x,
                    const std::vector<double>& w, const std::vector<double>& dy) {
  const int64_t cg = p.c / p.groups, fg = p.f / p.groups;
  const int64_t out = p.kind == kConvForward     ? y_size(p)
                      : p.kind == kConvInputGrad ? x_size(p)
                                                 : w_size(p);
  Reference r{std::vector<double>(out), std::vector<double>(out)};
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t f = 0; f < p.f; ++f)
      for (int64_t cl = 0; cl < cg; ++cl)
        for (int64_t ki = 0; ki < p.kh; ++ki)
          for (int64_t kj = 0; kj < p.kw; ++kj)
            for (int64_t oh = 0; oh < p.oh; ++oh)
              for (int64_t ow = 0; ow < p.ow; ++ow) {
                int64_t ih = oh * p.stride_h - p.pad_h + ki * p.dil_h;
                int64_t iw = ow * p.stride_w - p.pad_w + kj * p.dil_w;
                if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
                int64_t c = f / fg * cg + cl;
                int64_t xi = ((n * p.c + c) * p.h + ih) * p.w + iw;
                int64_t wi = ((f * cg + cl) * p.kh + ki) * p.kw + kj;
                int64_t yi = ((n * p.f + f) * p.oh + oh) * p.ow + ow;
                double term;
                int64_t o;
                if (p.kind == kConvForward) {
                  term = x[xi] * w[wi];
                  o = yi;
                } else if (p.kind == kConvInputGrad) {
                  term = dy[yi] * w[wi];
                  o = xi;
                } else {
                  term = dy[yi] * x[xi];
                  o = wi;
                }
                r.sum[o] += term;
                r.absum[o] += std::abs(term);
              }
  return r;
}

using test::epi_value;  // tests/runtime/epilogue_value.h

// The output (dense, so view index = memory index) and a count of calls per element;
// passed to the callback as buffers[0].
template <typename T>
struct Probe {
  T* c;
  int64_t batches, rows, cols;
  std::unique_ptr<std::atomic<int>[]> seen;
};

template <typename T>
void probe_epilogue(void** buffers, int64_t b, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  auto* pr = static_cast<Probe<T>*>(buffers[0]);
  if (b < 0 || b >= pr->batches || r0 < 0 || r1 > pr->rows || c0 < 0 || c1 > pr->cols) {
    pr->seen[0].fetch_add(1000);  // out of the view: fails the exactly-once check
    return;
  }
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t j = c0; j < c1; ++j) {
      int64_t idx = (b * pr->rows + r) * pr->cols + j;
      pr->seen[idx].fetch_add(1, std::memory_order_relaxed);
      pr->c[idx] = epi_value(pr->c[idx], idx);
    }
}

// The GEMM view [batches, rows, cols] of the kind's output (runtime/abi.h).
void view_of(const ConvParams& p, int64_t* batches, int64_t* rows, int64_t* cols) {
  const int64_t g = p.groups;
  if (p.kind == kConvForward) {
    *batches = p.n * g, *rows = p.f / g, *cols = p.oh * p.ow;
  } else if (p.kind == kConvInputGrad) {
    *batches = p.n * g, *rows = p.c / g, *cols = p.h * p.w;
  } else {
    *batches = g, *rows = p.f / g, *cols = p.c / g * p.kh * p.kw;
  }
}

template <typename T>
void conv(const ConvParams& p, const T* a, const T* b, T* c, const Epilogue& epi) {
  if constexpr (sizeof(T) == 4)
    conv2d_f32(p, a, b, c, epi);
  else
    conv2d_f64(p, a, b, c, epi);
}

// Runs one case and returns the largest error relative to the magnitude of each
// element's terms; `out` receives the output (for comparing runs bit for bit).
template <typename T>
double run_case(ConvParams p, uint32_t seed, bool epi_on, std::vector<T>* out = nullptr) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  auto fill = [&](int64_t n) {
    std::vector<double> v(n);
    for (auto& e : v) e = T(u(rng));  // representable in T
    return v;
  };
  std::vector<double> x = fill(x_size(p)), w = fill(w_size(p)), dy = fill(y_size(p));
  Reference ref = reference(p, x, w, dy);
  const int64_t n = static_cast<int64_t>(ref.sum.size());
  std::vector<double> old = fill(n);
  const double sentinel = 12345.0;
  std::vector<T> c(n + 8, T(sentinel));
  for (int64_t i = 0; i < n; ++i) c[i] = T(old[i]);
  std::vector<T> xt(x.begin(), x.end()), wt(w.begin(), w.end()), dyt(dy.begin(), dy.end());
  const T* a = p.kind == kConvInputGrad ? dyt.data() : xt.data();
  const T* b = p.kind == kConvWeightGrad ? dyt.data() : wt.data();

  Probe<T> probe{c.data(), 0, 0, 0, std::make_unique<std::atomic<int>[]>(n + 1)};
  view_of(p, &probe.batches, &probe.rows, &probe.cols);
  REQUIRE(probe.batches * probe.rows * probe.cols == n);
  for (int64_t i = 0; i <= n; ++i) probe.seen[i] = 0;
  void* buffers[] = {&probe};
  conv<T>(p, a, b, c.data(), epi_on ? Epilogue{probe_epilogue<T>, buffers} : Epilogue{});

  int64_t miscounted = 0;
  for (int64_t i = 0; i < n; ++i) miscounted += probe.seen[i].load() != (epi_on ? 1 : 0);
  REQUIRE(miscounted == 0);
  REQUIRE(probe.seen[n].load() == 0);
  for (int64_t i = n; i < n + 8; ++i) REQUIRE(double(c[i]) == sentinel);
  double err = 0;
  for (int64_t i = 0; i < n; ++i) {
    double expect = p.alpha * ref.sum[i] + (p.accumulate ? old[i] : 0.0);
    double got = double(c[i]);
    if (epi_on) expect = epi_value(expect, i);
    double scale = 1.0 + std::abs(p.alpha) * ref.absum[i] + (p.accumulate ? std::abs(old[i]) : 0.0);
    err = std::max(err, std::abs(got - expect) / scale);
  }
  if (out) out->assign(c.begin(), c.begin() + n);
  return err;
}

// Runs the f32 case on 1, 2 and 3 threads, requiring the same bits each time; returns them.
std::vector<float> same_bits_on_1_2_3_threads(const ConvParams& p, uint32_t seed) {
  int saved = num_threads();
  std::vector<float> first, again;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    INFO("threads " << threads);
    REQUIRE(run_case<float>(p, seed, true, first.empty() ? &first : &again) < 1e-4);
    if (!again.empty())
      REQUIRE(std::memcmp(first.data(), again.data(), first.size() * sizeof(float)) == 0);
  }
  set_num_threads(saved);
  return first;
}

// Odd shapes: strides 1-3, padding 0-2, dilation 1-2, groups 1-3, non-square images
// and kernels, batch 1 and 3, channel counts that are not multiples of any GEMM tile.
std::vector<Shape> odd_shapes() {
  std::vector<Shape> shapes = {
      // n  c  h   w   f  kh kw sh sw ph pw dh dw g
      {1, 1, 5, 5, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // pointwise, tiny
      {3, 7, 9, 11, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1},   // pointwise
      {3, 6, 9, 7, 9, 1, 1, 2, 2, 0, 0, 1, 1, 3},     // 1x1 stride 2, groups
      {3, 5, 13, 10, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // 3x3 pad 1
      {1, 4, 12, 17, 6, 3, 2, 2, 1, 1, 0, 1, 1, 2},   // non-square kernel, groups 2
      {3, 6, 11, 9, 9, 2, 3, 3, 2, 2, 1, 2, 1, 3},    // stride 3, dilation, groups 3
      {2, 3, 16, 15, 5, 5, 5, 1, 1, 2, 2, 1, 1, 1},   // LeNet-like 5x5 pad 2
      {3, 2, 19, 23, 17, 3, 3, 2, 2, 2, 2, 2, 2, 1},  // dilated, strided, padded
      {1, 1, 25, 25, 8, 11, 11, 4, 4, 1, 1, 1, 1, 1}, // AlexNet-like
      {3, 9, 8, 6, 3, 4, 1, 1, 3, 0, 2, 1, 2, 3},     // kernel taller than wide
      {3, 8, 7, 5, 4, 3, 3, 3, 3, 2, 2, 1, 1, 2},     // pad-heavy: padding-only taps
      {2, 3, 4, 4, 2, 5, 5, 1, 1, 2, 2, 1, 1, 1},     // kernel larger than stride*out
      // Folded small maps whose col is built straight into the GEMM's B panels:
      {6, 40, 7, 7, 20, 5, 5, 1, 1, 2, 2, 1, 1, 1},   // NiN-like: 1000 col rows, K slices
      {3, 4, 3, 3, 330, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // input gradient's K = 330: 2 slices
  };
  // More, random ones.
  std::mt19937 rng(42);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  while (shapes.size() < 40) {
    Shape s;
    s.groups = pick(1, 3);
    s.n = pick(0, 1) ? 1 : 3;
    s.c = s.groups * pick(1, 5);
    s.f = s.groups * pick(1, 8);
    s.kh = pick(1, 4);
    s.kw = pick(1, 4);
    s.sh = pick(1, 3);
    s.sw = pick(1, 3);
    s.ph = pick(0, 2);
    s.pw = pick(0, 2);
    s.dh = pick(1, 2);
    s.dw = pick(1, 2);
    s.h = pick(1, 14);
    s.w = pick(1, 14);
    if (s.h + 2 * s.ph < s.dh * (s.kh - 1) + 1 || s.w + 2 * s.pw < s.dw * (s.kw - 1) + 1) continue;
    shapes.push_back(s);
  }
  return shapes;
}

}  // namespace

TEST_CASE("conv2d f32 and f64 match the direct loop on odd shapes", "[conv]") {
  int t = 0;
  for (const Shape& s : odd_shapes()) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      ConvParams p = params(s, kind);
      // Alternate plain, scaled, accumulating and epilogue runs over the cases.
      p.accumulate = t % 2;
      p.alpha = t % 3 == 0 ? 1.0 : -0.37;
      bool epi = t % 4 >= 2;
      ++t;
      INFO(describe(p) << " epilogue " << epi);
      REQUIRE(run_case<float>(p, uint32_t(t), epi) < 1e-4);
      REQUIRE(run_case<double>(p, uint32_t(t), epi) < 1e-12);
    }
  }
}

TEST_CASE("conv2d f32 on every supported GEMM micro-kernel", "[conv]") {
  // "generic" also turns the direct kernel off, so unit-stride shapes take im2col too.
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if (!gemm_force_isa(isa)) continue;
    INFO("isa " << isa);
    int t = 0;
    for (const Shape& s : odd_shapes()) {
      for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
        ConvParams p = params(s, kind);
        p.accumulate = t % 2;
        p.alpha = 0.5;
        ++t;
        INFO(describe(p));
        REQUIRE(run_case<float>(p, uint32_t(t), t % 3 == 0) < 1e-4);
      }
    }
  }
  gemm_force_isa("");
}

TEST_CASE("conv2d blocks, slices and the epilogue on several threads", "[conv]") {
  // Shapes large enough for several im2col column blocks, weight-gradient batch slices
  // (uneven: 20 images in 16 slices), channel blocks in the input gradient and
  // dW blocks; run on 1, 2 and 3 threads, the results must be the same bits.
  const std::vector<Shape> shapes = {
      {20, 4, 30, 34, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {2, 64, 20, 18, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {1, 48, 16, 16, 64, 3, 3, 2, 2, 1, 1, 1, 1, 2},
      {3, 96, 8, 8, 30, 1, 1, 1, 1, 0, 0, 1, 1, 3},
  };
  int saved = num_threads();
  for (const Shape& s : shapes) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      for (int acc = 0; acc < 2; ++acc) {
        ConvParams p = params(s, kind);
        p.accumulate = acc;
        p.alpha = acc ? -0.1 : 1.0;
        INFO(describe(p));
        std::vector<float> first, again;
        for (int threads : {1, 2, 3}) {
          set_num_threads(threads);
          INFO("threads " << threads);
          REQUIRE(run_case<float>(p, 9, true, first.empty() ? &first : &again) < 1e-4);
          if (!again.empty())
            REQUIRE(std::memcmp(first.data(), again.data(), first.size() * sizeof(float)) == 0);
        }
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("conv2d on small maps folds the batch into the GEMM", "[conv]") {
  // Maps of at most 64 output pixels, where conv.cpp runs one GEMM per block of images
  // (about 256 columns) and leaves out the taps that read only padding, or, on maps of a
  // few pixels, one GEMM over the whole batch with dense weights (conv_tiny_maps.cpp;
  // the 2x2 and 2x3 shapes with one group): ResNet-18 /
  // DenseNet / GoogLeNet layers at small input sizes, scaled down. The batches end in
  // partial image blocks; 256 col rows of 2x2 maps take several chunks; run on 1, 2 and
  // 3 threads, plain and accumulating with alpha, the epilogue checked exactly once, the
  // results the same bits on every thread count.
  const std::vector<Shape> shapes = {
      // n  c   h  w  f  kh kw sh sw ph pw dh dw g
      {10, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // 8x8: blocks of 4 images, 4+4+2
      {37, 8, 8, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // stride 2 -> 4x4: 16+16+5 images
      {37, 8, 8, 8, 16, 1, 1, 2, 2, 0, 0, 1, 1, 1},     // its 1x1 stride-2 shortcut
      {21, 12, 4, 4, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2},    // 4x4, groups 2
      {70, 256, 2, 2, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // 2x2: one GEMM with dense weights
      {70, 256, 2, 2, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2},    // groups 2: folded, 1152 col rows in chunks
      {5, 6, 2, 3, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // 2x3: dense weights with zeros
      {9, 16, 2, 2, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // 2x2 stride 2 -> 1x1: 4 live taps
      {300, 6, 1, 1, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2},    // 1x1 map: 1 live tap, 256+44 images
      {13, 20, 3, 3, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1 conv on 3x3: folded
      {5, 16, 4, 4, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // 1x1 conv on 4x4: per image
      {6, 10, 6, 6, 12, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // GoogLeNet-like 1x1 on 6x6
      {4, 3, 5, 7, 4, 3, 2, 1, 2, 1, 0, 1, 2, 1},       // non-square, dilated
      {3, 2, 1, 1, 3, 1, 1, 3, 3, 2, 2, 1, 1, 1},       // every tap reads only padding
  };
  int saved = num_threads();
  uint32_t seed = 100;
  for (const Shape& s : shapes) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      for (int acc = 0; acc < 2; ++acc) {
        ConvParams p = params(s, kind);
        p.accumulate = acc;
        p.alpha = acc ? -0.3 : 1.0;
        INFO(describe(p));
        ++seed;
        same_bits_on_1_2_3_threads(p, seed);
        REQUIRE(run_case<double>(p, seed, acc == 1) < 1e-12);
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("conv2d with empty dimensions", "[conv]") {
  // No images, no output pixels, no filters: nothing to do, or (empty sums) c cleared or
  // kept and the epilogue run once per element.
  for (const Shape& s : {Shape{0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                         Shape{2, 3, 5, 5, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                         Shape{2, 0, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                         Shape{2, 3, 0, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1}}) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      for (int acc = 0; acc < 2; ++acc) {
        ConvParams p = params(s, kind);
        p.accumulate = acc;
        INFO(describe(p));
        REQUIRE(run_case<float>(p, 1, true) < 1e-6);
        REQUIRE(run_case<double>(p, 1, true) < 1e-12);
      }
    }
  }
}

TEST_CASE("kiln_conv2d_f32 scales alpha and is in the runtime symbol table", "[conv]") {
  ConvParams p = params({2, 3, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}, kConvForward);
  std::vector<float> x(x_size(p), 0.5f), w(w_size(p), 0.25f), y1(y_size(p)), y2(y_size(p));
  const float scale = -2.f;
  kiln_conv2d_f32(&p, x.data(), w.data(), y1.data(), &scale, nullptr, nullptr, nullptr);
  p.alpha = -2.0;
  conv2d_f32(p, x.data(), w.data(), y2.data());
  REQUIRE(y1 == y2);
  int found = 0;
  for (const auto& sym : abi::runtime_symbols()) {
    const std::string name = sym.name;
    void* const f32 = reinterpret_cast<void*>(&kiln_conv2d_f32);
    void* const f64 = reinterpret_cast<void*>(&kiln_conv2d_f64);
    found += name == abi::kConv2dF32 && sym.address == f32;
    found += name == abi::kConv2dF64 && sym.address == f64;
  }
  REQUIRE(found == 2);
}

// Sets the Winograd mode for a scope (conv_winograd.h), restoring kAuto after it, also
// when a REQUIRE fails.
struct WinogradScope {
  explicit WinogradScope(WinogradMode mode) { conv_set_winograd_mode(mode); }
  ~WinogradScope() { conv_set_winograd_mode(WinogradMode::kAuto); }
};

TEST_CASE("conv2d Winograd F(2x2, 3x3) and F(2x2, 5x5) match the direct loop",
          "[conv][winograd]") {
  // 3x3 with padding 1 and 5x5 with padding 2, stride 1, one group: forward, input and
  // weight gradient forced onto
  // the Winograd paths (conv_winograd*.cpp) on odd maps (1x1, 2x2, 1x5, odd sizes whose last
  // tile row and column fall off the edge), channel counts that fill no GEMM tile, batch
  // 1, 3 and 37 (several image blocks), plain, scaled and accumulating, with the epilogue
  // (each element exactly once, after its final value); the same bits on 1, 2 and 3
  // threads; and different bits from the old path, so the Winograd code did run.
  const std::vector<Shape> shapes = {
      // n  c   h  w  f  kh kw sh sw ph pw dh dw g
      {1, 5, 4, 4, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {3, 13, 5, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {3, 9, 8, 8, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {3, 6, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {1, 11, 2, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {3, 3, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {1, 1, 3, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {37, 10, 8, 8, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // 8 images per block: 5 or 6 blocks
      {9, 8, 64, 64, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // weight gradient: 1-2 blocks a slice
      {3, 17, 16, 15, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {1, 5, 4, 4, 7, 5, 5, 1, 1, 2, 2, 1, 1, 1},
      {3, 13, 7, 7, 9, 5, 5, 1, 1, 2, 2, 1, 1, 1},  // NiN's and AlexNet's 7x7 map
      {3, 6, 1, 1, 4, 5, 5, 1, 1, 2, 2, 1, 1, 1},
      {3, 3, 2, 5, 5, 5, 5, 1, 1, 2, 2, 1, 1, 1},
      {37, 10, 6, 6, 11, 5, 5, 1, 1, 2, 2, 1, 1, 1},  // several image blocks
      {9, 8, 33, 30, 8, 5, 5, 1, 1, 2, 2, 1, 1, 1},   // weight gradient: 1-2 blocks a slice
  };
  int saved = num_threads();
  uint32_t seed = 500;
  for (const Shape& s : shapes) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      for (int variant = 0; variant < 3; ++variant) {
        ConvParams p = params(s, kind);
        p.accumulate = variant == 2;
        p.alpha = variant == 0 ? 1.0 : -0.37;
        const bool epi = variant != 1;
        INFO(describe(p) << " epilogue " << epi);
        ++seed;
        std::vector<float> first, again, old;
        {
          WinogradScope forced(WinogradMode::kForce);
          for (int threads : {1, 2, 3}) {
            set_num_threads(threads);
            INFO("threads " << threads);
            REQUIRE(run_case<float>(p, seed, epi, first.empty() ? &first : &again) < 1e-4);
            if (!again.empty())
              REQUIRE(std::memcmp(first.data(), again.data(), first.size() * sizeof(float)) ==
                      0);
          }
          // f64 keeps the old path, exact to double rounding.
          REQUIRE(run_case<double>(p, seed, epi) < 1e-12);
        }
        {
          WinogradScope off(WinogradMode::kOff);
          REQUIRE(run_case<float>(p, seed, epi, &old) < 1e-4);
        }
        // Sums of a few terms (1 channel and filter) may round the same both ways.
        if (p.c >= 3 && p.f >= 3)
          REQUIRE(std::memcmp(first.data(), old.data(), first.size() * sizeof(float)) != 0);
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("conv2d takes Winograd on ResNet- and NiN-like shapes by default", "[conv][winograd]") {
  // The automatic choice on shapes it picks (64 channels on 8x8, 128 on 4x4, NiN's 5x5
  // on 7x7 with fewer channels): accurate, and not the old path's bits. Shapes it can
  // never take (stride 2, padding 0, groups, dilation, 5x5 with padding 1, 7x7) give the
  // same bits forced or not.
  for (const Shape& s : {Shape{2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                         Shape{3, 128, 4, 4, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                         Shape{2, 48, 7, 7, 64, 5, 5, 1, 1, 2, 2, 1, 1, 1}}) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      ConvParams p = params(s, kind);
      p.alpha = 0.5;
      p.accumulate = 1;
      INFO(describe(p));
      std::vector<float> wino, old;
      REQUIRE(run_case<float>(p, 7, true, &wino) < 1e-4);
      {
        WinogradScope off(WinogradMode::kOff);
        REQUIRE(run_case<float>(p, 7, true, &old) < 1e-4);
      }
      REQUIRE(std::memcmp(wino.data(), old.data(), wino.size() * sizeof(float)) != 0);
    }
  }
  for (const Shape& s : {Shape{2, 8, 8, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1},
                         Shape{2, 8, 8, 8, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1},
                         Shape{2, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2},
                         Shape{2, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 2, 2, 1},
                         Shape{2, 8, 8, 8, 8, 5, 5, 1, 1, 1, 1, 1, 1, 1},
                         Shape{2, 8, 8, 8, 8, 7, 7, 1, 1, 3, 3, 1, 1, 1}}) {
    for (ConvKind kind : {kConvForward, kConvInputGrad, kConvWeightGrad}) {
      ConvParams p = params(s, kind);
      INFO(describe(p));
      std::vector<float> forced, old;
      {
        WinogradScope force(WinogradMode::kForce);
        REQUIRE(run_case<float>(p, 8, true, &forced) < 1e-4);
      }
      {
        WinogradScope off(WinogradMode::kOff);
        REQUIRE(run_case<float>(p, 8, true, &old) < 1e-4);
      }
      REQUIRE(forced == old);
    }
  }
}

namespace {

// Runs the case on 1, 2 and 3 threads (the same bits each time) and once with the GEMM
// forced to "generic", which turns the AVX2 kernels off (so the old im2col paths run);
// returns whether the default path's bits differ from those: a different summation order,
// so a sign that the kernel under test ran.
bool same_bits_on_any_thread_count(const ConvParams& p, uint32_t seed) {
  const std::vector<float> first = same_bits_on_1_2_3_threads(p, seed);
  std::vector<float> generic;
  REQUIRE(gemm_force_isa("generic"));
  REQUIRE(run_case<float>(p, seed, true, &generic) < 1e-4);
  gemm_force_isa("");
  return std::memcmp(first.data(), generic.data(), first.size() * sizeof(float)) != 0;
}

}  // namespace

TEST_CASE("conv2d filter-lanes kernels (12-16 filters) match the direct loop", "[conv]") {
  // The forward pass and weight gradient of one-group convolutions with 12 to 16 filters
  // on maps over 64 output pixels (conv_filter_lanes.cpp): LeNet's 6->16 layer, pixel
  // counts that are no multiple of the 6-pixel tile (100 per image, 1 image), padding
  // (framed input), stride and dilation, 13 filters (lanes past fg), batch slices of the
  // weight gradient (37 images); plain, scaled and accumulating, with the epilogue; the
  // same bits on 1, 2 and 3 threads.
  const std::vector<Shape> shapes = {
      // n  c   h   w  f  kh kw sh sw ph pw dh dw g
      {37, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1},  // LeNet's second layer
      {1, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1},   // batch 1: 100 pixels, 17 tiles
      {5, 3, 9, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // padded, 13 filters, 99 pixels
      {3, 4, 19, 17, 12, 3, 2, 2, 1, 2, 1, 2, 1, 1},  // stride, dilation, padding
      {2, 2, 15, 13, 14, 1, 1, 1, 1, 0, 0, 1, 1, 1},  // pointwise, read in place
  };
  uint32_t seed = 700;
  for (const Shape& s : shapes) {
    for (ConvKind kind : {kConvForward, kConvWeightGrad}) {
      for (int variant = 0; variant < 3; ++variant) {
        ConvParams p = params(s, kind);
        p.accumulate = variant == 2;
        p.alpha = variant == 0 ? 1.0 : -0.37;
        INFO(describe(p));
        const bool other = same_bits_on_any_thread_count(p, ++seed);
        if (s.c * s.kh * s.kw >= 9) REQUIRE(other);
      }
    }
  }
}

TEST_CASE("conv2d input gradient with images in the lanes matches the direct loop", "[conv]") {
  // Unit-stride input gradients of 32 or more images (conv_batch_lanes.cpp): LeNet's
  // 6->16 layer (37 images: four groups of 8 and one of 5), padding, dilation, 3 and 7
  // channels (output tiles of 6 half full, or two tiles), a 7x7 kernel on a 10x9 dy
  // (border outputs see one live kernel row or column); plain, scaled and accumulating,
  // with the epilogue; the same bits on 1, 2 and 3 threads.
  const std::vector<Shape> shapes = {
      // n  c   h   w  f  kh kw sh sw ph pw dh dw g
      {37, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1},  // LeNet's second layer
      {32, 3, 12, 12, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // exactly four groups, padding
      {33, 7, 11, 13, 4, 3, 2, 1, 1, 1, 0, 2, 1, 1},   // dilation, 7 channels: two tiles
      {34, 3, 16, 15, 8, 7, 7, 1, 1, 0, 0, 1, 1, 1},   // 7x7 on 10x9: 1 of 7 rows live at edges
  };
  uint32_t seed = 800;
  for (const Shape& s : shapes) {
    for (int variant = 0; variant < 3; ++variant) {
      ConvParams p = params(s, kConvInputGrad);
      p.accumulate = variant == 2;
      p.alpha = variant == 0 ? 1.0 : -0.37;
      INFO(describe(p));
      REQUIRE(same_bits_on_any_thread_count(p, ++seed));
    }
  }
}

namespace {

// A prologue (runtime/epilogue.h) computing x = 0.5 * src - 0.25 per image: buffers[0]
// is src, buffers[1] the image size.
void affine_prologue(void** buffers, int64_t i0, int64_t i1, void* dst) {
  const float* src = static_cast<const float*>(buffers[0]);
  const int64_t image = *static_cast<const int64_t*>(buffers[1]);
  float* out = static_cast<float*>(dst);
  for (int64_t e = 0; e < (i1 - i0) * image; ++e) out[e] = 0.5f * src[i0 * image + e] - 0.25f;
}

}  // namespace

TEST_CASE("conv2d prologues give the bits of the materialized input on every path", "[conv]") {
  // The forward pass and weight gradient with x computed by a prologue per block of
  // images, against the same convolution of the computed x: filter lanes (padded and
  // not), the direct kernel, im2col, small maps, on 1 and 2 threads.
  const std::vector<Shape> shapes = {
      // n  c   h   w  f  kh kw sh sw ph pw dh dw g
      {9, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1},  // filter lanes in place
      {9, 3, 12, 10, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // filter lanes framed
      {3, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1},   // LeNet's first layer: direct
      {3, 4, 17, 15, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1},   // im2col
      {20, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // small map, folded
  };
  int saved = num_threads();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Shape& s : shapes)
    for (ConvKind kind : {kConvForward, kConvWeightGrad})
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        ConvParams p = params(s, kind);
        INFO(describe(p) << " threads " << threads);
        std::vector<float> src(x_size(p)), x(x_size(p)), other(kind == kConvForward ? w_size(p) : y_size(p));
        for (auto& v : src) v = u(rng);
        for (auto& v : other) v = u(rng);
        for (size_t e = 0; e < src.size(); ++e) x[e] = 0.5f * src[e] - 0.25f;
        const int64_t image = p.c * p.h * p.w;
        void* buffers[] = {src.data(), const_cast<int64_t*>(&image)};
        const int64_t out = kind == kConvForward ? y_size(p) : w_size(p);
        std::vector<float> with(out), without(out);
        conv2d_f32(p, nullptr, other.data(), with.data(), {}, Prologue{affine_prologue, buffers});
        conv2d_f32(p, x.data(), other.data(), without.data());
        REQUIRE(with == without);
      }
  set_num_threads(saved);
}
