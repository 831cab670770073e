// The C header `kiln compile --emit header|bundle` writes next to an ahead-of-time
// compiled module (docs/aot.md): the symbols the object defines (PREFIX_module,
// PREFIX_module_size, PREFIX_entry), the signature as macros (index, dtype, shape and
// bytes of every input and output), the arena size, and two static inline helpers over
// include/kiln/c_api.h: PREFIX_open() and the one-call PREFIX_run(model, inputs...,
// outputs...). Plain C99, usable from C++.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/plan.h"

namespace kiln {

struct AotHeaderInfo {
  std::string prefix;  // a C identifier
  std::string source;  // what was compiled (the model file), for the comment
  std::string cpu;     // the target CPU and its required features, for the comment
  std::vector<std::string> features;
};

std::string aot_header(const ExecutablePlan& plan, const AotHeaderInfo& info);

// Whether `s` can prefix C identifiers (letters, digits, '_', not starting with a digit).
bool is_c_identifier(const std::string& s);

}  // namespace kiln
