// Format versions of the graph and model files (ir/schema/graph.fbs, model.fbs) this
// kiln writes and reads; a file with another version is refused. Here rather than in
// ir/serialize.h so that the embeddable runtime, which reads a model file's parameters
// without the graph IR (runtime/model_weights.h), spells them once with ir/serialize.cpp.
// Includes nothing.
#pragma once

#include <cstdint>

namespace kiln {

inline constexpr uint32_t kGraphFormatVersion = 1;
inline constexpr uint32_t kModelFormatVersion = 1;

}  // namespace kiln
