// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11;
// reference implementation Random123) and kiln's exact mapping from Philox output words
// to uniform and normal numbers. This header is THE specification of rng_uniform and
// rng_normal: the reference interpreter and every backend (JIT, CUDA) must produce the
// same bits, so it is header-only, dependency-free and constexpr where possible.
//
// Per element of an rng_* op (DESIGN.md convention 13):
//   i        = the element's row-major linear index in the output (int64, >= 0)
//   c        = the op's `counter` input (an i64 scalar, e.g. the step counter)
//   counter  = { lo32(i), hi32(i), lo32(c), hi32(c) }          (uint32 words 0..3)
//   key      = { lo32(seed attr), lo32(key attr) }             (uint32 words 0..1)
//   w[0..3]  = philox4x32_10(counter, key)
// rng_uniform:
//   f32: u = (w0 >> 8) * 2^-24                                  in [0, 1), exact in f32
//   f64: u = (((uint64)w0 << 32 | w1) >> 11) * 2^-53           in [0, 1), exact in f64
//   (other dtypes: the f64 value converted like cast: ints truncate -> 0, bool u != 0)
// rng_normal (Box-Muller, both dtypes, one output per element, words 0 and 1 only):
//   u1 = ((w0 >> 8) + 1) * 2^-24                                in (0, 1], never 0
//   u2 = (w1 >> 8) * 2^-24                                      in [0, 1)
//   z  = sqrt(-2 ln u1) * cos(2 pi u2)
//   The reference evaluates z in double and rounds once to the output dtype; backends
//   computing in f32 match to a few ulp (codegen tests compare with a tolerance).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace kiln::philox {

inline constexpr uint32_t kMul0 = 0xD2511F53u;
inline constexpr uint32_t kMul1 = 0xCD9E8D57u;
inline constexpr uint32_t kBump0 = 0x9E3779B9u;  // golden ratio
inline constexpr uint32_t kBump1 = 0xBB67AE85u;  // sqrt(3) - 1
inline constexpr int kRounds = 10;

using Counter = std::array<uint32_t, 4>;
using Key = std::array<uint32_t, 2>;

// One Philox round: two 32x32->64 multiplies, then the S-box-free mix
//   out = { hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0) }.
constexpr Counter round(const Counter& c, const Key& k) {
  uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
  uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
  uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  return Counter{hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}

// Ten rounds; the key is bumped (k0 += kBump0, k1 += kBump1, mod 2^32) before every
// round except the first, as in Random123's philox4x32_R(10, ...).
constexpr Counter philox4x32_10(Counter c, Key k) {
  for (int r = 0; r < kRounds; ++r) {
    if (r > 0) {
      k[0] += kBump0;
      k[1] += kBump1;
    }
    c = round(c, k);
  }
  return c;
}

// The counter and key kiln uses for element `index` of an rng op (see header).
constexpr Counter make_counter(uint64_t index, uint64_t step_counter) {
  return Counter{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                 static_cast<uint32_t>(step_counter), static_cast<uint32_t>(step_counter >> 32)};
}
constexpr Key make_key(int64_t seed, int64_t key) {
  return Key{static_cast<uint32_t>(static_cast<uint64_t>(seed)),
             static_cast<uint32_t>(static_cast<uint64_t>(key))};
}

inline constexpr double kTwoPow24 = 16777216.0;
inline constexpr double kTwoPow53 = 9007199254740992.0;

// Uniform in [0, 1) from 24 bits of word 0 (f32 path).
constexpr float uniform_f32(const Counter& w) {
  return static_cast<float>(static_cast<double>(w[0] >> 8) / kTwoPow24);
}
// Uniform in [0, 1) from 53 bits of words 0 (high) and 1 (low) (f64 path).
constexpr double uniform_f64(const Counter& w) {
  uint64_t bits = ((static_cast<uint64_t>(w[0]) << 32) | w[1]) >> 11;
  return static_cast<double>(bits) / kTwoPow53;
}
// Standard normal via Box-Muller on words 0 and 1 (same formula for every dtype).
inline double normal(const Counter& w) {
  double u1 = static_cast<double>((w[0] >> 8) + 1u) / kTwoPow24;  // (0, 1]
  double u2 = static_cast<double>(w[1] >> 8) / kTwoPow24;         // [0, 1)
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

}  // namespace kiln::philox
