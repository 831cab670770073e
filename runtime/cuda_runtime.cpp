// The CUDA device runtime (see cuda_runtime.h): the device (context, stream) and one
// plan bound to it (module, functions, one device allocation, the captured step).
#include "runtime/cuda_runtime.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

#include "runtime/cuda_arch.h"
#include "runtime/cuda_state_mirror.h"
#include "runtime/profile.h"

namespace kiln {

namespace {

constexpr size_t kDeviceAlign = 256;  // cuMemAlloc's own alignment; kernels assume >= 64
constexpr uint8_t kGuardByte = 0xA5;  // as runtime/executable.cpp paints host guards

size_t align_up(size_t n) { return (n + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign; }

// One plan on the device.
class CudaProgramOnDevice : public DeviceProgram {
 public:
  explicit CudaProgramOnDevice(std::shared_ptr<CudaRuntime> rt) : rt_(std::move(rt)) {}
  ~CudaProgramOnDevice() override;
  Status bind(const ExecutablePlan& plan, const CudaCodeModule& code, const HostBinding& host);
  Status run() override;
  Status read_arena(uint64_t offset, void* dst, uint64_t bytes) override;

 private:
  // A host buffer's per-step copy, staged through the page-locked block.
  struct Copy {
    void* host;
    CudaDevicePtr device;
    size_t bytes;
    char* stage = nullptr;
  };
  Status stage_copies();
  Status capture();
  Status launch_profiled();
  Status record_profile();
  Status upload_states();

  std::shared_ptr<CudaRuntime> rt_;
  void* module_ = nullptr;
  std::vector<CudaKernelLaunch> launches_;
  std::vector<void*> functions_;  // per launch
  CudaDevicePtr block_ = 0;       // [arena | inputs | outputs | constants | table]
  uint64_t arena_bytes_ = 0;
  CudaDevicePtr table_ = 0;       // the kernels' `bufs` argument
  std::vector<Copy> inputs_, outputs_;
  void* pinned_ = nullptr;  // cuMemHostAlloc'd: every input's and output's stage
  KernelProfile* profile_ = nullptr;  // profiling: launch by launch, timed by events
  std::vector<void*> events_;         // profiling: a start and an end event per launch
  std::shared_ptr<CudaStateMirror> shared_mirror_, own_mirror_;
  std::vector<StateEntry*> shared_states_, own_states_;
  void* graph_ = nullptr;
  void* exec_ = nullptr;
};

CudaProgramOnDevice::~CudaProgramOnDevice() {
  std::unique_lock<std::mutex> lock = rt_->enter();
  const CudaDriverTable& d = rt_->driver();
  // Teardown cannot report: the fake driver's tests check that every handle is released.
  for (void* e : events_) d.cuEventDestroy(e);
  if (pinned_) d.cuMemFreeHost(pinned_);
  if (exec_) d.cuGraphExecDestroy(exec_);
  if (graph_) d.cuGraphDestroy(graph_);
  if (module_) d.cuModuleUnload(module_);
  if (block_) d.cuMemFree(block_);
}

Status CudaProgramOnDevice::bind(const ExecutablePlan& plan, const CudaCodeModule& code,
                                 const HostBinding& host) {
  const CudaDriverTable& d = rt_->driver();
  if (code.image().empty()) return Error("the CUDA module has no image to load");
  if (!code.arch().empty())
    KILN_RETURN_IF_ERROR(check_cuda_arch(code.arch(), rt_->device().major, rt_->device().minor));
  if (code.launches().empty() && !plan.launches.empty())
    return Error("the CUDA module has no launch table for the plan's " +
                 std::to_string(plan.launches.size()) + " kernels");
  for (const CudaKernelLaunch& l : code.launches())
    if (l.grid < 1 || l.grid > std::numeric_limits<int32_t>::max() || l.block < 1 || l.block > 1024 ||
        l.shared_bytes < 0)
      return Error("launch of " + l.kernel + ": grid " + std::to_string(l.grid) + ", block " +
                   std::to_string(l.block) + " is outside what a device launches");
  launches_ = code.launches();
  profile_ = host.profile;
  if (profile_)
    for (const CudaKernelLaunch& l : launches_)
      if (l.plan_launch < 0 || l.plan_launch >= static_cast<int>(plan.launches.size()))
        return Error("launch of " + l.kernel + " names no kernel of the plan to profile");
  KILN_RETURN_IF_ERROR(rt_->check("cuModuleLoadData", d.cuModuleLoadData(&module_, code.image().data())));
  std::map<std::string, void*> by_name;
  for (const CudaKernelLaunch& l : launches_) {
    void*& f = by_name[l.kernel];
    if (!f)
      if (Status st = rt_->check("cuModuleGetFunction", d.cuModuleGetFunction(&f, module_, l.kernel.c_str()));
          !st.ok())
        return st.error().wrap("kernel " + l.kernel);
    functions_.push_back(f);
  }

  // Layout of the one allocation: the arena as planned, then a slot per distinct host
  // buffer (inputs of one name share one), then the table.
  const size_t n = plan.buffers.size();
  std::vector<uint64_t> offset(n, 0);
  std::map<void*, uint64_t> slot_of;
  uint64_t end = align_up(plan.arena_bytes);
  arena_bytes_ = plan.arena_bytes;
  for (size_t i = 0; i < n; ++i) {
    const PlanBuffer& b = plan.buffers[i];
    if (b.kind == PlanBufferKind::Arena) {
      offset[i] = b.offset;
    } else if (b.kind != PlanBufferKind::State) {
      if (!host.host[i]) return Error("buffer '" + b.name + "' has no host storage");
      auto [it, fresh] = slot_of.emplace(host.host[i], end);
      if (fresh) end += align_up(std::max<size_t>(b.type.bytes(), 1));
      offset[i] = it->second;
    }
  }
  const uint64_t table_offset = end;
  end += align_up(n * sizeof(CudaDevicePtr));
  const uint64_t block_bytes = std::max<uint64_t>(end, kDeviceAlign);
  KILN_RETURN_IF_ERROR(rt_->check("cuMemAlloc", d.cuMemAlloc(&block_, block_bytes)));
  table_ = block_ + table_offset;
  // Zero-filled as host buffers are (the copies below come after it on the stream).
  KILN_RETURN_IF_ERROR(rt_->check("cuMemsetD8Async", d.cuMemsetD8Async(block_, 0, block_bytes, rt_->stream())));

  // The table of device addresses; states come from the stores' mirrors.
  std::vector<CudaDevicePtr> table(n, 0);
  std::map<void*, bool> copied;
  for (size_t i = 0; i < n; ++i) {
    const PlanBuffer& b = plan.buffers[i];
    if (b.kind == PlanBufferKind::State) {
      StateEntry* e = host.states[i];
      if (!e) return Error("state '" + b.name + "' is not bound on the host");
      const bool own = e->scope == StateScope::Executable;
      StateStore* store = own ? host.own : host.shared;
      std::shared_ptr<CudaStateMirror>& mirror = own ? own_mirror_ : shared_mirror_;
      if (!mirror) mirror = KILN_TRY(cuda_state_mirror(*store, rt_));
      table[i] = KILN_TRY(mirror->place(*e));
      std::vector<StateEntry*>& list = own ? own_states_ : shared_states_;
      if (std::find(list.begin(), list.end(), e) == list.end()) list.push_back(e);
      continue;
    }
    table[i] = block_ + offset[i];
    if (b.kind == PlanBufferKind::Arena || copied[host.host[i]]) continue;
    copied[host.host[i]] = true;
    Copy c{host.host[i], table[i], b.type.bytes()};
    if (b.kind == PlanBufferKind::Input) inputs_.push_back(c);
    if (b.kind == PlanBufferKind::Output) outputs_.push_back(c);
    if (b.kind == PlanBufferKind::Constant && c.bytes > 0)
      KILN_RETURN_IF_ERROR(rt_->check("cuMemcpyHtoDAsync", d.cuMemcpyHtoDAsync(c.device, c.host, c.bytes,
                                                                               rt_->stream())));
  }
  for (const ArenaGuard& g : plan.guards)
    KILN_RETURN_IF_ERROR(rt_->check("cuMemsetD8Async", d.cuMemsetD8Async(block_ + g.offset, kGuardByte,
                                                                         g.bytes, rt_->stream())));
  if (n > 0)
    KILN_RETURN_IF_ERROR(rt_->check("cuMemcpyHtoDAsync",
                                    d.cuMemcpyHtoDAsync(table_, table.data(), n * sizeof(CudaDevicePtr),
                                                        rt_->stream())));
  KILN_RETURN_IF_ERROR(stage_copies());
  for (size_t i = 0; profile_ && i < 2 * launches_.size(); ++i) {
    void* e = nullptr;
    KILN_RETURN_IF_ERROR(rt_->check("cuEventCreate", d.cuEventCreate(&e, kCudaEventDefault)));
    events_.push_back(e);
  }
  // The host's table and constants are locals or may change: wait for the copies.
  return rt_->check("cuStreamSynchronize", d.cuStreamSynchronize(rt_->stream()));
}

// One page-locked block holds a stage per input and output: the async copies of a step
// then read and write pinned memory only (from pageable memory a driver copies
// synchronously, and a capture-safe, overlapped transfer needs pinned memory).
Status CudaProgramOnDevice::stage_copies() {
  size_t bytes = 0;
  for (const std::vector<Copy>* list : {&inputs_, &outputs_})
    for (const Copy& c : *list) bytes += align_up(c.bytes);
  if (bytes == 0) return Status::Ok();
  const CudaDriverTable& d = rt_->driver();
  KILN_RETURN_IF_ERROR(rt_->check("cuMemHostAlloc", d.cuMemHostAlloc(&pinned_, bytes, 0)));
  char* next = static_cast<char*>(pinned_);
  for (std::vector<Copy>* list : {&inputs_, &outputs_})
    for (Copy& c : *list) {
      c.stage = next;
      next += align_up(c.bytes);
    }
  return Status::Ok();
}

// Records the step's launches into a CUDA graph and instantiates it. A launch that fails
// still ends the capture (the stream must leave capture mode) and frees the partial graph.
Status CudaProgramOnDevice::capture() {
  const CudaDriverTable& d = rt_->driver();
  void* stream = rt_->stream();
  KILN_RETURN_IF_ERROR(rt_->check("cuStreamBeginCapture", d.cuStreamBeginCapture(stream, kCudaCaptureModeThreadLocal)));
  Status launched;
  for (size_t i = 0; i < launches_.size() && launched.ok(); ++i) {
    const CudaKernelLaunch& l = launches_[i];
    void* params[] = {&table_};
    launched = rt_->check("cuLaunchKernel",
                          d.cuLaunchKernel(functions_[i], static_cast<unsigned>(l.grid), 1, 1,
                                           static_cast<unsigned>(l.block), 1, 1,
                                           static_cast<unsigned>(l.shared_bytes), stream, params, nullptr));
    if (!launched.ok()) launched = launched.error().wrap("kernel " + l.kernel);
  }
  void* graph = nullptr;
  Status ended = rt_->check("cuStreamEndCapture", d.cuStreamEndCapture(stream, &graph));
  if (!launched.ok() || !ended.ok()) {
    if (graph) d.cuGraphDestroy(graph);
    return launched.ok() ? ended : launched;
  }
  graph_ = graph;
  void* exec = nullptr;
  KILN_RETURN_IF_ERROR(rt_->check("cuGraphInstantiateWithFlags", d.cuGraphInstantiateWithFlags(&exec, graph_, 0)));
  exec_ = exec;
  return Status::Ok();
}

// The profiled step: launch by launch (not the captured graph), each between its events.
Status CudaProgramOnDevice::launch_profiled() {
  const CudaDriverTable& d = rt_->driver();
  void* stream = rt_->stream();
  for (size_t i = 0; i < launches_.size(); ++i) {
    const CudaKernelLaunch& l = launches_[i];
    void* params[] = {&table_};
    KILN_RETURN_IF_ERROR(rt_->check("cuEventRecord", d.cuEventRecord(events_[2 * i], stream)));
    if (Status st = rt_->check("cuLaunchKernel",
                               d.cuLaunchKernel(functions_[i], static_cast<unsigned>(l.grid), 1, 1,
                                                static_cast<unsigned>(l.block), 1, 1,
                                                static_cast<unsigned>(l.shared_bytes), stream, params, nullptr));
        !st.ok())
      return st.error().wrap("kernel " + l.kernel);
    KILN_RETURN_IF_ERROR(rt_->check("cuEventRecord", d.cuEventRecord(events_[2 * i + 1], stream)));
  }
  return Status::Ok();
}

// After the step's synchronise: each launch's time goes to its plan kernel.
Status CudaProgramOnDevice::record_profile() {
  const CudaDriverTable& d = rt_->driver();
  std::vector<double> seconds(profile_->seconds().size(), 0.0);
  for (size_t i = 0; i < launches_.size(); ++i) {
    float ms = 0;
    KILN_RETURN_IF_ERROR(rt_->check("cuEventElapsedTime",
                                    d.cuEventElapsedTime(&ms, events_[2 * i], events_[2 * i + 1])));
    seconds[static_cast<size_t>(launches_[i].plan_launch)] += ms * 1e-3;
  }
  profile_->record_run(seconds);
  return Status::Ok();
}

Status CudaProgramOnDevice::upload_states() {
  for (const auto& [mirror, states] : {std::pair{shared_mirror_.get(), &shared_states_},
                                       std::pair{own_mirror_.get(), &own_states_}}) {
    if (!mirror) continue;
    KILN_RETURN_IF_ERROR(mirror->take_error());  // a failed copy to the host since the last run
    KILN_RETURN_IF_ERROR(mirror->upload_host_newer(*states));
  }
  return Status::Ok();
}

Status CudaProgramOnDevice::run() {
  Status current;
  std::unique_lock<std::mutex> lock = rt_->enter(&current);
  KILN_RETURN_IF_ERROR(current);
  const CudaDriverTable& d = rt_->driver();
  void* stream = rt_->stream();
  KILN_RETURN_IF_ERROR(upload_states());
  // The previous step synchronised, so its copies out of the stages are done.
  for (const Copy& c : inputs_)
    if (c.bytes > 0) {
      std::memcpy(c.stage, c.host, c.bytes);
      KILN_RETURN_IF_ERROR(rt_->check("cuMemcpyHtoDAsync", d.cuMemcpyHtoDAsync(c.device, c.stage, c.bytes, stream)));
    }
  if (profile_) {
    KILN_RETURN_IF_ERROR(launch_profiled());
  } else {
    if (!exec_) KILN_RETURN_IF_ERROR(capture());
    KILN_RETURN_IF_ERROR(rt_->check("cuGraphLaunch", d.cuGraphLaunch(exec_, stream)));
  }
  // From here the step may have written its states: the host copies are stale.
  if (shared_mirror_) shared_mirror_->mark_device_newer(shared_states_);
  if (own_mirror_) own_mirror_->mark_device_newer(own_states_);
  for (const Copy& c : outputs_)
    if (c.bytes > 0)
      KILN_RETURN_IF_ERROR(rt_->check("cuMemcpyDtoHAsync", d.cuMemcpyDtoHAsync(c.stage, c.device, c.bytes, stream)));
  KILN_RETURN_IF_ERROR(rt_->check("cuStreamSynchronize", d.cuStreamSynchronize(stream)));
  for (const Copy& c : outputs_)
    if (c.bytes > 0) std::memcpy(c.host, c.stage, c.bytes);
  return profile_ ? record_profile() : Status::Ok();
}

Status CudaProgramOnDevice::read_arena(uint64_t offset, void* dst, uint64_t bytes) {
  if (offset > arena_bytes_ + kDeviceAlign || bytes > arena_bytes_ + kDeviceAlign - offset)
    return Error("arena bytes [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                 ") are outside the arena of " + std::to_string(arena_bytes_));
  Status current;
  std::unique_lock<std::mutex> lock = rt_->enter(&current);
  KILN_RETURN_IF_ERROR(current);
  const CudaDriverTable& d = rt_->driver();
  if (bytes > 0)
    KILN_RETURN_IF_ERROR(rt_->check("cuMemcpyDtoHAsync", d.cuMemcpyDtoHAsync(dst, block_ + offset, bytes,
                                                                             rt_->stream())));
  return rt_->check("cuStreamSynchronize", d.cuStreamSynchronize(rt_->stream()));
}

}  // namespace

std::string cuda_runtime_missing_entry(const CudaDriverTable& t) {
  const std::pair<const char*, const void*> entries[] = {
      {"cuInit", reinterpret_cast<const void*>(t.cuInit)},
      {"cuDeviceGetCount", reinterpret_cast<const void*>(t.cuDeviceGetCount)},
      {"cuDeviceGet", reinterpret_cast<const void*>(t.cuDeviceGet)},
      {"cuDevicePrimaryCtxRetain", reinterpret_cast<const void*>(t.cuDevicePrimaryCtxRetain)},
      {"cuDevicePrimaryCtxRelease_v2", reinterpret_cast<const void*>(t.cuDevicePrimaryCtxRelease)},
      {"cuCtxSetCurrent", reinterpret_cast<const void*>(t.cuCtxSetCurrent)},
      {"cuModuleLoadData", reinterpret_cast<const void*>(t.cuModuleLoadData)},
      {"cuModuleGetFunction", reinterpret_cast<const void*>(t.cuModuleGetFunction)},
      {"cuModuleUnload", reinterpret_cast<const void*>(t.cuModuleUnload)},
      {"cuMemAlloc_v2", reinterpret_cast<const void*>(t.cuMemAlloc)},
      {"cuMemFree_v2", reinterpret_cast<const void*>(t.cuMemFree)},
      {"cuMemcpyHtoDAsync_v2", reinterpret_cast<const void*>(t.cuMemcpyHtoDAsync)},
      {"cuMemcpyDtoHAsync_v2", reinterpret_cast<const void*>(t.cuMemcpyDtoHAsync)},
      {"cuMemsetD8Async", reinterpret_cast<const void*>(t.cuMemsetD8Async)},
      {"cuStreamCreate", reinterpret_cast<const void*>(t.cuStreamCreate)},
      {"cuStreamSynchronize", reinterpret_cast<const void*>(t.cuStreamSynchronize)},
      {"cuStreamDestroy_v2", reinterpret_cast<const void*>(t.cuStreamDestroy)},
      {"cuLaunchKernel", reinterpret_cast<const void*>(t.cuLaunchKernel)},
      {"cuStreamBeginCapture_v2", reinterpret_cast<const void*>(t.cuStreamBeginCapture)},
      {"cuStreamEndCapture", reinterpret_cast<const void*>(t.cuStreamEndCapture)},
      {"cuGraphInstantiateWithFlags", reinterpret_cast<const void*>(t.cuGraphInstantiateWithFlags)},
      {"cuGraphLaunch", reinterpret_cast<const void*>(t.cuGraphLaunch)},
      {"cuGraphExecDestroy", reinterpret_cast<const void*>(t.cuGraphExecDestroy)},
      {"cuGraphDestroy", reinterpret_cast<const void*>(t.cuGraphDestroy)},
      {"cuMemHostAlloc", reinterpret_cast<const void*>(t.cuMemHostAlloc)},
      {"cuMemFreeHost", reinterpret_cast<const void*>(t.cuMemFreeHost)},
      {"cuEventCreate", reinterpret_cast<const void*>(t.cuEventCreate)},
      {"cuEventRecord", reinterpret_cast<const void*>(t.cuEventRecord)},
      {"cuEventElapsedTime", reinterpret_cast<const void*>(t.cuEventElapsedTime)},
      {"cuEventDestroy_v2", reinterpret_cast<const void*>(t.cuEventDestroy)},
  };
  std::string missing;
  for (const auto& [name, fn] : entries)
    if (!fn) missing += (missing.empty() ? "" : ", ") + std::string(name);
  return missing;
}

Expected<std::shared_ptr<CudaRuntime>> CudaRuntime::create(const CudaDriverTable& driver,
                                                           const std::string& library, int ordinal) {
  if (std::string missing = cuda_runtime_missing_entry(driver); !missing.empty())
    return Error(library + ": the CUDA driver lacks " + missing);
  CudaSystem sys = KILN_TRY(probe_cuda(driver, library));
  if (ordinal < 0 || ordinal >= static_cast<int>(sys.devices.size()))
    return Error("no CUDA device " + std::to_string(ordinal) + ": the driver lists " +
                 std::to_string(sys.devices.size()));
  std::shared_ptr<CudaRuntime> rt(new CudaRuntime());
  rt->driver_ = driver;
  rt->device_ = sys.devices[ordinal];
  // Each step below is undone by the destructor when a later one fails.
  KILN_RETURN_IF_ERROR(rt->check("cuDeviceGet", driver.cuDeviceGet(&rt->cu_device_, ordinal)));
  KILN_RETURN_IF_ERROR(rt->check("cuDevicePrimaryCtxRetain",
                                 driver.cuDevicePrimaryCtxRetain(&rt->context_, rt->cu_device_)));
  rt->retained_ = true;
  KILN_RETURN_IF_ERROR(rt->check("cuCtxSetCurrent", driver.cuCtxSetCurrent(rt->context_)));
  KILN_RETURN_IF_ERROR(rt->check("cuStreamCreate", driver.cuStreamCreate(&rt->stream_, kCudaStreamNonBlocking)));
  return rt;
}

CudaRuntime::~CudaRuntime() {
  if (context_) driver_.cuCtxSetCurrent(context_);
  if (stream_) driver_.cuStreamDestroy(stream_);
  if (retained_) driver_.cuDevicePrimaryCtxRelease(cu_device_);
}

std::string CudaRuntime::name() const {
  return "cuda:" + std::to_string(device_.ordinal) + " (" + device_.name + ", " + device_.arch() + ")";
}

std::unique_lock<std::mutex> CudaRuntime::enter(Status* current) {
  std::unique_lock<std::mutex> lock(mu_);
  // The context is per thread: every operation makes it current on the caller's.
  Status st = check("cuCtxSetCurrent", driver_.cuCtxSetCurrent(context_));
  if (current) *current = std::move(st);
  return lock;
}

Expected<std::unique_ptr<DeviceProgram>> CudaRuntime::bind(const ExecutablePlan& plan, CodeModule& code,
                                                           const HostBinding& host) {
  auto* cuda = dynamic_cast<CudaCodeModule*>(&code);
  if (!cuda) return Error("the code module holds no CUDA code (compile the plan for cuda)");
  // Declared before the lock: a failed bind's destructor runs after the lock is released.
  auto program = std::make_unique<CudaProgramOnDevice>(shared_from_this());
  Status current;
  std::unique_lock<std::mutex> lock = enter(&current);
  KILN_RETURN_IF_ERROR(current);
  KILN_RETURN_IF_ERROR(program->bind(plan, *cuda, host));
  return std::unique_ptr<DeviceProgram>(std::move(program));
}

}  // namespace kiln
