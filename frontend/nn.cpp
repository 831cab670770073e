// Layer implementations.
#include "frontend/nn.h"

#include <cmath>


namespace kiln::nn {

std::string Context::fresh_name(const std::string& kind) {
  std::string n = kind + std::to_string(counts_[kind]++);
  return prefix.empty() ? n : prefix + "." + n;
}

Tensor Context::rng_counter() {
  if (counter_.valid()) return counter_;
  Value existing = b.graph().find_leaf("rng_step");
  if (existing.valid()) {
    counter_ = Tensor(&b, existing);
    return counter_;
  }
  counter_ = b.state("rng_step", TensorType{DType::i64, Shape{}}, StateKind::RngCounter);
  if (training) b.update_state(counter_, counter_ + 1.0);
  return counter_;
}

Init bias_init(BiasInit kind, int64_t fan_in) {
  if (kind == BiasInit::Zeros || fan_in <= 0) return Init::zeros();
  const double bound = 1.0 / std::sqrt(double(fan_in));
  return Init::uniform(-bound, bound);
}

Linear::Linear(int64_t in_features, int64_t out_features, Init weight_init, bool bias,
               std::string name)
    : in_(in_features),
      out_(out_features),
      init_(weight_init),
      has_bias_(bias),
      name_(std::move(name)) {}

Tensor Linear::forward(Context& ctx, const Tensor& x) {
  if (!x.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("linear");
  int64_t in = in_ > 0 ? in_ : x.dim(-1);
  if (in_ <= 0) in_ = in;  // LazyLinear: fixed at first use
  if (x.dim(-1) != in) {
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": Linear(" +
                             std::to_string(in) + ", " + std::to_string(out_) +
                             ") applied to input of type " + x.type().to_string()));
    return Tensor{};
  }
  Tensor w = parameter(ctx.b, weight_name(), TensorType{x.dtype(), Shape{in, out_}},
                       ctx.weight_init.value_or(init_));
  Tensor y = matmul(x, w);
  if (!has_bias_) return y;
  Tensor b = parameter(ctx.b, bias_name(), TensorType{x.dtype(), Shape{out_}},
                       bias_init(bias_init_, in));
  return y + b;
}

std::string Linear::describe() const {
  return "Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + ")";
}

Tensor Activation::forward(Context& ctx, const Tensor& x) {
  switch (kind_) {
    case ReLU: return relu(x);
    case Sigmoid: return sigmoid(x);
    case Tanh: return tanh(x);
  }
  return Tensor{};
}

std::string Activation::describe() const {
  switch (kind_) {
    case ReLU: return "ReLU";
    case Sigmoid: return "Sigmoid";
    case Tanh: return "Tanh";
  }
  return "?";
}

Tensor Dropout::forward(Context& ctx, const Tensor& x) {
  if (!ctx.training || p_ <= 0.0 || !x.valid()) return x;
  if (p_ >= 1.0) return scalar_like(x, 0.0);
  Tensor keep = bernoulli(ctx.b, x.shape(), 1.0 - p_, ctx.rng_counter(), ctx.seed, x.dtype());
  // mask * x / (1 - p)
  return x * keep * (1.0 / (1.0 - p_));
}

std::string Dropout::describe() const { return "Dropout(" + std::to_string(p_) + ")"; }

Tensor Sequential::forward(Context& ctx, const Tensor& x) {
  Tensor h = x;
  for (auto& layer : layers_) h = layer->forward(ctx, h);
  return h;
}

std::string Sequential::describe() const {
  std::string s = "Sequential(";
  for (size_t i = 0; i < layers_.size(); ++i) s += (i ? ", " : "") + layers_[i]->describe();
  return s + ")";
}

}  // namespace kiln::nn
