// Ahead-of-time compiled code as a CodeModule (runtime/executable.h; docs/aot.md), with
// no compiler involved: the module's manifest (runtime/module_format.h) says how to bind
// the code, and the code is either
//   (a) a shared library opened with dlopen(RTLD_NOW | RTLD_LOCAL) that exports, for the
//       prefix the caller names (`kiln compile --prefix`),
//         const unsigned char PREFIX_module[];       the manifest bytes
//         const unsigned long PREFIX_module_size;    their length
//       and the entry function the manifest names (plan.entry_symbol); or
//   (b) code linked into the program, whose manifest bytes and entry function the caller
//       passes (the generated header does).
// Opening checks the manifest (format and ABI version, plan, weights) and that this CPU
// has every feature the code requires; each refusal names the library or source.
// The library's undefined runtime symbols (kiln_parallel_for, kiln_gemm_f32, ...) must
// resolve when it is opened: link it against libkiln_rt.so, or export them from the
// program (it links kiln_rt and is linked with -rdynamic).
//
// bind_module turns a module into an Executable whose model-scoped state starts from the
// embedded weights, or from weights the caller passes (an external model file's
// parameters, runtime/model_weights.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/status.h"
#include "runtime/abi.h"
#include "runtime/executable.h"
#include "runtime/module_format.h"

namespace kiln {

class AotModule : public CodeModule {
 public:
  // (a) `path` is a file path (a bare name is in the current folder; the library search
  // path is not used); `prefix`: a C identifier. `why`, when given, is set on failure.
  static Expected<std::shared_ptr<AotModule>> open_library(const std::string& path,
                                                           const std::string& prefix,
                                                           ModuleError* why = nullptr);
  // (b) The manifest bytes are copied; `source` names the module in errors.
  static Expected<std::shared_ptr<AotModule>> open_linked(std::span<const uint8_t> manifest,
                                                          EntryFn entry,
                                                          const std::string& source,
                                                          ModuleError* why = nullptr);
  ~AotModule() override;
  AotModule(const AotModule&) = delete;
  AotModule& operator=(const AotModule&) = delete;

  // The entry function for the manifest's entry symbol; nullptr for any other name
  // (kernels are internal to the code).
  void* lookup(const std::string& symbol) override;
  const CompiledModuleFile& manifest() const { return manifest_; }
  const std::string& source() const { return source_; }
  // Frees the embedded weights once they have been copied into state.
  void drop_weights();

 private:
  AotModule() = default;
  static Expected<std::shared_ptr<AotModule>> from_manifest(std::span<const uint8_t> manifest,
                                                            const std::string& source,
                                                            ModuleError* why);

  void* handle_ = nullptr;  // dlopen handle, (a) only
  EntryFn entry_ = nullptr;
  CompiledModuleFile manifest_;
  std::string source_;
};

// Copies `weights` into the executable's model-scoped state after check_weights against
// its plan; errors start with `source`.
Status load_weights(Executable& exe, const std::vector<ModuleWeight>& weights,
                    const std::string& source);

// Binds the module's plan to its code: model-scoped state in `state` (a new store when
// null), filled from `weights`, or from the module's embedded weights when `weights` is
// null; state without a value starts from its initializer.
Expected<std::unique_ptr<Executable>> bind_module(std::shared_ptr<AotModule> module,
                                                  std::shared_ptr<StateStore> state = nullptr,
                                                  const std::vector<ModuleWeight>* weights = nullptr,
                                                  const BindOptions& options = {});

}  // namespace kiln
