// Serialized CUDA modules on a device (see cuda_module.h).
#include "runtime/cuda_module.h"

#include "runtime/aot_module.h"
#include "runtime/cuda_arch.h"

namespace kiln {

namespace {

Error refuse(ModuleError* why, ModuleError kind, Error e) {
  if (why) *why = kind;
  return e;
}

}  // namespace

Expected<std::shared_ptr<CudaCodeModule>> cuda_code_for_device(const ModuleCudaCode& code,
                                                                const CudaDevice& device,
                                                                const std::string& source) {
  Status cubin = check_cuda_arch(code.arch, device.major, device.minor);
  if (cubin.ok())
    return std::make_shared<CudaCodeModule>(code.image, code.launches, code.arch, code.source);
  const std::string refused = source + ": " + cubin.error().message();
  if (code.ptx.empty()) return Error(refused + ", and the module carries no PTX");
  CudaArch arch = KILN_TRY(parse_cuda_arch(code.arch));
  arch.ptx = true;
  if (Status ptx = check_cuda_arch(arch.name(), device.major, device.minor); !ptx.ok())
    return Error(refused + "; " + ptx.error().message());
  // cuModuleLoadData takes PTX as NUL-terminated text.
  std::vector<uint8_t> text(code.ptx.begin(), code.ptx.end());
  text.push_back(0);
  return std::make_shared<CudaCodeModule>(std::move(text), code.launches, arch.name(), code.source);
}

Expected<std::unique_ptr<Executable>> bind_cuda_module(const CompiledModuleFile& module,
                                                       const std::string& source,
                                                       std::shared_ptr<CudaRuntime> runtime,
                                                       std::shared_ptr<StateStore> state,
                                                       const std::vector<ModuleWeight>* weights,
                                                       ModuleError* why) {
  if (!module.cuda)
    return refuse(why, ModuleError::Format,
                  Error(source + ": the module holds CPU code, not CUDA code (compile it with --device cuda)"));
  if (!runtime) return refuse(why, ModuleError::Device, Error(source + ": no CUDA device"));
  Expected<std::shared_ptr<CudaCodeModule>> code = cuda_code_for_device(*module.cuda, runtime->device(), source);
  if (!code.ok()) return refuse(why, ModuleError::DeviceArch, code.error());
  BindOptions options;
  options.device = runtime;
  Expected<std::unique_ptr<Executable>> exe =
      Executable::bind(module.plan, std::move(*code), std::move(state), options);
  if (!exe.ok()) return refuse(why, ModuleError::Device, exe.error().wrap(source));
  if (Status st = load_weights(**exe, weights ? *weights : module.weights, source); !st.ok())
    return refuse(why, ModuleError::Format, st.error());
  return exe;
}

Expected<std::unique_ptr<Executable>> open_cuda_module(const std::string& path, int ordinal,
                                                       CompiledModuleFile* manifest, ModuleError* why) {
  CompiledModuleFile m = KILN_TRY(load_module(path, why));
  if (!m.cuda)
    return refuse(why, ModuleError::Format,
                  Error(path + ": the module holds CPU code, not CUDA code (compile it with --device cuda)"));
  Expected<CudaSystem> sys = probe_cuda_system();
  if (!sys.ok()) return refuse(why, ModuleError::Device, sys.error().wrap(path));
  Expected<CudaDriverTable> driver = load_cuda_driver();
  if (!driver.ok()) return refuse(why, ModuleError::Device, driver.error().wrap(path));
  Expected<std::shared_ptr<CudaRuntime>> rt = CudaRuntime::create(*driver, sys->library, ordinal);
  if (!rt.ok()) return refuse(why, ModuleError::Device, rt.error().wrap(path));
  std::unique_ptr<Executable> exe = KILN_TRY(bind_cuda_module(m, path, *rt, nullptr, nullptr, why));
  m.weights.clear();  // copied into the executable's state
  if (manifest) *manifest = std::move(m);
  return exe;
}

}  // namespace kiln
