// Graphs and deployable models as flatbuffers (schemas in ir/schema/graph.fbs and
// model.fbs; DESIGN.md convention 16). Writers produce byte buffers; callers save them with
// runtime/atomic_file.h (temp file + rename). Readers never trust their input: they check
// the file identifier, run the flatbuffers Verifier, check the format version, then check
// the meaning (op names known, node inputs in range and earlier than the node, attributes
// typed as the op registry declares, enum values known, shapes bounded so element counts
// cannot overflow, tensor data sizes = numel * dtype size, unique names) and finally run
// the graph verifier (ir/verifier.h). Every error starts with `source` (the file name) and
// names the field: "model.kiln: node 12 (matmul): input 40 out of range". No input,
// however malformed, makes a reader crash or abort, and what a reader copies out of a file
// is bounded by 16 times its size (flatbuffers lets one table be referenced many times).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/schema/format_versions.h"  // kGraphFormatVersion, kModelFormatVersion

namespace kiln {

// Bounds on what a loaded graph may declare (far beyond any real model, far below
// int64 overflow): element count of any type, rank, and inputs of one node.
inline constexpr int64_t kMaxSerializedElements = int64_t{1} << 40;
inline constexpr int kMaxSerializedRank = 64;
inline constexpr int64_t kMaxSerializedNodeInputs = int64_t{1} << 20;

std::vector<uint8_t> serialize_graph(const Graph& g);
Expected<Graph> deserialize_graph(std::span<const uint8_t> bytes, const std::string& source);

// A named tensor value: `bytes` holds type.bytes() bytes, little-endian, row-major (bool
// is one byte, 0 or 1).
struct NamedTensor {
  std::string name;
  TensorType type;
  std::vector<uint8_t> bytes;
};

// One entry of a model's input or output signature.
struct TensorSignature {
  std::string name;
  TensorType type;
  bool operator==(const TensorSignature& o) const { return name == o.name && type == o.type; }
};

// A deployable model. `parameters` hold values of the graph's parameter/state leaves (by
// leaf name, same type); leaves without a value keep their initializer. `metadata` holds
// preprocessing settings (image size, normalisation, ...) and anything else, as strings.
struct ModelFile {
  Graph graph;
  std::vector<NamedTensor> parameters;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// The signature a model file records: the graph's input leaves in graph order, and its
// outputs in graph order.
std::vector<TensorSignature> model_inputs(const Graph& g);
std::vector<TensorSignature> model_outputs(const Graph& g);

// KILN_CHECKs that every parameter holds type.bytes() bytes and that the whole file stays
// under flatbuffers' 2 GiB limit (a caller bug, not file data).
std::vector<uint8_t> serialize_model(const ModelFile& m);
// Also checks the recorded signature against the graph, and that each parameter names a
// parameter/state leaf of the same type (no dangling or duplicate values).
Expected<ModelFile> deserialize_model(std::span<const uint8_t> bytes, const std::string& source);

}  // namespace kiln
