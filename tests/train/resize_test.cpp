// Bilinear resizing (runtime/train/resize.h): the formula on hand-computed cases, and
// golden values from PyTorch's F.interpolate(mode="bilinear", align_corners=False).
#include "runtime/train/resize.h"

#include <catch2/catch.hpp>

#include <vector>

using namespace kiln;

namespace {

std::vector<float> resized(const std::vector<float>& src, int64_t planes, int64_t h, int64_t w, int64_t out_h,
                           int64_t out_w) {
  std::vector<float> dst(static_cast<size_t>(planes * out_h * out_w), -1.0f);
  resize_bilinear(src.data(), planes, h, w, dst.data(), out_h, out_w);
  return dst;
}

// The n x n golden input: ((13h + 7w + hw) mod 17) / 16, exact in float.
std::vector<float> pattern(int64_t n) {
  std::vector<float> v;
  for (int64_t h = 0; h < n; ++h)
    for (int64_t w = 0; w < n; ++w) v.push_back(static_cast<float>((h * 13 + w * 7 + h * w) % 17) / 16.0f);
  return v;
}

}  // namespace

TEST_CASE("resize 2x2 -> 4x4: half-pixel centres, edges clamped", "[train][resize]") {
  // Source coordinates of outputs 0..3: max(0.5 * (o + 0.5) - 0.5, 0) = 0, 0.25, 0.75,
  // 1.25; the last reads pixel 1 twice (index clamped to the edge). Along a row [0, 1]
  // that gives 0, 0.25, 0.75, 1; down a column [0, 2] it gives 0, 0.5, 1.5, 2.
  const std::vector<float> src = {0, 1, 2, 3};
  const std::vector<float> want = {0,   0.25f, 0.75f, 1,     0.5f, 0.75f, 1.25f, 1.5f,
                                   1.5f, 1.75f, 2.25f, 2.5f, 2,    2.25f, 2.75f, 3};
  CHECK(resized(src, 1, 2, 2, 4, 4) == want);
}

TEST_CASE("resize 4x4 -> 2x2: no antialiasing, each output blends its 2x2 centre", "[train][resize]") {
  // Source coordinates 2 * (o + 0.5) - 0.5 = 0.5, 2.5: the mean of pixels 0-1 and 2-3 of
  // each axis; pixels 0 and 3 of the 4 are not widened into the average (PIL would).
  std::vector<float> src(16);
  for (int i = 0; i < 16; ++i) src[static_cast<size_t>(i)] = static_cast<float>(i);
  CHECK(resized(src, 1, 4, 4, 2, 2) == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
}

TEST_CASE("resize to the same size copies, non-square sizes and planes are independent", "[train][resize]") {
  const std::vector<float> src = pattern(5);
  CHECK(resized(src, 1, 5, 5, 5, 5) == src);
  // Only the width changes: rows are resampled on their own.
  const std::vector<float> row = {0, 1, 2, 3};
  CHECK(resized(row, 1, 1, 4, 1, 2) == std::vector<float>{0.5f, 2.5f});
  // Two planes: the second is resized exactly as on its own.
  std::vector<float> two = pattern(3);
  for (float v : pattern(3)) two.push_back(1.0f - v);
  std::vector<float> second(two.begin() + 9, two.end());
  const std::vector<float> both = resized(two, 2, 3, 3, 7, 7);
  CHECK(std::vector<float>(both.begin() + 49, both.end()) == resized(second, 1, 3, 3, 7, 7));
  // A constant image stays exactly constant (the four weights sum to one in double).
  std::vector<float> flat(28 * 28, 0.3f);
  for (float v : resized(flat, 1, 28, 28, 224, 224)) REQUIRE(v == 0.3f);
}

// Golden values: PyTorch 1.13.1 (Debian's python3-torch), on a [1, 1, n, n] float32
// tensor, printed by
//   python3 -c "
//   import torch, torch.nn.functional as F
//   def img(n):
//       h = torch.arange(n).view(n, 1); w = torch.arange(n).view(1, n)
//       return (((h * 13 + w * 7 + h * w) % 17).float() / 16).view(1, 1, n, n)
//   def show(x, s):
//       y = F.interpolate(x, size=(s, s), mode='bilinear', align_corners=False)
//       print(x.shape[-1], '->', s, ', '.join('%.9g' % v for v in y.flatten().tolist()))
//   show(img(5), 8); show(img(7), 3); show(img(3), 7)
//   y = F.interpolate(img(28), size=(96, 96), mode='bilinear', align_corners=False)[0, 0]
//   print('28->96', ', '.join('%.9g' % y[r, c].item() for r, c in [(0, 0), (0, 95),
//         (95, 0), (95, 95), (1, 2), (17, 40), (50, 51), (63, 7), (80, 94), (94, 33)]))
//   y = F.interpolate(img(28), size=(20, 20), mode='bilinear', align_corners=False)[0, 0]
//   print('28->20', ', '.join('%.9g' % y[r, c].item() for r, c in [(0, 0), (19, 19),
//         (3, 11), (10, 4), (15, 17)]))"
// They are compared exactly: resize_bilinear reproduces PyTorch's rounding (resize.h).
TEST_CASE("resize matches PyTorch's interpolate bit for bit", "[train][resize]") {
  SECTION("5x5 -> 8x8") {
    const std::vector<float> want = {
        0,           0.19140625,  0.46484375,  0.73828125,   0.6796875,   0.2890625,    0.49609375,  0.6875,
        0.35546875,  0.35546875,  0.384521484, 0.675048828,  0.633544922, 0.260009766,  0.484130859, 0.6875,
        0.796875,    0.552490234, 0.269775391, 0.584716797,  0.567626953, 0.218505859,  0.467041016, 0.6875,
        0.640625,    0.413330078, 0.155029297, 0.494384766,  0.501708984, 0.177001953,  0.449951172, 0.6875,
        0.484375,    0.419433594, 0.3515625,   0.5078125,    0.435791016, 0.135498047,  0.432861328, 0.6875,
        0.328125,    0.570800781, 0.859375,    0.625,        0.369873047, 0.0939941406, 0.415771484, 0.6875,
        0.171875,    0.460693359, 0.806884766, 0.555419922,  0.303955078, 0.0524902344, 0.398681641, 0.6875,
        0.0625,      0.36328125,  0.7265625,   0.4921875,    0.2578125,   0.0234375,    0.38671875,  0.6875};
    CHECK(resized(pattern(5), 1, 5, 5, 8, 8) == want);
  }
  SECTION("7x7 -> 3x3 (shrinking, no antialiasing)") {
    const std::vector<float> want = {0.388888896, 0.208333418, 0.263888776, 0.729166627, 0.0625000596,
                                     0.458333224, 0.597222269, 0.979166627, 0.298611164};
    CHECK(resized(pattern(7), 1, 7, 7, 3, 3) == want);
  }
  SECTION("3x3 -> 7x7") {
    const std::vector<float> want = {
        0,           0.0625,      0.25,        0.4375,       0.625,       0.8125,      0.875,
        0.116071433, 0.158163279, 0.284438789, 0.410714298,  0.602040827, 0.793367386, 0.857142866,
        0.464285731, 0.445153087, 0.387755096, 0.330357164,  0.533163249, 0.735969365, 0.803571403,
        0.8125,      0.732142866, 0.491071433, 0.25,         0.464285731, 0.678571463, 0.75,
        0.705357134, 0.628826559, 0.399234682, 0.169642866,  0.395408183, 0.621173441, 0.696428537,
        0.598214269, 0.525510192, 0.307397932, 0.0892857239, 0.326530635, 0.56377548,  0.642857134,
        0.5625,      0.491071403, 0.276785702, 0.0625000075, 0.303571463, 0.544642866, 0.625};
    CHECK(resized(pattern(3), 1, 3, 3, 7, 7) == want);
  }
  SECTION("28x28 -> 96x96 and 28x28 -> 20x20, sampled") {
    struct At {
      int r, c;
      float want;
    };
    const std::vector<float> up = resized(pattern(28), 1, 28, 28, 96, 96);
    for (At a : {At{0, 0, 0}, At{0, 95, 0.125f}, At{95, 0, 0.6875f}, At{95, 95, 0.6875f},
                 At{1, 2, 0.100260407f}, At{17, 40, 0.477864534f}, At{50, 51, 0.280896902f},
                 At{63, 7, 0.590738952f}, At{80, 94, 0.264323473f}, At{94, 33, 0.68750006f}}) {
      INFO("96x96 at (" << a.r << ", " << a.c << ")");
      CHECK(up[static_cast<size_t>(a.r * 96 + a.c)] == a.want);
    }
    const std::vector<float> down = resized(pattern(28), 1, 28, 28, 20, 20);
    for (At a : {At{0, 0, 0.209999993f}, At{19, 19, 0.614999831f}, At{3, 11, 0.452500135f},
                 At{10, 4, 0.310000062f}, At{15, 17, 0.662499964f}}) {
      INFO("20x20 at (" << a.r << ", " << a.c << ")");
      CHECK(down[static_cast<size_t>(a.r * 20 + a.c)] == a.want);
    }
  }
}
