// compile(): Graph -> ExecutablePlan (codegen/plan_program.h) + native code
// (codegen/native_code.h: the LLVM backend, or its absence in a -DKILN_LLVM=OFF build)
// -> Executable: the runtime binds the two.
#include "codegen/compile.h"

#include <chrono>

#include "codegen/native_code.h"
#include "codegen/plan_program.h"
#include "runtime/profile.h"

namespace kiln {

Error no_llvm_backend_error() {
  return Error(
      "this kiln was built without the LLVM backend (-DKILN_LLVM=OFF), so it cannot compile "
      "for the CPU: use --device cuda, or build kiln with -DKILN_LLVM=ON");
}

Expected<CompiledPlan> compile_plan(const Graph& source, const CompileOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  PlannedProgram p = KILN_TRY(plan_program(source, options));
  Expected<NativeCode> native = native_code(p.lowered.prog, p.plan.entry_symbol, options);
  if (!native.ok()) return native.error().wrap("compile");
  describe_plan(p);
  CompiledPlan out{std::move(p.plan), std::move(native->code)};
  out.plan.stats.cache_hit = native->cache_hit;
  out.plan.stats.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Expected<std::unique_ptr<Executable>> compile(const Graph& g, std::shared_ptr<StateStore> state,
                                              const CompileOptions& options) {
  CompiledPlan cp = KILN_TRY(compile_plan(g, options));
  if (options.profile) profile_reset(static_cast<int>(cp.plan.launches.size()));
  BindOptions bo;
  bo.profile = options.profile;
  Expected<std::unique_ptr<Executable>> exe =
      Executable::bind(std::move(cp.plan), std::move(cp.code), std::move(state), bo);
  if (!exe.ok()) return exe.error().wrap("compile");
  return exe;
}

}  // namespace kiln
