// Batch and layer normalization layers. See norm_layers.h.
#include "frontend/norm_layers.h"

namespace kiln::nn {
namespace {

Tensor running_stat(Builder& b, const std::string& name, const TensorType& type, InitSpec init) {
  return existing_leaf_or(b, name, type,
                     [&] { return b.state(name, type, StateKind::RunningStat, init, StateScope::Model); });
}

}  // namespace

BatchNorm::BatchNorm(int spatial_dims, int64_t num_features, double eps, double momentum, std::string name)
    : spatial_(spatial_dims), features_(num_features), eps_(eps), momentum_(momentum), name_(std::move(name)) {}

Tensor BatchNorm::forward(Context& ctx, const Tensor& x) {
  if (!x.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("batchnorm");
  const bool rank_ok = x.rank() == 2 + spatial_;
  if (rank_ok && features_ <= 0) features_ = x.dim(1);  // lazy: fixed at first use
  if (!rank_ok || x.dim(1) != features_ || !is_float(x.dtype())) {
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() +
                             " applied to input of type " + x.type().to_string() + " (expects a float " +
                             (spatial_ == 0 ? "[N, C]" : "[N, C, H, W]") + " input)"));
    return Tensor{};
  }
  const TensorType per_channel{x.dtype(), Shape{features_}};
  Tensor gamma = parameter(ctx.b, weight_name(), per_channel, Init::constant(1.0));
  Tensor beta = parameter(ctx.b, bias_name(), per_channel, Init::zeros());
  return ctx.training ? normalize_training(ctx, x, gamma, beta) : normalize_eval(ctx, x, gamma, beta);
}

Tensor BatchNorm::normalize_training(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  const int64_t n = x.numel() / features_;  // values per channel
  if (n < 2) {
    // PyTorch refuses too: the unbiased variance of one value divides by zero.
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() +
                             " needs more than one value per channel in training, got input " +
                             x.type().to_string()));
    return Tensor{};
  }
  const std::vector<int64_t> axes = spatial_ == 0 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 2, 3};
  // Two passes over x for the statistics (mean, then the mean of squared deviations, as
  // d2l writes it: no cancellation), then one elementwise pass normalizes it.
  Tensor batch_mean = mean(x, axes, /*keepdims=*/true);
  Tensor centered = x - batch_mean;
  Tensor batch_var = mean(centered * centered, axes, /*keepdims=*/true);  // biased
  Tensor scale = reshape(gamma, channel_shape()) / sqrt(batch_var + eps_);
  Tensor y = centered * scale + reshape(beta, channel_shape());

  const TensorType per_channel = gamma.type();
  Tensor running_mean = running_stat(ctx.b, running_mean_name(), per_channel, Init::zeros());
  Tensor running_var = running_stat(ctx.b, running_var_name(), per_channel, Init::constant(1.0));
  const Shape flat{features_};
  Tensor mean_now = stop_gradient(reshape(batch_mean, flat));
  Tensor var_now = stop_gradient(reshape(batch_var, flat)) * (double(n) / double(n - 1));  // unbiased
  ctx.b.update_state(running_mean, running_mean * (1.0 - momentum_) + mean_now * momentum_);
  ctx.b.update_state(running_var, running_var * (1.0 - momentum_) + var_now * momentum_);
  return y;
}

Tensor BatchNorm::normalize_eval(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  const TensorType per_channel = gamma.type();
  Tensor running_mean = running_stat(ctx.b, running_mean_name(), per_channel, Init::zeros());
  Tensor running_var = running_stat(ctx.b, running_var_name(), per_channel, Init::constant(1.0));
  // All [C]: the per-element work is the affine map alone.
  Tensor scale = gamma / sqrt(running_var + eps_);
  Tensor shift = beta - running_mean * scale;
  return x * reshape(scale, channel_shape()) + reshape(shift, channel_shape());
}

Shape BatchNorm::channel_shape() const {
  return spatial_ == 0 ? Shape{1, features_} : Shape{1, features_, 1, 1};
}

std::string BatchNorm::describe() const {
  return std::string(spatial_ == 0 ? "BatchNorm1d(" : "BatchNorm2d(") + std::to_string(features_) + ")";
}

// ---- LayerNorm ----------------------------------------------------------------------

LayerNorm::LayerNorm(int64_t normalized_shape, double eps, std::string name)
    : features_(normalized_shape), eps_(eps), name_(std::move(name)) {}

Tensor LayerNorm::forward(Context& ctx, const Tensor& x) {
  if (!x.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("layernorm");
  if (x.rank() >= 1 && features_ <= 0) features_ = x.dim(-1);  // lazy: fixed at first use
  if (x.rank() < 1 || x.dim(-1) != features_ || !is_float(x.dtype())) {
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() +
                             " applied to input of type " + x.type().to_string() +
                             " (expects a float [..., " + std::to_string(features_) + "] input)"));
    return Tensor{};
  }
  const TensorType per_feature{x.dtype(), Shape{features_}};
  Tensor gamma = parameter(ctx.b, weight_name(), per_feature, Init::constant(1.0));
  Tensor beta = parameter(ctx.b, bias_name(), per_feature, Init::zeros());
  // Statistics of each row over the last axis; the variance is biased, as PyTorch's.
  Tensor centered = x - mean(x, {-1}, /*keepdims=*/true);
  Tensor var = mean(centered * centered, {-1}, /*keepdims=*/true);
  return centered / sqrt(var + eps_) * gamma + beta;
}

std::string LayerNorm::describe() const { return "LayerNorm(" + std::to_string(features_) + ")"; }

}  // namespace kiln::nn
