// --device cpu|cuda: the device a `kiln` command computes on (train, eval, inspect, bench,
// run, generate, translate, compile). cpu is the default. cuda first asks the driver
// (runtime/cuda_driver.h) whether this machine has a GPU, so that a machine without one
// gets one line naming why; with one, it starts the device runtime
// (runtime/cuda_runtime.h) and makes it the default compile target
// (codegen/cuda/compile_device.h), so the commands' executables run on it (train, eval,
// bench, run, generate, translate; inspect compiles for its architecture). `compile`
// checks cuda itself: it needs the driver only to learn the GPU's arch.
//
// --arch sm_XX (inspect, compile): the architecture to compile for. Given, `--device cuda`
// needs no driver or GPU (NVRTC is enough), so check_device only checks the pair.
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
// --arch, checked while parsing to be sm_ and two or three digits (sm_80, sm_90a, sm_100).
void add_arch_flag(CLI::App& command, std::string& arch);

// Ok for "cpu"; for "cuda", the driver's or runtime's error, or the refusal of a
// `command` with no CUDA path; on success the CUDA target is the default. With `arch`
// (the command's --arch, "" if none) no driver is started: see check_offline_cuda.
Status check_device(const std::string& device, const std::string& command,
                    const std::string& arch = "");

// --arch given: Ok with --device cuda (nothing is started; the command compiles for
// `arch`), an error naming the pair with --device cpu.
Status check_offline_cuda(const std::string& device, const std::string& arch);

}  // namespace kiln::cli
