// CudaStateMirror (see cuda_state_mirror.h).
#include "runtime/cuda_state_mirror.h"

#include <algorithm>

namespace kiln {

CudaStateMirror::~CudaStateMirror() {
  std::unique_lock<std::mutex> lock = rt_->enter();
  // Nothing to report to at teardown; the fake driver's tests count the frees.
  for (auto& [e, s] : slots_) rt_->driver().cuMemFree(s.ptr);
}

Status CudaStateMirror::download(StateEntry& e, Slot& s) {
  const CudaDriverTable& d = rt_->driver();
  if (s.bytes > 0) {
    KILN_RETURN_IF_ERROR(rt_->check("cuMemcpyDtoHAsync",
                                    d.cuMemcpyDtoHAsync(e.buffer.data(), s.ptr, s.bytes, rt_->stream())));
    KILN_RETURN_IF_ERROR(rt_->check("cuStreamSynchronize", d.cuStreamSynchronize(rt_->stream())));
  }
  s.where = Where::Synced;
  return Status::Ok();
}

void CudaStateMirror::host_access(StateEntry& e, HostAccess access) {
  Status current;
  std::unique_lock<std::mutex> lock = rt_->enter(&current);
  auto it = slots_.find(&e);
  if (it == slots_.end()) return;  // not on the device (yet): the host copy is the one
  Slot& s = it->second;
  if (!current.ok()) {
    if (error_.ok()) error_ = current.error().wrap("copying state '" + e.name + "' to the host");
    return;
  }
  if (s.where == Where::DeviceNewer && access != HostAccess::Overwrite) {
    if (Status st = download(e, s); !st.ok()) {
      if (error_.ok()) error_ = st.error().wrap("copying state '" + e.name + "' to the host");
      return;  // stays DeviceNewer: the device keeps the values it has
    }
  }
  if (access != HostAccess::Read) s.where = Where::HostNewer;
}

Expected<CudaDevicePtr> CudaStateMirror::place(StateEntry& e) {
  auto it = slots_.find(&e);
  if (it != slots_.end()) return it->second.ptr;
  const CudaDriverTable& d = rt_->driver();
  Slot s;
  s.bytes = e.buffer.bytes();
  // cuMemAlloc refuses 0 bytes; an empty state still needs a distinct address.
  KILN_RETURN_IF_ERROR(rt_->check("cuMemAlloc", d.cuMemAlloc(&s.ptr, std::max<size_t>(s.bytes, 256))));
  s.where = Where::HostNewer;  // the host holds the values: up before the first run
  slots_.emplace(&e, s);       // from here on the destructor frees it
  return s.ptr;
}

Status CudaStateMirror::upload_host_newer(const std::vector<StateEntry*>& entries) {
  const CudaDriverTable& d = rt_->driver();
  for (StateEntry* e : entries) {
    auto it = slots_.find(e);
    if (it == slots_.end()) return Error("state '" + e->name + "' has no device copy");
    Slot& s = it->second;
    if (s.where != Where::HostNewer) continue;
    if (s.bytes > 0)
      if (Status st = rt_->check("cuMemcpyHtoDAsync",
                                 d.cuMemcpyHtoDAsync(s.ptr, e->buffer.data(), s.bytes, rt_->stream()));
          !st.ok())
        return st.error().wrap("uploading state '" + e->name + "'");
    s.where = Where::Synced;
  }
  return Status::Ok();
}

void CudaStateMirror::mark_device_newer(const std::vector<StateEntry*>& entries) {
  for (StateEntry* e : entries)
    if (auto it = slots_.find(e); it != slots_.end()) it->second.where = Where::DeviceNewer;
}

Status CudaStateMirror::take_error() {
  Status st = std::move(error_);
  error_ = Status::Ok();
  return st;
}

Expected<std::shared_ptr<CudaStateMirror>> cuda_state_mirror(StateStore& store,
                                                             const std::shared_ptr<CudaRuntime>& runtime) {
  std::shared_ptr<StateMirror> m = store.mirror();
  if (!m) {
    auto made = std::make_shared<CudaStateMirror>(runtime);
    store.set_mirror(made);
    return made;
  }
  auto cuda = std::dynamic_pointer_cast<CudaStateMirror>(m);
  if (!cuda || cuda->runtime() != runtime.get())
    return Error("the model's state already lives on another device; bind its executables to one device");
  return cuda;
}

}  // namespace kiln
