// `kiln compile --device cuda`: a deployable model file (ir/serialize.h) -> the plan and
// CUDA code the JIT path would compile for a GPU (compile_cuda_plan: the same passes,
// memory plan and kernels) -> a serialized module (runtime/module_format.h, "KMOD") that
// kiln_rt binds without NVRTC (runtime/cuda_module.h): the plan, the cubin for one
// architecture, its PTX, the launch table, the CUDA C++ source, the weights (embedded or
// left to the model file) and the model's metadata.
#pragma once

#include <string>

#include "codegen/cuda/compile_device.h"
#include "ir/serialize.h"
#include "runtime/module_format.h"

namespace kiln::cudagen {

struct CudaModuleOptions {
  std::string arch;            // sm_NN (required)
  bool embed_weights = true;   // false: the application loads the model file's
  bool fusion = true;
  std::string source = "model";  // names the model file in messages
  // Unset: NVRTC (cubin and PTX, through the compile cache). Tests pass the emulator's
  // builder, whose image only the emulated driver of the same process loads.
  CudaImageBuilder build;
  std::optional<CompileCacheConfig> cache;  // for NVRTC; unset: the default cache
};

Expected<CompiledModuleFile> compile_cuda_module(const ModelFile& model, const CudaModuleOptions& options);

}  // namespace kiln::cudagen
