// What ptxas reports for each kernel of a cubin (`kiln inspect --device cuda`): nvJitLink
// with -verbose (CudaCompileOptions::resource_usage) writes ptxas's lines to its info log,
//   ptxas info    : Function properties for kiln_k0
//   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//   ptxas info    : Used 10 registers, used 1 barriers, 256 bytes smem
// and parse_kernel_resources reads them back per kernel.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace kiln::cudagen {

struct KernelResources {
  int registers = -1;  // -1: not reported
  int64_t stack_bytes = 0, spill_store_bytes = 0, spill_load_bytes = 0;
  int64_t shared_bytes = 0;  // static shared memory
};

// Kernel name -> its resources; kernels the log does not describe are absent.
std::map<std::string, KernelResources> parse_kernel_resources(const std::string& log);

}  // namespace kiln::cudagen
