// Size checks, layer summaries and registry entries for the convolutional zoo (see
// models/conv_common.h). Both the size check and the summary build the network's
// forward pass for one example with a Builder, layer by layer: that is shape inference
// only, nothing is compiled, so it is cheap enough to run before every training run.
#include "models/conv_common.h"

#include <cmath>

#include "runtime/train/idx.h"

namespace kiln {
namespace {

// How summaries and errors name a layer: a labelled block by its label ("b2").
std::string layer_name(nn::Module& layer) {
  auto* block = dynamic_cast<nn::Sequential*>(&layer);
  return block && !block->label().empty() ? block->label() : layer.describe();
}

int64_t parameter_count(const Graph& g) {
  int64_t n = 0;
  for (Value v : g.parameters()) n += g.type(v).shape.numel();
  return n;
}

// The forward pass of a fresh network for one example of side x side, in evaluation
// mode (training-mode batch norm refuses a single value per channel).
struct OneExample {
  OneExample(const ConvModel& m, int64_t side)
      : g(m.name + ".probe"), ctx(b, /*training=*/false, 0, m.name), net(m.build()) {
    x = b.input("x", TensorType{DType::f32, Shape{1, 1, side, side}});
  }
  Graph g;
  Builder b{g};
  nn::Context ctx;
  std::unique_ptr<nn::Sequential> net;
  Tensor x;
};

// Applies `seq` to x one layer at a time, descending into nested Sequentials, until a
// layer's op records an error; `where` then names that layer by its position and path,
// e.g. "layer 1.4 (b1 > MaxPool2d(kernel=3x3, stride=2x2, padding=1x1))".
Tensor apply_layers(nn::Context& ctx, nn::Sequential& seq, Tensor x, const std::string& index,
                    const std::string& path, std::string& where) {
  for (size_t i = 0; i < seq.size() && ctx.b.ok(); ++i) {
    nn::Module& layer = seq.layer(i);
    const std::string idx = index + (index.empty() ? "" : ".") + std::to_string(i + 1);
    const std::string prefix = path + (path.empty() ? "" : " > ");
    if (auto* block = dynamic_cast<nn::Sequential*>(&layer)) {
      x = apply_layers(ctx, *block, x, idx, prefix + layer_name(layer), where);
    } else {
      x = layer.forward(ctx, x);
      // Named after the call: lazy layers then describe their inferred input size.
      if (!ctx.b.ok()) where = "layer " + idx + " (" + prefix + layer_name(layer) + ")";
    }
  }
  return x;
}

// Ok when the network accepts inputs of side x side; else the failing layer and error.
Status probe(const ConvModel& m, int64_t side) {
  OneExample one(m, side);
  std::string where;
  apply_layers(one.ctx, *one.net, one.x, "", "", where);
  if (one.b.ok()) return Status::Ok();
  return Error("the output of " + where + " would be empty (" + one.b.status().error().message() + ")");
}

// The smallest side above `bad` the network accepts: outputs only grow with the input,
// so double until one fits, then bisect. 0 when no side up to kMaxResize fits.
int64_t smallest_valid_side(const ConvModel& m, int64_t bad) {
  int64_t good = bad;
  do {
    if (good >= kMaxResize) return 0;
    bad = good;
    good = std::min<int64_t>(2 * good, kMaxResize);
  } while (!probe(m, good).ok());
  while (good - bad > 1) {
    const int64_t mid = bad + (good - bad) / 2;
    (probe(m, mid).ok() ? good : bad) = mid;
  }
  return good;
}

Expected<SupervisedSpec> conv_spec(const ConvModel& m, const RunOptions& opts) {
  const int64_t side = KILN_TRY(checked_size(m, opts));
  std::shared_ptr<nn::Sequential> net = m.build();
  SupervisedSpec s;
  s.name = m.name;
  s.example_shape = Shape{1, side, side};
  s.classification = true;
  s.net = [net](nn::Context& ctx, const Tensor& x) { return (*net)(ctx, x); };
  s.layers = net;
  s.metadata = fashion_mnist_metadata(side);
  s.optimizer.kind = OptimizerConfig::SGD;
  s.optimizer.lr = resolve_lr(opts, m.defaults);
  s.optimizer.weight_decay = std::isnan(opts.wd) ? 0.0 : opts.wd;
  s.seed = static_cast<int64_t>(opts.seed);
  return s;
}

}  // namespace

std::unique_ptr<nn::Conv2d> lazy_conv(int64_t out_channels, int64_t kernel, int64_t stride,
                                      int64_t padding) {
  Conv2dOptions o;
  o.stride = {stride, stride};
  o.padding = {padding, padding};
  return std::make_unique<nn::Conv2d>(0, out_channels, kernel, o, nn::Init::xavier_uniform());
}

std::unique_ptr<nn::Linear> lazy_linear(int64_t out_features) {
  auto linear = std::make_unique<nn::Linear>(0, out_features, nn::Init::xavier_uniform());
  linear->set_bias_init(nn::BiasInit::FanInUniform);  // d2l's init_cnn keeps PyTorch's bias
  return linear;
}

std::unique_ptr<nn::Activation> relu_layer() {
  return std::make_unique<nn::Activation>(nn::Activation::ReLU);
}

std::unique_ptr<nn::Activation> sigmoid_layer() {
  return std::make_unique<nn::Activation>(nn::Activation::Sigmoid);
}

Expected<int64_t> checked_size(const ConvModel& m, const RunOptions& opts) {
  const int64_t side = opts.size > 0 ? opts.size : m.default_size;
  Status fits = probe(m, side);
  if (fits.ok()) return side;
  const std::string head = m.name + ": --size " + std::to_string(side);
  const int64_t smallest = smallest_valid_side(m, side);
  if (smallest == 0) return fits.error().wrap(head);  // not a size problem
  return Error(head + " is too small: " + fits.error().message() +
               "; the smallest valid size is " + std::to_string(smallest));
}

Expected<std::vector<LayerSummary>> summarize(const ConvModel& m, int64_t side) {
  OneExample one(m, side);
  std::vector<LayerSummary> rows{{"input", Shape{1, side, side}, 0}};
  Tensor h = one.x;
  for (size_t i = 0; i < one.net->size(); ++i) {
    nn::Module& layer = one.net->layer(i);
    const int64_t before = parameter_count(one.g);
    h = layer.forward(one.ctx, h);
    KILN_RETURN_IF_ERROR(one.b.status());
    Shape out = h.shape();
    out.dims.erase(out.dims.begin());  // the batch
    rows.push_back({layer_name(layer), out, parameter_count(one.g) - before});
  }
  return rows;
}

ModelEntry conv_model_entry(ConvModel model) {
  auto m = std::make_shared<const ConvModel>(std::move(model));
  ModelEntry e;
  e.name = m->name;
  e.description = m->description;
  e.options = kOptData | kOptPlot | kOptCheckpoint | kOptLimit | kOptOptimizer | kOptSize;
  e.spec = [m](const RunOptions& o) { return conv_spec(*m, o); };
  e.run = [m](const RunOptions& o) -> Expected<RunReport> {
    SupervisedSpec spec = KILN_TRY(conv_spec(*m, o));  // a bad size fails before loading
    FashionMnist data = KILN_TRY(load_fashion(o, static_cast<int>(spec.example_shape[1])));
    ImageSource train(data.train), test(data.test);
    return run_supervised(std::move(spec), train, &test, o, m->defaults);
  };
  e.evaluate = [m](const RunOptions& o) -> Expected<RunReport> {
    SupervisedSpec spec = KILN_TRY(conv_spec(*m, o));
    ImageDataset data = KILN_TRY(load_fashion_test(o, static_cast<int>(spec.example_shape[1])));
    ImageSource test(data);
    return evaluate_supervised(std::move(spec), test, o, m->defaults);
  };
  e.summary = [m](const RunOptions& o) -> Expected<std::vector<LayerSummary>> {
    return summarize(*m, KILN_TRY(checked_size(*m, o)));
  };
  return e;
}

}  // namespace kiln
