// d2l chapter 7's composite blocks (see frontend/blocks.h).
#include "frontend/blocks.h"

#include <string>

namespace kiln::nn {
namespace {

// A "same"-size convolution with inferred input channels: k x k with padding k / 2.
std::unique_ptr<Conv2d> conv(int64_t out, int64_t k, int64_t stride = 1) {
  Conv2dOptions o;
  o.stride = {stride, stride};
  o.padding = {k / 2, k / 2};
  return std::make_unique<Conv2d>(0, out, k, o);
}

std::string pair_text(std::pair<int64_t, int64_t> p) {
  return "(" + std::to_string(p.first) + ", " + std::to_string(p.second) + ")";
}

}  // namespace

Tensor Branches::forward(Context& ctx, const Tensor& x) {
  std::vector<Tensor> outs;
  for (auto& branch : branches_) outs.push_back(branch->forward(ctx, x));
  return concat(outs, 1);  // an invalid branch (its error recorded) gives an invalid result
}

std::string Branches::describe() const {
  std::string s = "Branches(";
  for (size_t i = 0; i < branches_.size(); ++i) s += (i ? ", " : "") + branches_[i]->describe();
  return s + ")";
}

Inception::Inception(int64_t c1, std::pair<int64_t, int64_t> c2, std::pair<int64_t, int64_t> c3,
                     int64_t c4)
    : describe_("Inception(" + std::to_string(c1) + ", " + pair_text(c2) + ", " + pair_text(c3) +
                ", " + std::to_string(c4) + ")") {
  const auto relu = Activation::ReLU;
  add_branch().add(conv(c1, 1)).emplace<Activation>(relu);
  add_branch()
      .add(conv(c2.first, 1)).emplace<Activation>(relu)
      .add(conv(c2.second, 3)).emplace<Activation>(relu);
  add_branch()
      .add(conv(c3.first, 1)).emplace<Activation>(relu)
      .add(conv(c3.second, 5)).emplace<Activation>(relu);
  add_branch().emplace<MaxPool2d>(3, 1, 1).add(conv(c4, 1)).emplace<Activation>(relu);
}

Residual::Residual(int64_t channels, bool use_1x1conv, int64_t stride)
    : channels_(channels),
      stride_(stride),
      conv1_(0, channels, 3, Conv2dOptions{{stride, stride}, {1, 1}}),
      conv2_(0, channels, 3, Conv2dOptions{{1, 1}, {1, 1}}),
      bn1_(0),
      bn2_(0) {
  if (use_1x1conv) shortcut_ = conv(channels, 1, stride);
}

Tensor Residual::forward(Context& ctx, const Tensor& x) {
  Tensor y = relu(bn1_.forward(ctx, conv1_.forward(ctx, x)));
  y = bn2_.forward(ctx, conv2_.forward(ctx, y));
  Tensor skip = shortcut_ ? shortcut_->forward(ctx, x) : x;
  return relu(y + skip);
}

std::string Residual::describe() const {
  return "Residual(" + std::to_string(channels_) + (shortcut_ ? ", 1x1 conv" : "") +
         (stride_ != 1 ? ", stride " + std::to_string(stride_) : "") + ")";
}

DenseBlock::DenseBlock(int num_convs, int64_t growth) : growth_(growth) {
  for (int i = 0; i < num_convs; ++i) {
    auto block = std::make_unique<Sequential>();
    block->emplace<BatchNorm2d>(0).emplace<Activation>(Activation::ReLU).add(conv(growth, 3));
    convs_.push_back(std::move(block));
  }
}

Tensor DenseBlock::forward(Context& ctx, const Tensor& x) {
  Tensor h = x;
  for (auto& block : convs_) h = concat({h, block->forward(ctx, h)}, 1);
  return h;
}

std::string DenseBlock::describe() const {
  return "DenseBlock(" + std::to_string(convs_.size()) + " convs, growth " +
         std::to_string(growth_) + ")";
}

TransitionBlock::TransitionBlock(int64_t channels) : channels_(channels) {
  emplace<BatchNorm2d>(0).emplace<Activation>(Activation::ReLU).add(conv(channels, 1));
  emplace<AvgPool2d>(2, 2);
}

std::string TransitionBlock::describe() const {
  return "TransitionBlock(" + std::to_string(channels_) + ")";
}

}  // namespace kiln::nn
