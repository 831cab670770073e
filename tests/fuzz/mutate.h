// Deterministic byte-level mutations of a valid flatbuffers file, shared by the loader
// fuzz loops in the normal test suite (tests/ir/serialize_test.cpp,
// tests/runtime/checkpoint_format_test.cpp). Besides bit flips and truncations it writes
// the 32-bit values that confuse offset arithmetic (0, 1, -1, INT_MAX, the buffer size)
// at 4-aligned positions and copies one offset over another, which is how real
// corruptions slip past naive bounds checks. libFuzzer (tests/fuzz/loaders_fuzz.cpp)
// explores further from the same seeds.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace kiln::fuzz {

inline std::vector<uint8_t> mutate(const std::vector<uint8_t>& valid, std::mt19937_64& rng) {
  std::vector<uint8_t> b = valid;
  if (b.empty()) return b;
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  if (rng() % 8 == 0) {  // truncation
    b.resize(pick(b.size()));
    return b;
  }
  const uint32_t words[] = {0u,          1u,          4u,          0xffffffffu, 0x7fffffffu,
                            0x80000000u, 0xfffffffcu, static_cast<uint32_t>(b.size()),
                            static_cast<uint32_t>(b.size() - 4)};
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x40};
  int edits = 1 + static_cast<int>(rng() % 6);
  for (int e = 0; e < edits && !b.empty(); ++e) {
    size_t pos = pick(b.size());
    size_t word = pos & ~size_t{3};
    switch (rng() % 16) {  // mostly in place: inserts and erasures shift every offset
      case 0: b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
      case 1: b[pos] = bytes[pick(sizeof bytes)]; break;
      case 2: b[pos] = static_cast<uint8_t>(rng()); break;
      case 3:
        if (word + 4 <= b.size()) {
          uint32_t w = words[pick(sizeof words / sizeof words[0])];
          std::memcpy(&b[word], &w, 4);
        }
        break;
      case 4: {  // copy one 4-byte word (likely an offset) over another
        size_t from = pick(b.size()) & ~size_t{3};
        if (word + 4 <= b.size() && from + 4 <= b.size()) std::memmove(&b[word], &b[from], 4);
        break;
      }
      case 5: b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos)); break;
      case 6:
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<uint8_t>(rng()));
        break;
      case 7: case 8: case 9: b[pos] = bytes[pick(sizeof bytes)]; break;
      default: b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
    }
  }
  return b;
}

// Random bytes that still carry `identifier` at offset 4 and a plausible root offset, so
// they get past the identifier check and exercise the verifier.
inline std::vector<uint8_t> random_file(const char* identifier, std::mt19937_64& rng) {
  std::vector<uint8_t> b(8 + rng() % 256);
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  uint32_t root = static_cast<uint32_t>((rng() % b.size()) & ~size_t{3});
  std::memcpy(b.data(), &root, 4);
  std::memcpy(b.data() + 4, identifier, 4);
  return b;
}

// What the loader fuzz loops feed a loader at iteration `iter`: random_file(identifier)
// every tenth iteration, else a mutation of `valid`.
inline std::vector<uint8_t> mutant(const std::vector<uint8_t>& valid, const char* identifier,
                                   int iter, std::mt19937_64& rng) {
  return iter % 10 == 9 ? random_file(identifier, rng) : mutate(valid, rng);
}

}  // namespace kiln::fuzz
