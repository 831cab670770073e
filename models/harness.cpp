// Graph building and executable caching for supervised models.
#include "models/harness.h"

#include <algorithm>
#include <random>

#include "passes/simplify.h"

namespace kiln {

namespace {

Tensor default_loss(const SupervisedSpec& spec, const Tensor& pred, const Tensor& y) {
  if (spec.classification) return softmax_cross_entropy(pred, y);
  return mse(pred, y, /*half=*/true);
}

}  // namespace

Expected<Graph> build_graph(const SupervisedSpec& spec, GraphKind kind, int64_t batch,
                            const std::function<void(const std::string&, const Graph&)>& after_pass,
                            std::vector<PassTiming>* timings) {
  const char* kind_name = kind == GraphKind::Train ? "train" : kind == GraphKind::Eval ? "eval" : "predict";
  Graph g(spec.name + "." + kind_name);
  Builder b(g);
  Shape xs = spec.example_shape;
  xs.dims.insert(xs.dims.begin(), batch);
  Tensor x = b.input("x", TensorType{DType::f32, xs});
  nn::Context ctx{b, kind == GraphKind::Train, spec.seed, spec.name};
  Tensor pred = spec.net(ctx, x);
  if (kind == GraphKind::Predict) {
    b.output("pred", pred);
  } else {
    Tensor y = spec.classification
                   ? b.input("y", TensorType{DType::i32, Shape{batch}})
                   : b.input("y", TensorType{DType::f32, Shape{batch, spec.target_width}});
    Tensor loss;
    if (kind == GraphKind::Eval && spec.eval_loss) {
      loss = spec.eval_loss(ctx, pred, y);
    } else if (spec.loss) {
      loss = spec.loss(ctx, pred, y);
    } else {
      loss = default_loss(spec, pred, y);
    }
    b.output("loss", loss);
    if (spec.classification) b.output("correct", correct_count(pred, y));
  }
  KILN_RETURN_IF_ERROR(b.status());
  if (kind == GraphKind::Train && g.parameters().empty())
    return Error("model '" + spec.name + "' has no parameters");

  if (after_pass) after_pass("dsl", g);  // the graph as the DSL built it
  PassManager pm = model_passes(kind == GraphKind::Train, spec.optimizer);
  if (after_pass) pm.set_after_pass(after_pass);
  KILN_RETURN_IF_ERROR(pm.run(g));
  if (timings) *timings = pm.timings();
  return g;
}

PassManager model_passes(bool train, const OptimizerConfig& optimizer) {
  PassManager pm;
  pm.add(std::make_unique<SimplifyPass>());
  if (train) {
    pm.add(std::make_unique<TrainingStepPass>("loss", optimizer));
    pm.add(std::make_unique<SimplifyPass>());
  }
  return pm;
}

CompiledModel::CompiledModel(SupervisedSpec spec, uint64_t init_seed, bool fusion)
    : spec_(std::move(spec)), cache_(init_seed, fusion) {}

Expected<Executable*> CompiledModel::get(GraphKind kind, int64_t batch) {
  return cache_.get({static_cast<int>(kind), batch},
                    [&] { return build_graph(spec_, kind, batch); });
}

void fill_random_inputs(Executable& exe, int64_t int_range, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  const uint64_t range = static_cast<uint64_t>(std::max<int64_t>(1, int_range));
  for (const std::string& name : exe.input_names()) {
    HostBuffer* b = exe.input(name);
    const int64_t n = b->type().shape.numel();
    for (int64_t i = 0; i < n; ++i) {
      switch (b->type().dtype) {
        case DType::f32: b->as<float>()[i] = static_cast<float>(u(rng)); break;
        case DType::f64: b->as<double>()[i] = u(rng); break;
        case DType::i32: b->as<int32_t>()[i] = static_cast<int32_t>(rng() % range); break;
        case DType::i64: b->as<int64_t>()[i] = static_cast<int64_t>(rng() % range); break;
        case DType::boolean: b->as<uint8_t>()[i] = static_cast<uint8_t>(rng() % 2); break;
      }
    }
  }
}

}  // namespace kiln
