// d2l chapters 3-4 classifiers on Fashion-MNIST: softmax regression (3.7), the MLP
// (4.3) and the MLP with dropout (4.6). Recipes follow d2l: batch 256, weights drawn
// from N(0, 0.01^2), biases zero, minibatch SGD with lr 0.1, 0.1 and 0.5.
#include <cmath>

#include "models/run_common.h"

namespace kiln {
namespace {

using nn::Activation;

SupervisedSpec make_spec(const std::string& name, std::shared_ptr<nn::Sequential> net,
                         double lr, const RunOptions& opts) {
  SupervisedSpec s;
  s.name = name;
  s.example_shape = Shape{1, 28, 28};
  s.classification = true;
  s.net = [net](nn::Context& ctx, const Tensor& x) { return (*net)(ctx, x); };
  s.layers = net;
  s.metadata = fashion_mnist_metadata(28);
  s.optimizer.kind = OptimizerConfig::SGD;
  s.optimizer.lr = lr;
  s.optimizer.weight_decay = std::isnan(opts.wd) ? 0.0 : opts.wd;
  s.seed = static_cast<int64_t>(opts.seed);
  return s;
}

const nn::Init kSmallNormal = nn::Init::normal(0.0, 0.01);

Expected<SupervisedSpec> softmax_spec(const RunOptions& opts) {
  auto net = std::make_shared<nn::Sequential>();
  net->emplace<nn::Flatten>();
  net->emplace<nn::Linear>(784, 10, kSmallNormal, true, "softmax.out");
  return make_spec("softmax", net, resolve_lr(opts, {10, 256, 0.1}), opts);
}

Expected<SupervisedSpec> mlp_spec(const RunOptions& opts) {
  auto net = std::make_shared<nn::Sequential>();
  net->emplace<nn::Flatten>();
  net->emplace<nn::Linear>(784, 256, kSmallNormal, true, "mlp.hidden");
  net->emplace<Activation>(Activation::ReLU);
  net->emplace<nn::Linear>(256, 10, kSmallNormal, true, "mlp.out");
  return make_spec("mlp", net, resolve_lr(opts, {10, 256, 0.1}), opts);
}

Expected<SupervisedSpec> mlp_dropout_spec(const RunOptions& opts) {
  auto net = std::make_shared<nn::Sequential>();
  net->emplace<nn::Flatten>();
  net->emplace<nn::Linear>(784, 256, kSmallNormal, true, "mlp_dropout.hidden1");
  net->emplace<Activation>(Activation::ReLU);
  net->emplace<nn::Dropout>(0.2);
  net->emplace<nn::Linear>(256, 256, kSmallNormal, true, "mlp_dropout.hidden2");
  net->emplace<Activation>(Activation::ReLU);
  net->emplace<nn::Dropout>(0.5);
  net->emplace<nn::Linear>(256, 10, kSmallNormal, true, "mlp_dropout.out");
  return make_spec("mlp_dropout", net, resolve_lr(opts, {10, 256, 0.5}), opts);
}

Expected<RunReport> run_fashion(Expected<SupervisedSpec> (*make)(const RunOptions&),
                                const RunOptions& opts, TrainDefaults defaults) {
  SupervisedSpec spec = KILN_TRY(make(opts));
  FashionMnist data = KILN_TRY(load_fashion(opts));
  ImageSource train(data.train), test(data.test);
  return run_supervised(std::move(spec), train, &test, opts, defaults);
}

Expected<RunReport> eval_fashion(Expected<SupervisedSpec> (*make)(const RunOptions&),
                                 const RunOptions& opts, TrainDefaults defaults) {
  SupervisedSpec spec = KILN_TRY(make(opts));
  RunOptions o = opts;
  o.limit = -1;  // evaluation always covers the whole test set
  FashionMnist data = KILN_TRY(load_fashion(o));
  ImageSource test(data.test);
  return evaluate_supervised(std::move(spec), test, opts, defaults);
}

constexpr uint32_t kFashionOptions = kOptData | kOptPlot | kOptCheckpoint | kOptLimit | kOptOptimizer;

ModelRegistration softmax_reg{{
    "softmax", "softmax regression on Fashion-MNIST (d2l 3.7)", kFashionOptions,
    [](const RunOptions& o) { return run_fashion(softmax_spec, o, {10, 256, 0.1}); },
    softmax_spec,
    [](const RunOptions& o) { return eval_fashion(softmax_spec, o, {10, 256, 0.1}); }}};
ModelRegistration mlp_reg{{
    "mlp", "MLP 784-256-10 with ReLU on Fashion-MNIST (d2l 4.3)", kFashionOptions,
    [](const RunOptions& o) { return run_fashion(mlp_spec, o, {10, 256, 0.1}); }, mlp_spec,
    [](const RunOptions& o) { return eval_fashion(mlp_spec, o, {10, 256, 0.1}); }}};
ModelRegistration mlp_dropout_reg{{
    "mlp_dropout", "MLP 784-256-256-10 with dropout 0.2/0.5 on Fashion-MNIST (d2l 4.6)",
    kFashionOptions,
    [](const RunOptions& o) { return run_fashion(mlp_dropout_spec, o, {10, 256, 0.5}); },
    mlp_dropout_spec,
    [](const RunOptions& o) { return eval_fashion(mlp_dropout_spec, o, {10, 256, 0.5}); }}};

}  // namespace
}  // namespace kiln
