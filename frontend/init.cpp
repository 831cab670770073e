// Initial values of parameter/state leaves. The generator is splitmix64 seeded with
// mix(seed) ^ fnv1a64(leaf name), so values depend only on (seed, name, position) and
// every consumer (interpreter, runtime, restarted runs) draws the same numbers.
// Uniform u = (next() >> 11) * 2^-53 in [0, 1); normals by Box-Muller using two
// uniforms (u1 shifted to (0, 1] so log never sees 0), one normal per pair.
#include "frontend/init.h"

#include <cmath>
#include <string>

namespace kiln {
namespace {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double normal() {
    double u1 = static_cast<double>((next() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

}  // namespace

Expected<std::vector<double>> initial_value(const Node& leaf, uint64_t seed) {
  const Shape& shape = leaf.type.shape;
  size_t n = static_cast<size_t>(shape.numel());
  std::string init = "zeros";
  if (const AttrValue* v = leaf.attrs.find("init")) {
    if (!std::holds_alternative<std::string>(*v))
      return Error("leaf \"" + leaf.name + "\": attribute 'init' must be a string");
    init = std::get<std::string>(*v);
  }
  auto attr_f = [&](const char* name) {
    const AttrValue* v = leaf.attrs.find(name);
    return v && std::holds_alternative<double>(*v) ? std::get<double>(*v) : 0.0;
  };
  double a = attr_f("init_a"), b = attr_f("init_b");
  SplitMix64 rng{SplitMix64{seed}.next() ^ fnv1a64(leaf.name)};
  std::vector<double> out(n, 0.0);
  if (init == "zeros") {
    // already zero
  } else if (init == "constant") {
    for (double& x : out) x = a;
  } else if (init == "normal") {
    for (double& x : out) x = a + b * rng.normal();
  } else if (init == "uniform") {
    for (double& x : out) x = a + (b - a) * rng.uniform();
  } else if (init == "xavier_uniform") {
    double fan_in = 1, fan_out = 1;
    if (shape.rank() == 1) {
      fan_in = fan_out = static_cast<double>(shape[0]);
    } else if (shape.rank() == 2) {
      fan_in = static_cast<double>(shape[0]);
      fan_out = static_cast<double>(shape[1]);
    } else if (shape.rank() > 2) {
      double receptive = 1;
      for (int d = 2; d < shape.rank(); ++d) receptive *= static_cast<double>(shape[d]);
      fan_in = static_cast<double>(shape[1]) * receptive;
      fan_out = static_cast<double>(shape[0]) * receptive;
    }
    double bound = fan_in + fan_out > 0 ? std::sqrt(6.0 / (fan_in + fan_out)) : 0.0;
    for (double& x : out) x = -bound + 2 * bound * rng.uniform();
  } else {
    return Error("leaf \"" + leaf.name + "\": unknown init '" + init + "'");
  }
  for (double& x : out) x = round_to_dtype(leaf.type.dtype, x);
  return out;
}

}  // namespace kiln
