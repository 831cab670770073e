// Convolutional layer implementations (see frontend/conv_layers.h).
#include "frontend/conv_layers.h"

namespace kiln::nn {
namespace {

std::string hw(const std::array<int64_t, 2>& p) {
  return std::to_string(p[0]) + "x" + std::to_string(p[1]);
}

Pool2dOptions pool_options(Size2 kernel, Size2 stride, Size2 padding, bool count_include_pad) {
  const bool default_stride = stride.hw == std::array<int64_t, 2>{0, 0};
  return Pool2dOptions{kernel.hw, default_stride ? kernel.hw : stride.hw, padding.hw,
                       count_include_pad};
}

std::string describe_pool(const char* kind, const Pool2dOptions& o) {
  return std::string(kind) + "(kernel=" + hw(o.kernel) + ", stride=" + hw(o.stride) +
         ", padding=" + hw(o.padding);
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, Conv2dOptions options,
               Init weight_init, bool bias, std::string name)
    : in_(in_channels),
      out_(out_channels),
      kernel_(kernel.hw),
      options_(options),
      init_(weight_init),
      has_bias_(bias),
      name_(std::move(name)) {}

Tensor Conv2d::forward(Context& ctx, const Tensor& x) {
  if (!x.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("conv");
  if (x.rank() == 4 && in_ <= 0) in_ = x.dim(1);  // LazyConv2d: fixed at first use
  if (x.rank() != 4 || x.dim(1) != in_) {
    const std::string c = in_ > 0 ? std::to_string(in_) : "C";
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() +
                             " applied to input of type " + x.type().to_string() +
                             " (expected [N, " + c + ", H, W])"));
    return Tensor{};
  }
  // C/groups channels per filter; a C not divisible by groups is reported by conv2d.
  const Shape w_shape{out_, in_ / options_.groups, kernel_[0], kernel_[1]};
  Tensor w = parameter(ctx.b, weight_name(), TensorType{x.dtype(), w_shape}, init_);
  Tensor y = conv2d(x, w, options_);
  if (!has_bias_ || !y.valid()) return y;
  Tensor b = parameter(ctx.b, bias_name(), TensorType{x.dtype(), Shape{out_}},
                       bias_init(bias_init_, w_shape[1] * w_shape[2] * w_shape[3]));
  // A plain elementwise add of the broadcast bias, which fusion folds into the
  // convolution's epilogue.
  return add(y, broadcast_to(reshape(b, Shape{out_, 1, 1}), y.shape()));
}

std::string Conv2d::describe() const {
  const Conv2dOptions dflt;
  std::string s = "Conv2d(" + std::to_string(in_) + ", " + std::to_string(out_) +
                  ", kernel=" + hw(kernel_) + ", stride=" + hw(options_.stride) +
                  ", padding=" + hw(options_.padding);
  if (options_.dilation != dflt.dilation) s += ", dilation=" + hw(options_.dilation);
  if (options_.groups != dflt.groups) s += ", groups=" + std::to_string(options_.groups);
  if (!has_bias_) s += ", bias=false";
  return s + ")";
}

MaxPool2d::MaxPool2d(Size2 kernel, Size2 stride, Size2 padding)
    : options_(pool_options(kernel, stride, padding, true)) {}

Tensor MaxPool2d::forward(Context&, const Tensor& x) { return max_pool2d(x, options_); }

std::string MaxPool2d::describe() const { return describe_pool("MaxPool2d", options_) + ")"; }

AvgPool2d::AvgPool2d(Size2 kernel, Size2 stride, Size2 padding, bool count_include_pad)
    : options_(pool_options(kernel, stride, padding, count_include_pad)) {}

Tensor AvgPool2d::forward(Context&, const Tensor& x) { return avg_pool2d(x, options_); }

std::string AvgPool2d::describe() const {
  return describe_pool("AvgPool2d", options_) +
         (options_.count_include_pad ? ")" : ", count_include_pad=false)");
}

Tensor AdaptiveAvgPool2d::forward(Context&, const Tensor& x) {
  return adaptive_avg_pool2d(x, out_);
}

std::string AdaptiveAvgPool2d::describe() const { return "AdaptiveAvgPool2d(" + hw(out_) + ")"; }

Tensor GlobalAvgPool2d::forward(Context&, const Tensor& x) {
  return adaptive_avg_pool2d(x, {1, 1});
}

}  // namespace kiln::nn
