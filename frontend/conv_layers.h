// Convolutional layers for the DSL (d2l's LeNet ... DenseNet): Conv2d, MaxPool2d,
// AvgPool2d, AdaptiveAvgPool2d and GlobalAvgPool2d, on NCHW tensors. They follow
// nn.h's conventions: a layer creates its parameters when first called (or reuses them by
// name, so train and eval graphs share weights), and an unnamed layer takes a
// deterministic name from Context::fresh_name.
#pragma once

#include <array>
#include <string>

#include "frontend/nn.h"

namespace kiln::nn {

// A (height, width) pair that also accepts one number for both: Conv2d(1, 6, 5) has a
// 5x5 kernel, Conv2d(1, 6, {3, 5}) a 3x5 one.
struct Size2 {
  Size2(int64_t both) : hw{both, both} {}
  Size2(int64_t h, int64_t w) : hw{h, w} {}
  std::array<int64_t, 2> hw;
};

class Conv2d : public Module {
 public:
  // in_channels may be 0: inferred from the input's channel dimension at the first call
  // (d2l's LazyConv2d). Parameters are "<name>.weight" [out, in/groups, kh, kw] and
  // "<name>.bias" [out]; without a name the layer takes ctx.fresh_name("conv"). The bias
  // starts as PyTorch's nn.Conv2d's, uniform in +-1/sqrt(in/groups * kh * kw).
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, Conv2dOptions options = {},
         Init weight_init = Init::xavier_uniform(), bool bias = true, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  std::string weight_name() const { return name_ + ".weight"; }
  std::string bias_name() const { return name_ + ".bias"; }
  Conv2d& set_bias_init(BiasInit kind) { bias_init_ = kind; return *this; }

 private:
  BiasInit bias_init_ = BiasInit::FanInUniform;
  int64_t in_, out_;
  std::array<int64_t, 2> kernel_;
  Conv2dOptions options_;
  Init init_;
  bool has_bias_;
  std::string name_;
};

// Max pooling; stride 0 (the default) means stride = kernel, as in PyTorch.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0);
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  Pool2dOptions options_;
};

// Average pooling; stride 0 (the default) means stride = kernel. With count_include_pad
// (PyTorch's default) the zero padding counts in each window's divisor.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0,
                     bool count_include_pad = true);
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  Pool2dOptions options_;
};

// Averages over windows chosen so the output is output_size, whatever the input's size.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size) : out_(output_size.hw) {}
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  std::array<int64_t, 2> out_;
};

// The mean of each channel: [N, C, H, W] -> [N, C, 1, 1] (AdaptiveAvgPool2d(1)).
class GlobalAvgPool2d : public Module {
 public:
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override { return "GlobalAvgPool2d"; }
};

}  // namespace kiln::nn
