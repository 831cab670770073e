// `kiln inspect --device cuda` (see inspect.h).
#include "codegen/cuda/inspect.h"

#include "codegen/cuda/compile.h"
#include "codegen/cuda/compile_device.h"

namespace kiln::cudagen {

Expected<CudaInspection> inspect_cuda(const Graph& g, const std::string& arch, const CompileOptions& options) {
  CudaInspection out;
  out.nvrtc_version = KILN_TRY(nvrtc_version());
  // The compile_cuda_plan image builder, keeping what NVRTC and ptxas said.
  CudaImageBuilder build = [&out, &options](const CudaProgram& program, const std::string& name,
                                           const std::string& for_arch) -> Expected<std::vector<uint8_t>> {
    CudaCompileOptions o;
    o.arch = for_arch;
    o.cubin = true;
    o.resource_usage = true;
    CudaImage image = KILN_TRY(compile_cuda_cached(nvrtc_source({&program}), name, o, options.cache));
    out.cubin_bytes = image.compiled.cubin.size();
    out.cache_hit = image.cache_hit;
    out.resources = parse_kernel_resources(image.compiled.log);
    return std::move(image.compiled.cubin);
  };
  out.compiled = KILN_TRY(compile_cuda_plan(g, arch, build, options));
  return out;
}

}  // namespace kiln::cudagen
