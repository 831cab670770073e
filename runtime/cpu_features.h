// Whether the running CPU can execute code compiled for a target (docs/aot.md): an
// ahead-of-time module lists the CPU features its code uses, spelled as GCC's
// __builtin_cpu_supports spells them ("avx2", "fma", "avx512f", "x86-64-v3", ...), and
// the runtime refuses it on a CPU that lacks one, instead of dying of SIGILL in the
// middle of a run. The operating system's support (saved vector state) is part of what
// __builtin_cpu_supports reports.
#pragma once

#include <string>
#include <vector>

#include "ir/status.h"

namespace kiln {

// Ok when this CPU has every feature in `required`; otherwise an error naming `module`
// and every missing feature, and separately every name this runtime does not know (a
// name it cannot check counts as missing): "m.so: this CPU lacks avx512f, avx512bw
// required by the module's code". Only x86-64 hosts can check features.
Status check_cpu_features(const std::vector<std::string>& required, const std::string& module);

// Whether this runtime can check `feature` at all.
bool known_cpu_feature(const std::string& feature);

}  // namespace kiln
