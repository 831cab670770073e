// Graph -> CUDA Executable (see compile_device.h).
#include "codegen/cuda/compile_device.h"

#include <chrono>
#include <mutex>

#include "codegen/cuda/compile.h"
#include "codegen/cuda/emulate.h"
#include "codegen/cuda/emulated_driver.h"
#include "codegen/plan_program.h"

namespace kiln::cudagen {

CudaImageBuilder nvrtc_image_builder(std::optional<CompileCacheConfig> cache, std::string* ptx) {
  return [cache, ptx](const CudaProgram& program, const std::string& name,
                      const std::string& arch) -> Expected<std::vector<uint8_t>> {
    CudaCompileOptions o;
    o.arch = arch;
    o.cubin = true;
    CudaImage image = KILN_TRY(compile_cuda_cached(nvrtc_source({&program}), name, o, cache));
    if (image.compiled.cubin.empty()) return Error("NVRTC produced no cubin for " + name);
    if (ptx) *ptx = std::move(image.compiled.ptx);
    return std::move(image.compiled.cubin);
  };
}

CudaImageBuilder emulated_image_builder() {
  return [](const CudaProgram& program, const std::string& name,
            const std::string&) -> Expected<std::vector<uint8_t>> {
    // The whole-program entry is unused here; the driver calls the per-kernel launchers.
    std::shared_ptr<EmulatedModule> m = KILN_TRY(build_emulation({{&program, "kiln_emu_entry"}}));
    (void)name;
    return emulated_image(std::move(m));
  };
}

Expected<CompiledPlan> compile_cuda_plan(const Graph& g, const std::string& arch,
                                         const CudaImageBuilder& build, const CompileOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  PlannedProgram p = KILN_TRY(plan_program(g, options));
  Expected<CudaProgram> rendered = render_cuda(p.lowered.prog);
  if (!rendered.ok()) return rendered.error().wrap("compile for cuda");
  if (options.after_stage) options.after_stage("cuda", rendered->source);
  const CudaImageBuilder& b = build ? build : nvrtc_image_builder(options.cache);
  Expected<std::vector<uint8_t>> image = b(*rendered, p.plan.name, arch);
  if (!image.ok()) return image.error().wrap("compile for cuda");
  std::vector<CudaKernelLaunch> launches;
  for (const CudaLaunch& l : rendered->launches)
    launches.push_back({l.kernel, l.grid, l.block, l.dynamic_shared_bytes, l.kernel_index});
  describe_plan(p);
  CompiledPlan out{std::move(p.plan),
                   std::make_shared<CudaCodeModule>(std::move(*image), std::move(launches), arch,
                                                    std::move(rendered->source))};
  out.plan.stats.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Expected<std::unique_ptr<Executable>> compile_cuda(const Graph& g, std::shared_ptr<StateStore> state,
                                                   const CudaTarget& target, const CompileOptions& options) {
  if (!target.runtime) return Error("compile for cuda: no device");
  CompiledPlan cp = KILN_TRY(compile_cuda_plan(g, target.runtime->device().arch(), target.build, options));
  BindOptions bo;
  bo.device = target.runtime;
  bo.profile = options.profile;  // the device times its launches (runtime/cuda_runtime.h)
  Expected<std::unique_ptr<Executable>> exe =
      Executable::bind(std::move(cp.plan), std::move(cp.code), std::move(state), bo);
  if (!exe.ok()) return exe.error().wrap("compile for cuda");
  return exe;
}

namespace {
std::mutex g_default_mu;
std::optional<CudaTarget> g_default;
}  // namespace

void set_default_cuda_target(std::optional<CudaTarget> target) {
  std::lock_guard<std::mutex> lock(g_default_mu);
  g_default = std::move(target);
}

std::optional<CudaTarget> default_cuda_target() {
  std::lock_guard<std::mutex> lock(g_default_mu);
  return g_default;
}

Expected<std::unique_ptr<Executable>> compile_on_default_device(const Graph& g,
                                                                std::shared_ptr<StateStore> state,
                                                                const CompileOptions& options) {
  if (std::optional<CudaTarget> t = default_cuda_target()) return compile_cuda(g, std::move(state), *t, options);
  return compile(g, std::move(state), options);
}

}  // namespace kiln::cudagen
