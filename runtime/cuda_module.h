// A serialized CUDA module (runtime/module_format.h with `cuda` set; `kiln compile
// --device cuda`) bound to a device by kiln_rt alone: no NVRTC, no LLVM, no renderer.
// The module's plan is the memory plan and launch list; its CUDA code is a cubin for one
// architecture, optionally PTX, and the launch table. Loading picks the image the device
// can run (runtime/cuda_arch.h): the cubin on its own major version at the same or a
// newer minor, else the PTX (the driver compiles it) on a device at least as new, else
// one error naming the module, its architecture and the device. Binding then goes
// through the device runtime (runtime/cuda_runtime.h) as a JIT-compiled plan does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/cuda_runtime.h"
#include "runtime/module_format.h"

namespace kiln {

// The code module for `device` from `code`; errors start with `source`.
Expected<std::shared_ptr<CudaCodeModule>> cuda_code_for_device(const ModuleCudaCode& code,
                                                                const CudaDevice& device,
                                                                const std::string& source);

// Binds a CUDA module's plan on `runtime`: model-scoped state in `state` (a new store
// when null), filled from `weights`, or from the module's embedded weights when `weights`
// is null; state without a value starts from its initializer. A module without CUDA code
// is refused. Errors start with `source`; `why`, when given, says which kind (Format,
// DeviceArch, Device).
Expected<std::unique_ptr<Executable>> bind_cuda_module(const CompiledModuleFile& module,
                                                       const std::string& source,
                                                       std::shared_ptr<CudaRuntime> runtime,
                                                       std::shared_ptr<StateStore> state = nullptr,
                                                       const std::vector<ModuleWeight>* weights = nullptr,
                                                       ModuleError* why = nullptr);

// load_module + the CUDA driver (libcuda.so.1, or $KILN_CUDA_DRIVER) + device `ordinal`
// + bind_cuda_module with the embedded weights: what kiln_model_open_cuda does.
Expected<std::unique_ptr<Executable>> open_cuda_module(const std::string& path, int ordinal,
                                                       CompiledModuleFile* manifest, ModuleError* why);

}  // namespace kiln
