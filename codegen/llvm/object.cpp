// optimize_module and emit_object (object.h): LLVM's new pass manager for the O3
// pipeline, then the legacy code-generation pipeline (TargetMachine::addPassesToEmitFile)
// writing the object into memory.
#include "codegen/llvm/object.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

namespace kiln::llvmgen {

Status optimize_module(llvm::Module& m, llvm::TargetMachine& tm) {
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple().str());
  std::string verr;
  llvm::raw_string_ostream vos(verr);
  if (llvm::verifyModule(m, &vos)) return Error("LLVM module verification failed: " + vos.str());

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  pto.LoopUnrolling = true;
  llvm::PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
  return Status();
}

Expected<std::vector<char>> emit_object(llvm::Module& m, const TargetSpec& target,
                                        const ObjectOptions& options) {
  std::unique_ptr<llvm::TargetMachine> tm = KILN_TRY(create_target_machine(target));
  KILN_RETURN_IF_ERROR(optimize_module(m, *tm));
  if (options.optimized_ir) {
    llvm::raw_string_ostream os(*options.optimized_ir);
    m.print(os, nullptr);
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return Error("LLVM cannot emit object files for " + target.triple);
  pm.run(m);
  return std::vector<char>(buffer.begin(), buffer.end());
}

}  // namespace kiln::llvmgen
