// External weights for ahead-of-time modules compiled without embedded weights
// (`kiln compile --weights external`, docs/aot.md): the parameter values of a kiln model
// file (ir/schema/model.fbs, identifier "KMDL"), read by the runtime without the graph
// IR. The whole file goes through the flatbuffers Verifier and its format version is
// checked, but only the parameters are decoded (the graph is the compiler's business);
// each is checked for a known dtype, a bounded shape, numel * dtype size bytes and a
// unique name, and errors start with `source` ("mlp.kiln: parameter 2 \"fc.bias\": ...").
// Tensors are checked against a module's plan when they are loaded (load_weights,
// runtime/aot_module.h), after weights_for_plan picks the ones the plan uses.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/status.h"
#include "runtime/module_format.h"

namespace kiln {

Expected<std::vector<ModuleWeight>> read_model_weights(std::span<const uint8_t> bytes,
                                                       const std::string& source);
Expected<std::vector<ModuleWeight>> load_model_weights(const std::string& path);

// The weights of `all` that name a model-scoped state buffer of `plan` (a model file also
// holds state an inference plan does not use). Every model-scoped parameter of the plan
// must have a value: a module compiled for external weights would otherwise run on its
// initializers. Errors start with `source`.
Expected<std::vector<ModuleWeight>> weights_for_plan(const ExecutablePlan& plan,
                                                     std::vector<ModuleWeight> all,
                                                     const std::string& source);

}  // namespace kiln
