// The table of runtime functions generated code may call (runtime/abi.h).
#include "runtime/abi.h"

#include <array>

namespace kiln::abi {

std::span<const RuntimeSymbol> runtime_symbols() {
  static const std::array<RuntimeSymbol, 4> table = {{
      {kParallelFor, reinterpret_cast<void*>(&kiln_parallel_for)},
      {kGemmF32, reinterpret_cast<void*>(&kiln_gemm_f32)},
      {kGemmF64, reinterpret_cast<void*>(&kiln_gemm_f64)},
      {kProfileTick, reinterpret_cast<void*>(&kiln_profile_tick)},
  }};
  return table;
}

}  // namespace kiln::abi
