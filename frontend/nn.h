// Neural-network layers for the DSL. A layer is a small object holding its
// configuration and parameter names; calling it on a Builder creates (or, when the graph
// already has them, reuses) its parameter leaves. Train and eval graphs built from the
// same layers therefore name the same parameters, and executables compiled against one
// StateStore share the weights.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/ops.h"

namespace kiln::nn {

// Per-graph settings every layer sees.
struct Context {
  Context(Builder& builder, bool training_ = true, int64_t seed_ = 0, std::string prefix_ = "")
      : b(builder), training(training_), seed(seed_), prefix(std::move(prefix_)) {}

  Builder& b;
  bool training = true;  // dropout active, batch-norm statistics updated
  int64_t seed = 0;      // RNG stream for dropout and friends
  std::string prefix;    // parameter path prefix, usually the model's name
  // When set, every Linear and recurrent-layer weight matrix starts from this instead of
  // its layer's own init (d2l's net.apply(xavier_init_weights) in train_seq2seq);
  // biases and embeddings keep theirs.
  std::optional<InitSpec> weight_init;

  // i64 scalar that changes every run, for Philox counters: the state "rng_step"
  // (StateKind::RngCounter), incremented by training graphs.
  Tensor rng_counter();
  // A deterministic name for an unnamed layer: "<prefix>.<kind><n>", n counting the
  // layers of that kind built in this graph so far. Building the same model twice, in
  // any process, gives the same names.
  std::string fresh_name(const std::string& kind);

 private:
  Tensor counter_;
  std::map<std::string, int> counts_;
};

using Init = InitSpec;

// The graph's leaf `name` when it exists (a layer applied twice, or train and eval graphs
// built in one graph), else the leaf `make()` creates; an existing leaf of another type
// is an error recorded in the builder.
template <typename Make>
Tensor existing_leaf_or(Builder& b, const std::string& name, const TensorType& type, Make make) {
  Value v = b.graph().find_leaf(name);
  if (!v.valid()) return make();
  Tensor t(&b, v);
  if (t.type() != type)
    b.record_error(Error("'" + name + "' exists with type " + t.type().to_string() +
                         ", requested " + type.to_string()));
  return t;
}
// The trainable parameter `name` (reused when the graph has it).
inline Tensor parameter(Builder& b, const std::string& name, const TensorType& type,
                        const Init& init) {
  return existing_leaf_or(b, name, type, [&] { return b.parameter(name, type, init); });
}

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(Context& ctx, const Tensor& x) = 0;
  virtual std::string describe() const = 0;
  Tensor operator()(Context& ctx, const Tensor& x,
                    std::source_location loc = std::source_location::current()) {
    Builder::LocScope scope(ctx.b, SourceLoc::from(loc));
    return forward(ctx, x);
  }
};

// How a layer initialises its bias: zeros (d2l's from-scratch chapters 3-4) or PyTorch's
// default for nn.Linear / nn.Conv2d, uniform in +-1/sqrt(fan_in), which d2l's init_cnn
// keeps when it re-initialises only the weights (an all-zero bias can leave a network
// whose logits pass through a ReLU, such as NiN, with every logit at zero).
enum class BiasInit { Zeros, FanInUniform };
Init bias_init(BiasInit kind, int64_t fan_in);

class Linear : public Module {
 public:
  // in_features may be 0: inferred from the input's last dimension (d2l's LazyLinear).
  // Parameters are "<name>.weight" and "<name>.bias"; without a name the layer takes
  // ctx.fresh_name("linear") the first time it is called.
  Linear(int64_t in_features, int64_t out_features, Init weight_init = Init::normal(0, 0.01),
         bool bias = true, std::string name = "");
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  std::string weight_name() const { return name_ + ".weight"; }
  std::string bias_name() const { return name_ + ".bias"; }
  Linear& set_bias_init(BiasInit kind) { bias_init_ = kind; return *this; }

 private:
  int64_t in_, out_;
  Init init_;
  bool has_bias_;
  std::string name_;
  BiasInit bias_init_ = BiasInit::Zeros;
};

class Flatten : public Module {
 public:
  Tensor forward(Context& ctx, const Tensor& x) override { return flatten(x, 1); }
  std::string describe() const override { return "Flatten"; }
};

class Activation : public Module {
 public:
  enum Kind { ReLU, Sigmoid, Tanh };
  explicit Activation(Kind k) : kind_(k) {}
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  Kind kind_;
};

// Inverted dropout: in training, zeroes each element with probability p and scales the
// rest by 1/(1-p); identity in eval.
class Dropout : public Module {
 public:
  explicit Dropout(double p) : p_(p) {}
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;

 private:
  double p_;
};

class Sequential : public Module {
 public:
  Sequential() = default;
  // A label names the block in layer summaries (d2l's b1..b5) instead of its layer list.
  explicit Sequential(std::string label) : label_(std::move(label)) {}
  Sequential& add(std::unique_ptr<Module> m) {
    layers_.push_back(std::move(m));
    return *this;
  }
  template <typename M, typename... Args>
  Sequential& emplace(Args&&... args) {
    return add(std::make_unique<M>(std::forward<Args>(args)...));
  }
  Tensor forward(Context& ctx, const Tensor& x) override;
  std::string describe() const override;
  size_t size() const { return layers_.size(); }
  // Layer i, for walks that apply the layers one at a time (summaries, size checks).
  Module& layer(size_t i) { return *layers_[i]; }
  const std::string& label() const { return label_; }

 private:
  std::vector<std::unique_ptr<Module>> layers_;
  std::string label_;
};

}  // namespace kiln::nn
