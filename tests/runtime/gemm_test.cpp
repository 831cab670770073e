// GEMM correctness against a naive triple loop: odd sizes, transposes, batches,
// accumulation, alpha, the epilogue callback (each element exactly once, after its final
// value), every micro-kernel the CPU supports, A read in place and packed, f32 and f64.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "runtime/gemm.h"
#include "epilogue_value.h"
#include "runtime/thread_pool.h"

using namespace kiln;

namespace {

template <typename T>
void naive(const GemmParams& p, const T* a, const T* b, T* c) {
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
        *cp = T((p.accumulate ? double(*cp) : 0.0) + p.alpha * s);
      }
}

using test::epi_value;  // tests/runtime/epilogue_value.h

// The epilogue's view of C (padded leading dimension and batch stride) and a count of
// calls per element; passed to the callback as buffers[0].
template <typename T>
struct Probe {
  T* c;
  int64_t rows, cols, ldc, stride_c;
  std::unique_ptr<std::atomic<int>[]> seen;
};

template <typename T>
void probe_epilogue(void** buffers, int64_t b, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  auto* pr = static_cast<Probe<T>*>(buffers[0]);
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t j = c0; j < c1; ++j) {
      int64_t idx = (b * pr->rows + r) * pr->cols + j;
      pr->seen[idx].fetch_add(1, std::memory_order_relaxed);
      T& x = pr->c[b * pr->stride_c + r * pr->ldc + j];
      x = epi_value(x, idx);
    }
}

template <typename T>
double run_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool acc,
                bool epi_on, uint32_t seed, double alpha = 1.0) {
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
  p.alpha = alpha;
  std::vector<T> a(p.stride_a * batch), b(p.stride_b * batch), c(p.stride_c * batch + 16);
  for (auto& x : a) x = T(u(rng));
  for (auto& x : b) x = T(u(rng));
  for (auto& x : c) x = T(u(rng));
  std::vector<T> ref = c;
  const T sentinel = T(12345.0);
  for (int i = 0; i < 16; ++i) c[p.stride_c * batch + i] = ref[p.stride_c * batch + i] = sentinel;
  naive<T>(p, a.data(), b.data(), ref.data());
  const int64_t elems = batch * m * n;
  Probe<T> probe{c.data(), m, n, p.ldc, p.stride_c, std::make_unique<std::atomic<int>[]>(elems)};
  for (int64_t i = 0; i < elems; ++i) probe.seen[i] = 0;
  void* buffers[] = {&probe};
  Epilogue epi;
  if (epi_on) {
    epi = Epilogue{probe_epilogue<T>, buffers};
    for (int64_t bi = 0; bi < batch; ++bi)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          T& x = ref[bi * p.stride_c + i * p.ldc + j];
          x = epi_value(x, (bi * m + i) * n + j);
        }
  }
  if constexpr (sizeof(T) == 4)
    gemm_f32(p, a.data(), b.data(), c.data(), epi);
  else
    gemm_f64(p, a.data(), b.data(), c.data(), epi);
  int64_t miscounted = 0;
  for (int64_t i = 0; i < elems; ++i) miscounted += probe.seen[i].load() != (epi_on ? 1 : 0);
  REQUIRE(miscounted == 0);
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
            REQUIRE(run_case<float>(1, m, n, k, t & 1, t & 2, false, false, m * 31 + n) < 1e-5);
          }
        }
      }
    }
    REQUIRE(run_case<float>(3, 255, 129, 784, false, true, true, true, 7) < 1e-5);
    REQUIRE(run_case<float>(2, 256, 10, 256, true, false, false, true, 8) < 1e-5);
    // Transposed A packed over several row blocks (kMC), with short last tiles and K
    // slices longer than the pack's prefetch distance.
    REQUIRE(run_case<float>(1, 301, 50, 333, true, false, true, true, 10) < 1e-5);
    REQUIRE(run_case<float>(1, 256, 256, 10, false, true, true, false, 9) < 1e-5);
    // alpha, the epilogue and the in-place update form C += alpha*A*B, with A transposed
    // both packed (many B panels) and read in place (N <= 2 panels), K sliced or not,
    // edge tiles in M and N, and K = 0 (C = 0 or kept, then the epilogue).
    for (int t = 0; t < 4; ++t) {
      INFO("t=" << t);
      REQUIRE(run_case<float>(1, 47, 70, 300, t & 1, t & 2, true, false, 13, -0.1) < 1e-5);
      REQUIRE(run_case<float>(2, 31, 10, 600, t & 1, t & 2, true, true, 14, 0.5) < 1e-5);
      REQUIRE(run_case<float>(1, 29, 33, 10, t & 1, t & 2, false, true, 15) < 1e-5);
      REQUIRE(run_case<float>(1, 37, 200, 520, t & 1, t & 2, false, true, 16, 2.0) < 1e-5);
      REQUIRE(run_case<float>(2, 151, 97, 700, t & 1, t & 2, true, true, 18, -0.7) < 1e-5);
      REQUIRE(run_case<float>(1, 5, 3, 0, t & 1, t & 2, t & 1, true, 17) < 1e-5);
    }
  }
  gemm_force_isa("");
}

TEST_CASE("gemm f32 on one thread and many agree", "[gemm]") {
  int saved = num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    REQUIRE(run_case<float>(1, 256, 784, 256, false, false, false, true, 11) < 1e-5);
    REQUIRE(run_case<float>(1, 784, 256, 256, true, false, false, true, 12) < 1e-5);
    REQUIRE(run_case<float>(2, 300, 301, 0, false, false, true, true, 19) < 1e-5);
  }
  set_num_threads(saved);
}

// The shape-specialised paths (runtime/gemm.cpp's top comment) on every ISA and 1-3
// threads: row tails of every height (a kernel per row count, small remainders split
// evenly with the tile before them, also across kMC row blocks: 145-147 rows), row-major
// B read in place (at most 48 rows) or packed (49), edge panels, K sliced, transposes,
// accumulate, alpha and the epilogue, and batches of products too small to split.
TEST_CASE("gemm f32 small-shape paths match naive", "[gemm]") {
  int saved = num_threads();
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if (!gemm_force_isa(isa)) continue;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      INFO("isa " << isa << " threads " << threads);
      for (int64_t m = 1; m <= 26; ++m) {
        INFO("m=" << m);
        REQUIRE(run_case<float>(1, m, 33, 40, false, false, false, true, m) < 1e-5);
        REQUIRE(run_case<float>(1, m, 16, 9, true, false, true, false, m, -0.5) < 1e-5);
      }
      for (int64_t m : {31, 32, 33, 47, 48, 49}) {
        for (int t = 0; t < 4; ++t) {
          INFO("m=" << m << " t=" << t);
          REQUIRE(run_case<float>(1, m, 284, 300, t & 1, t & 2, t & 1, true, m + t, 0.5) < 1e-5);
          REQUIRE(run_case<float>(1, m, 47, 700, t & 1, t & 2, true, false, m + t) < 1e-5);
        }
      }
      for (int64_t m : {145, 146, 147, 152}) {
        INFO("m=" << m);
        REQUIRE(run_case<float>(1, m, 70, 20, true, false, false, true, m) < 1e-5);
        REQUIRE(run_case<float>(1, m, 30, 10, false, false, true, true, m, 2.0) < 1e-5);
      }
      REQUIRE(run_case<float>(1, 256, 256, 10, false, false, false, true, 20) < 1e-5);
      REQUIRE(run_case<float>(1, 256, 10, 256, false, false, true, false, 21, -1.0) < 1e-5);
      for (int t = 0; t < 4; ++t) {
        INFO("batched t=" << t);
        REQUIRE(run_case<float>(9, 7, 20, 33, t & 1, t & 2, t & 1, true, 22 + t) < 1e-5);
        REQUIRE(run_case<float>(5, 32, 64, 48, t & 1, t & 2, false, true, 26 + t, 0.25) < 1e-5);
      }
    }
  }
  gemm_force_isa("");
  set_num_threads(saved);
}

// Few rows and a wide, deep B (VGG's 4096-wide FC layers): each task packs its B panels
// a group at a time right before their tiles instead of the whole K slice (runtime/
// gemm.cpp, kGroupBytes), with a ragged last group and a partial last panel.
TEST_CASE("gemm f32 streaming a wide B through panel groups matches naive", "[gemm]") {
  int saved = num_threads();
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if (!gemm_force_isa(isa)) continue;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (int t = 0; t < 4; ++t) {
        INFO("isa " << isa << " threads " << threads << " t=" << t);
        REQUIRE(run_case<float>(1, 64, 2101, 640, t & 1, t & 2, t & 1, true, 40 + t, 0.5) < 1e-5);
        REQUIRE(run_case<float>(1, 100, 1500, 700, t & 1, t & 2, false, true, 44 + t) < 1e-5);
      }
    }
  }
  gemm_force_isa("");
  set_num_threads(saved);
}

namespace {

// Row-major A x B (padded leading dimensions, accumulating, alpha) with the task grid
// planned for `threads` threads.
std::vector<float> planned_gemm(int64_t threads, const GemmParams& p, const std::vector<float>& a,
                                const std::vector<float>& b, const std::vector<float>& c0) {
  std::vector<float> c = c0;
  gemm_f32_planned_for(threads, p, a.data(), b.data(), c.data());
  return c;
}

}  // namespace

// A large row-major A is packed once for all the tasks of a grid that share its rows
// (1 x N and 2 x 2 grids, several K slices and row blocks, short last tiles); one thread
// reads it in place: every grid gives the naive result and the same bits as one thread.
TEST_CASE("gemm f32 packs row-major A once for the tasks that share its rows", "[gemm]") {
  struct Shape {
    int64_t m, n, k;
  };
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if (!gemm_force_isa(isa)) continue;
    for (Shape s : {Shape{301, 1100, 700}, Shape{64, 2200, 1100}, Shape{149, 2048, 520}}) {
      INFO("isa " << isa << " m=" << s.m << " n=" << s.n << " k=" << s.k);
      std::mt19937 rng(uint32_t(s.m + s.n));
      std::uniform_real_distribution<float> u(-1, 1);
      GemmParams p;
      p.m = s.m;
      p.n = s.n;
      p.k = s.k;
      p.lda = s.k + 5;
      p.ldb = s.n + 3;
      p.ldc = s.n + 1;
      p.accumulate = true;
      p.alpha = 0.75;
      std::vector<float> a(s.m * p.lda), b(s.k * p.ldb), c0(s.m * p.ldc);
      for (auto* v : {&a, &b, &c0})
        for (float& x : *v) x = u(rng);
      std::vector<float> ref = c0;
      naive<float>(p, a.data(), b.data(), ref.data());
      const std::vector<float> one = planned_gemm(1, p, a, b, c0);
      double err = 0;
      for (size_t i = 0; i < ref.size(); ++i)
        err = std::max(err, std::abs(double(one[i]) - double(ref[i])) / (1.0 + std::sqrt(double(s.k))));
      CHECK(err < 1e-5);
      for (int64_t threads : {2, 3, 4}) {
        INFO("planned for " << threads << " threads");
        const std::vector<float> c = planned_gemm(threads, p, a, b, c0);
        CHECK(std::equal(c.begin(), c.end(), one.begin()));
      }
    }
  }
  gemm_force_isa("");
}

namespace {

// C = op(A1) op(B) packing B into scratch, then C = op(A2) op(B) from the scratch alone
// (B overwritten in between): both equal the unpacked GEMM to the bit.
void check_packed_b(int64_t m, int64_t n, int64_t k, bool tb, bool acc, uint32_t seed) {
  INFO("m=" << m << " n=" << n << " k=" << k << " trans_b=" << tb << " acc=" << acc);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  GemmParams p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_b = tb;
  p.lda = k;
  p.ldb = tb ? k : n;
  p.ldc = n;
  p.accumulate = acc;
  p.alpha = -0.5;
  std::vector<float> a1(m * k), a2(m * k), b(k * n), c0(m * n);
  for (auto* v : {&a1, &a2, &b, &c0})
    for (float& x : *v) x = u(rng);
  const int64_t floats = gemm_packed_b_floats(k, n);
  std::vector<float> scratch(floats + 16, 7.f);
  auto gemm = [&](const std::vector<float>& a, const float* bp, int64_t mode) {
    GemmParams q = p;
    q.packed_b = mode;
    std::vector<float> c = c0;
    gemm_f32(q, a.data(), bp, c.data(), {}, mode ? scratch.data() : nullptr);
    return c;
  };
  const std::vector<float> want1 = gemm(a1, b.data(), kUnpackedB);
  const std::vector<float> want2 = gemm(a2, b.data(), kUnpackedB);
  CHECK(gemm(a1, b.data(), kPackB) == want1);
  std::vector<float> garbage(b.size(), 1e30f);
  CHECK(gemm(a2, garbage.data(), kPackedB) == want2);
  for (int i = 0; i < 16; ++i) CHECK(scratch[floats + i] == 7.f);
}

}  // namespace

TEST_CASE("gemm f32 with a pre-packed B equals the unpacked GEMM to the bit", "[gemm]") {
  int saved = num_threads();
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if (!gemm_force_isa(isa)) continue;
    INFO("isa " << isa);
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      INFO("threads " << t);
      for (bool tb : {false, true}) {
        check_packed_b(32, 768, 256, tb, false, 1);  // a GRU step's h @ W_hh^T
        check_packed_b(32, 256, 1024, tb, true, 2);  // an LSTM step's dg @ W_hh, K sliced
        check_packed_b(17, 33, 700, tb, false, 3);   // edge tiles and panels, 3 K slices
        check_packed_b(3, 5, 7, tb, true, 4);        // smaller than one tile
        check_packed_b(8, 40, 300, tb, false, 5);    // a split row tail
      }
    }
  }
  gemm_force_isa("");
  set_num_threads(saved);
}

namespace {

// The row epilogue's view: C, the expected product, and a count of calls per row.
struct RowProbe {
  const float* c;
  const std::vector<float>* want;
  int64_t n;
  std::vector<std::atomic<int>> calls;
  std::atomic<int> early{0};  // rows handed over before all their columns were final
};

void row_probe(void** buffers, int64_t r0, int64_t r1) {
  auto* pr = static_cast<RowProbe*>(buffers[0]);
  for (int64_t r = r0; r < r1; ++r) {
    pr->calls[r].fetch_add(1);
    for (int64_t j = 0; j < pr->n; ++j)
      if (pr->c[r * pr->n + j] != (*pr->want)[r * pr->n + j]) pr->early.fetch_add(1);
  }
}

}  // namespace

TEST_CASE("gemm f32 row epilogue sees each row once, with every column final", "[gemm]") {
  int saved = num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    for (int64_t m : {1, 5, 32, 37}) {
      for (int64_t n : {7, 768}) {
        for (int64_t k : {0, 9, 300}) {
          INFO("threads " << t << " m=" << m << " n=" << n << " k=" << k);
          std::mt19937 rng(static_cast<uint32_t>(m * 7 + n + k));
          std::uniform_real_distribution<float> u(-1, 1);
          GemmParams p;
          p.m = m;
          p.n = n;
          p.k = k;
          p.lda = k;
          p.ldb = n;
          p.ldc = n;
          std::vector<float> a(m * k), b(k * n), c(m * n, 5.f);
          for (float& x : a) x = u(rng);
          for (float& x : b) x = u(rng);
          std::vector<float> want = c;
          gemm_f32(p, a.data(), b.data(), want.data());
          RowProbe probe{c.data(), &want, n, std::vector<std::atomic<int>>(m)};
          void* buffers[] = {&probe};
          gemm_f32(p, a.data(), b.data(), c.data(), {}, nullptr, RowEpilogue{row_probe, buffers});
          CHECK(c == want);
          CHECK(probe.early.load() == 0);
          int wrong = 0;
          for (auto& calls : probe.calls) wrong += calls.load() != 1;
          CHECK(wrong == 0);
        }
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("gemm f64 matches naive", "[gemm]") {
  for (int t = 0; t < 4; ++t) {
    REQUIRE(run_case<double>(2, 17, 33, 7, t & 1, t & 2, t == 3, t == 2, 5) < 1e-12);
    REQUIRE(run_case<double>(1, 1, 1, 1, t & 1, t & 2, false, false, 6) < 1e-12);
    REQUIRE(run_case<double>(1, 9, 11, 13, t & 1, t & 2, true, true, 7, -0.3) < 1e-12);
    REQUIRE(run_case<double>(1, 4, 6, 0, t & 1, t & 2, t & 1, true, 8) < 1e-12);
  }
}

TEST_CASE("gemm with an empty output calls nothing", "[gemm]") {
  REQUIRE(run_case<float>(1, 0, 5, 3, false, false, false, true, 1) == 0);
  REQUIRE(run_case<float>(2, 4, 0, 3, false, false, false, true, 1) == 0);
  REQUIRE(run_case<double>(0, 4, 5, 3, false, false, false, true, 1) == 0);
}
