// `kiln inspect --device cuda` (see inspect.h).
#include "codegen/cuda/inspect.h"

#include "codegen/cuda/compile_device.h"
#include "runtime/nvrtc.h"

namespace kiln::cudagen {

Expected<CudaInspection> inspect_cuda(const Graph& g, const std::string& arch, const CompileOptions& options) {
  CudaInspection out;
  out.nvrtc_version = KILN_TRY(nvrtc_version());
  // The compile_cuda_plan image builder, keeping what NVRTC and ptxas said. Not through
  // the compile cache: its entries keep the PTX and cubin, not ptxas's report.
  CudaImageBuilder build = [&out](const CudaProgram& program, const std::string& name,
                                  const std::string& for_arch) -> Expected<std::vector<uint8_t>> {
    CudaCompileOptions o;
    o.arch = for_arch;
    o.cubin = true;
    o.resource_usage = true;
    CudaCompiled compiled = KILN_TRY(compile_cuda(nvrtc_source({&program}), name, o));
    out.cubin_bytes = compiled.cubin.size();
    out.resources = parse_kernel_resources(compiled.log);
    return std::move(compiled.cubin);
  };
  out.compiled = KILN_TRY(compile_cuda_plan(g, arch, build, options));
  return out;
}

}  // namespace kiln::cudagen
