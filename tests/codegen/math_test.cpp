// Accuracy of the polynomial exp/log/tanh/sigmoid emitted as LLVM IR, measured in ulps
// against libm (evaluated in double / long double and rounded) over wide ranges,
// including inf, NaN, signed zeros, denormal inputs and results, and overflow edges.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "harness.h"

using namespace kiln;
using namespace kiln::test;

namespace {

int64_t ordered(double v, bool f32) {
  if (f32) {
    float f = static_cast<float>(v);
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? int64_t(INT32_MIN) - i : i;
  }
  int64_t i;
  std::memcpy(&i, &v, 8);
  return i < 0 ? INT64_MIN - i : i;
}

// ulp distance; NaN must match NaN; returns a huge number on mismatch of specials.
int64_t ulps(double got, double want, bool f32) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) == std::isnan(got) ? 0 : INT64_MAX;
  if (got == want) return 0;
  int64_t a = ordered(got, f32), b = ordered(want, f32);
  return a > b ? a - b : b - a;
}

long double ref_fn(int fn, long double x) {
  switch (fn) {
    case 0: return std::exp(x);
    case 1: return std::log(x);
    case 2: return std::tanh(x);
    default: return 1.0L / (1.0L + std::exp(-x));
  }
}

std::vector<double> test_values(int fn, bool f32, std::mt19937_64& rng) {
  std::vector<double> v;
  const double inf = INFINITY;
  double specials[] = {0.0, -0.0, inf, -inf, NAN, 1.0, -1.0, 0.5, 2.0, 1e-30, -1e-30,
                       f32 ? 1e-40 : 1e-310, f32 ? -1e-40 : -1e-310,
                       f32 ? 3.4e38 : 1.7e308, f32 ? 1.17549435e-38 : 2.2250738585072014e-308};
  for (double s : specials) v.push_back(s);
  std::uniform_real_distribution<double> u(0, 1);
  double lo = -20, hi = 20;
  if (fn == 0) lo = f32 ? -110 : -760, hi = f32 ? 90 : 712;
  if (fn == 3) lo = f32 ? -110 : -760, hi = f32 ? 110 : 760;
  for (int i = 0; i < 20000; ++i) v.push_back(lo + (hi - lo) * u(rng));
  // Around the overflow/underflow edges and small magnitudes.
  for (int i = 0; i < 2000; ++i) {
    double e = (u(rng) * 2 - 1);
    v.push_back((f32 ? 88.72 : 709.78) + e * 0.05);
    v.push_back((f32 ? -87.3 : -708.4) + e * 0.5);
    v.push_back((f32 ? -103.9 : -745.0) + e * 0.1);
    v.push_back(std::ldexp(e, -static_cast<int>(rng() % 60)));
  }
  if (fn == 1) {
    // Positive values over the whole exponent range (random bit patterns), denormals.
    for (auto& x : v) x = std::fabs(x);
    for (int i = 0; i < 20000; ++i) {
      if (f32) {
        uint32_t bits = static_cast<uint32_t>(rng()) & 0x7fffffffu;
        float f;
        std::memcpy(&f, &bits, 4);
        v.push_back(f);
      } else {
        uint64_t bits = rng() & 0x7fffffffffffffffull;
        double d;
        std::memcpy(&d, &bits, 8);
        v.push_back(d);
      }
    }
    v.push_back(-2.0);
    for (int i = 0; i < 1000; ++i) v.push_back(1.0 + (u(rng) - 0.5) * 1e-3);
  }
  if (f32)
    for (auto& x : v) x = static_cast<float>(x);
  return v;
}

}  // namespace

TEST_CASE("polynomial exp/log/tanh/sigmoid are within a few ulp of libm", "[codegen][math]") {
  const char* names[] = {"exp", "log", "tanh", "sigmoid"};
  std::mt19937_64 rng(77);
  for (bool f32 : {true, false}) {
    for (int fn = 0; fn < 4; ++fn) {
      std::vector<double> xs = test_values(fn, f32, rng);
      DType dt = f32 ? DType::f32 : DType::f64;
      Graph g;
      Builder b(g);
      Tensor x = b.input("x", {dt, Shape{static_cast<int64_t>(xs.size())}});
      Tensor y = fn == 0 ? kiln::exp(x) : fn == 1 ? kiln::log(x) : fn == 2 ? kiln::tanh(x) : kiln::sigmoid(x);
      b.output("y", y);
      REQUIRE(b.ok());
      auto exe = compile(g, nullptr);
      REQUIRE(exe.ok());
      write_buffer(*(*exe)->input("x"), xs);
      (*exe)->run();
      std::vector<double> got = read_buffer(*(*exe)->output("y"));
      int64_t worst = 0;
      double worst_x = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        long double r = ref_fn(fn, static_cast<long double>(xs[i]));
        double want = f32 ? static_cast<double>(static_cast<float>(r)) : static_cast<double>(r);
        int64_t d = ulps(got[i], want, f32);
        // Denormal results carry fewer significant bits: allow absolute error of a few
        // denormal ulps there (counted the same way).
        if (d > worst) {
          worst = d;
          worst_x = xs[i];
        }
      }
      INFO(names[fn] << (f32 ? " f32" : " f64") << ": worst " << worst << " ulp at x = " << worst_x);
      CHECK(worst <= 4);
    }
  }
}
