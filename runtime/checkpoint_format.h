// Training checkpoints as bytes (schema ir/schema/checkpoint.fbs, identifier "KCKP"):
// every state buffer of a model with its kind and scope, and where training stands
// (completed epochs, global step, data-order seed and position, per-epoch metrics, the
// Philox algorithm version, free-form metadata). Plain structs only: no flatbuffers type
// appears here, so applications embedding kiln_rt never see one. Callers save the bytes
// with runtime/atomic_file.h. parse_checkpoint trusts nothing: identifier, flatbuffers
// Verifier, format version, then known enum values, non-empty unique tensor names, shapes
// whose element counts cannot overflow, and data size == numel * dtype size; every error
// starts with `source` and names the field ("run.kckpt: tensor 3 \"fc1.weight\": data has
// 12 bytes, f32[2,3] needs 24"). No input makes it crash or abort, and what it copies out
// of a file is bounded by 16 times the file size (even when tensors share one data vector).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/shape.h"
#include "ir/state.h"
#include "ir/status.h"

namespace kiln {

// The checkpoint format version this kiln writes and reads; other versions are refused.
inline constexpr uint32_t kCheckpointFormatVersion = 1;

// One state buffer: `bytes` holds type.bytes() bytes, little-endian, row-major (bool is
// one byte, 0 or 1).
struct CheckpointTensor {
  std::string name;
  StateKind kind = StateKind::Parameter;
  StateScope scope = StateScope::Model;
  TensorType type;
  std::vector<uint8_t> bytes;
};

struct CheckpointData {
  std::string model;          // zoo name or graph name
  uint32_t rng_version = 0;   // Philox algorithm version the run used
  int64_t epoch = 0;          // completed epochs
  int64_t step = 0;           // global optimizer step
  uint64_t data_seed = 0;     // seed of the data order
  int64_t data_position = 0;  // examples consumed in the current epoch
  // Per completed epoch, (metric name, value) in the order the trainer reported them.
  std::vector<std::vector<std::pair<std::string, double>>> epoch_metrics;
  std::vector<std::pair<std::string, std::string>> metadata;  // unique keys
  std::vector<CheckpointTensor> tensors;                      // unique names
};

// KILN_CHECKs that each tensor holds type.bytes() bytes and that the whole checkpoint
// stays under flatbuffers' 2 GiB limit (caller bugs, not file data).
std::vector<uint8_t> serialize_checkpoint(const CheckpointData& data);
Expected<CheckpointData> parse_checkpoint(std::span<const uint8_t> bytes,
                                          const std::string& source);

// 64-bit FNV-1a over, in order: the dtype name ("f32", ...) and a 0 byte, the rank and
// each dim as 8-byte little-endian integers, then the data bytes. Equal contents hash
// equally whatever the name, kind or scope; `kiln checkpoint` lists it to compare runs.
uint64_t content_hash(const CheckpointTensor& t);

}  // namespace kiln
