// Per-kernel wall-clock profile for compiled executables (CompileOptions::profile):
// the entry function calls kiln_profile_tick(i) after kernel i (and with -1 at its
// start), which adds the time since the previous tick to slot i. One global profile
// (a diagnostic for `kiln inspect` and benchmarks, not meant for concurrent use).
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

void profile_reset(int kernels);
// Accumulated seconds per kernel and the number of entry calls since the reset.
std::vector<double> profile_seconds();
int64_t profile_runs();

}  // namespace kiln

