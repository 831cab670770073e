// kiln's f32 GEMM and OpenBLAS's sgemm_ in one process, called in turn (the order
// alternating), so both see the same phases of a noisy host: the least and first
// quartile time of each over REPS calls per shape, and the ratio of their GFLOP/s.
// Built and run by bench/gemm_vs_openblas.sh (OpenBLAS is a benchmark-only dependency).
//   gemm_interleaved THREADS REPS M N K [M N K ...]
// With 2 threads OpenBLAS runs with OPENBLAS_THREAD_TIMEOUT small (the script sets it)
// and each call follows a 3 ms sleep, so neither pool spins through the other's call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "runtime/gemm.h"

extern "C" void sgemm_(const char*, const char*, const int*, const int*, const int*,
                       const float*, const float*, const int*, const float*, const int*,
                       const float*, float*, const int*);
extern "C" void openblas_set_num_threads(int);

namespace {

struct Times {
  std::vector<double> kiln, openblas;
};

Times run_shape(int threads, int reps, int m, int n, int k) {
  const kiln::GemmParams p{.m = m, .n = n, .k = k, .lda = k, .ldb = n, .ldc = n};  // row-major
  std::vector<float> a(size_t(m) * k, 0.5f), b(size_t(k) * n, 0.25f), c(size_t(m) * n);
  const float one = 1.f, zero = 0.f;
  Times t;
  for (int r = 0; r < 2 * reps; ++r) {
    const bool kiln_turn = (r + r / 2) % 2 == 0;  // K O O K K O O K ...
    if (threads > 1) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    auto t0 = std::chrono::steady_clock::now();
    if (!kiln_turn)  // row-major C = A B is column-major C^T = B^T A^T
      sgemm_("N", "N", &n, &m, &k, &one, b.data(), &n, a.data(), &k, &zero, c.data(), &n);
    else if (threads > 1)
      kiln::gemm_f32(p, a.data(), b.data(), c.data());
    else
      kiln::gemm_f32_serial(p, a.data(), b.data(), c.data());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    (kiln_turn ? t.kiln : t.openblas).push_back(ms);
  }
  std::sort(t.kiln.begin(), t.kiln.end());
  std::sort(t.openblas.begin(), t.openblas.end());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || (argc - 3) % 3 != 0) {
    std::fprintf(stderr, "usage: %s THREADS REPS M N K [M N K ...]\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]), reps = std::atoi(argv[2]);
  if (threads < 1 || reps < 1) {
    std::fprintf(stderr, "%s: THREADS and REPS must be positive\n", argv[0]);
    return 2;
  }
  openblas_set_num_threads(threads);  // kiln: KILN_NUM_THREADS, set by the script
  std::printf("%-16s %9s %9s %9s %9s %7s   (%d thread%s, %d calls each)\n", "M x N x K",
              "kiln ms", "q1", "OpenBLAS", "q1", "ratio", threads, threads > 1 ? "s" : "", reps);
  for (int i = 3; i + 2 < argc; i += 3) {
    const int m = std::atoi(argv[i]), n = std::atoi(argv[i + 1]), k = std::atoi(argv[i + 2]);
    if (m < 1 || n < 1 || k < 1) {
      std::fprintf(stderr, "%s: bad shape %s x %s x %s\n", argv[0], argv[i], argv[i + 1], argv[i + 2]);
      return 2;
    }
    const Times t = run_shape(threads, reps, m, n, k);
    const size_t q = t.kiln.size() / 4;
    char name[48];
    std::snprintf(name, sizeof name, "%dx%dx%d", m, n, k);
    std::printf("%-16s %9.3f %9.3f %9.3f %9.3f %7.2f\n", name, t.kiln[0], t.kiln[q],
                t.openblas[0], t.openblas[q], t.openblas[0] / t.kiln[0]);
  }
  return 0;
}
