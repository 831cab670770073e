// compile_aot: plan the model's graph as the JIT does (codegen/plan_program.h), name the
// entry PREFIX_entry, serialize the manifest, render the kernels and add the manifest as
// two constants to the same LLVM module, then optimise and emit one object for the target.
#include "codegen/aot.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "codegen/aot_header.h"
#include "codegen/llvm/object.h"
#include "codegen/llvm/renderer.h"
#include "codegen/llvm/target.h"
#include "codegen/plan_program.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "runtime/model_weights.h"

namespace kiln {

namespace {

void set_metadata(std::vector<std::pair<std::string, std::string>>& meta, const std::string& key,
                  const std::string& value) {
  for (auto& [k, v] : meta)
    if (k == key) {
      v = value;
      return;
    }
  meta.push_back({key, value});
}

// PREFIX_module (64-byte aligned bytes) and PREFIX_module_size (unsigned long).
void add_manifest(llvm::Module& m, const std::string& prefix, const std::vector<uint8_t>& bytes) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Constant* data = llvm::ConstantDataArray::get(ctx, llvm::ArrayRef<uint8_t>(bytes));
  auto* g = new llvm::GlobalVariable(m, data->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::ExternalLinkage, data, prefix + "_module");
  g->setAlignment(llvm::Align(64));
  llvm::Type* i64 = llvm::Type::getInt64Ty(ctx);
  new llvm::GlobalVariable(m, i64, true, llvm::GlobalValue::ExternalLinkage,
                           llvm::ConstantInt::get(i64, bytes.size()), prefix + "_module_size");
}

}  // namespace

Expected<AotOutput> compile_aot(const ModelFile& model, const AotOptions& options) {
  if (!is_c_identifier(options.prefix))
    return Error("--prefix '" + options.prefix +
                 "' is not a C identifier (letters, digits and '_', not starting with a digit)");
  llvmgen::TargetSpec target = KILN_TRY(llvmgen::parse_target(options.target_cpu));
  CompileOptions co;
  co.fusion = options.fusion;
  PlannedProgram p = KILN_TRY(plan_program(model.graph, co));
  p.plan.entry_symbol = options.prefix + "_entry";
  describe_plan(p);

  AotOutput out;
  CompiledModuleFile& mf = out.manifest;
  mf.target = {target.triple, target.cpu, target.required_features};
  mf.plan = p.plan;
  mf.plan.description.clear();  // inspection text: not needed to run, and large
  if (options.embed_weights) {
    std::vector<ModuleWeight> all;
    for (const NamedTensor& t : model.parameters) all.push_back({t.name, t.type, t.bytes});
    mf.weights = KILN_TRY(weights_for_plan(mf.plan, std::move(all), options.source));
  }
  mf.metadata = model.metadata;
  set_metadata(mf.metadata, "kiln.compiled_for", target.name);
  set_metadata(mf.metadata, "kiln.weights", options.embed_weights ? "embedded" : "external");
  KILN_RETURN_IF_ERROR(check_weights(mf.plan, mf.weights, options.source + ": "));
  const std::vector<uint8_t> manifest = serialize_module(mf);

  llvm::LLVMContext ctx;
  llvmgen::RenderOptions ro;
  ro.entry_symbol = p.plan.entry_symbol;
  std::unique_ptr<llvm::Module> module = llvmgen::render(p.lowered.prog, ctx, ro);
  add_manifest(*module, options.prefix, manifest);
  out.object = KILN_TRY(llvmgen::emit_object(*module, target));
  out.header = aot_header(mf.plan, {options.prefix, options.source, target.name,
                                    target.required_features});
  return out;
}

Status link_shared_library(const std::string& object_path, const std::string& so_path) {
  const char* cc = std::getenv("CC");
  const std::string driver = cc && *cc ? cc : "cc";
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  const std::string cmd = driver + " -shared -o " + quote(so_path) + " " + quote(object_path) +
                          " -lm 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return Error("cannot run the C compiler driver '" + driver + "' to link " + so_path);
  std::string output;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) output.append(buf.data(), n);
  const int status = pclose(p);
  if (status != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error("linking " + so_path + " with '" + driver + " -shared' failed" +
                 (output.empty() ? std::string(" (is a C compiler installed? set $CC)")
                                 : ":\n" + output));
  return Status::Ok();
}

}  // namespace kiln
