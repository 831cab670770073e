// CUDA source -> PTX + cubin with the on-disk compile cache (DESIGN.md convention 9):
// an entry is keyed by the kernel source, the NVRTC version, the architecture and the
// compile options, and stored through codegen/compile_cache.h (atomic writes, checksums;
// a corrupt entry is a miss), so compiling a model's kernels a second time skips NVRTC
// and nvJitLink.
#pragma once

#include <optional>

#include "codegen/compile_cache.h"
#include "runtime/nvrtc.h"

namespace kiln::cudagen {

struct CudaImage {
  CudaCompiled compiled;
  bool cache_hit = false;
};

// compile_cuda through the cache `cache` (unset: default_compile_cache(); a cache that
// is off or cannot be opened compiles every time).
Expected<CudaImage> compile_cuda_cached(const std::string& source, const std::string& name,
                                        const CudaCompileOptions& options,
                                        const std::optional<CompileCacheConfig>& cache = std::nullopt);

}  // namespace kiln::cudagen
