// Max pooling's gradient in the runtime (runtime/pool.h): a scatter of dy at the stored
// indices, checked against a direct sum over windows; indices outside their window are
// ignored without writing anywhere; alpha, accumulation and the epilogue's coverage.
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "runtime/abi.h"
#include "runtime/pool.h"
#include "runtime/thread_pool.h"

using namespace kiln;

namespace {

ConvParams pool_params(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t s,
                       int64_t pad) {
  ConvParams p;
  p.kind = kMaxPoolGrad;
  p.n = n, p.c = c, p.h = h, p.w = w, p.f = c;
  p.kh = p.kw = k;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  p.oh = (h + 2 * pad - k) / s + 1;
  p.ow = (w + 2 * pad - k) / s + 1;
  return p;
}

// A random position inside each window (what max_pool2d_indices stores).
std::vector<int32_t> random_indices(const ConvParams& p, std::mt19937& rng) {
  std::vector<int32_t> idx;
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t oy = 0; oy < p.oh; ++oy)
      for (int64_t ox = 0; ox < p.ow; ++ox) {
        const int64_t y0 = std::max<int64_t>(0, oy * p.stride_h - p.pad_h);
        const int64_t y1 = std::min(p.h, oy * p.stride_h - p.pad_h + p.kh);
        const int64_t x0 = std::max<int64_t>(0, ox * p.stride_w - p.pad_w);
        const int64_t x1 = std::min(p.w, ox * p.stride_w - p.pad_w + p.kw);
        const int64_t iy = std::uniform_int_distribution<int64_t>(y0, y1 - 1)(rng);
        const int64_t ix = std::uniform_int_distribution<int64_t>(x0, x1 - 1)(rng);
        idx.push_back(static_cast<int32_t>(iy * p.w + ix));
      }
  return idx;
}

// dx by the definition: for every input position, the dy of each window whose index
// names it.
std::vector<double> expected_dx(const ConvParams& p, const std::vector<int32_t>& idx,
                                const std::vector<float>& dy) {
  std::vector<double> dx(static_cast<size_t>(p.n * p.c * p.h * p.w), 0.0);
  const int64_t ohw = p.oh * p.ow, hw = p.h * p.w;
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t o = 0; o < ohw; ++o) dx[q * hw + idx[q * ohw + o]] += dy[q * ohw + o];
  return dx;
}

}  // namespace

TEST_CASE("max pooling's gradient scatters dy at the indices of overlapping windows", "[pool]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (const ConvParams& p : {pool_params(2, 3, 16, 16, 3, 2, 1), pool_params(3, 2, 7, 9, 3, 1, 1),
                              pool_params(1, 4, 8, 8, 2, 2, 0), pool_params(2, 2, 5, 5, 5, 1, 2)}) {
    INFO("h=" << p.h << " w=" << p.w << " k=" << p.kh << " s=" << p.stride_h << " pad=" << p.pad_h);
    const std::vector<int32_t> idx = random_indices(p, rng);
    std::vector<float> dy(idx.size());
    for (float& v : dy) v = u(rng);
    std::vector<float> dx(static_cast<size_t>(p.n * p.c * p.h * p.w), 123.f);
    max_pool2d_grad_f32(p, idx.data(), dy.data(), dx.data());
    const std::vector<double> want = expected_dx(p, idx, dy);
    for (size_t i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == Approx(want[i]).margin(1e-6));
  }
}

TEST_CASE("max pooling's gradient ignores indices outside their window", "[pool]") {
  const ConvParams p = pool_params(1, 2, 4, 4, 2, 2, 0);
  // Plane 0: every window names a position of another window, a negative one, one past
  // the plane, or INT32_MAX; plane 1: valid indices.
  std::vector<int32_t> idx = {10, -1, 16, 2147483647, 0, 2, 8, 10};
  std::vector<float> dy = {1, 2, 3, 4, 5, 6, 7, 8};
  // Canaries around dx catch a write outside it.
  std::vector<float> mem(2 * 16 + 2, -7.f);
  max_pool2d_grad_f32(p, idx.data(), dy.data(), mem.data() + 1);
  REQUIRE(mem.front() == -7.f);
  REQUIRE(mem.back() == -7.f);
  for (int i = 0; i < 16; ++i) REQUIRE(mem[1 + i] == 0.f);
  std::vector<float> plane1(16, 0.f);
  plane1[0] = 5, plane1[2] = 6, plane1[8] = 7, plane1[10] = 8;
  for (int i = 0; i < 16; ++i) REQUIRE(mem[17 + i] == plane1[i]);
}

TEST_CASE("max pooling's gradient scales by alpha, accumulates and runs its epilogue once per "
          "element", "[pool]") {
  const ConvParams base = pool_params(3, 5, 6, 6, 3, 2, 1);
  std::mt19937 rng(3);
  const std::vector<int32_t> idx = random_indices(base, rng);
  std::vector<float> dy(idx.size(), 1.f);
  const size_t numel = static_cast<size_t>(base.n * base.c * base.h * base.w);
  std::vector<float> once(numel), twice(numel, 0.5f);
  max_pool2d_grad_f32(base, idx.data(), dy.data(), once.data());
  ConvParams acc = base;
  acc.accumulate = 1;
  acc.alpha = 1.0;
  const float scale = 2.f;  // alpha_scale through the C entry point
  kiln_max_pool2d_grad_f32(&acc, idx.data(), dy.data(), twice.data(), &scale, nullptr, nullptr,
                           nullptr);
  for (size_t i = 0; i < numel; ++i) REQUIRE(twice[i] == 0.5f + 2.f * once[i]);

  static std::vector<std::atomic<int>>* seen = nullptr;
  std::vector<std::atomic<int>> counts(numel);
  seen = &counts;
  EpilogueFn count = [](void**, int64_t b, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) ++(*seen)[static_cast<size_t>((b * 5 + r) * 36 + c)];
  };
  max_pool2d_grad_f32(base, idx.data(), dy.data(), once.data(), Epilogue{count, nullptr});
  for (const auto& c : counts) REQUIRE(c.load() == 1);
}

TEST_CASE("max pooling's gradient is in the runtime symbol table", "[pool]") {
  int found = 0;
  for (const auto& sym : abi::runtime_symbols()) {
    const std::string name = sym.name;
    found += name == abi::kMaxPoolGradF32 && sym.address == reinterpret_cast<void*>(&kiln_max_pool2d_grad_f32);
    found += name == abi::kMaxPoolGradF64 && sym.address == reinterpret_cast<void*>(&kiln_max_pool2d_grad_f64);
  }
  REQUIRE(found == 2);
}
