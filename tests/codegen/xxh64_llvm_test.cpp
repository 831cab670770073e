// kiln's XXH64 (codegen/xxh64.h) agrees with LLVM's llvm::xxHash64 for every length
// 0..1024 of a pseudo-random buffer: each stripe count and tail combination. Built only
// with the LLVM backend (-DKILN_LLVM=ON).
#include <catch2/catch.hpp>

#include <vector>

#include "codegen/xxh64.h"
#include "llvm/Support/xxhash.h"

TEST_CASE("xxh64 agrees with llvm::xxHash64 on every length to 1024", "[cache][hash]") {
  std::vector<uint8_t> buf(1024);
  uint64_t state = 1;
  for (uint8_t& b : buf) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<uint8_t>(state >> 56);
  }
  int mismatches = 0;
  for (size_t n = 0; n <= buf.size(); ++n)
    if (kiln::xxh64(buf.data(), n) != llvm::xxHash64(llvm::ArrayRef<uint8_t>(buf.data(), n)))
      ++mismatches;
  CHECK(mismatches == 0);
}
