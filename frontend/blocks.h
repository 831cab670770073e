// The composite blocks of d2l chapter 7, built from the layers of nn.h, conv_layers.h and
// norm_layers.h: Branches (parallel paths concatenated on channels) and its Inception
// (7.4), Residual (7.6), DenseBlock and TransitionBlock (7.7). Every convolution infers
// its input channels at the first call (d2l's Lazy* layers), and every layer inside a
// block takes its name from Context::fresh_name when first called, so train and eval
// graphs built from the same block name the same parameters.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "frontend/conv_layers.h"
#include "frontend/norm_layers.h"

namespace kiln::nn {

// Applies every branch to the same [N, C, H, W] input and concatenates their outputs on
// the channel axis; the branches must agree on N, H and W.
class Branches : public Module {
 public:
  Sequential& add_branch() {
    branches_.push_back(std::make_unique<Sequential>());
    return *branches_.back();
  }
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  std::vector<std::unique_ptr<Sequential>> branches_;
};

// GoogLeNet's Inception block: a 1x1 convolution; 1x1 then 3x3 (pad 1); 1x1 then 5x5
// (pad 2); 3x3 max pooling (stride 1, pad 1) then 1x1; ReLU after every convolution.
// Output channels: c1 + c2.second + c3.second + c4.
class Inception : public Branches {
 public:
  Inception(int64_t c1, std::pair<int64_t, int64_t> c2, std::pair<int64_t, int64_t> c3, int64_t c4);
  std::string describe() const override { return describe_; }

 private:
  std::string describe_;
};

// ResNet's residual block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both
// convolutions 3x3 with padding 1, conv1 with `stride`. The shortcut is x itself, or a
// 1x1 convolution with `stride` when use_1x1conv (needed when the channels or the size
// change).
class Residual : public Module {
 public:
  explicit Residual(int64_t channels, bool use_1x1conv = false, int64_t stride = 1);
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  int64_t channels_, stride_;
  Conv2d conv1_, conv2_;
  BatchNorm2d bn1_, bn2_;
  std::unique_ptr<Conv2d> shortcut_;
};

// DenseNet's dense block: num_convs conv blocks (BatchNorm, ReLU, 3x3 convolution with
// pad 1 and `growth` output channels), each fed the concatenation of the block's input
// and every earlier conv block's output. Output channels: input + num_convs * growth.
class DenseBlock : public Module {
 public:
  DenseBlock(int num_convs, int64_t growth);
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  int64_t growth_;
  std::vector<std::unique_ptr<Sequential>> convs_;
};

// DenseNet's transition block: BatchNorm, ReLU, 1x1 convolution to `channels`, 2x2
// average pooling with stride 2 (halves the height and width).
class TransitionBlock : public Sequential {
 public:
  explicit TransitionBlock(int64_t channels);
  std::string describe() const override;

 private:
  int64_t channels_;
};

}  // namespace kiln::nn
