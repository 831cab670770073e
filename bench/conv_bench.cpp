// Convolution throughput (GFLOP/s counter) on the model zoo's shapes, each as forward
// (conv_fwd), input gradient (conv_dgrad) and weight gradient (conv_wgrad): LeNet's two
// 5x5 layers, AlexNet's 11x11 stride-4 first layer (batch 16), a VGG/ResNet 3x3 layer,
// a 3x3 stride-2 layer and a 1x1 layer; and the small-spatial layers of ResNet-18 /
// DenseNet / GoogLeNet at small input sizes (8x8 down to 1x1 maps, many channels), where
// one image is a GEMV-like product and conv.cpp folds the batch into the GEMM. FLOPs =
// 2 * n * f * oh*ow * (c/groups)*kh*kw for every kind, taps that read only padding
// included (conv.cpp skips them: on 1x1 maps the rate exceeds the GEMM's). Compare with
// gemm_bench's 1024^3 peak.
//
// Winograd F(2x2, 3x3) and F(2x2, 5x5) (conv_winograd*.cpp) take the 3x3 pad-1 and 5x5
// pad-2 stride-1 shapes they win on; those shapes also run with the suffix /no_winograd, on the old path
// (conv_set_winograd_mode(kOff)), so one run compares the two (the FLOP count is the
// direct convolution's for both). KILN_CONV_NO_WINOGRAD=1 turns Winograd off for the
// whole process (and so for the plain names too). E.g.
//   build/kiln_bench --benchmark_filter='wino|resnet_(64_8|128_4)|nin_96' --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "runtime/conv.h"
#include "runtime/conv_winograd.h"
#include "runtime/gemm.h"

namespace {

struct ZooConv {
  const char* name;
  int64_t n, c, hw, f, k, stride, pad;
};

const ZooConv kZoo[] = {
    {"lenet1", 256, 1, 28, 6, 5, 1, 2},      // 1->6 5x5 pad 2 on 28x28
    {"lenet2", 256, 6, 14, 16, 5, 1, 0},     // 6->16 5x5 on 14x14
    {"alexnet1", 16, 1, 224, 96, 11, 4, 1},  // 1->96 11x11 stride 4 pad 1 on 224x224
    {"vgg3x3", 32, 64, 32, 64, 3, 1, 1},     // 64->64 3x3 pad 1 on 32x32
    {"resnet_s2", 32, 64, 32, 128, 3, 2, 1}, // 64->128 3x3 stride 2 pad 1 on 32x32
    {"pointwise", 256, 256, 8, 64, 1, 1, 0}, // 256->64 1x1 on 8x8
    // Small spatial maps (ResNet-18 at --size 32 and the like), 3x3 pad 1 unless noted.
    {"resnet_64_8x8", 256, 64, 8, 64, 3, 1, 1},
    {"resnet_64_128_s2_8x8", 256, 64, 8, 128, 3, 2, 1},
    {"resnet_64_128_1x1s2_8x8", 256, 64, 8, 128, 1, 2, 0},  // the stride-2 shortcut
    {"resnet_128_4x4", 256, 128, 4, 128, 3, 1, 1},
    {"resnet_128_256_s2_4x4", 256, 128, 4, 256, 3, 2, 1},
    {"resnet_256_2x2", 256, 256, 2, 256, 3, 1, 1},
    {"resnet_256_512_s2_2x2", 256, 256, 2, 512, 3, 2, 1},
    {"resnet_512_1x1", 256, 512, 1, 512, 3, 1, 1},
    // ... at zoo_train_step's batch 64, where rebuilding the weights per call weighs more.
    {"resnet_256_2x2_b64", 64, 256, 2, 256, 3, 1, 1},
    {"resnet_256_512_s2_2x2_b64", 64, 256, 2, 512, 3, 2, 1},
    {"resnet_512_1x1_b64", 64, 512, 1, 512, 3, 1, 1},
    // Larger channel counts on the same maps, and 64 on 16x16 (Winograd candidates).
    {"wino_128_8x8", 256, 128, 8, 128, 3, 1, 1},
    {"wino_256_4x4", 256, 256, 4, 256, 3, 1, 1},
    {"wino_64_16x16", 256, 64, 16, 64, 3, 1, 1},
    {"dense_256_64_1x1_4x4", 256, 256, 4, 64, 1, 1, 0},         // DenseNet transition-like
    {"googlenet_480_192_1x1_6x6", 128, 480, 6, 192, 1, 1, 0},  // batch 128
    // NiN at --size 68, batch 64: the 11x11 stride-4 stem, its 1x1 layers on 15x15 and
    // the 5x5 layer on 7x7 (the step's largest convolution).
    {"nin_1_96_11x11s4", 64, 1, 68, 96, 11, 4, 0},
    {"nin_96_96_1x1_15x15", 64, 96, 15, 96, 1, 1, 0},
    {"nin_96_256_5x5_7x7", 64, 96, 7, 256, 5, 1, 2},
    {"nin_256_384_3x3_3x3", 64, 256, 3, 384, 3, 1, 1},
};

kiln::ConvParams params(const ZooConv& z, kiln::ConvKind kind) {
  kiln::ConvParams p;
  p.kind = kind;
  p.n = z.n;
  p.c = z.c;
  p.h = p.w = z.hw;
  p.f = z.f;
  p.kh = p.kw = z.k;
  p.stride_h = p.stride_w = z.stride;
  p.pad_h = p.pad_w = z.pad;
  p.oh = p.ow = (z.hw + 2 * z.pad - z.k) / z.stride + 1;
  return p;
}

// Whether Winograd could take the shape (3x3 with padding 1 or 5x5 with padding 2,
// stride 1), so that the /no_winograd variant is worth registering.
bool winograd_shape(const ZooConv& z) {
  return (z.k == 3 || z.k == 5) && z.pad == (z.k - 1) / 2 && z.stride == 1;
}

void BM_Conv(benchmark::State& state, ZooConv z, kiln::ConvKind kind, bool no_winograd) {
  const kiln::ConvParams p = params(z, kind);
  const kiln::WinogradMode saved = kiln::conv_winograd_mode();
  if (no_winograd) kiln::conv_set_winograd_mode(kiln::WinogradMode::kOff);
  std::vector<float> x(p.n * p.c * p.h * p.w, 0.5f), w(p.f * p.c * p.kh * p.kw, 0.25f),
      y(p.n * p.f * p.oh * p.ow, 0.125f);
  // Operands (a, b) -> out per kind (runtime/abi.h): out has the shape of y, x or w.
  const float* a = kind == kiln::kConvInputGrad ? y.data() : x.data();
  const float* b = kind == kiln::kConvWeightGrad ? y.data() : w.data();
  std::vector<float> out = kind == kiln::kConvForward     ? y
                           : kind == kiln::kConvInputGrad ? x
                                                          : w;
  for (auto _ : state) {
    kiln::conv2d_f32(p, a, b, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  double flops = 2.0 * p.n * p.f * p.oh * p.ow * p.c * p.kh * p.kw;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(kiln::gemm_f32_isa());
  kiln::conv_set_winograd_mode(saved);
}

const bool kRegistered = [] {
  const std::pair<const char*, kiln::ConvKind> kinds[] = {
      {"conv_fwd/", kiln::kConvForward},
      {"conv_dgrad/", kiln::kConvInputGrad},
      {"conv_wgrad/", kiln::kConvWeightGrad}};
  for (const auto& [prefix, kind] : kinds)
    for (const ZooConv& z : kZoo) {
      benchmark::RegisterBenchmark((std::string(prefix) + z.name).c_str(), BM_Conv, z, kind,
                                   false)
          ->UseRealTime();
      if (winograd_shape(z))
        benchmark::RegisterBenchmark((std::string(prefix) + z.name + "/no_winograd").c_str(),
                                     BM_Conv, z, kind, true)
            ->UseRealTime();
    }
  return true;
}();

}  // namespace
