// compile_cuda_module (see module_file.h).
#include "codegen/cuda/module_file.h"

#include "runtime/cuda_arch.h"
#include "runtime/model_weights.h"

namespace kiln::cudagen {

Expected<CompiledModuleFile> compile_cuda_module(const ModelFile& model, const CudaModuleOptions& options) {
  Expected<CudaArch> arch = parse_cuda_arch(options.arch);
  if (!arch.ok() || arch->ptx) return Error("--arch '" + options.arch + "' is not sm_NN (e.g. sm_80, sm_90)");
  std::string ptx;
  const CudaImageBuilder build = options.build ? options.build : nvrtc_image_builder(options.cache, &ptx);
  CompileOptions co;
  co.fusion = options.fusion;
  CompiledPlan cp = KILN_TRY(compile_cuda_plan(model.graph, options.arch, build, co));
  auto* code = dynamic_cast<CudaCodeModule*>(cp.code.get());
  KILN_CHECK(code, "compile_cuda_plan returned no CUDA code");

  CompiledModuleFile mf;
  mf.plan = std::move(cp.plan);
  mf.plan.description.clear();  // inspection text: not needed to run, and large
  mf.cuda = ModuleCudaCode{options.arch, code->image(), std::move(ptx), code->launches(), code->text()};
  if (options.embed_weights) {
    std::vector<ModuleWeight> all;
    for (const NamedTensor& t : model.parameters) all.push_back({t.name, t.type, t.bytes});
    mf.weights = KILN_TRY(weights_for_plan(mf.plan, std::move(all), options.source));
  }
  mf.metadata = model.metadata;
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"kiln.compiled_for", "cuda " + options.arch},
                                   {"kiln.weights", options.embed_weights ? "embedded" : "external"}}) {
    std::erase_if(mf.metadata, [&](const auto& kv) { return kv.first == key; });
    mf.metadata.push_back({key, value});
  }
  KILN_RETURN_IF_ERROR(check_weights(mf.plan, mf.weights, options.source + ": "));
  KILN_RETURN_IF_ERROR(check_cuda_code(mf.plan, *mf.cuda, options.source + ": "));
  return mf;
}

}  // namespace kiln::cudagen
