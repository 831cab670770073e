// What the convolutional zoo (d2l chapters 6-7: conv_zoo.cpp, conv_zoo_modern.cpp)
// shares. A ConvModel is a name, d2l's recipe and a function building a fresh network;
// conv_model_entry turns it into a registry entry whose train, eval, inspect and
// summary read --size (the side of the square input) and refuse a side too small for
// the network before any data is loaded, naming the layer whose output would be empty.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "frontend/conv_layers.h"
#include "models/run_common.h"

namespace kiln {

struct ConvModel {
  std::string name;
  std::string description;  // one line, with the d2l section
  TrainDefaults defaults;   // d2l's epochs, batch size and learning rate
  int64_t default_size = 28;  // d2l's input side (28: Fashion-MNIST as stored)
  // A new network on every call: layers infer input sizes at their first call (the
  // first Linear after Flatten depends on the side), so each side needs its own.
  std::function<std::unique_ptr<nn::Sequential>()> build;
};

// d2l's building bricks, initialised as its init_cnn does (xavier_uniform weights, zero
// biases), with input sizes inferred at the first call like d2l's Lazy* layers.
std::unique_ptr<nn::Conv2d> lazy_conv(int64_t out_channels, int64_t kernel, int64_t stride = 1,
                                      int64_t padding = 0);
std::unique_ptr<nn::Linear> lazy_linear(int64_t out_features);
std::unique_ptr<nn::Activation> relu_layer();
std::unique_ptr<nn::Activation> sigmoid_layer();

// The entry `kiln` registers: Fashion-MNIST options plus --size, SGD with the recipe's
// learning rate, evaluation and a layer summary.
ModelEntry conv_model_entry(ConvModel model);

// The side the run uses (opts.size, or the model's default) once the network accepts it.
// A side too small is an error naming the model, the side, the smallest valid side and
// the layer whose output would be empty, with the shape error of its op.
Expected<int64_t> checked_size(const ConvModel& model, const RunOptions& opts);

// The network layer by layer for one example of side x side: a first "input" row, then
// each top-level layer (a labelled Sequential is one row, as in d2l's walk-throughs)
// with its output shape and parameter count.
Expected<std::vector<LayerSummary>> summarize(const ConvModel& model, int64_t side);

}  // namespace kiln
