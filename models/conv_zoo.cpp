// d2l's first convolutional networks on Fashion-MNIST: LeNet (6.6), LeNet with batch
// normalization (the concise version of 7.5), AlexNet (7.1), VGG-11 and a narrow VGG-11
// (7.2) and NiN (7.3). Layers and recipes (epochs, batch size, learning rate, input
// side) are d2l's; every model takes --size to train on resized images.
#include "frontend/norm_layers.h"
#include "models/conv_common.h"

namespace kiln {
namespace {

using Net = std::unique_ptr<nn::Sequential>;

// LeNet-5: two sigmoid convolutions with average pooling, three fully connected layers.
Net lenet() {
  auto net = std::make_unique<nn::Sequential>();
  net->add(lazy_conv(6, 5, 1, 2)).add(sigmoid_layer()).emplace<nn::AvgPool2d>(2, 2);
  net->add(lazy_conv(16, 5)).add(sigmoid_layer()).emplace<nn::AvgPool2d>(2, 2);
  net->emplace<nn::Flatten>();
  net->add(lazy_linear(120)).add(sigmoid_layer());
  net->add(lazy_linear(84)).add(sigmoid_layer());
  net->add(lazy_linear(10));
  return net;
}

// d2l's BNLeNet: batch norm before every sigmoid (and no padding on the first conv).
Net lenet_bn() {
  auto net = std::make_unique<nn::Sequential>();
  net->add(lazy_conv(6, 5)).emplace<nn::BatchNorm2d>(0).add(sigmoid_layer());
  net->emplace<nn::AvgPool2d>(2, 2);
  net->add(lazy_conv(16, 5)).emplace<nn::BatchNorm2d>(0).add(sigmoid_layer());
  net->emplace<nn::AvgPool2d>(2, 2);
  net->emplace<nn::Flatten>();
  net->add(lazy_linear(120)).emplace<nn::BatchNorm1d>(0).add(sigmoid_layer());
  net->add(lazy_linear(84)).emplace<nn::BatchNorm1d>(0).add(sigmoid_layer());
  net->add(lazy_linear(10));
  return net;
}

// The classifier head AlexNet and VGG share: two 4096-wide layers with dropout.
void dense_head(nn::Sequential& net) {
  net.emplace<nn::Flatten>();
  net.add(lazy_linear(4096)).add(relu_layer()).emplace<nn::Dropout>(0.5);
  net.add(lazy_linear(4096)).add(relu_layer()).emplace<nn::Dropout>(0.5);
  net.add(lazy_linear(10));
}

Net alexnet() {
  auto net = std::make_unique<nn::Sequential>();
  net->add(lazy_conv(96, 11, 4, 1)).add(relu_layer()).emplace<nn::MaxPool2d>(3, 2);
  net->add(lazy_conv(256, 5, 1, 2)).add(relu_layer()).emplace<nn::MaxPool2d>(3, 2);
  net->add(lazy_conv(384, 3, 1, 1)).add(relu_layer());
  net->add(lazy_conv(384, 3, 1, 1)).add(relu_layer());
  net->add(lazy_conv(256, 3, 1, 1)).add(relu_layer()).emplace<nn::MaxPool2d>(3, 2);
  dense_head(*net);
  return net;
}

// VGG-11: blocks of (convolutions, channels), each 3x3 convolutions with ReLU then 2x2
// max pooling; `narrow` divides every block's channels by 4, as d2l trains it.
Net vgg11(int64_t narrow) {
  const std::pair<int, int64_t> arch[] = {{1, 64}, {1, 128}, {2, 256}, {2, 512}, {2, 512}};
  auto net = std::make_unique<nn::Sequential>();
  for (auto [convs, channels] : arch) {
    channels /= narrow;
    auto block = std::make_unique<nn::Sequential>("vgg_block(" + std::to_string(convs) + ", " +
                                                  std::to_string(channels) + ")");
    for (int i = 0; i < convs; ++i) block->add(lazy_conv(channels, 3, 1, 1)).add(relu_layer());
    block->emplace<nn::MaxPool2d>(2, 2);
    net->add(std::move(block));
  }
  dense_head(*net);
  return net;
}

// A NiN block: one k x k convolution, then two 1x1 convolutions, each with ReLU.
std::unique_ptr<nn::Sequential> nin_block(int64_t channels, int64_t kernel, int64_t stride,
                                          int64_t padding) {
  auto block = std::make_unique<nn::Sequential>(
      "nin_block(" + std::to_string(channels) + ", " + std::to_string(kernel) + ", " +
      std::to_string(stride) + ", " + std::to_string(padding) + ")");
  block->add(lazy_conv(channels, kernel, stride, padding)).add(relu_layer());
  block->add(lazy_conv(channels, 1)).add(relu_layer());
  block->add(lazy_conv(channels, 1)).add(relu_layer());
  return block;
}

Net nin() {
  auto net = std::make_unique<nn::Sequential>();
  net->add(nin_block(96, 11, 4, 0)).emplace<nn::MaxPool2d>(3, 2);
  net->add(nin_block(256, 5, 1, 2)).emplace<nn::MaxPool2d>(3, 2);
  net->add(nin_block(384, 3, 1, 1)).emplace<nn::MaxPool2d>(3, 2);
  net->emplace<nn::Dropout>(0.5);
  net->add(nin_block(10, 3, 1, 1)).emplace<nn::GlobalAvgPool2d>().emplace<nn::Flatten>();
  return net;
}

ModelRegistration lenet_reg{conv_model_entry(
    {"lenet", "LeNet-5 with sigmoids and average pooling on Fashion-MNIST (d2l 6.6)",
     {10, 256, 0.9}, 28, lenet})};
ModelRegistration lenet_bn_reg{conv_model_entry(
    {"lenet_bn", "LeNet with batch normalization on Fashion-MNIST (d2l 7.5)",
     {10, 256, 1.0}, 28, lenet_bn})};
ModelRegistration alexnet_reg{conv_model_entry(
    {"alexnet", "AlexNet on Fashion-MNIST resized to 224x224 (d2l 7.1)", {10, 128, 0.01}, 224,
     alexnet})};
ModelRegistration vgg11_reg{conv_model_entry(
    {"vgg11", "VGG-11 on Fashion-MNIST resized to 224x224 (d2l 7.2)", {10, 128, 0.05}, 224,
     [] { return vgg11(1); }})};
ModelRegistration vgg11_small_reg{conv_model_entry(
    {"vgg11_small", "VGG-11 with a quarter of the channels, as d2l trains it (d2l 7.2)",
     {10, 128, 0.05}, 224, [] { return vgg11(4); }})};
ModelRegistration nin_reg{conv_model_entry(
    {"nin", "Network in Network on Fashion-MNIST resized to 224x224 (d2l 7.3)", {10, 128, 0.1},
     224, nin})};

}  // namespace
}  // namespace kiln
