// Arena planner: exact offsets on tiny hand-made lifetime sets (TFLite-style tests).
#include <catch2/catch.hpp>

#include <vector>

#include "passes/memory.h"

using namespace kiln;

TEST_CASE("memory: disjoint lifetimes share offset 0", "[memory]") {
  std::vector<BufferLifetime> b = {{100, 0, 1}, {100, 2, 3}};
  MemoryPlan p = plan_memory(b);
  REQUIRE(p.offsets == std::vector<size_t>{0, 0});
  REQUIRE(p.peak_bytes == 128);
  REQUIRE(p.total_bytes == 256);
}

TEST_CASE("memory: overlapping lifetimes are stacked largest first", "[memory]") {
  std::vector<BufferLifetime> b = {{64, 0, 2}, {256, 1, 3}, {128, 2, 2}};
  MemoryPlan p = plan_memory(b);
  // 256 first at 0; 128 overlaps it -> 256; 64 overlaps both -> 384.
  REQUIRE(p.offsets == std::vector<size_t>{384, 0, 256});
  REQUIRE(p.peak_bytes == 448);
}

TEST_CASE("memory: a free gap at the start of the arena is reused", "[memory]") {
  // A (256 bytes, steps 0-1) at 0; B (192, steps 0-5) after it at 256; C (128, steps 3-4)
  // does not overlap A, so the gap [0, 256) before B is free and best: C goes to 0.
  std::vector<BufferLifetime> b = {{256, 0, 1}, {192, 0, 5}, {128, 3, 4}};
  MemoryPlan p = plan_memory(b);
  REQUIRE(p.offsets == std::vector<size_t>{0, 256, 0});
  REQUIRE(p.peak_bytes == 448);
}

TEST_CASE("memory: best fit picks the smallest gap that fits", "[memory]") {
  // Placed in size order: A@0, B@512, C@832, D@1088 (D and B die at step 1), E@1344.
  // F (steps 5-6) sees gaps [512,832) = 320 and [1088,1344) = 256 and takes the smaller.
  std::vector<BufferLifetime> b = {
      {512, 0, 9},  // A
      {320, 0, 1},  // B
      {256, 0, 9},  // C
      {200, 0, 1},  // D (aligned to 256)
      {150, 0, 9},  // E (aligned to 192)
      {100, 5, 6},  // F
  };
  MemoryPlan p = plan_memory(b);
  REQUIRE(p.offsets == std::vector<size_t>{0, 512, 832, 1088, 1344, 1088});
  REQUIRE(p.peak_bytes == 1536);
}

TEST_CASE("memory: alignment and zero-sized buffers", "[memory]") {
  std::vector<BufferLifetime> b = {{1, 0, 0}, {0, 0, 0}, {65, 0, 0}};
  MemoryPlan p = plan_memory(b, 64);
  // 65 -> 128 bytes at 0; then 1 and 0 (each padded to 64) in order of first use/index.
  REQUIRE(p.offsets == std::vector<size_t>{128, 192, 0});
  REQUIRE(p.peak_bytes == 256);
  for (size_t o : p.offsets) REQUIRE(o % 64 == 0);
}

TEST_CASE("memory: guard bytes follow every buffer and nothing is shared", "[memory]") {
  // Disjoint lifetimes would share offset 0 without guards.
  std::vector<BufferLifetime> b = {{100, 0, 0}, {100, 1, 1}};
  MemoryPlan plain = plan_memory(b, 64);
  CHECK(plain.offsets == std::vector<size_t>{0, 0});
  MemoryPlan guarded = plan_memory(b, 64, 1);
  CHECK(guarded.offsets == std::vector<size_t>{0, 192});  // 128 (aligned) + 64 guard
  CHECK(guarded.peak_bytes == 384);
}
