// XXH64, the 64-bit xxHash (Yann Collet's algorithm, specified in xxHash's
// doc/xxhash_spec.md), implemented here so that the compile caches (compile_cache.h,
// cuda/compile.h) hash keys and checksums the same way whether or not kiln is built
// with the LLVM backend (-DKILN_LLVM=OFF has no llvm/Support/xxhash.h). Not a
// cryptographic hash: it keys caches of kiln's own output, and an entry's header
// repeats its key.
//
// Tests: known vectors from xxHash's sanity checks, and (LLVM builds) agreement with
// llvm::xxHash64 for every length 0..1024.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln {

uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

inline uint64_t xxh64(std::string_view bytes, uint64_t seed = 0) {
  return xxh64(bytes.data(), bytes.size(), seed);
}

}  // namespace kiln
