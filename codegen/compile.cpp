// compile(): Graph -> ExecutablePlan (codegen/plan_program.h) + JIT code -> Executable:
// render the kernel program to LLVM IR with a unique entry symbol, compile it at O3 for
// the target into an object (or take the object from the compile cache), load that into
// the JIT, and let the runtime bind.
#include "codegen/compile.h"

#include <chrono>

#include "codegen/compile_cache.h"
#include "codegen/llvm/jit.h"
#include "codegen/llvm/object.h"
#include "codegen/llvm/renderer.h"
#include "codegen/llvm/target.h"
#include "codegen/plan_program.h"
#include "runtime/abi.h"
#include "runtime/profile.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"

namespace kiln {

namespace {

// Code-generation settings that change the object but not the IR (object.h, target.h).
constexpr const char* kCodegenOptions = "O3 pic small-code-model";

struct NativeCode {
  std::unique_ptr<CodeModule> code;
  bool cache_hit = false;
};

// Renders `prog` and returns its code: the cached object when the compile cache holds
// one for this IR and target that loads, else a freshly compiled object (then cached).
// With `keep_ir` the cache is not read (it holds no IR) and the optimized IR is passed
// to after_stage("llvm").
Expected<NativeCode> native_code(const kir::KernelProgram& prog,
                                 const llvmgen::RenderOptions& ropts,
                                 const llvmgen::TargetSpec& target, const CompileOptions& options) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module = llvmgen::render(prog, ctx, ropts);
  const bool keep_ir = options.want_llvm && options.after_stage;
  std::optional<CompileCache> cache =
      CompileCache::open(options.cache ? *options.cache : default_compile_cache());
  CacheKey key;
  if (cache) {
    std::string ir;
    llvm::raw_string_ostream os(ir);
    module->print(os, nullptr);
    key = make_cache_key({ir, target.triple, target.cpu, target.features, LLVM_VERSION_STRING,
                          std::to_string(KILN_ABI_VERSION), kCodegenOptions});
    if (!keep_ir)
      if (std::optional<std::vector<char>> object = cache->load(key)) {
        // An entry that does not load is a miss: compiled again and overwritten below.
        auto program = llvmgen::load_object(*object, target, ropts.entry_symbol);
        if (program.ok()) return NativeCode{std::move(*program), true};
      }
  }
  std::string optimized_ir;
  llvmgen::ObjectOptions oo;
  if (keep_ir) oo.optimized_ir = &optimized_ir;
  std::vector<char> object = KILN_TRY(llvmgen::emit_object(*module, target, oo));
  if (cache) cache->store(key, object);
  std::unique_ptr<CodeModule> program =
      KILN_TRY(llvmgen::load_object(object, target, ropts.entry_symbol));
  if (keep_ir) options.after_stage("llvm", optimized_ir);
  return NativeCode{std::move(program), false};
}

}  // namespace

Expected<CompiledPlan> compile_plan(const Graph& source, const CompileOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  PlannedProgram p = KILN_TRY(plan_program(source, options));
  Expected<llvmgen::TargetSpec> target = options.target_cpu == "native"
                                              ? llvmgen::host_target()
                                              : llvmgen::parse_target(options.target_cpu);
  if (!target.ok()) return target.error().wrap("compile");
  llvmgen::RenderOptions ropts;
  ropts.profile = options.profile;
  ropts.entry_symbol = p.plan.entry_symbol;
  Expected<NativeCode> native = native_code(p.lowered.prog, ropts, *target, options);
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
