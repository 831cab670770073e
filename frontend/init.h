// Initial values of parameters and state leaves, from their `init` attributes.
// Deterministic in (seed, leaf name), so train and eval executables, the reference
// interpreter and a restarted run all agree.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace kiln {

// Supported: zeros, constant(a), normal(a=mean, b=std), uniform(a, b),
// xavier_uniform (fan_in = dims[0], fan_out = dims[1] for rank 2; conv-style
// [out, in, k...] uses fan_in = in*prod(k), fan_out = out*prod(k)).
Expected<std::vector<double>> initial_value(const Node& leaf, uint64_t seed);

}  // namespace kiln
