// Max pooling's gradient as a scatter per window (see pool.h).
#include "runtime/pool.h"

#include <algorithm>
#include <vector>

#include "runtime/thread_pool.h"

namespace kiln {

namespace {

// The input rows (or columns) window o covers along one axis: [lo, hi), clipped.
struct Span {
  int64_t lo, hi;
};
Span covered(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t extent) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(0, start), std::min(extent, start + k)};
}

template <typename T>
void scatter_plane(const ConvParams& p, const std::vector<Span>& cols, const int32_t* index,
                   const T* dy, T* dx) {
  const T alpha = static_cast<T>(p.alpha);
  for (int64_t oy = 0; oy < p.oh; ++oy) {
    const Span rows = covered(oy, p.stride_h, p.pad_h, p.kh, p.h);
    for (int64_t ox = 0; ox < p.ow; ++ox) {
      const int64_t o = oy * p.ow + ox, at = index[o];
      if (at < 0) continue;
      const int64_t iy = at / p.w, ix = at % p.w;
      if (iy < rows.lo || iy >= rows.hi || ix < cols[ox].lo || ix >= cols[ox].hi) continue;
      dx[at] += alpha * dy[o];
    }
  }
}

template <typename T>
void max_pool_grad(const ConvParams& p, const int32_t* indices, const T* dy, T* dx,
                   const Epilogue& epi) {
  if (p.n <= 0 || p.c <= 0 || p.h <= 0 || p.w <= 0) return;
  const int64_t hw = p.h * p.w, ohw = p.oh * p.ow, planes = p.n * p.c;
  std::vector<Span> cols(static_cast<size_t>(std::max<int64_t>(0, p.ow)));
  for (int64_t ox = 0; ox < p.ow; ++ox) cols[ox] = covered(ox, p.stride_w, p.pad_w, p.kw, p.w);
  // Chunks of whole planes, at least ~16K elements of dx each.
  const int64_t grain = std::max<int64_t>(1, 16384 / hw);
  parallel_for(planes, grain, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      T* d = dx + q * hw;
      if (!p.accumulate) std::fill(d, d + hw, T(0));
      scatter_plane(p, cols, indices + q * ohw, dy + q * ohw, d);
    }
    // The epilogue per image: channels [c0, c1) of image n.
    for (int64_t q = q0; q < q1;) {
      const int64_t n = q / p.c, c0 = q % p.c, c1 = std::min(p.c, c0 + (q1 - q));
      epi(n, c0, c1, 0, hw);
      q += c1 - c0;
    }
  });
}

}  // namespace

void max_pool2d_grad_f32(const ConvParams& p, const int32_t* indices, const float* dy, float* dx,
                         const Epilogue& epi) {
  max_pool_grad(p, indices, dy, dx, epi);
}

void max_pool2d_grad_f64(const ConvParams& p, const int32_t* indices, const double* dy,
                         double* dx, const Epilogue& epi) {
  max_pool_grad(p, indices, dy, dx, epi);
}

}  // namespace kiln

// Same signature as the convolutions (operand a: the i32 indices; no prologue).
extern "C" void kiln_max_pool2d_grad_f32(const kiln::ConvParams* p, const void* indices,
                                         const float* dy, float* dx, const float* alpha_scale,
                                         kiln::EpilogueFn epilogue, kiln::PrologueFn,
                                         void** buffers) {
  kiln::max_pool2d_grad_f32(kiln::with_alpha_scale(*p, alpha_scale),
                            static_cast<const int32_t*>(indices), dy, dx,
                            kiln::Epilogue{epilogue, buffers});
}

extern "C" void kiln_max_pool2d_grad_f64(const kiln::ConvParams* p, const void* indices,
                                         const double* dy, double* dx,
                                         const double* alpha_scale, kiln::EpilogueFn epilogue,
                                         kiln::PrologueFn, void** buffers) {
  kiln::max_pool2d_grad_f64(kiln::with_alpha_scale(*p, alpha_scale),
                            static_cast<const int32_t*>(indices), dy, dx,
                            kiln::Epilogue{epilogue, buffers});
}
