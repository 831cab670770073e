// native_code() with the LLVM backend (codegen/native_code.h): render the kernel program
// to LLVM IR with its entry symbol, compile it at O3 for the target into an object (or
// take the object from the compile cache), and load that into the JIT.
#include "codegen/native_code.h"

#include "codegen/compile_cache.h"
#include "codegen/llvm/jit.h"
#include "codegen/llvm/object.h"
#include "codegen/llvm/renderer.h"
#include "codegen/llvm/target.h"
#include "runtime/abi.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"

namespace kiln {

namespace {

// Code-generation settings that change the object but not the IR (object.h, target.h).
constexpr const char* kCodegenOptions = "O3 pic small-code-model";

// Renders `prog` and returns its code: the cached object when the compile cache holds
// one for this IR and target that loads, else a freshly compiled object (then cached).
// With `keep_ir` the cache is not read (it holds no IR) and the optimized IR is passed
// to after_stage("llvm").
Expected<NativeCode> render_and_load(const kir::KernelProgram& prog,
                                     const llvmgen::RenderOptions& ropts,
                                     const llvmgen::TargetSpec& target,
                                     const CompileOptions& options) {
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

bool llvm_backend_built() { return true; }

Expected<NativeCode> native_code(const kir::KernelProgram& prog, const std::string& entry_symbol,
                                 const CompileOptions& options) {
  Expected<llvmgen::TargetSpec> target = options.target_cpu == "native"
                                             ? llvmgen::host_target()
                                             : llvmgen::parse_target(options.target_cpu);
  if (!target.ok()) return target.error();
  llvmgen::RenderOptions ropts;
  ropts.profile = options.profile;
  ropts.entry_symbol = entry_symbol;
  return render_and_load(prog, ropts, *target, options);
}

}  // namespace kiln
