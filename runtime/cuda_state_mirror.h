// The device copy of a StateStore's entries on one CudaRuntime (runtime/cuda_runtime.h):
// one device allocation per entry, placed the first time an executable binds it, and a
// coherence flag per entry so the weights stay on the device between steps while host
// reads (checkpoints, state_buffer(), StateStore lookups) still see current values:
//   Synced       both copies equal;
//   HostNewer    the host wrote (a checkpoint load, a reset): upload before the next run;
//   DeviceNewer  a run wrote it: download before the host reads it.
// All methods but host_access expect the runtime's lock held (CudaRuntime::enter()).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "runtime/cuda_runtime.h"
#include "runtime/state_store.h"

namespace kiln {

class CudaStateMirror : public StateMirror {
 public:
  explicit CudaStateMirror(std::shared_ptr<CudaRuntime> runtime) : rt_(std::move(runtime)) {}
  ~CudaStateMirror() override;  // frees every entry's device copy
  CudaStateMirror(const CudaStateMirror&) = delete;
  CudaStateMirror& operator=(const CudaStateMirror&) = delete;

  // Takes the runtime's lock (StateStore's accessors call it).
  void host_access(StateEntry& e, HostAccess access) override;

  CudaRuntime* runtime() const { return rt_.get(); }
  // The device copy of `e`, allocated and uploaded (on the stream) on first use.
  Expected<CudaDevicePtr> place(StateEntry& e);
  // Uploads the HostNewer ones among `entries` (on the stream).
  Status upload_host_newer(const std::vector<StateEntry*>& entries);
  // A run wrote (or may have written) `entries`.
  void mark_device_newer(const std::vector<StateEntry*>& entries);
  // The first failure of host_access since the last call (Ok if none), clearing it.
  Status take_error();
  size_t entries() const { return slots_.size(); }

 private:
  enum class Where { Synced, HostNewer, DeviceNewer };
  struct Slot {
    CudaDevicePtr ptr = 0;
    size_t bytes = 0;
    Where where = Where::Synced;
  };
  Status download(StateEntry& e, Slot& s);

  std::shared_ptr<CudaRuntime> rt_;
  std::map<const StateEntry*, Slot> slots_;
  Status error_;
};

// The mirror of `store` on `runtime`, attached to the store on first use; an error when
// the store already lives on another device.
Expected<std::shared_ptr<CudaStateMirror>> cuda_state_mirror(StateStore& store,
                                                             const std::shared_ptr<CudaRuntime>& runtime);

}  // namespace kiln
