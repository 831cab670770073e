// The table of runtime functions generated code may call (runtime/abi.h).
#include "runtime/abi.h"

#include <array>

namespace kiln::abi {

std::span<const RuntimeSymbol> runtime_symbols() {
  static const std::array<RuntimeSymbol, 8> table = {{
      {kParallelFor, reinterpret_cast<void*>(&kiln_parallel_for)},
      {kGemmF32, reinterpret_cast<void*>(&kiln_gemm_f32)},
      {kGemmF64, reinterpret_cast<void*>(&kiln_gemm_f64)},
      {kConv2dF32, reinterpret_cast<void*>(&kiln_conv2d_f32)},
      {kConv2dF64, reinterpret_cast<void*>(&kiln_conv2d_f64)},
      {kMaxPoolGradF32, reinterpret_cast<void*>(&kiln_max_pool2d_grad_f32)},
      {kMaxPoolGradF64, reinterpret_cast<void*>(&kiln_max_pool2d_grad_f64)},
      {kProfileTick, reinterpret_cast<void*>(&kiln_profile_tick)},
  }};
  return table;
}

}  // namespace kiln::abi
