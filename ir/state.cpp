// State kinds, scopes and initializers (see ir/state.h).
#include "ir/state.h"

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

// fan_in and fan_out of a weight (see ir/state.h).
struct Fans {
  double in = 1, out = 1;
};

Fans fans(const Shape& shape) {
  Fans f;
  if (shape.rank() == 1) {
    f.in = f.out = static_cast<double>(shape[0]);
  } else if (shape.rank() == 2) {
    f.in = static_cast<double>(shape[0]);
    f.out = static_cast<double>(shape[1]);
  } else if (shape.rank() > 2) {
    double receptive = 1;
    for (int d = 2; d < shape.rank(); ++d) receptive *= static_cast<double>(shape[d]);
    f.in = static_cast<double>(shape[1]) * receptive;
    f.out = static_cast<double>(shape[0]) * receptive;
  }
  return f;
}

}  // namespace

namespace {
constexpr const char* kStateKindNames[] = {"parameter",    "optimizer_slot", "step_counter",
                                           "rng_counter",  "running_stat",   "carried",
                                           "hyperparameter"};
constexpr const char* kScopeNames[] = {"model", "executable"};
constexpr const char* kInitNames[] = {"zeros",   "constant",       "normal",
                                      "uniform", "xavier_uniform", "kaiming_normal"};

template <typename E, size_t N>
std::optional<E> parse_name(const char* const (&names)[N], std::string_view s) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  return std::nullopt;
}

template <size_t N>
std::string name_list(const char* const (&names)[N]) {
  std::string s;
  for (size_t i = 0; i < N; ++i) s += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + names[i];
  return s;
}
}  // namespace

const char* state_kind_name(StateKind k) { return kStateKindNames[static_cast<int>(k)]; }
const char* state_scope_name(StateScope s) { return kScopeNames[static_cast<int>(s)]; }
const char* init_kind_name(InitKind k) { return kInitNames[static_cast<int>(k)]; }
std::optional<StateKind> parse_state_kind(std::string_view n) {
  return parse_name<StateKind>(kStateKindNames, n);
}
std::optional<StateScope> parse_state_scope(std::string_view n) {
  return parse_name<StateScope>(kScopeNames, n);
}
std::optional<InitKind> parse_init_kind(std::string_view n) {
  return parse_name<InitKind>(kInitNames, n);
}
std::string init_kind_list() { return name_list(kInitNames); }
std::string state_kind_list() { return name_list(kStateKindNames); }

InitialValues::InitialValues(const InitSpec& init, const TensorType& type, const std::string& name,
                             uint64_t seed)
    : init_(init), dtype_(type.dtype), rng_(SplitMix64{seed}.next() ^ fnv1a64(name)) {
  const Fans f = fans(type.shape);
  if (init.kind == InitKind::XavierUniform)
    scale_ = f.in + f.out > 0 ? std::sqrt(6.0 / (f.in + f.out)) : 0.0;
  if (init.kind == InitKind::KaimingNormal) scale_ = f.in > 0 ? std::sqrt(2.0 / f.in) : 0.0;
}

void InitialValues::next(size_t count, double* out) {
  const double a = init_.a, b = init_.b;
  SplitMix64 rng{rng_};
  for (size_t i = 0; i < count; ++i) {
    double x = 0.0;
    switch (init_.kind) {
      case InitKind::Zeros: break;
      case InitKind::Constant: x = a; break;
      case InitKind::Normal: x = a + b * rng.normal(); break;
      case InitKind::Uniform: x = a + (b - a) * rng.uniform(); break;
      case InitKind::XavierUniform: x = -scale_ + 2 * scale_ * rng.uniform(); break;
      case InitKind::KaimingNormal: x = scale_ * rng.normal(); break;
    }
    out[i] = round_to_dtype(dtype_, x);
  }
  rng_ = rng.state;
}

std::vector<double> initial_values(const InitSpec& init, const TensorType& type,
                                   const std::string& name, uint64_t seed) {
  std::vector<double> out(static_cast<size_t>(type.shape.numel()));
  InitialValues(init, type, name, seed).next(out.size(), out.data());
  return out;
}

}  // namespace kiln
