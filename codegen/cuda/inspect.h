// What the CUDA backend makes of a graph, for `kiln inspect --device cuda`: the plan, the
// rendered source and launch table (in the CudaCodeModule), and NVRTC's result for an
// architecture (cubin size, ptxas's registers and spills per kernel). Needs NVRTC and
// nvJitLink, not a driver or a GPU.
#pragma once

#include <map>
#include <string>

#include "codegen/compile.h"
#include "codegen/cuda/kernel_resources.h"

namespace kiln::cudagen {

struct CudaInspection {
  CompiledPlan compiled;  // compiled.code is a CudaCodeModule
  std::string nvrtc_version;
  size_t cubin_bytes = 0;
  std::map<std::string, KernelResources> resources;  // by kernel name
};

// compile_cuda_plan for `arch` through NVRTC (always compiled: the compile cache keeps
// no resource report) with ptxas's report. Errors: a malformed arch, NVRTC's or
// nvJitLink's.
Expected<CudaInspection> inspect_cuda(const Graph& g, const std::string& arch,
                                      const CompileOptions& options = {});

}  // namespace kiln::cudagen
