// An emulated CUDA driver (issue 11, testing item 5(c)): a CudaDriverTable whose device
// is the host, so the device runtime (runtime/cuda_runtime.h) runs unchanged without a
// GPU. Device memory is host memory (a CudaDevicePtr is a host address); cuLaunchKernel
// calls the emulator's per-kernel launcher (codegen/cuda/emulate.h) when the module came
// from emulated_image(), and only records the launch for any other image (a real cubin
// from NVRTC: its kernel names must appear in it); stream capture records launches into
// a graph that cuGraphLaunch replays.
//
// It is also a checking fake: every call is logged; handles must be live, copies and
// memsets must lie inside one live allocation, launches must be in range and must not
// mix with copies while the stream captures; a violation is recorded and answered with
// CUDA_ERROR_INVALID_VALUE. A test can make the n-th call of any entry point fail, and
// read what is still alive at the end (allocations, page-locked host allocations,
// modules, graphs, events, streams, context). Events take the host clock when recorded
// (launches run when issued), which is what the device profile reads on the emulator.
//
// One emulated driver per process (the table holds plain function pointers): tests
// reset it with reset_emulated_driver(). `$KILN_CUDA_DRIVER=kiln-emulator` makes
// `kiln --device cuda` use it (tools/device_flag.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda/emulate.h"
#include "runtime/cuda_driver.h"

namespace kiln::cudagen {

inline constexpr const char* kEmulatedDriverName = "kiln-emulator";

struct EmulatedKernelRun {
  std::string kernel;
  unsigned grid = 0, block = 0, shared_bytes = 0;
  CudaDevicePtr bufs = 0;  // the kernel's one argument
  bool from_graph = false;
};

struct EmulatedDriverState {
  std::vector<std::string> calls;             // every entry point called, in order
  std::vector<EmulatedKernelRun> kernel_runs;  // launches issued outside capture or replayed
  std::vector<std::string> violations;        // arguments that a real driver would refuse
  std::string launch_error;                   // the emulator's first kernel failure
  int captures = 0, graph_launches = 0, instantiations = 0;
  // Live at this moment.
  int allocations = 0, modules = 0, streams = 0, graphs = 0, execs = 0, contexts = 0;
  int host_allocations = 0, events = 0;  // cuMemHostAlloc, cuEventCreate
  // Async copies whose host side is not page-locked (cuMemHostAlloc) memory: a real
  // driver makes those synchronous.
  int pageable_copies = 0;
  // Error injection: the `fail_at`-th call (0-based) of `fail_call` returns `fail_code`.
  std::string fail_call;
  int fail_at = 0;
  int fail_code = kCudaErrorOutOfMemory;

  int count(const std::string& call) const;
};

// The emulated driver's state (reset_emulated_driver clears it; live objects must be
// gone first or they are forgotten and leaked).
EmulatedDriverState& emulated_driver_state();
void reset_emulated_driver();
CudaDriverTable emulated_driver_table();

// The image cuModuleLoadData resolves to `module` (kept alive by the driver).
std::vector<uint8_t> emulated_image(std::shared_ptr<EmulatedModule> module);

}  // namespace kiln::cudagen
