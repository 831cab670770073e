// Batch normalization (d2l 8.5) with PyTorch's nn.BatchNorm1d / nn.BatchNorm2d semantics, and
// layer normalization (LayerNorm, d2l 10.7, at the end of this file),
// built from primitive ops so autodiff and fusion see ordinary elementwise math and
// reductions.
//
// A layer named <name> (ctx.fresh_name("batchnorm") when unnamed) owns:
//   <name>.weight        gamma, a parameter [C], initialised to ones
//   <name>.bias          beta,  a parameter [C], initialised to zeros
//   <name>.running_mean  a StateKind::RunningStat state [C], zeros
//   <name>.running_var   a StateKind::RunningStat state [C], ones
// The running statistics have model scope, so the train and eval executables of a model
// share them and checkpoints save them; being states, not parameters, they are never
// given gradients or optimizer updates (TrainingStepPass trains Graph::parameters()).
//
// Training (ctx.training): y = (x - mean) * (gamma / sqrt(var + eps)) + beta with the
// batch mean and biased variance over N (and H, W), and the running statistics move
// towards the batch's: running = (1 - momentum) * running + momentum * batch, the
// variance unbiased by n / (n - 1) (n values per channel), as in PyTorch. The updates read
// the batch statistics through stop_gradient, so they are never differentiated.
// Eval: y = x * scale + shift, scale = gamma / sqrt(running_var + eps) and
// shift = beta - running_mean * scale computed on [C] tensors, so the whole layer is one
// per-channel affine map a fusion pass can fold into the preceding kernel's epilogue.
#pragma once

#include "frontend/nn.h"

namespace kiln::nn {

class BatchNorm : public Module {
 public:
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  std::string weight_name() const { return name_ + ".weight"; }
  std::string bias_name() const { return name_ + ".bias"; }
  std::string running_mean_name() const { return name_ + ".running_mean"; }
  std::string running_var_name() const { return name_ + ".running_var"; }

 protected:
  // spatial_dims: 0 for [N, C] inputs, 2 for [N, C, H, W]. num_features may be 0: taken
  // from the first input's dimension 1 (d2l's LazyBatchNorm).
  BatchNorm(int spatial_dims, int64_t num_features, double eps, double momentum, std::string name);

 private:
  Tensor normalize_training(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta);
  Tensor normalize_eval(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta);
  // Shape [1, C] or [1, C, 1, 1]: a per-channel [C] tensor broadcast against x.
  Shape channel_shape() const;

  int spatial_;
  int64_t features_;
  double eps_, momentum_;
  std::string name_;
};

// [N, C] inputs: statistics over N.
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, std::string name = "", double eps = 1e-5,
                       double momentum = 0.1)
      : BatchNorm(0, num_features, eps, momentum, std::move(name)) {}
};

// [N, C, H, W] inputs: statistics over N, H and W.
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_channels, std::string name = "", double eps = 1e-5,
                       double momentum = 0.1)
      : BatchNorm(2, num_channels, eps, momentum, std::move(name)) {}
};

// Layer normalization over the last axis: PyTorch's nn.LayerNorm(normalized_shape) for an
// int normalized_shape (d2l 10.7's AddNorm). y = (x - mean) / sqrt(var + eps) * weight +
// bias, mean and biased variance over the last axis of each row, in training and eval
// alike (no running statistics). Parameters "<name>.weight" [D] (ones) and "<name>.bias"
// [D] (zeros); ctx.fresh_name("layernorm") when unnamed. normalized_shape 0: taken from
// the first input's last dimension. Input: any float [..., D].
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t normalized_shape, double eps = 1e-5, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  const std::string& name() const { return name_; }
  std::string weight_name() const { return name_ + ".weight"; }
  std::string bias_name() const { return name_ + ".bias"; }

 private:
  int64_t features_;
  double eps_;
  std::string name_;
};

}  // namespace kiln::nn
