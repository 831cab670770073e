// Ahead-of-time compilation (`kiln compile`, docs/aot.md): a deployable model file
// (ir/serialize.h) -> the same passes and LLVM backend as the JIT, for a chosen CPU ->
// one relocatable object that defines
//   void PREFIX_entry(void** buffers);          the executable (runtime/abi.h)
//   const unsigned char PREFIX_module[];        its manifest (runtime/module_format.h):
//   const unsigned long PREFIX_module_size;     plan, target, weights, metadata
// with every kernel internal, so several models link into one binary; plus the C header
// that declares them (codegen/aot_header.h). The runtime (libkiln_rt, no LLVM) binds it:
// kiln_model_open_linked, or kiln_model_open_library for a shared library built from the
// object (link_shared_library).
#pragma once

#include <string>
#include <vector>

#include "ir/serialize.h"
#include "runtime/module_format.h"

namespace kiln {

struct AotOptions {
  std::string prefix = "model";      // a C identifier: PREFIX_entry, PREFIX_module, ...
  std::string target_cpu = "native";  // codegen/llvm/target.h
  bool embed_weights = true;         // false: the application loads the model file's
  bool fusion = true;
  std::string source = "model";      // names the model file in messages and the header
};

struct AotOutput {
  CompiledModuleFile manifest;  // what PREFIX_module holds (no object bytes)
  std::vector<char> object;     // the ELF relocatable object
  std::string header;           // the C header
};

Expected<AotOutput> compile_aot(const ModelFile& model, const AotOptions& options);

// Links `object_path` into the shared library `so_path` with the system C compiler
// driver ($CC, else cc): `cc -shared`. Its runtime symbols stay undefined and resolve
// against libkiln_rt when the library is opened. Errors carry the driver's output.
Status link_shared_library(const std::string& object_path, const std::string& so_path);

}  // namespace kiln
