// The state vocabulary shared by every layer (it depends on nothing but dtype/shape):
// what kind of state a buffer holds, who owns it, and how it is initialised.
//
// Kinds tell a checkpoint, an optimizer or `reset_state()` what a buffer is without
// string conventions on its name. Scope says whether a buffer is shared by every
// executable of a model (weights, optimizer moments, counters) or owned by one
// executable (carried state such as an RNN's hidden state, whose shape follows that
// executable's batch size).
//
// Initial values are deterministic in (seed, buffer name, position): the generator is
// splitmix64 seeded with mix(seed) ^ fnv1a64(name); uniforms are (next() >> 11) * 2^-53
// in [0, 1); normals come from Box-Muller on two uniforms (u1 shifted to (0, 1]).
// The interpreter, compiled executables and a restarted run therefore agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/shape.h"

namespace kiln {

// Version of the random streams a run draws (the initializer generator below and the
// Philox mapping of ir/philox.h). Checkpoints record it; bump it when either changes.
inline constexpr uint32_t kRandomStreamsVersion = 1;

enum class StateKind : uint8_t {
  Parameter,      // trainable weight
  OptimizerSlot,  // momentum buffer, Adam moments
  StepCounter,    // optimizer step count (Adam's t)
  RngCounter,     // advances once per run; Philox counter of dropout and friends
  RunningStat,    // batch-norm running mean / variance
  Carried,        // carried from one run to the next (an RNN's hidden state)
  Hyperparameter, // learning rate and anything a schedule changes between runs
};
constexpr int kNumStateKinds = 7;

enum class StateScope : uint8_t {
  Model,       // one buffer shared by all executables of a model
  Executable,  // one buffer per executable (its shape may depend on the batch size)
};

enum class InitKind : uint8_t { Zeros, Constant, Normal, Uniform, XavierUniform, KaimingNormal };

struct InitSpec {
  InitKind kind = InitKind::Zeros;
  double a = 0.0;  // constant: value; normal: mean; uniform: low
  double b = 0.0;  // normal: std; uniform: high

  static InitSpec zeros() { return {}; }
  static InitSpec constant(double v) { return {InitKind::Constant, v, 0.0}; }
  static InitSpec normal(double mean, double std) { return {InitKind::Normal, mean, std}; }
  static InitSpec uniform(double lo, double hi) { return {InitKind::Uniform, lo, hi}; }
  static InitSpec xavier_uniform() { return {InitKind::XavierUniform, 0.0, 0.0}; }
  static InitSpec kaiming_normal() { return {InitKind::KaimingNormal, 0.0, 0.0}; }
};

const char* state_kind_name(StateKind k);        // "parameter", "optimizer_slot", ...
const char* state_scope_name(StateScope s);      // "model", "executable"
const char* init_kind_name(InitKind k);          // "zeros", "constant", ...
std::optional<StateKind> parse_state_kind(std::string_view name);
std::optional<StateScope> parse_state_scope(std::string_view name);
std::optional<InitKind> parse_init_kind(std::string_view name);
// "zeros, constant, normal, uniform, xavier_uniform or kaiming_normal": for error messages.
std::string init_kind_list();
std::string state_kind_list();

// Initial values, rounded to `type`'s dtype. Fans: fan_in = dims[0], fan_out = dims[1]
// for rank 2 (Linear's [in, out]); conv-style [out, in, k...] uses fan_in = in*prod(k),
// fan_out = out*prod(k). xavier_uniform: U(-b, b), b = sqrt(6 / (fan_in + fan_out));
// kaiming_normal: N(0, 2 / fan_in), PyTorch's kaiming_normal_ (fan_in mode, ReLU gain).
std::vector<double> initial_values(const InitSpec& init, const TensorType& type,
                                   const std::string& name, uint64_t seed);

// The same values a chunk at a time, for filling a buffer without holding them all as
// doubles (twice a f32 state's size): next(count, out) writes the next `count` values.
class InitialValues {
 public:
  InitialValues(const InitSpec& init, const TensorType& type, const std::string& name,
                uint64_t seed);
  void next(size_t count, double* out);
  bool all_zero() const { return init_.kind == InitKind::Zeros; }

 private:
  InitSpec init_;
  DType dtype_;
  double scale_ = 0;  // xavier_uniform's bound, kaiming_normal's sigma
  uint64_t rng_;
};

}  // namespace kiln
