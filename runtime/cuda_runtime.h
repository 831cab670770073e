// The CUDA device runtime (issue 11, item 3): runs an ExecutablePlan on a GPU through the
// driver table of runtime/cuda_driver.h. It links no compiler: the code arrives as data
// (a CudaCodeModule: the cubin the driver loads and the launch table the CUDA renderer
// wrote), so kiln_rt stays free of LLVM, NVRTC and the renderer.
//
// Design:
//   - CudaRuntime is one device: the primary context, one non-blocking stream and a mutex
//     that serialises every device operation of the process on it (one stream orders
//     everything; concurrent executables would only queue on the GPU anyway). It is the
//     ExecutionDevice that Executable::bind takes in BindOptions::device.
//   - Binding a plan (CudaProgramOnDevice) loads the module, resolves every launch's
//     function, and makes ONE device allocation laid out as
//       [arena per the plan's memory plan | inputs | outputs | constants | buffer table]
//     zero-filled, guards painted, constants and the table of device addresses (the
//     `void* const* bufs` every kernel takes) uploaded once.
//   - State buffers live in a CudaStateMirror attached to their StateStore (one per
//     store, shared by every executable bound against it, so an evaluation executable
//     reads the weights the training step just wrote on the device). Each entry has one
//     device allocation and a coherence flag: Synced, HostNewer (upload before the next
//     run) or DeviceNewer (download before the host reads it, runtime/state_store.h).
//   - run(): host-newer states up, inputs up, the step (the first run is captured as a
//     CUDA graph, every run launches the instantiated graph), outputs down, one stream
//     synchronise; every state the plan binds becomes DeviceNewer. Per step only the
//     minibatch goes up and the outputs (loss, correct count) come down, each through
//     its stage in one page-locked block (cuMemHostAlloc): the host buffer is copied
//     into its stage, the stage up asynchronously; outputs the other way.
//   - Profiling (BindOptions::profile): the step is not captured; every launch is issued
//     on its own between two events, and after the synchronise each launch's elapsed
//     time goes to its plan kernel (CudaKernelLaunch::plan_launch) in the executable's
//     KernelProfile (runtime/profile.h), the structure the CPU's ticks fill.
//   - Every driver failure is an Error naming the call and the driver's error name; a
//     failed capture ends the capture and frees what it made; teardown frees everything
//     in reverse order (executables, then mirrors, then stream and context).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cuda_driver.h"
#include "runtime/cuda_launch.h"
#include "runtime/executable.h"

namespace kiln {

// A plan's device code: what cuModuleLoadData takes (a cubin, or PTX text with its
// terminating NUL) and the launches of one step. `arch` is sm_XY for a cubin and
// compute_XY for PTX (runtime/cuda_arch.h); bind refuses a device that cannot run it.
class CudaCodeModule : public CodeModule {
 public:
  CudaCodeModule(std::vector<uint8_t> image, std::vector<CudaKernelLaunch> launches,
                 std::string arch, std::string source = {})
      : image_(std::move(image)), launches_(std::move(launches)), arch_(std::move(arch)),
        source_(std::move(source)) {}
  void* lookup(const std::string&) override { return nullptr; }  // nothing runs on the host
  std::string text() const override { return source_; }
  const std::vector<uint8_t>& image() const { return image_; }
  const std::vector<CudaKernelLaunch>& launches() const { return launches_; }
  const std::string& arch() const { return arch_; }

 private:
  std::vector<uint8_t> image_;
  std::vector<CudaKernelLaunch> launches_;
  std::string arch_;    // what the image was built for: sm_XY, or compute_XY (PTX)
  std::string source_;  // the CUDA C++ (for `kiln inspect`), when kept
};

class CudaRuntime : public ExecutionDevice, public std::enable_shared_from_this<CudaRuntime> {
 public:
  // cuInit, device `ordinal`, its primary context and one stream. `library` names the
  // driver in messages. Errors: the probe's one-line refusals, a driver lacking an entry
  // point the runtime needs, any failed call.
  static Expected<std::shared_ptr<CudaRuntime>> create(const CudaDriverTable& driver,
                                                       const std::string& library,
                                                       int ordinal = 0);
  ~CudaRuntime() override;
  CudaRuntime(const CudaRuntime&) = delete;
  CudaRuntime& operator=(const CudaRuntime&) = delete;

  std::string name() const override;
  const CudaDevice& device() const { return device_; }
  const CudaDriverTable& driver() const { return driver_; }
  Expected<std::unique_ptr<DeviceProgram>> bind(const ExecutablePlan& plan, CodeModule& code,
                                                const HostBinding& host) override;

  // For the runtime's own classes (cuda_runtime.cpp): the lock every device operation
  // holds, making the context current on the calling thread.
  std::unique_lock<std::mutex> enter(Status* current = nullptr);
  void* stream() const { return stream_; }
  Status check(const char* call, int rc) const { return cuda_check(driver_, call, rc); }

 private:
  CudaRuntime() = default;

  CudaDriverTable driver_;
  CudaDevice device_;
  int cu_device_ = 0;
  void* context_ = nullptr;
  bool retained_ = false;
  void* stream_ = nullptr;
  std::mutex mu_;
};

// The entry points of `driver` the runtime needs that are missing ("" if none).
std::string cuda_runtime_missing_entry(const CudaDriverTable& driver);

}  // namespace kiln
