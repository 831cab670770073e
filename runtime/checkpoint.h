// Checkpoints of a model's state: a StateStore to and from CheckpointData
// (runtime/checkpoint_format.h), and files written atomically (temporary file in the
// same folder, then rename) and read back with every check the format has. Restoring
// writes into the existing buffers, so executables already bound to the store see the
// restored values.
#pragma once

#include <string>

#include "runtime/checkpoint_format.h"
#include "runtime/state_store.h"

namespace kiln {

// Every model-scoped buffer of `store` as checkpoint tensors (sorted by name): copies.
// Fails before copying anything when they would not fit a checkpoint (the format's 2 GiB)
// and when memory for the copies runs out.
Expected<std::vector<CheckpointTensor>> snapshot_state(const StateStore& store);

enum class RestoreMode {
  Exact,   // the checkpoint and the store hold the same names (resuming training)
  Subset,  // the checkpoint may hold more (evaluating from a training checkpoint)
};

// Copies the checkpoint's tensors into `store`. Every buffer of the store must be in
// the checkpoint with the same dtype, shape and kind; errors name `source` and the
// tensor. Nothing is written unless everything matches.
Status restore_state(StateStore& store, const CheckpointData& data, const std::string& source,
                     RestoreMode mode);

Status save_checkpoint(const std::string& path, const CheckpointData& data);
Expected<CheckpointData> load_checkpoint(const std::string& path);

}  // namespace kiln
