// --device (device_flag.h).
#include "tools/device_flag.h"

#include <CLI/CLI.hpp>

#include "codegen/compile.h"
#include "runtime/cuda_driver.h"
#include "tools/args.h"

namespace kiln::cli {

void add_device_flag(CLI::App& command, std::string& device) {
  add_choice(command, "--device", device, {"cpu", "cuda"}, "device",
             "cpu (default), or cuda (an NVIDIA GPU through the CUDA driver)");
}

Status check_device(const std::string& device) {
  // A -DKILN_LLVM=OFF build has no CPU code generator (codegen/no_llvm.cpp).
  if (device == "cpu" && !llvm_backend_built())
    return Error("--device cpu: " + no_llvm_backend_error().message());
  if (device != "cuda") return Status::Ok();
  Expected<CudaSystem> sys = probe_cuda_system();
  if (!sys.ok()) return Error("--device cuda: " + sys.error().message());
  std::string found;
  for (const CudaDevice& d : sys->devices)
    found += (found.empty() ? "" : ", ") + d.name + " (" + d.arch() + ")";
  return Error("--device cuda: found " + found +
               ", but kiln's CUDA backend is not built yet; use --device cpu");
}

}  // namespace kiln::cli
