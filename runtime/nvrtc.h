// NVRTC and nvJitLink through dlopen (issue 11, DESIGN.md convention 15): CUDA C++
// source -> PTX for a virtual architecture (compute_XX) -> cubin for the real one (sm_XX)
// assembled by nvJitLink, so every kernel is also checked by the assembler. No CUDA
// header or library is needed to build kiln: the few entry points are declared here as
// plain function-pointer types, and a machine without the toolkit gets an Error saying
// which library is missing.
//
// Libraries: $KILN_NVRTC, else libnvrtc.so.13, then libnvrtc.so.12; $KILN_NVJITLINK,
// else libnvJitLink.so.13, then libnvJitLink.so.12 (each tried as-is, then under
// /usr/local/cuda/lib64). They stay loaded for the life of the process.
//
// A compile error carries NVRTC's log and the source with line numbers (the lines the
// log names, with context), so a bad kernel can be read straight from the message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/status.h"

namespace kiln {

struct NvrtcLibrary;  // the loaded function tables (runtime/nvrtc.cpp)

struct CudaCompileOptions {
  std::string arch = "sm_80";       // the real architecture: sm_80, sm_90, ...
  bool cubin = true;                // also assemble PTX -> cubin with nvJitLink
  std::vector<std::string> extra;   // more NVRTC options
  // nvJitLink -verbose: ptxas's per-kernel registers, stack and spills in the log
  // (codegen/cuda/kernel_resources.h reads them). compile_cuda_cached does not keep logs.
  bool resource_usage = false;
};

struct CudaCompiled {
  std::string ptx;
  std::vector<uint8_t> cubin;  // empty unless options.cubin
  std::string log;             // NVRTC's log (warnings) and nvJitLink's info log
};

// NVRTC's version as "major.minor", or the error saying why it could not be loaded.
Expected<std::string> nvrtc_version();
// The same for the library at `library` (not cached; tests and diagnostics).
Expected<std::string> nvrtc_version_of(const std::string& library);

// Compiles `source` (one translation unit, no includes) named `name`.
Expected<CudaCompiled> compile_cuda(const std::string& source, const std::string& name,
                                    const CudaCompileOptions& options = {});

// `source` with line numbers; with `lines` non-empty, only those lines +- `context`.
std::string numbered_source(const std::string& source, const std::vector<int>& lines = {},
                            int context = 3);

}  // namespace kiln
