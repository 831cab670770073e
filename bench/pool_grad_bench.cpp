// Google Benchmark: max pooling's gradient in the runtime (runtime/pool.h), a scatter of
// dy at the stored window indices, at the pooling shapes of the zoo: ResNet-18's stem at
// 32x32 and 96x96 (3x3, stride 2, pad 1, batch 256) and VGG's 2x2 stride-2 pooling.
// Memory-bound: GB/s of dx written plus the indices and dy read, to set against the
// machine's copy bandwidth.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "runtime/pool.h"

namespace kiln {
namespace {

void max_pool_grad(benchmark::State& state) {
  ConvParams p;
  p.kind = kMaxPoolGrad;
  p.n = 256, p.c = state.range(0), p.h = p.w = state.range(1), p.f = p.c;
  p.kh = p.kw = state.range(2);
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = state.range(3);
  p.oh = (p.h + 2 * p.pad_h - p.kh) / 2 + 1;
  p.ow = (p.w + 2 * p.pad_w - p.kw) / 2 + 1;
  const int64_t outputs = p.n * p.c * p.oh * p.ow, inputs = p.n * p.c * p.h * p.w;
  std::vector<int32_t> idx(static_cast<size_t>(outputs));
  std::vector<float> dy(static_cast<size_t>(outputs), 1.f), dx(static_cast<size_t>(inputs));
  std::mt19937 rng(0);
  for (int64_t q = 0, o = 0; q < p.n * p.c; ++q)  // the window's centre or first element
    for (int64_t oy = 0; oy < p.oh; ++oy)
      for (int64_t ox = 0; ox < p.ow; ++ox, ++o) {
        const int64_t iy = std::min(p.h - 1, std::max<int64_t>(0, oy * 2 - p.pad_h + int64_t(rng() % 2)));
        const int64_t ix = std::min(p.w - 1, std::max<int64_t>(0, ox * 2 - p.pad_w + int64_t(rng() % 2)));
        idx[static_cast<size_t>(o)] = static_cast<int32_t>(iy * p.w + ix);
      }
  for (auto _ : state) {
    max_pool2d_grad_f32(p, idx.data(), dy.data(), dx.data());
    benchmark::DoNotOptimize(dx.data());
  }
  const double bytes = double(inputs) * 4 + double(outputs) * 8;
  state.counters["GB/s"] =
      benchmark::Counter(bytes * double(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(max_pool_grad)
    ->Args({64, 16, 3, 1})   // ResNet-18 stem at 32x32
    ->Args({64, 48, 3, 1})   // ResNet-18 stem at 96x96
    ->Args({64, 56, 2, 0})   // VGG-11 (quarter width) at 112x112
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace kiln
