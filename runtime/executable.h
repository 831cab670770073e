// Executable: an ExecutablePlan (runtime/plan.h) bound to memory and to the code that
// implements it. run() performs no allocation and no per-op dispatch: it calls the
// plan's entry function once with the precomputed buffer address table.
//
// Memory: inputs and outputs are buffers owned by the executable (fill inputs, run, read
// outputs); intermediates live in one arena from an Allocator; model-scoped state comes
// from a StateStore shared with the model's other executables (same weights);
// executable-scoped state (carried state, whose shape follows this executable's batch
// size) lives in the executable's own store.
//
// Threads: independent executables may run on different threads at once (their kernels
// take turns on the shared thread pool, runtime/thread_pool.h). run() on one executable
// from several threads is serialised by a mutex in the executable: each run is atomic
// (its arena and state are never shared with another run in flight), and uncontended the
// lock costs tens of nanoseconds next to a run's microseconds. Serialising was chosen over
// detecting misuse because it is as cheap and turns a silent wrong result into a correct
// one. It covers run() only: the input and output buffers are the executable's own, so
// threads that share one executable must still take turns filling inputs and reading
// outputs (or use one executable each). reset_state(), check_guards() and describe() take
// the same lock. Executables that share a StateStore must not run concurrently while one
// of them updates it (a training step and an evaluation of the same model).
// Profiling (BindOptions::profile) is per executable (runtime/profile.h).
//
// The runtime links no compiler: code comes from a CodeModule (the LLVM JIT, an
// ahead-of-time object, or a CUDA module's cubin and launch table).
//
// Devices: with BindOptions::device set, the host side stays as above (input, output and
// state HostBuffers, the StateStore) and the device binds its own copy of the plan's
// memory (runtime/cuda_runtime.h); run() then delegates to the DeviceProgram, which moves
// inputs up and outputs down around the launches. Callers (the Trainer, the CLI) see the
// same Executable either way.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ir/status.h"
#include "runtime/abi.h"
#include "runtime/host_buffer.h"
#include "runtime/plan.h"
#include "runtime/state_store.h"

namespace kiln {

class KernelProfile;

// Code implementing one or more plans; resolves symbols and keeps the code alive.
class CodeModule {
 public:
  virtual ~CodeModule() = default;
  virtual void* lookup(const std::string& symbol) = 0;
  // Human-readable code (the optimized LLVM IR), when the module kept it.
  virtual std::string text() const { return {}; }
};

// Where a host executable's arena lives (a device binds its own: BindOptions::device).
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual const char* name() const = 0;
  // 64-byte-aligned, zero-filled storage, or nullptr when it cannot be had.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p) = 0;
};
Allocator& host_allocator();

// One executable's half on a device: its device memory, loaded code and captured step.
class DeviceProgram {
 public:
  virtual ~DeviceProgram() = default;
  // One step: the host input buffers up, the plan's launches, the outputs down into the
  // host output buffers (state stays on the device; see StateMirror).
  virtual Status run() = 0;
  // Copies `bytes` of the device arena at `offset` to `dst` (arena guard checks).
  virtual Status read_arena(uint64_t offset, void* dst, uint64_t bytes) = 0;
};

// The host side of a binding that a device mirrors: per plan buffer, the host storage of
// inputs, outputs and constants (else nullptr) and the entry of state buffers (else
// nullptr), and the stores those entries live in.
struct HostBinding {
  std::vector<void*> host;
  std::vector<StateEntry*> states;
  StateStore* shared = nullptr;
  StateStore* own = nullptr;
  // When profiling (BindOptions::profile): where each run's per-kernel times go (the
  // executable's, written under its run lock). The device times its own launches.
  KernelProfile* profile = nullptr;
};

// Where plans run when not on the host CPU (runtime/cuda_runtime.h's CudaRuntime).
class ExecutionDevice {
 public:
  virtual ~ExecutionDevice() = default;
  virtual std::string name() const = 0;  // e.g. "cuda:0 (NVIDIA H100, sm_90)"
  // Binds `plan` with `code` (the device's own CodeModule type) to device memory.
  virtual Expected<std::unique_ptr<DeviceProgram>> bind(const ExecutablePlan& plan,
                                                        CodeModule& code,
                                                        const HostBinding& host) = 0;
};

struct BindOptions {
  Allocator* allocator = nullptr;  // default: host_allocator()
  // Time every kernel (runtime/profile.h): host code calls kiln_profile_tick, a device
  // times its launches itself (HostBinding::profile).
  bool profile = false;
  // Run on this device instead of the host (no host arena).
  std::shared_ptr<ExecutionDevice> device;
};

class Executable {
 public:
  // Binds `plan` to `code` and to memory: checks the plan, allocates the arena and the
  // input/output buffers, finds or creates every state buffer (model-scoped ones in
  // `shared`, executable-scoped ones in this executable's store) and resolves the entry.
  static Expected<std::unique_ptr<Executable>> bind(ExecutablePlan plan,
                                                    std::shared_ptr<CodeModule> code,
                                                    std::shared_ptr<StateStore> shared,
                                                    const BindOptions& options = {});
  ~Executable();
  Executable(const Executable&) = delete;
  Executable& operator=(const Executable&) = delete;

  // Input/output buffers by name (nullptr if unknown).
  HostBuffer* input(const std::string& name);
  const HostBuffer* output(const std::string& name) const;
  const std::vector<std::string>& input_names() const { return plan_.inputs; }
  const std::vector<std::string>& output_names() const { return plan_.outputs; }
  // Calls the entry once; concurrent calls on this executable run one after another.
  // On a device, a failed run is remembered: run_status() returns the first failure and
  // later runs do nothing (host runs cannot fail).
  void run();
  // run(), returning its outcome (the first device failure, then the same again).
  Status run_checked();
  // Ok, or the first device failure.
  Status run_status() const;
  // The device this executable runs on (nullptr: the host).
  ExecutionDevice* device() const { return device_.get(); }

  StateStore& state() { return *shared_; }    // the model's shared state
  StateStore& own_state() { return own_; }    // executable-scoped state
  // A state buffer this executable binds, executable-scoped first (nullptr if none). On
  // a device the buffer holds the device's current values (the caller may write it: the
  // device takes the host's values before the next run).
  HostBuffer* state_buffer(const std::string& name);
  // Re-initialises every state buffer of `kind` this executable binds (e.g. the carried
  // hidden state before a random minibatch); returns how many.
  int reset_state(StateKind kind);

  const ExecutablePlan& plan() const { return plan_; }
  const ExecutableStats& stats() const { return plan_.stats; }
  // Fusion, memory plan and kernels (and, when profiling, microseconds per kernel).
  std::string describe() const;
  // Profiling executables: seconds spent in each kernel (plan().launches order) summed
  // over the runs since bind or reset_profile(), and that number of runs in *runs;
  // empty (and 0 runs) when not profiling.
  std::vector<double> kernel_seconds(int64_t* runs) const;
  // The least seconds of one call of each kernel over those runs (empty when not profiling).
  std::vector<double> kernel_least_seconds() const;
  void reset_profile();
  CodeModule& code() { return *code_; }
  // Plans compiled with arena guards: an error naming the first buffer whose guard bytes
  // were overwritten (a kernel wrote past its end).
  Status check_guards() const;

 private:
  Executable() = default;

  ExecutablePlan plan_;
  std::shared_ptr<CodeModule> code_;
  std::shared_ptr<StateStore> shared_;
  StateStore own_;
  Allocator* allocator_ = nullptr;
  void* arena_ = nullptr;
  EntryFn entry_ = nullptr;
  std::map<std::string, HostBuffer> inputs_, outputs_;
  std::vector<HostBuffer> constants_;
  std::vector<StateEntry*> bound_states_;
  std::vector<void*> ptrs_;
  bool profile_ = false;
  std::unique_ptr<KernelProfile> profile_data_;  // when profile_: this executable's ticks
  std::shared_ptr<ExecutionDevice> device_;      // null: the host
  std::unique_ptr<DeviceProgram> device_program_;
  Status device_status_;                          // the first device failure
  mutable std::mutex run_mu_;                    // serialises run() (see Threads above)
};

}  // namespace kiln
