// Shared by the device runtime tests: zoo training steps compiled for the CUDA device
// runtime with the emulator's image builder (one host compile per model per test
// binary), the emulated driver's runtime, deterministic inputs and a float comparison.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "codegen/cuda/compile_device.h"
#include "codegen/cuda/emulated_driver.h"
#include "cuda_plans.h"

namespace kiln::test {

// The training step of `model` for `batch` examples, compiled for the device (sm_90, the
// emulated driver's) with init seed 7.
inline const CompiledPlan& device_step_plan(const std::string& model, int64_t batch = 4) {
  static std::map<std::pair<std::string, int64_t>, CompiledPlan> plans;
  auto it = plans.find({model, batch});
  if (it != plans.end()) return it->second;
  Graph g = zoo_step_graph(model, batch);
  CompileOptions co;
  co.init_seed = 7;
  Expected<CompiledPlan> cp = cudagen::compile_cuda_plan(g, "sm_90", cudagen::emulated_image_builder(), co);
  INFO((cp.ok() ? std::string() : cp.error().message().substr(0, 4000)));
  REQUIRE(cp.ok());
  return plans.emplace(std::make_pair(model, batch), std::move(*cp)).first->second;
}

inline std::shared_ptr<CudaRuntime> emulated_runtime() {
  Expected<std::shared_ptr<CudaRuntime>> rt =
      CudaRuntime::create(cudagen::emulated_driver_table(), cudagen::kEmulatedDriverName);
  INFO((rt.ok() ? std::string() : rt.error().message()));
  REQUIRE(rt.ok());
  return *rt;
}

// Fills every input of `exe`: floats uniform in [0, 1), integers in [0, classes).
inline void fill_inputs(Executable& exe, uint64_t seed, int64_t classes = 10) {
  std::mt19937_64 r(seed);
  for (const std::string& name : exe.input_names()) {
    HostBuffer* b = exe.input(name);
    const int64_t n = b->type().shape.numel();
    if (b->type().dtype == DType::f32)
      for (int64_t i = 0; i < n; ++i) b->as<float>()[i] = std::uniform_real_distribution<float>(0, 1)(r);
    else if (b->type().dtype == DType::i32)
      for (int64_t i = 0; i < n; ++i) b->as<int32_t>()[i] = static_cast<int32_t>(r() % classes);
  }
}

// "" when every f32 element of `got` is within atol + rtol * |want| of `want`.
inline std::string float_mismatch(const std::string& what, const HostBuffer& got, const HostBuffer& want,
                                  double rtol = 1e-4, double atol = 1e-5) {
  if (got.type() != want.type()) return what + ": types differ";
  if (got.type().dtype != DType::f32) return "";
  const int64_t n = got.type().shape.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double a = got.as<float>()[i], b = want.as<float>()[i];
    if (!(std::fabs(a - b) <= atol + rtol * std::fabs(b))) {
      std::ostringstream os;
      os << what << "[" << i << "]: device " << a << ", cpu " << b;
      return os.str();
    }
  }
  return "";
}

// Makes `target` the default compile target for the guard's life.
struct DefaultTargetGuard {
  explicit DefaultTargetGuard(cudagen::CudaTarget target) { cudagen::set_default_cuda_target(std::move(target)); }
  ~DefaultTargetGuard() { cudagen::set_default_cuda_target(std::nullopt); }
};

}  // namespace kiln::test
