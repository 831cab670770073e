// --device cpu|cuda: the device a `kiln` command computes on (train, eval, inspect, bench,
// run, generate, translate, compile). cpu is the default. cuda first asks the driver
// (runtime/cuda_driver.h) whether this machine has a GPU, so that a machine without one
// gets one line naming why; with one, it starts the device runtime
// (runtime/cuda_runtime.h) and makes it the default compile target
// (codegen/cuda/compile_device.h), so `train` and `eval` run their executables on it.
// The other commands still stop with one line: their CUDA paths are not built yet;
// `compile` checks cuda itself (it needs the driver only to learn the GPU's arch).
//
// `$KILN_CUDA_DRIVER=kiln-emulator` selects the emulated driver
// (codegen/cuda/emulated_driver.h): kernels run on the host emulator, a test hook.
#pragma once

#include <string>

#include "ir/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace kiln::cli {

void add_device_flag(CLI::App& command, std::string& device);

// Ok for "cpu"; for "cuda", the driver's or runtime's error, or the refusal of a
// `command` with no CUDA path; on success the CUDA target is the default.
Status check_device(const std::string& device, const std::string& command);

}  // namespace kiln::cli
