// --device (device_flag.h).
#include "tools/device_flag.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <regex>

#include "codegen/compile.h"
#include "codegen/cuda/compile_device.h"
#include "codegen/cuda/emulated_driver.h"
#include "runtime/cuda_driver.h"
#include "runtime/cuda_runtime.h"
#include "tools/args.h"

namespace kiln::cli {

void add_device_flag(CLI::App& command, std::string& device) {
  add_choice(command, "--device", device, {"cpu", "cuda"}, "device",
             "cpu (default), or cuda (an NVIDIA GPU through the CUDA driver)");
}

void add_arch_flag(CLI::App& command, std::string& arch) {
  command
      .add_option("--arch", arch,
                  "with --device cuda: compile for this architecture (sm_80, sm_90, ...) "
                  "without a driver or GPU (default: the device's)")
      ->type_name("SM")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            static const std::regex arch_re("sm_[0-9]{2,3}[af]?");
            if (std::regex_match(text, arch_re)) return "";
            return "'" + text + "' is not a CUDA architecture (sm_ and its number: sm_80, sm_90)";
          },
          "", "arch"));
}

Status check_offline_cuda(const std::string& device, const std::string& arch) {
  if (device != "cuda") return Error("--arch " + arch + " goes with --device cuda");
  return Status::Ok();
}

Status check_device(const std::string& device, const std::string& command, const std::string& arch) {
  if (!arch.empty()) return check_offline_cuda(device, arch);
  // A -DKILN_LLVM=OFF build has no CPU code generator (codegen/no_llvm.cpp).
  if (device == "cpu" && !llvm_backend_built())
    return Error("--device cpu: " + no_llvm_backend_error().message());
  if (device != "cuda") return Status::Ok();
  // `kiln compile` compiles for a GPU without running on one: it asks the driver only
  // when no --arch names the target (tools/cmd_compile.cpp).
  if (command == "compile") return Status::Ok();
  const char* env = std::getenv("KILN_CUDA_DRIVER");
  const bool emulated = env && std::string(env) == cudagen::kEmulatedDriverName;
  std::shared_ptr<CudaRuntime> runtime;
  if (emulated) {
    Expected<std::shared_ptr<CudaRuntime>> rt =
        CudaRuntime::create(cudagen::emulated_driver_table(), cudagen::kEmulatedDriverName);
    if (!rt.ok()) return Error("--device cuda: " + rt.error().message());
    runtime = *rt;
  } else {
    // The probe first: its refusals are the one line a machine without a GPU gets.
    Expected<CudaSystem> sys = probe_cuda_system();
    if (!sys.ok()) return Error("--device cuda: " + sys.error().message());
    Expected<CudaDriverTable> table = load_cuda_driver();
    if (!table.ok()) return Error("--device cuda: " + table.error().message());
    Expected<std::shared_ptr<CudaRuntime>> rt = CudaRuntime::create(*table, sys->library);
    if (!rt.ok()) return Error("--device cuda: " + rt.error().message());
    runtime = *rt;
  }
  cudagen::CudaTarget target;
  target.runtime = runtime;
  target.build = emulated ? cudagen::emulated_image_builder() : cudagen::nvrtc_image_builder();
  cudagen::set_default_cuda_target(std::move(target));
  return Status::Ok();
}

}  // namespace kiln::cli
