// Thread pool: every index visited exactly once, chunking respects grain, nested calls
// run serially, many back-to-back jobs (the fork/join protocol) and resizing.
#include <catch2/catch.hpp>

#include <atomic>
#include <vector>

#include "runtime/thread_pool.h"

using namespace kiln;

TEST_CASE("parallel_for covers the range exactly once", "[thread_pool]") {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      struct Ctx {
        std::vector<std::atomic<int>>* hits;
      } ctx{&hits};
      pool.parallel_for(
          n, 7,
          [](void* c, int64_t b, int64_t e) {
            auto* h = static_cast<Ctx*>(c)->hits;
            for (int64_t i = b; i < e; ++i) (*h)[i].fetch_add(1);
          },
          &ctx);
      for (int64_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
    }
  }
}

TEST_CASE("many short jobs in a row", "[thread_pool]") {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 20000; ++rep) {
    pool.parallel_for(
        64, 1,
        [](void* c, int64_t b, int64_t e) {
          static_cast<std::atomic<int64_t>*>(c)->fetch_add(e - b);
        },
        &total);
  }
  REQUIRE(total.load() == 64 * 20000);
}

TEST_CASE("global parallel_for with lambdas, nesting and resizing", "[thread_pool]") {
  int saved = num_threads();
  set_num_threads(2);
  REQUIRE(num_threads() == 2);
  std::atomic<int64_t> sum{0};
  parallel_for(100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Nested: runs serially inside the chunk.
      parallel_for(10, 1, [&](int64_t b2, int64_t e2) { sum.fetch_add((e2 - b2) * i); });
    }
  });
  REQUIRE(sum.load() == 10 * (99 * 100 / 2));
  set_num_threads(saved);
}
