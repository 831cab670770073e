// `kiln export`: a trained zoo model as a deployable model file (ir/serialize.h, the
// "KMDL" flatbuffer): the inference graph (x -> pred) or, with `train`, the whole
// training step, for a fixed batch size; the checkpoint's values of every parameter and
// state leaf the graph has; and metadata saying how to feed it (the model, the graph,
// the example shape, the model's input preprocessing and class names). `kiln compile`
// (docs/aot.md) turns such a file into an object or shared library.
#pragma once

#include <string>

#include "ir/serialize.h"
#include "models/registry.h"

namespace kiln {

struct ExportOptions {
  std::string checkpoint;  // from `kiln train MODEL --save FILE` (required)
  int64_t batch = 1;       // examples per call of the exported graph
  bool train = false;      // the training step instead of the inference graph
  int size = 0;            // --size of the training run (image models), 0 = default
};

// The model file for `model` with the weights of opts.checkpoint. Errors name the
// checkpoint and what disagrees (another model, another example shape, a missing or
// mistyped tensor).
Expected<ModelFile> export_model(const ModelEntry& model, const ExportOptions& opts);

}  // namespace kiln
