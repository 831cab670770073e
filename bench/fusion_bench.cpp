// Google Benchmark: the same compiled graphs with and without fusion (issue 13's fusion
// switch; `kiln inspect MODEL --no-fusion` shows the unfused kernels): the zoo's training
// steps, and single patterns -- an elementwise chain, softmax cross-entropy with its
// gradient, layer norm forward and backward, batch norm + ReLU after a convolution. Each
// case reports the kernel count, the arena, the bytes its kernels must move
// (codegen/kernel_cost.h; MB per run) and GFLOP/s; the time ratio of /unfused to /fused
// is what fusion buys on this machine.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <functional>
#include <memory>

#include "frontend/conv_layers.h"
#include "frontend/losses.h"
#include "frontend/norm_layers.h"
#include "models/language_model.h"
#include "models/registry.h"

namespace kiln {
namespace {

void run_steps(benchmark::State& state, Expected<Graph> g, bool fused, int64_t classes) {
  if (!g.ok()) {
    state.SkipWithError(g.error().message().c_str());
    return;
  }
  CompileOptions co;
  co.fusion = fused;
  co.profile = std::getenv("KILN_PROFILE") != nullptr;  // per-kernel profile, printed once
  auto exe = compile(*g, std::make_shared<StateStore>(), co);
  if (!exe.ok()) {
    state.SkipWithError(exe.error().message().c_str());
    return;
  }
  fill_random_inputs(**exe, classes);
  for (auto _ : state) (*exe)->run();
  double flops = 0, bytes = 0;
  for (const KernelLaunch& k : (*exe)->plan().launches) flops += k.flops, bytes += k.bytes;
  if (co.profile) std::printf("%s\n", (*exe)->describe().c_str());
  state.counters["kernels"] = (*exe)->stats().kernels;
  state.counters["arena_MB"] = double((*exe)->stats().arena_bytes) / 1e6;
  state.counters["moved_MB"] = bytes / 1e6;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// A graph of one pattern; training: the step with SGD on its parameters.
Expected<Graph> pattern(const char* name, bool training,
                        const std::function<Tensor(nn::Context&, Builder&)>& loss) {
  Graph g(name);
  Builder b(g);
  nn::Context ctx(b, true);
  b.output("loss", loss(ctx, b));
  KILN_RETURN_IF_ERROR(b.status());
  KILN_RETURN_IF_ERROR(model_passes(training, OptimizerConfig{}).run(g));
  return g;
}

// tanh(x * a + b) * sigmoid(x) - relu(x) / 2 over 4 M elements, summed.
void elementwise_chain(benchmark::State& state, bool fused) {
  run_steps(state, pattern("chain", false, [](nn::Context&, Builder& b) {
              Tensor x = b.input("x", {DType::f32, Shape{2048, 2048}});
              return sum(tanh(x * 1.5 + 0.25) * sigmoid(x) - relu(x) * 0.5);
            }), fused, 10);
}

// Softmax cross-entropy and its gradient over [256, 10] logits held as a parameter (so
// the step is the loss, its gradient and the update, no GEMM).
void softmax_xent(benchmark::State& state, bool fused) {
  run_steps(state, pattern("softmax_xent", true, [](nn::Context&, Builder& b) {
              Tensor logits = b.parameter("logits", {DType::f32, Shape{256, 10}}, InitSpec::normal(0, 1));
              return softmax_cross_entropy(logits, b.input("y", {DType::i32, Shape{256}}));
            }), fused, 10);
}

// LayerNorm over 256 features of [2048, 256] rows (a parameter: the backward pass runs
// through the normalisation), forward and backward.
void layer_norm(benchmark::State& state, bool fused) {
  auto norm = std::make_shared<nn::LayerNorm>(256);
  run_steps(state, pattern("layer_norm", true, [&](nn::Context& ctx, Builder& b) {
              Tensor x = b.parameter("x", {DType::f32, Shape{2048, 256}}, InitSpec::normal(0, 1));
              Tensor y = (*norm)(ctx, x);
              return mean(y * y * b.input("w", {DType::f32, Shape{2048, 256}}));
            }), fused, 10);
}

// relu(batch_norm(conv(x))) with batch statistics, 64 -> 64 3x3 on 16x16, batch 64.
void conv_bn_relu(benchmark::State& state, bool fused) {
  Conv2dOptions same;
  same.padding = {1, 1};
  auto conv = std::make_shared<nn::Conv2d>(64, 64, nn::Size2{3, 3}, same);
  auto bn = std::make_shared<nn::BatchNorm2d>(64);
  run_steps(state, pattern("conv_bn_relu", true, [&](nn::Context& ctx, Builder& b) {
              Tensor x = b.input("x", {DType::f32, Shape{64, 64, 16, 16}});
              return mean(relu((*bn)(ctx, (*conv)(ctx, x))));
            }), fused, 10);
}

// max_pool2d(relu(batch_norm(x)), 3x3, stride 2, pad 1): ResNet-18's stem after its
// convolution (batch 64, 64 channels, 16x16 -> 8x8), forward and backward.
void bn_relu_pool(benchmark::State& state, bool fused) {
  auto bn = std::make_shared<nn::BatchNorm2d>(64);
  run_steps(state, pattern("bn_relu_pool", true, [&](nn::Context& ctx, Builder& b) {
              Tensor x = b.parameter("x", {DType::f32, Shape{64, 64, 16, 16}}, InitSpec::normal(0, 1));
              Pool2dOptions o;
              o.kernel = {3, 3};
              o.stride = {2, 2};
              o.padding = {1, 1};
              return mean(max_pool2d(relu((*bn)(ctx, x)), o));
            }), fused, 10);
}

// A classifier's training step at batch 256 (Fashion-MNIST shapes, 10 classes).
void zoo_step(benchmark::State& state, const char* model, int64_t size, bool fused) {
  const ModelEntry* m = find_model(model);
  RunOptions opts;
  opts.size = size;
  Expected<SupervisedSpec> spec = m->spec(opts);
  run_steps(state, spec.ok() ? build_graph(*spec, GraphKind::Train, 256) : Expected<Graph>(spec.error()),
            fused, 10);
}

// d2l's character model step (batch 32, 35 steps, 28 characters).
void char_step(benchmark::State& state, const char* model, bool fused) {
  const LanguageModelMaker* make = find_language_model(model);
  const LanguageModelDefaults d;
  LanguageModelSpec spec = (*make)(28, d.hidden);
  spec.optimizer.lr = d.lr;
  spec.optimizer.clip_norm = d.clip_norm;
  run_steps(state, build_lm_graph(spec, LmGraphKind::Train, d.batch_size, d.num_steps), fused, 28);
}

#define KILN_FUSION_PAIR(NAME, FN, ...)                                                \
  BENCHMARK_CAPTURE(FN, NAME##_fused, __VA_ARGS__, true)->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(FN, NAME##_unfused, __VA_ARGS__, false)->Unit(benchmark::kMillisecond)->UseRealTime()

KILN_FUSION_PAIR(mlp, zoo_step, "mlp", 0);
KILN_FUSION_PAIR(mlp_dropout, zoo_step, "mlp_dropout", 0);
KILN_FUSION_PAIR(lenet_bn, zoo_step, "lenet_bn", 0);
KILN_FUSION_PAIR(resnet18_32, zoo_step, "resnet18", 32);
KILN_FUSION_PAIR(char_gru, char_step, "char_gru");
#define KILN_PATTERN_PAIR(FN)                                                                \
  BENCHMARK_CAPTURE(FN, fused, true)->Unit(benchmark::kMicrosecond)->UseRealTime();          \
  BENCHMARK_CAPTURE(FN, unfused, false)->Unit(benchmark::kMicrosecond)->UseRealTime()
KILN_PATTERN_PAIR(elementwise_chain);
KILN_PATTERN_PAIR(softmax_xent);
KILN_PATTERN_PAIR(layer_norm);
KILN_PATTERN_PAIR(conv_bn_relu);
KILN_PATTERN_PAIR(bn_relu_pool);

}  // namespace
}  // namespace kiln
