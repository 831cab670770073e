// PyTorch-compatible bilinear resizing. See resize.h for the formulas.
#include "runtime/train/resize.h"

#include <algorithm>
#include <vector>

#include "runtime/thread_pool.h"

namespace kiln {
namespace {

// The two source pixels of one output coordinate and their weights.
struct Tap {
  int64_t i0 = 0, i1 = 0;
  float l0 = 1, l1 = 0;
};

// One axis of in pixels resampled to out, as PyTorch's compute_source_index_and_lambda.
// The source index is computed in double (PyTorch's accumulate type for float) from a
// float scale, so the weights round exactly as PyTorch's do.
std::vector<Tap> axis_taps(int64_t in, int64_t out) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    Tap& t = taps[static_cast<size_t>(o)];
    if (in == out) {
      t.i0 = t.i1 = o;
      continue;
    }
    const double src = std::max(static_cast<double>(scale) * (static_cast<double>(o) + 0.5) - 0.5, 0.0);
    t.i0 = static_cast<int64_t>(src);  // src >= 0: truncation is floor
    t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
    t.l1 = static_cast<float>(src - static_cast<double>(t.i0));
    t.l0 = 1.0f - t.l1;
  }
  return taps;
}

// One plane: four pixels times float(lh * lw), summed in double, rounded once.
void resize_plane(const float* src, int64_t w, float* dst, int64_t out_w, const std::vector<Tap>& rows,
                  const std::vector<Tap>& cols) {
  for (const Tap& r : rows) {
    const float* row0 = src + r.i0 * w;
    const float* row1 = src + r.i1 * w;
    for (int64_t x = 0; x < out_w; ++x) {
      const Tap& c = cols[static_cast<size_t>(x)];
      const float w00 = r.l0 * c.l0, w01 = r.l0 * c.l1, w10 = r.l1 * c.l0, w11 = r.l1 * c.l1;
      const double v = double(row0[c.i0]) * w00 + double(row0[c.i1]) * w01 + double(row1[c.i0]) * w10 +
                       double(row1[c.i1]) * w11;
      *dst++ = static_cast<float>(v);
    }
  }
}

}  // namespace

void resize_bilinear(const float* src, int64_t planes, int64_t h, int64_t w, float* dst, int64_t out_h,
                     int64_t out_w) {
  const std::vector<Tap> rows = axis_taps(h, out_h), cols = axis_taps(w, out_w);
  const int64_t in_plane = h * w, out_plane = out_h * out_w;
  // Chunks of about 64K outputs: large enough that the pool's hand-off is negligible.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / out_plane);
  parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p)
      resize_plane(src + p * in_plane, w, dst + p * out_plane, out_w, rows, cols);
  });
}

}  // namespace kiln
