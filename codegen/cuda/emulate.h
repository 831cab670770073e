// The CUDA emulator (issue 11, testing item (b); DESIGN.md convention 15): compiles the
// kernel source that NVRTC gets, unchanged, as host C++ against emulation_prelude()
// (blocks in a loop, a block's threads as fibers switching at KILN_SYNC() and warp
// shuffles, shared memory per block) into a temporary shared library, and exposes each
// program's entry as a CodeModule symbol: `void <entry>(void** buffers)` launching the
// program's kernels in order with their grids and blocks. An Executable bound to that
// module runs the plan on host buffers laid out exactly as on the CPU, so the op harness
// compares the CUDA kernels' numerics with the reference interpreter without a GPU.
// Each kernel is also exported alone as `kiln_emu_launch_<kernel>(bufs, grid, block)`
// (EmulatedLaunchFn), which the emulated driver (emulated_driver.h) calls for
// cuLaunchKernel, so the device runtime's own launches run on the emulator.
//
// Launch failures inside the emulator (a thread that exits while others wait at a
// barrier, threads waiting at different barriers, a barrier in a kernel launched without
// them) stop the remaining launches of the run; take_error() returns the first.
//
// The compiler is $KILN_CXX, else `c++`; it must accept GNU x86-64 inline assembly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda/renderer.h"
#include "runtime/executable.h"

namespace kiln::cudagen {

// One program of an emulation library and the entry symbol that runs it.
struct EmulationUnit {
  const CudaProgram* program = nullptr;
  std::string entry_symbol;
};

// The per-kernel launcher: `kiln_emu_launch_<kernel>`.
inline constexpr const char* kEmulatedLaunchPrefix = "kiln_emu_launch_";
using EmulatedLaunchFn = void (*)(void* const* bufs, int64_t grid, int64_t block);

struct EmulateOptions {
  std::string compiler;               // "" = $KILN_CXX or "c++"
  std::string flags = "-O1";          // optimisation flags of the host compile
};

class EmulatedModule : public CodeModule {
 public:
  ~EmulatedModule() override;
  void* lookup(const std::string& symbol) override;
  // The first launch failure since the last call ("" if none), clearing it.
  std::string take_error();

 private:
  friend Expected<std::shared_ptr<EmulatedModule>> build_emulation(const std::vector<EmulationUnit>&,
                                                                   const EmulateOptions&);
  void* handle_ = nullptr;
};

// The host translation unit: emulation prelude, common prelude, each program's kernels,
// then one entry function per unit.
std::string emulation_source(const std::vector<EmulationUnit>& units);

// Compiles emulation_source(units) into a shared library and loads it. Errors carry the
// compiler's output and the numbered source lines it names.
Expected<std::shared_ptr<EmulatedModule>> build_emulation(const std::vector<EmulationUnit>& units,
                                                          const EmulateOptions& options = {});

const char* emulation_prelude();

}  // namespace kiln::cudagen
