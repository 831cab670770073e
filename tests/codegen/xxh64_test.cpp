// kiln's XXH64 (codegen/xxh64.h) against the vectors of xxHash's own sanity check (its
// generated buffer, seeds 0 and 2654435761), and the compile cache's key format pinned,
// so that builds with and without the LLVM backend name cache entries alike.
#include <catch2/catch.hpp>

#include <vector>

#include "codegen/compile_cache.h"
#include "codegen/xxh64.h"

using namespace kiln;

namespace {

// xxHash's sanity buffer: gen = 2654435761; byte i = gen >> 56; gen *= 11400714785074694797.
std::vector<unsigned char> sanity_buffer(size_t n) {
  std::vector<unsigned char> buf(n);
  uint64_t gen = 2654435761u;
  for (unsigned char& b : buf) {
    b = static_cast<unsigned char>(gen >> 56);
    gen *= 11400714785074694797ull;
  }
  return buf;
}

}  // namespace

TEST_CASE("xxh64 matches xxHash's sanity vectors", "[cache][hash]") {
  const std::vector<unsigned char> buf = sanity_buffer(222);
  struct Vector {
    size_t size;
    uint64_t seed0, seed_prime;
  };
  // Each length takes another path: empty, the 1-byte tail, 8+4+1+1 byte tails, and
  // 32-byte stripes (222 = 6 stripes + 30 bytes of tail).
  const Vector vectors[] = {{0, 0xEF46DB3751D8E999ull, 0xAC75FDA2929B17EFull},
                            {1, 0xE934A84ADB052768ull, 0x5014607643A9B4C3ull},
                            {14, 0x8282DCC4994E35C8ull, 0xC3BD6BF63DEB6DF0ull},
                            {222, 0xB641AE8CB691C174ull, 0x20CB8AB7AE10C14Aull}};
  for (const Vector& v : vectors) {
    INFO("size " << v.size);
    CHECK(xxh64(buf.data(), v.size, 0) == v.seed0);
    CHECK(xxh64(buf.data(), v.size, 2654435761u) == v.seed_prime);
  }
  CHECK(xxh64(std::string_view("abc")) == xxh64("abc", 3, 0));
  CHECK(xxh64(std::string_view("abc")) != xxh64(std::string_view("abd")));
}

TEST_CASE("cache keys are pinned: the same in every build", "[cache][hash]") {
  // Changing the key's composition or hash must bump the entry format (compile_cache.cpp).
  CHECK(make_cache_key({"kiln"}).hex() == make_cache_key({"kiln"}).hex());
  CHECK(make_cache_key({"kiln"}).hex() == "4d480383d39fecfa588ffd235b4df225");
  CHECK(make_cache_key({}).hex() != make_cache_key({""}).hex());
}
