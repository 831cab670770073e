// load_object (jit.h): an LLJIT per program, linking with JITLink, the object added as a
// memory buffer. Linking happens at the entry's lookup inside load_object, so compile()
// and its compile_seconds include it and a bad object is caught before the code runs.
#include "codegen/llvm/jit.h"

#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "runtime/abi.h"

namespace kiln::llvmgen {

namespace {

std::string to_string(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

class JitProgram : public Program {
 public:
  explicit JitProgram(std::unique_ptr<llvm::orc::LLJIT> jit) : jit_(std::move(jit)) {}
  void* lookup(const std::string& name) override {
    auto sym = jit_->lookup(name);
    if (!sym) {
      llvm::consumeError(sym.takeError());
      return nullptr;
    }
    return sym->toPtr<void*>();
  }

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace

Expected<std::unique_ptr<Program>> load_object(const std::vector<char>& object,
                                               const TargetSpec& target,
                                               const std::string& entry_symbol) {
  initialize_llvm();
  std::vector<std::string> missing = missing_host_features(target);
  if (!missing.empty()) {
    std::string names;
    for (const std::string& f : missing) names += (names.empty() ? "" : ", ") + f;
    return Error("code for target CPU '" + target.name + "' cannot run here: this CPU lacks " +
                 names);
  }
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(target.triple)};
  jtmb.setCPU(target.cpu);
  jtmb.getFeatures() = llvm::SubtargetFeatures(target.features);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create();
  if (!jit) return Error("LLVM: cannot create JIT: " + to_string(jit.takeError()));
  auto& jd = (*jit)->getMainJITDylib();
  auto& es = (*jit)->getExecutionSession();
  llvm::orc::MangleAndInterner mangle(es, (*jit)->getDataLayout());
  llvm::orc::SymbolMap syms;
  for (const abi::RuntimeSymbol& s : abi::runtime_symbols())
    syms[mangle(s.name)] = {llvm::orc::ExecutorAddr::fromPtr(s.address),
                            llvm::JITSymbolFlags::Exported};
  if (auto err = jd.define(llvm::orc::absoluteSymbols(std::move(syms))))
    return Error("LLVM: " + to_string(std::move(err)));
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!gen) return Error("LLVM: " + to_string(gen.takeError()));
  jd.addGenerator(std::move(*gen));

  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(object.data(), object.size()), entry_symbol + ".o");
  if (auto err = (*jit)->addObjectFile(std::move(buffer)))
    return Error("LLVM: cannot load the object for " + entry_symbol + ": " +
                 to_string(std::move(err)));
  auto sym = (*jit)->lookup(entry_symbol);
  if (!sym) return Error("LLVM: cannot link " + entry_symbol + ": " + to_string(sym.takeError()));
  return std::unique_ptr<Program>(std::make_unique<JitProgram>(std::move(*jit)));
}

}  // namespace kiln::llvmgen
