// Compiler + Program for the LLVM backend: verify the module (errors carry the
// verifier's message), optimize at O3 for the host CPU (name and feature string from
// llvm::sys), and load it into an ORC LLJIT whose main JITDylib resolves kiln's runtime
// entry points (runtime/abi.h: parallel-for, GEMM, profiling) as absolute symbols and anything else (libm) from
// the current process. Machine code is generated before compile_module returns (not
// lazily at the first lookup), so compile() and its compile_seconds include it.
#include <mutex>

#include "codegen/llvm/renderer.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "runtime/abi.h"

namespace kiln::llvmgen {

namespace {

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

std::string to_string(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

class JitProgram : public Program {
 public:
  JitProgram(std::unique_ptr<llvm::orc::LLJIT> jit, std::string ir)
      : jit_(std::move(jit)), ir_(std::move(ir)) {}
  void* lookup(const std::string& name) override {
    auto sym = jit_->lookup(name);
    if (!sym) {
      llvm::consumeError(sym.takeError());
      return nullptr;
    }
    return sym->toPtr<void*>();
  }
  std::string text() const override { return ir_; }

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::string ir_;
};

}  // namespace

Expected<std::unique_ptr<Program>> compile_module(std::unique_ptr<llvm::Module> m,
                                                  std::unique_ptr<llvm::LLVMContext> ctx,
                                                  const CompilerOptions& opts) {
  init_llvm();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return Error("LLVM: cannot detect host: " + to_string(jtmb.takeError()));
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  {
    // Host CPU name + features (detectHost sets them; be explicit for clarity).
    jtmb->setCPU(llvm::sys::getHostCPUName().str());
    llvm::SubtargetFeatures feats;
    for (auto& f : llvm::sys::getHostCPUFeatures()) feats.AddFeature(f.first(), f.second);
    jtmb->getFeatures() = feats;
  }
  auto tm = jtmb->createTargetMachine();
  if (!tm) return Error("LLVM: cannot create target machine: " + to_string(tm.takeError()));
  m->setDataLayout((*tm)->createDataLayout());
  m->setTargetTriple((*tm)->getTargetTriple().str());

  std::string verr;
  llvm::raw_string_ostream vos(verr);
  if (llvm::verifyModule(*m, &vos)) return Error("LLVM module verification failed: " + vos.str());

  if (opts.optimize) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions pto;
    pto.LoopVectorization = true;
    pto.SLPVectorization = true;
    pto.LoopUnrolling = true;
    llvm::PassBuilder pb(tm->get(), pto);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*m, mam);
  }
  std::string ir;
  if (opts.keep_ir) {
    llvm::raw_string_ostream os(ir);
    m->print(os, nullptr);
  }

  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
  if (!jit) return Error("LLVM: cannot create JIT: " + to_string(jit.takeError()));
  auto& jd = (*jit)->getMainJITDylib();
  auto& es = (*jit)->getExecutionSession();
  llvm::orc::MangleAndInterner mangle(es, (*jit)->getDataLayout());
  llvm::orc::SymbolMap syms;
  auto add = [&](const char* name, void* p) {
    syms[mangle(name)] = {llvm::orc::ExecutorAddr::fromPtr(p), llvm::JITSymbolFlags::Exported};
  };
  for (const abi::RuntimeSymbol& s : abi::runtime_symbols()) add(s.name, s.address);
  if (auto err = jd.define(llvm::orc::absoluteSymbols(std::move(syms))))
    return Error("LLVM: " + to_string(std::move(err)));
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!gen) return Error("LLVM: " + to_string(gen.takeError()));
  jd.addGenerator(std::move(*gen));
  // ORC compiles lazily, on the first lookup. Look up one defined function now so that
  // instruction selection and register allocation happen here, inside compile() (and its
  // compile_seconds), rather than when the executable is bound; the module is compiled
  // as a whole, so every kernel is ready after this.
  std::string first_symbol;
  for (const llvm::Function& f : *m)
    if (!f.isDeclaration() && f.hasExternalLinkage()) {
      first_symbol = f.getName().str();
      break;
    }
  if (auto err = (*jit)->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
    return Error("LLVM: " + to_string(std::move(err)));
  if (!first_symbol.empty()) {
    auto sym = (*jit)->lookup(first_symbol);
    if (!sym) return Error("LLVM: code generation failed: " + to_string(sym.takeError()));
  }
  return std::unique_ptr<Program>(std::make_unique<JitProgram>(std::move(*jit), std::move(ir)));
}

}  // namespace kiln::llvmgen
