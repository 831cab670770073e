// d2l's modern convolutional networks on Fashion-MNIST resized to 96x96: GoogLeNet (7.4),
// ResNet-18 (7.6) and DenseNet (7.7), built from the blocks of frontend/blocks.h as
// sequences of labelled stages (b1, b2, ...) like d2l's. Recipes are d2l's; every model
// takes --size.
#include "frontend/blocks.h"
#include "models/conv_common.h"

namespace kiln {
namespace {

using Net = std::unique_ptr<nn::Sequential>;

Net stage(const std::string& label) { return std::make_unique<nn::Sequential>(label); }

Net googlenet() {
  auto net = std::make_unique<nn::Sequential>();
  Net b1 = stage("b1");
  b1->add(lazy_conv(64, 7, 2, 3)).add(relu_layer()).emplace<nn::MaxPool2d>(3, 2, 1);
  Net b2 = stage("b2");
  b2->add(lazy_conv(64, 1)).add(relu_layer());
  b2->add(lazy_conv(192, 3, 1, 1)).add(relu_layer()).emplace<nn::MaxPool2d>(3, 2, 1);
  Net b3 = stage("b3");
  b3->emplace<nn::Inception>(64, std::pair{96, 128}, std::pair{16, 32}, 32);
  b3->emplace<nn::Inception>(128, std::pair{128, 192}, std::pair{32, 96}, 64);
  b3->emplace<nn::MaxPool2d>(3, 2, 1);
  Net b4 = stage("b4");
  b4->emplace<nn::Inception>(192, std::pair{96, 208}, std::pair{16, 48}, 64);
  b4->emplace<nn::Inception>(160, std::pair{112, 224}, std::pair{24, 64}, 64);
  b4->emplace<nn::Inception>(128, std::pair{128, 256}, std::pair{24, 64}, 64);
  b4->emplace<nn::Inception>(112, std::pair{144, 288}, std::pair{32, 64}, 64);
  b4->emplace<nn::Inception>(256, std::pair{160, 320}, std::pair{32, 128}, 128);
  b4->emplace<nn::MaxPool2d>(3, 2, 1);
  Net b5 = stage("b5");
  b5->emplace<nn::Inception>(256, std::pair{160, 320}, std::pair{32, 128}, 128);
  b5->emplace<nn::Inception>(384, std::pair{192, 384}, std::pair{48, 128}, 128);
  b5->emplace<nn::GlobalAvgPool2d>().emplace<nn::Flatten>();
  for (Net* b : {&b1, &b2, &b3, &b4, &b5}) net->add(std::move(*b));
  net->add(lazy_linear(10));
  return net;
}

// The stem ResNet and DenseNet share: 7x7/2 convolution, batch norm, ReLU, 3x3/2 pooling.
Net resnet_stem() {
  Net b1 = stage("b1");
  b1->add(lazy_conv(64, 7, 2, 3)).emplace<nn::BatchNorm2d>(0).add(relu_layer());
  b1->emplace<nn::MaxPool2d>(3, 2, 1);
  return b1;
}

// The classifier both end with: global average pooling and one linear layer.
void pooled_head(nn::Sequential& net) {
  net.emplace<nn::GlobalAvgPool2d>().emplace<nn::Flatten>().add(lazy_linear(10));
}

Net resnet18() {
  auto net = std::make_unique<nn::Sequential>();
  net->add(resnet_stem());
  const int64_t channels[] = {64, 128, 256, 512};
  for (int i = 0; i < 4; ++i) {
    // Every stage but the first halves the size and changes the channels on entry.
    Net b = stage("b" + std::to_string(i + 2));
    const bool first = i == 0;
    b->emplace<nn::Residual>(channels[i], !first, first ? 1 : 2);
    b->emplace<nn::Residual>(channels[i]);
    net->add(std::move(b));
  }
  pooled_head(*net);
  return net;
}

Net densenet() {
  constexpr int kConvs = 4, kBlocks = 4;
  constexpr int64_t kGrowth = 32;
  auto net = std::make_unique<nn::Sequential>();
  net->add(resnet_stem());
  int64_t channels = 64;
  for (int i = 0; i < kBlocks; ++i) {
    net->emplace<nn::DenseBlock>(kConvs, kGrowth);
    channels += kConvs * kGrowth;
    if (i == kBlocks - 1) break;
    channels /= 2;  // transitions halve the channels, and the size
    net->emplace<nn::TransitionBlock>(channels);
  }
  net->emplace<nn::BatchNorm2d>(0).add(relu_layer());
  pooled_head(*net);
  return net;
}

ModelRegistration googlenet_reg{conv_model_entry(
    {"googlenet", "GoogLeNet with Inception blocks on Fashion-MNIST resized to 96x96 (d2l 7.4)",
     {10, 128, 0.1}, 96, googlenet})};
ModelRegistration resnet18_reg{conv_model_entry(
    {"resnet18", "ResNet-18 on Fashion-MNIST resized to 96x96 (d2l 7.6)", {10, 256, 0.05}, 96,
     resnet18})};
ModelRegistration densenet_reg{conv_model_entry(
    {"densenet", "DenseNet with 4 dense blocks on Fashion-MNIST resized to 96x96 (d2l 7.7)",
     {10, 256, 0.1}, 96, densenet})};

}  // namespace
}  // namespace kiln
