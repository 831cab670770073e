// GEMM correctness against a naive triple loop: odd sizes, transposes, batches,
// accumulation, alpha, epilogues (bias, ReLU, mask), every micro-kernel the CPU supports,
// A read in place and packed, f32 and f64.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

using namespace kiln;

namespace {

template <typename T>
void naive(const GemmParams& p, const T* a, const T* b, T* c, const T* bias, const T* mask) {
  for (int64_t bi = 0; bi < p.batch; ++bi)
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double s = 0;
        for (int64_t k = 0; k < p.k; ++k) {
          double av = p.trans_a ? a[bi * p.stride_a + k * p.lda + i] : a[bi * p.stride_a + i * p.lda + k];
          double bv = p.trans_b ? b[bi * p.stride_b + j * p.ldb + k] : b[bi * p.stride_b + k * p.ldb + j];
          s += av * bv;
        }
        T* cp = c + bi * p.stride_c + i * p.ldc + j;
        double v = (p.accumulate ? double(*cp) : 0.0) + p.alpha * s + (bias ? double(bias[j]) : 0.0);
        if (p.relu) v = v > 0 ? v : 0;
        if (mask && !(mask[bi * p.stride_c + i * p.ldc + j] > 0)) v = 0;
        *cp = T(v);
      }
}

template <typename T>
double run_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool acc,
                bool bias_on, bool relu, uint32_t seed, double alpha = 1.0, bool mask_on = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  GemmParams p;
  p.batch = batch;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_a = ta;
  p.trans_b = tb;
  p.lda = (ta ? m : k) + 3;  // padded leading dims
  p.ldb = (tb ? k : n) + 1;
  p.ldc = n + 2;
  p.stride_a = (ta ? k : m) * p.lda;
  p.stride_b = (tb ? n : k) * p.ldb;
  p.stride_c = m * p.ldc;
  p.accumulate = acc;
  p.relu = relu;
  p.alpha = alpha;
  std::vector<T> a(p.stride_a * batch), b(p.stride_b * batch), c(p.stride_c * batch + 16),
      bias(n), mask(p.stride_c * batch);
  for (auto& x : mask) x = T(u(rng));
  for (auto& x : a) x = T(u(rng));
  for (auto& x : b) x = T(u(rng));
  for (auto& x : c) x = T(u(rng));
  for (auto& x : bias) x = T(u(rng));
  std::vector<T> ref = c;
  const T sentinel = T(12345.0);
  for (int i = 0; i < 16; ++i) c[p.stride_c * batch + i] = ref[p.stride_c * batch + i] = sentinel;
  const T* bp = bias_on ? bias.data() : nullptr;
  const T* mp = mask_on ? mask.data() : nullptr;
  naive<T>(p, a.data(), b.data(), ref.data(), bp, mp);
  if constexpr (sizeof(T) == 4)
    gemm_f32(p, a.data(), b.data(), c.data(), bp, mp);
  else
    gemm_f64(p, a.data(), b.data(), c.data(), bp, mp);
  double err = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    // Padding columns of C (j >= n) must be untouched too: compare everything.
    err = std::max(err, std::abs(double(c[i]) - double(ref[i])) / (1.0 + std::sqrt(double(k))));
  }
  return err;
}

}  // namespace

TEST_CASE("gemm f32 matches naive for odd sizes on every supported ISA", "[gemm]") {
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if (!gemm_force_isa(isa)) continue;
    INFO("isa " << isa);
    for (int64_t m : {1, 7, 17, 33}) {
      for (int64_t n : {1, 7, 16, 33}) {
        for (int64_t k : {1, 7, 17, 255, 300}) {
          for (int t = 0; t < 4; ++t) {
            INFO("m=" << m << " n=" << n << " k=" << k << " t=" << t);
            REQUIRE(run_case<float>(1, m, n, k, t & 1, t & 2, false, false, false, m * 31 + n) < 1e-5);
          }
        }
      }
    }
    REQUIRE(run_case<float>(3, 255, 129, 784, false, true, true, true, true, 7) < 1e-5);
    REQUIRE(run_case<float>(2, 256, 10, 256, true, false, false, true, false, 8) < 1e-5);
    REQUIRE(run_case<float>(1, 256, 256, 10, false, true, true, false, false, 9) < 1e-5);
    // alpha, mask and the in-place update form C += alpha*A*B, with A transposed both
    // packed (many B panels) and read in place (N <= 2 panels), K sliced or not.
    for (int t = 0; t < 4; ++t) {
      INFO("t=" << t);
      REQUIRE(run_case<float>(1, 47, 70, 300, t & 1, t & 2, true, false, false, 13, -0.1) < 1e-5);
      REQUIRE(run_case<float>(2, 31, 10, 600, t & 1, t & 2, true, false, false, 14, 0.5) < 1e-5);
      REQUIRE(run_case<float>(1, 29, 33, 10, t & 1, t & 2, false, false, false, 15, 1.0, true) < 1e-5);
      REQUIRE(run_case<float>(1, 37, 40, 520, t & 1, t & 2, false, true, true, 16, 2.0, true) < 1e-5);
      REQUIRE(run_case<float>(1, 5, 3, 0, t & 1, t & 2, t & 1, true, true, 17, 1.0, true) < 1e-5);
    }
  }
  gemm_force_isa("");
}

TEST_CASE("gemm f32 on one thread and many agree", "[gemm]") {
  int saved = num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    REQUIRE(run_case<float>(1, 256, 784, 256, false, false, false, false, false, 11) < 1e-5);
    REQUIRE(run_case<float>(1, 784, 256, 256, true, false, false, false, false, 12) < 1e-5);
  }
  set_num_threads(saved);
}

TEST_CASE("gemm f64 matches naive", "[gemm]") {
  for (int t = 0; t < 4; ++t) {
    REQUIRE(run_case<double>(2, 17, 33, 7, t & 1, t & 2, t == 3, t == 2, t == 1, 5) < 1e-12);
    REQUIRE(run_case<double>(1, 1, 1, 1, t & 1, t & 2, false, false, false, 6) < 1e-12);
    REQUIRE(run_case<double>(1, 9, 11, 13, t & 1, t & 2, true, true, true, 7, -0.3, true) < 1e-12);
  }
}
