// The minibatch gather of `kiln train` on Fashion-MNIST: 256 random training images into
// the step's input buffer ([256, 1, 28, 28] f32) and their labels, as the trainer does
// before every step. Bytes counter: what the gather must read and write at the least.
// Skipped (with a message) when the data set is not installed.
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>
#include <vector>

#include "runtime/train/idx.h"

namespace {

void BM_FashionGather(benchmark::State& state) {
  static const kiln::Expected<kiln::ImageDataset> ds = kiln::load_fashion_mnist("", true);
  if (!ds.ok()) {
    state.SkipWithError(ds.error().message().c_str());
    return;
  }
  const int64_t batch = state.range(0);
  std::vector<int64_t> order(ds->size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
  std::vector<float> x(batch * ds->example_numel());
  std::vector<int32_t> y(batch);
  int64_t start = 0;
  for (auto _ : state) {
    if (start + batch > ds->size()) start = 0;
    ds->gather(order.data() + start, batch, x.data(), y.data());
    start += batch;
    benchmark::DoNotOptimize(x.data());
  }
  const double bytes = double(batch) * double(ds->example_numel()) *
                       (double(ds->pixels.empty() ? 4 : 1) + 4.0);
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_FashionGather)->Arg(256)->UseRealTime();

}  // namespace
