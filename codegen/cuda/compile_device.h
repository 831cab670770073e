// Graph -> an Executable on a CUDA device (issue 11, item 3): the CPU path's passes, plan
// and kernel IR (plan_program), the CUDA renderer, an image for the device's
// architecture, and Executable::bind with the device runtime (runtime/cuda_runtime.h).
// How the rendered program becomes the bytes cuModuleLoadData takes is a parameter:
// NVRTC + nvJitLink through the compile cache on a GPU machine, the host emulator in
// tests (emulated_image_builder), so everything past rendering is the same code.
//
// The default target is what the CLI's `--device cuda` selects; compile_on_default_device
// is what the model zoo's executable cache calls, so every model trains on it unchanged.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codegen/compile.h"
#include "codegen/cuda/renderer.h"
#include "runtime/cuda_runtime.h"

namespace kiln::cudagen {

// The rendered program (kernels without a prelude, and the launch table) and its name ->
// the image for `arch` (sm_XX).
using CudaImageBuilder = std::function<Expected<std::vector<uint8_t>>(
    const CudaProgram& program, const std::string& name, const std::string& arch)>;

// NVRTC -> PTX -> cubin, cached (codegen/cuda/compile.h); unset cache: the default one.
// With `ptx`, each build also stores its PTX there (the caller keeps it alive).
CudaImageBuilder nvrtc_image_builder(std::optional<CompileCacheConfig> cache = std::nullopt,
                                     std::string* ptx = nullptr);
// The host emulator's build (codegen/cuda/emulate.h), for the emulated driver only.
CudaImageBuilder emulated_image_builder();

struct CudaTarget {
  std::shared_ptr<CudaRuntime> runtime;
  CudaImageBuilder build;  // unset: nvrtc_image_builder()
};

// The plan and its CUDA code module (not yet bound). Uses options.verify, fusion,
// arena_guard_bytes, init_seed, after_stage ("fusion", "kernels", and "cuda": the
// rendered source); options.profile is a binding's (compile_cuda passes it on).
Expected<CompiledPlan> compile_cuda_plan(const Graph& g, const std::string& arch,
                                         const CudaImageBuilder& build,
                                         const CompileOptions& options = {});

// compile_cuda_plan + Executable::bind on target.runtime: model-scoped state lives in
// `state` (on the device through its mirror), as compile() does on the CPU.
Expected<std::unique_ptr<Executable>> compile_cuda(const Graph& g, std::shared_ptr<StateStore> state,
                                                   const CudaTarget& target,
                                                   const CompileOptions& options = {});

// The target `--device cuda` selected (nullopt: the CPU).
void set_default_cuda_target(std::optional<CudaTarget> target);
std::optional<CudaTarget> default_cuda_target();

// compile_cuda on the default target when one is set, else compile() for the CPU.
Expected<std::unique_ptr<Executable>> compile_on_default_device(const Graph& g,
                                                                std::shared_ptr<StateStore> state,
                                                                const CompileOptions& options = {});

}  // namespace kiln::cudagen
