// The emulated CUDA driver (see emulated_driver.h). Handles are heap records whose
// addresses the driver hands out; each kind has a live set, so a stale or foreign
// handle is caught.
#include "codegen/cuda/emulated_driver.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <set>

namespace kiln::cudagen {

namespace {

constexpr int kErrorInvalidHandle = 400;   // CUDA_ERROR_INVALID_HANDLE
constexpr int kErrorNotFound = 500;        // CUDA_ERROR_NOT_FOUND
constexpr int kErrorLaunchFailed = 719;    // CUDA_ERROR_LAUNCH_FAILED
constexpr int kErrorCaptureUnsupported = 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
constexpr const char* kImageTag = "KILN-EMU:";

struct Function;
struct Module {
  std::shared_ptr<EmulatedModule> emu;  // null: a real image, launches are only recorded
  std::vector<uint8_t> image;
  std::vector<std::unique_ptr<Function>> functions;
};
struct Function {
  Module* module = nullptr;
  std::string name;
  EmulatedLaunchFn fn = nullptr;
};
struct Launch {
  Function* f;
  unsigned grid, block, shared;
  CudaDevicePtr bufs;
};
struct Stream {
  bool capturing = false;
  std::vector<Launch> recorded;
};
struct Graph {
  std::vector<Launch> launches;
};
struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point at{};  // when the stream reached it (host clock)
};

struct Driver {
  EmulatedDriverState state;
  int context_tag = 0;  // its address is the context
  std::vector<std::shared_ptr<EmulatedModule>> images;
  std::map<CudaDevicePtr, size_t> allocations;
  std::set<Module*> modules;
  std::set<Function*> functions;
  std::set<Stream*> streams;
  std::set<Graph*> graphs, execs;
  std::map<const char*, size_t> host_allocations;  // page-locked (cuMemHostAlloc)
  std::set<Event*> events;
};

// Never destroyed: a runtime released during static destruction still finds it.
Driver& driver() {
  static Driver* d = new Driver();
  return *d;
}

// Logs the call; the injected failure when this is the one to fail.
int enter(const char* call) {
  EmulatedDriverState& s = driver().state;
  const int seen = s.count(call);
  s.calls.push_back(call);
  if (s.fail_call == call && s.fail_at == seen) return s.fail_code;
  return kCudaSuccess;
}

int violation(const std::string& what, int code = kCudaErrorInvalidValue) {
  driver().state.violations.push_back(what);
  return code;
}

// [p, p + bytes) inside one live allocation.
bool inside(CudaDevicePtr p, size_t bytes) {
  auto& a = driver().allocations;
  auto it = a.upper_bound(p);
  if (it == a.begin()) return false;
  --it;
  return p >= it->first && p - it->first <= it->second && bytes <= it->second - (p - it->first);
}

template <class T>
bool live(const std::set<T*>& set, void* h) {
  return h && set.count(static_cast<T*>(h)) > 0;
}

// A copy or memset on `stream`: valid stream, not capturing, range inside an allocation.
int check_transfer(const char* call, CudaDevicePtr p, size_t bytes, void* stream) {
  if (!live(driver().streams, stream)) return violation(std::string(call) + ": unknown stream", kErrorInvalidHandle);
  if (static_cast<Stream*>(stream)->capturing)
    return violation(std::string(call) + " while the stream captures", kErrorCaptureUnsupported);
  if (!inside(p, bytes))
    return violation(std::string(call) + ": " + std::to_string(bytes) + " bytes at " + std::to_string(p) +
                     " are not inside one live allocation");
  return kCudaSuccess;
}

// Counts an async copy whose host side is not inside one page-locked allocation.
void note_host_side(const void* p, size_t bytes) {
  auto& a = driver().host_allocations;
  const char* c = static_cast<const char*>(p);
  auto it = a.upper_bound(c);
  if (it != a.begin()) {
    --it;
    if (c >= it->first && static_cast<size_t>(c - it->first) <= it->second &&
        bytes <= it->second - static_cast<size_t>(c - it->first))
      return;
  }
  ++driver().state.pageable_copies;
}

int run_launch(const Launch& l, bool from_graph) {
  Driver& d = driver();
  if (!live(d.functions, l.f) || !live(d.modules, l.f->module))
    return violation("launch of a function whose module was unloaded", kErrorInvalidHandle);
  d.state.kernel_runs.push_back({l.f->name, l.grid, l.block, l.shared, l.bufs, from_graph});
  if (!l.f->fn) return kCudaSuccess;  // a real image: recorded only
  l.f->fn(reinterpret_cast<void* const*>(l.bufs), l.grid, l.block);
  std::string err = l.f->module->emu->take_error();
  if (err.empty()) return kCudaSuccess;
  if (d.state.launch_error.empty()) d.state.launch_error = err;
  return kErrorLaunchFailed;
}

// ---- the entry points ----

int emu_init(unsigned flags) {
  if (int rc = enter("cuInit")) return rc;
  return flags == 0 ? kCudaSuccess : violation("cuInit flags must be 0");
}
int emu_driver_version(int* v) {
  *v = 13000;
  return enter("cuDriverGetVersion");
}
int emu_device_count(int* n) {
  *n = 1;
  return enter("cuDeviceGetCount");
}
int emu_device_get(int* dev, int ordinal) {
  if (int rc = enter("cuDeviceGet")) return rc;
  *dev = ordinal;
  return ordinal == 0 ? kCudaSuccess : violation("cuDeviceGet: no device " + std::to_string(ordinal));
}
int emu_device_name(char* name, int len, int) {
  std::snprintf(name, static_cast<size_t>(len), "kiln emulated GPU");
  return enter("cuDeviceGetName");
}
int emu_device_attribute(int* v, int attr, int) {
  *v = attr == 75 ? 9 : attr == 76 ? 0 : 0;  // compute capability 9.0
  return enter("cuDeviceGetAttribute");
}
int emu_error_name(int e, const char** s) {
  switch (e) {
    case 1: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case 400: *s = "CUDA_ERROR_INVALID_HANDLE"; break;
    case 500: *s = "CUDA_ERROR_NOT_FOUND"; break;
    case 719: *s = "CUDA_ERROR_LAUNCH_FAILED"; break;
    case 900: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
    default: *s = nullptr; return kCudaErrorInvalidValue;
  }
  return kCudaSuccess;
}
int emu_error_string(int e, const char** s) {
  if (e == kErrorLaunchFailed && !driver().state.launch_error.empty()) {
    *s = driver().state.launch_error.c_str();  // the emulator's own words
    return kCudaSuccess;
  }
  *s = e == 2 ? "out of memory" : e == 1 ? "invalid argument" : "emulated driver error";
  return kCudaSuccess;
}
int emu_ctx_retain(void** ctx, int dev) {
  if (int rc = enter("cuDevicePrimaryCtxRetain")) return rc;
  if (dev != 0) return violation("cuDevicePrimaryCtxRetain: no device " + std::to_string(dev));
  *ctx = &driver().context_tag;
  ++driver().state.contexts;
  return kCudaSuccess;
}
int emu_ctx_release(int dev) {
  if (int rc = enter("cuDevicePrimaryCtxRelease")) return rc;
  if (dev != 0 || driver().state.contexts <= 0) return violation("cuDevicePrimaryCtxRelease without a retain");
  --driver().state.contexts;
  return kCudaSuccess;
}
int emu_ctx_set_current(void* ctx) {
  if (int rc = enter("cuCtxSetCurrent")) return rc;
  if (ctx != &driver().context_tag || driver().state.contexts <= 0)
    return violation("cuCtxSetCurrent: not a retained context", kErrorInvalidHandle);
  return kCudaSuccess;
}
int emu_module_load(void** module, const void* image) {
  if (int rc = enter("cuModuleLoadData")) return rc;
  if (!image) return violation("cuModuleLoadData: null image");
  auto m = std::make_unique<Module>();
  const char* text = static_cast<const char*>(image);
  Driver& d = driver();
  if (std::strncmp(text, kImageTag, std::strlen(kImageTag)) == 0) {
    size_t index = std::strtoull(text + std::strlen(kImageTag), nullptr, 10);
    if (index >= d.images.size()) return violation("cuModuleLoadData: unknown emulated image");
    m->emu = d.images[index];
  } else if (std::memcmp(text, "\x7f" "ELF", 4) == 0) {
    // A real cubin: keep its bytes (up to its section headers' end is unknown; the
    // names live in .strtab, well within the first megabytes) to check function names.
    const auto* bytes = static_cast<const uint8_t*>(image);
    uint64_t shoff = 0;
    uint16_t shentsize = 0, shnum = 0;
    std::memcpy(&shoff, bytes + 0x28, 8);
    std::memcpy(&shentsize, bytes + 0x3A, 2);
    std::memcpy(&shnum, bytes + 0x3C, 2);
    m->image.assign(bytes, bytes + shoff + uint64_t{shentsize} * shnum);
  } else {
    return violation("cuModuleLoadData: neither an emulated image nor a cubin");
  }
  *module = m.get();
  d.modules.insert(m.release());
  ++d.state.modules;
  return kCudaSuccess;
}
int emu_module_function(void** fn, void* module, const char* name) {
  if (int rc = enter("cuModuleGetFunction")) return rc;
  Driver& d = driver();
  if (!live(d.modules, module)) return violation("cuModuleGetFunction: unknown module", kErrorInvalidHandle);
  Module* m = static_cast<Module*>(module);
  auto f = std::make_unique<Function>();
  f->module = m;
  f->name = name;
  if (m->emu) {
    f->fn = reinterpret_cast<EmulatedLaunchFn>(m->emu->lookup(kEmulatedLaunchPrefix + f->name));
    if (!f->fn) return kErrorNotFound;
  } else {
    const std::string key = f->name + '\0';
    if (std::search(m->image.begin(), m->image.end(), key.begin(), key.end()) == m->image.end())
      return kErrorNotFound;
  }
  *fn = f.get();
  d.functions.insert(f.get());
  m->functions.push_back(std::move(f));
  return kCudaSuccess;
}
int emu_module_unload(void* module) {
  if (int rc = enter("cuModuleUnload")) return rc;
  Driver& d = driver();
  if (!live(d.modules, module)) return violation("cuModuleUnload: unknown module", kErrorInvalidHandle);
  Module* m = static_cast<Module*>(module);
  for (auto& f : m->functions) d.functions.erase(f.get());
  d.modules.erase(m);
  delete m;
  --d.state.modules;
  return kCudaSuccess;
}
int emu_mem_alloc(CudaDevicePtr* p, size_t bytes) {
  if (int rc = enter("cuMemAlloc")) return rc;
  if (bytes == 0) return violation("cuMemAlloc of 0 bytes");
  void* h = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!h) return kCudaErrorOutOfMemory;
  std::memset(h, 0xCD, bytes);  // not zero: a runtime that forgets to clear is caught
  *p = reinterpret_cast<CudaDevicePtr>(h);
  driver().allocations[*p] = bytes;
  ++driver().state.allocations;
  return kCudaSuccess;
}
int emu_mem_free(CudaDevicePtr p) {
  if (int rc = enter("cuMemFree")) return rc;
  Driver& d = driver();
  if (!d.allocations.erase(p)) return violation("cuMemFree of an address cuMemAlloc did not return");
  std::free(reinterpret_cast<void*>(p));
  --d.state.allocations;
  return kCudaSuccess;
}
int emu_htod(CudaDevicePtr dst, const void* src, size_t bytes, void* stream) {
  if (int rc = enter("cuMemcpyHtoDAsync")) return rc;
  if (int rc = check_transfer("cuMemcpyHtoDAsync", dst, bytes, stream)) return rc;
  if (!src) return violation("cuMemcpyHtoDAsync from null");
  note_host_side(src, bytes);
  std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
  return kCudaSuccess;
}
int emu_dtoh(void* dst, CudaDevicePtr src, size_t bytes, void* stream) {
  if (int rc = enter("cuMemcpyDtoHAsync")) return rc;
  if (int rc = check_transfer("cuMemcpyDtoHAsync", src, bytes, stream)) return rc;
  if (!dst) return violation("cuMemcpyDtoHAsync to null");
  note_host_side(dst, bytes);
  std::memcpy(dst, reinterpret_cast<const void*>(src), bytes);
  return kCudaSuccess;
}
int emu_memset(CudaDevicePtr dst, unsigned char v, size_t n, void* stream) {
  if (int rc = enter("cuMemsetD8Async")) return rc;
  if (int rc = check_transfer("cuMemsetD8Async", dst, n, stream)) return rc;
  std::memset(reinterpret_cast<void*>(dst), v, n);
  return kCudaSuccess;
}
int emu_stream_create(void** stream, unsigned flags) {
  if (int rc = enter("cuStreamCreate")) return rc;
  if (flags > 1) return violation("cuStreamCreate: unknown flags");
  auto* s = new Stream();
  driver().streams.insert(s);
  ++driver().state.streams;
  *stream = s;
  return kCudaSuccess;
}
int emu_stream_sync(void* stream) {
  if (int rc = enter("cuStreamSynchronize")) return rc;
  if (!live(driver().streams, stream)) return violation("cuStreamSynchronize: unknown stream", kErrorInvalidHandle);
  if (static_cast<Stream*>(stream)->capturing)
    return violation("cuStreamSynchronize while the stream captures", kErrorCaptureUnsupported);
  return kCudaSuccess;
}
int emu_stream_destroy(void* stream) {
  if (int rc = enter("cuStreamDestroy")) return rc;
  if (!live(driver().streams, stream)) return violation("cuStreamDestroy: unknown stream", kErrorInvalidHandle);
  driver().streams.erase(static_cast<Stream*>(stream));
  delete static_cast<Stream*>(stream);
  --driver().state.streams;
  return kCudaSuccess;
}
int emu_launch(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned shared, void* stream, void** params, void** extra) {
  if (int rc = enter("cuLaunchKernel")) return rc;
  Driver& d = driver();
  if (!live(d.functions, fn)) return violation("cuLaunchKernel: unknown function", kErrorInvalidHandle);
  if (!live(d.streams, stream)) return violation("cuLaunchKernel: unknown stream", kErrorInvalidHandle);
  if (gx == 0 || gy != 1 || gz != 1 || bx == 0 || bx > 1024 || by != 1 || bz != 1 || shared > 48 * 1024)
    return violation("cuLaunchKernel: grid/block/shared out of range");
  if (!params || extra) return violation("cuLaunchKernel: kiln kernels take one parameter");
  CudaDevicePtr bufs = 0;
  std::memcpy(&bufs, params[0], sizeof bufs);
  if (!inside(bufs, sizeof(void*))) return violation("cuLaunchKernel: the buffer table is not device memory");
  // Every address in the table is device memory: the table runs to the end of its
  // allocation, and what follows it there must be zero (unused) or device addresses too.
  auto table = std::prev(d.allocations.upper_bound(bufs));
  for (CudaDevicePtr p = bufs; p + sizeof(CudaDevicePtr) <= table->first + table->second; p += sizeof(CudaDevicePtr)) {
    CudaDevicePtr entry = 0;
    std::memcpy(&entry, reinterpret_cast<const void*>(p), sizeof entry);
    if (entry != 0 && !inside(entry, 1))
      return violation("cuLaunchKernel: buffer table entry " + std::to_string((p - bufs) / 8) +
                       " is not device memory");
  }
  Launch l{static_cast<Function*>(fn), gx, bx, shared, bufs};
  Stream* s = static_cast<Stream*>(stream);
  if (s->capturing) {
    s->recorded.push_back(l);
    return kCudaSuccess;
  }
  return run_launch(l, false);
}
int emu_begin_capture(void* stream, int mode) {
  if (int rc = enter("cuStreamBeginCapture")) return rc;
  if (!live(driver().streams, stream)) return violation("cuStreamBeginCapture: unknown stream", kErrorInvalidHandle);
  Stream* s = static_cast<Stream*>(stream);
  if (s->capturing || mode < 0 || mode > 2) return violation("cuStreamBeginCapture: already capturing or bad mode");
  s->capturing = true;
  s->recorded.clear();
  return kCudaSuccess;
}
int emu_end_capture(void* stream, void** graph) {
  if (int rc = enter("cuStreamEndCapture")) {
    // As a real driver does on a failed end: the stream leaves capture mode.
    if (live(driver().streams, stream)) static_cast<Stream*>(stream)->capturing = false;
    return rc;
  }
  if (!live(driver().streams, stream)) return violation("cuStreamEndCapture: unknown stream", kErrorInvalidHandle);
  Stream* s = static_cast<Stream*>(stream);
  if (!s->capturing) return violation("cuStreamEndCapture without a capture");
  s->capturing = false;
  auto* g = new Graph{std::move(s->recorded)};
  s->recorded.clear();
  driver().graphs.insert(g);
  ++driver().state.graphs;
  ++driver().state.captures;
  *graph = g;
  return kCudaSuccess;
}
int emu_instantiate(void** exec, void* graph, unsigned long long flags) {
  if (int rc = enter("cuGraphInstantiateWithFlags")) return rc;
  if (!live(driver().graphs, graph)) return violation("cuGraphInstantiate: unknown graph", kErrorInvalidHandle);
  if (flags != 0) return violation("cuGraphInstantiate: unexpected flags");
  auto* e = new Graph(*static_cast<Graph*>(graph));
  driver().execs.insert(e);
  ++driver().state.execs;
  ++driver().state.instantiations;
  *exec = e;
  return kCudaSuccess;
}
int emu_graph_launch(void* exec, void* stream) {
  if (int rc = enter("cuGraphLaunch")) return rc;
  Driver& d = driver();
  if (!live(d.execs, exec)) return violation("cuGraphLaunch: unknown graph exec", kErrorInvalidHandle);
  if (!live(d.streams, stream) || static_cast<Stream*>(stream)->capturing)
    return violation("cuGraphLaunch: unknown or capturing stream", kErrorInvalidHandle);
  ++d.state.graph_launches;
  for (const Launch& l : static_cast<Graph*>(exec)->launches)
    if (int rc = run_launch(l, true)) return rc;
  return kCudaSuccess;
}
int emu_exec_destroy(void* exec) {
  if (int rc = enter("cuGraphExecDestroy")) return rc;
  if (!live(driver().execs, exec)) return violation("cuGraphExecDestroy: unknown graph exec", kErrorInvalidHandle);
  driver().execs.erase(static_cast<Graph*>(exec));
  delete static_cast<Graph*>(exec);
  --driver().state.execs;
  return kCudaSuccess;
}
int emu_graph_destroy(void* graph) {
  if (int rc = enter("cuGraphDestroy")) return rc;
  if (!live(driver().graphs, graph)) return violation("cuGraphDestroy: unknown graph", kErrorInvalidHandle);
  driver().graphs.erase(static_cast<Graph*>(graph));
  delete static_cast<Graph*>(graph);
  --driver().state.graphs;
  return kCudaSuccess;
}

int emu_host_alloc(void** p, size_t bytes, unsigned flags) {
  if (int rc = enter("cuMemHostAlloc")) return rc;
  if (bytes == 0) return violation("cuMemHostAlloc of 0 bytes");
  if (flags > 7) return violation("cuMemHostAlloc: unknown flags");
  void* h = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!h) return kCudaErrorOutOfMemory;
  std::memset(h, 0xCD, bytes);
  *p = h;
  driver().host_allocations[static_cast<const char*>(h)] = bytes;
  ++driver().state.host_allocations;
  return kCudaSuccess;
}
int emu_free_host(void* p) {
  if (int rc = enter("cuMemFreeHost")) return rc;
  if (!driver().host_allocations.erase(static_cast<const char*>(p)))
    return violation("cuMemFreeHost of an address cuMemHostAlloc did not return");
  std::free(p);
  --driver().state.host_allocations;
  return kCudaSuccess;
}
int emu_event_create(void** event, unsigned flags) {
  if (int rc = enter("cuEventCreate")) return rc;
  if (flags > 7) return violation("cuEventCreate: unknown flags");
  auto* e = new Event();
  driver().events.insert(e);
  ++driver().state.events;
  *event = e;
  return kCudaSuccess;
}
// Launches run when issued, so the stream reaches an event when it is recorded.
int emu_event_record(void* event, void* stream) {
  if (int rc = enter("cuEventRecord")) return rc;
  Driver& d = driver();
  if (!live(d.events, event)) return violation("cuEventRecord: unknown event", kErrorInvalidHandle);
  if (!live(d.streams, stream)) return violation("cuEventRecord: unknown stream", kErrorInvalidHandle);
  if (static_cast<Stream*>(stream)->capturing)
    return violation("cuEventRecord while the stream captures", kErrorCaptureUnsupported);
  auto* e = static_cast<Event*>(event);
  e->recorded = true;
  e->at = std::chrono::steady_clock::now();
  return kCudaSuccess;
}
int emu_event_elapsed(float* ms, void* start, void* end) {
  if (int rc = enter("cuEventElapsedTime")) return rc;
  Driver& d = driver();
  if (!live(d.events, start) || !live(d.events, end))
    return violation("cuEventElapsedTime: unknown event", kErrorInvalidHandle);
  auto* a = static_cast<Event*>(start);
  auto* b = static_cast<Event*>(end);
  if (!a->recorded || !b->recorded) return violation("cuEventElapsedTime of an event never recorded");
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return kCudaSuccess;
}
int emu_event_destroy(void* event) {
  if (int rc = enter("cuEventDestroy")) return rc;
  if (!live(driver().events, event)) return violation("cuEventDestroy: unknown event", kErrorInvalidHandle);
  driver().events.erase(static_cast<Event*>(event));
  delete static_cast<Event*>(event);
  --driver().state.events;
  return kCudaSuccess;
}

}  // namespace

int EmulatedDriverState::count(const std::string& call) const {
  return static_cast<int>(std::count(calls.begin(), calls.end(), call));
}

EmulatedDriverState& emulated_driver_state() { return driver().state; }

void reset_emulated_driver() {
  Driver& d = driver();
  d.state = EmulatedDriverState();
  d.allocations.clear();
  d.modules.clear();
  d.functions.clear();
  d.streams.clear();
  d.graphs.clear();
  d.execs.clear();
  d.host_allocations.clear();
  d.events.clear();
}

CudaDriverTable emulated_driver_table() {
  CudaDriverTable t;
  t.cuInit = emu_init;
  t.cuDriverGetVersion = emu_driver_version;
  t.cuDeviceGetCount = emu_device_count;
  t.cuDeviceGet = emu_device_get;
  t.cuDeviceGetName = emu_device_name;
  t.cuDeviceGetAttribute = emu_device_attribute;
  t.cuGetErrorName = emu_error_name;
  t.cuGetErrorString = emu_error_string;
  t.cuDevicePrimaryCtxRetain = emu_ctx_retain;
  t.cuDevicePrimaryCtxRelease = emu_ctx_release;
  t.cuCtxSetCurrent = emu_ctx_set_current;
  t.cuModuleLoadData = emu_module_load;
  t.cuModuleGetFunction = emu_module_function;
  t.cuModuleUnload = emu_module_unload;
  t.cuMemAlloc = emu_mem_alloc;
  t.cuMemFree = emu_mem_free;
  t.cuMemcpyHtoDAsync = emu_htod;
  t.cuMemcpyDtoHAsync = emu_dtoh;
  t.cuMemsetD8Async = emu_memset;
  t.cuStreamCreate = emu_stream_create;
  t.cuStreamSynchronize = emu_stream_sync;
  t.cuStreamDestroy = emu_stream_destroy;
  t.cuLaunchKernel = emu_launch;
  t.cuStreamBeginCapture = emu_begin_capture;
  t.cuStreamEndCapture = emu_end_capture;
  t.cuGraphInstantiateWithFlags = emu_instantiate;
  t.cuGraphLaunch = emu_graph_launch;
  t.cuGraphExecDestroy = emu_exec_destroy;
  t.cuGraphDestroy = emu_graph_destroy;
  t.cuMemHostAlloc = emu_host_alloc;
  t.cuMemFreeHost = emu_free_host;
  t.cuEventCreate = emu_event_create;
  t.cuEventRecord = emu_event_record;
  t.cuEventElapsedTime = emu_event_elapsed;
  t.cuEventDestroy = emu_event_destroy;
  return t;
}

std::vector<uint8_t> emulated_image(std::shared_ptr<EmulatedModule> module) {
  Driver& d = driver();
  d.images.push_back(std::move(module));
  const std::string tag = kImageTag + std::to_string(d.images.size() - 1);
  std::vector<uint8_t> image(tag.begin(), tag.end());
  image.push_back(0);
  return image;
}

}  // namespace kiln::cudagen
