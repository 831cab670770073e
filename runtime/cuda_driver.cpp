// dlopen'ed libcuda (see cuda_driver.h). Symbols are looked up by their versioned names
// where the driver exports them (cuDeviceGetCount and friends are unversioned; cuInit
// too), and every missing symbol is an error naming it.
#include "runtime/cuda_driver.h"

#include <dlfcn.h>

#include <cstdlib>

namespace kiln {

namespace {

constexpr int kAttrComputeMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeMinor = 76;

std::string error_name(const CudaDriverTable& t, int code) {
  const char* name = nullptr;
  if (t.cuGetErrorName && t.cuGetErrorName(code, &name) == kCudaSuccess && name)
    return std::string(name) + " (" + std::to_string(code) + ")";
  return "CUDA error " + std::to_string(code);
}

// Fills `out` when the library exports `symbol`; the runtime reports what is missing.
template <typename F>
void resolve_optional(void* handle, const char* symbol, F*& out) {
  if (void* p = dlsym(handle, symbol)) out = reinterpret_cast<F*>(p);
}

template <typename F>
Status resolve(void* handle, const char* symbol, const std::string& library, F*& out) {
  dlerror();
  void* p = dlsym(handle, symbol);
  if (!p) return Error(library + ": the CUDA driver lacks " + symbol);
  out = reinterpret_cast<F*>(p);
  return Status::Ok();
}

}  // namespace

Expected<CudaDriverTable> load_cuda_driver(const std::string& path_in) {
  std::string path = path_in;
  if (path.empty())
    if (const char* env = std::getenv("KILN_CUDA_DRIVER"); env && *env) path = env;
  if (path.empty()) path = "libcuda.so.1";
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return Error("no CUDA driver: cannot load " + path + " (" + (why ? why : "unknown error") +
                 "); this machine has no NVIDIA driver installed");
  }
  CudaDriverTable t;
  KILN_RETURN_IF_ERROR(resolve(handle, "cuInit", path, t.cuInit));
  KILN_RETURN_IF_ERROR(resolve(handle, "cuDriverGetVersion", path, t.cuDriverGetVersion));
  KILN_RETURN_IF_ERROR(resolve(handle, "cuDeviceGetCount", path, t.cuDeviceGetCount));
  KILN_RETURN_IF_ERROR(resolve(handle, "cuDeviceGet", path, t.cuDeviceGet));
  KILN_RETURN_IF_ERROR(resolve(handle, "cuDeviceGetName", path, t.cuDeviceGetName));
  KILN_RETURN_IF_ERROR(resolve(handle, "cuDeviceGetAttribute", path, t.cuDeviceGetAttribute));
  KILN_RETURN_IF_ERROR(resolve(handle, "cuGetErrorName", path, t.cuGetErrorName));
  resolve_optional(handle, "cuGetErrorString", t.cuGetErrorString);
  resolve_optional(handle, "cuDevicePrimaryCtxRetain", t.cuDevicePrimaryCtxRetain);
  resolve_optional(handle, "cuDevicePrimaryCtxRelease_v2", t.cuDevicePrimaryCtxRelease);
  resolve_optional(handle, "cuCtxSetCurrent", t.cuCtxSetCurrent);
  resolve_optional(handle, "cuModuleLoadData", t.cuModuleLoadData);
  resolve_optional(handle, "cuModuleGetFunction", t.cuModuleGetFunction);
  resolve_optional(handle, "cuModuleUnload", t.cuModuleUnload);
  resolve_optional(handle, "cuMemAlloc_v2", t.cuMemAlloc);
  resolve_optional(handle, "cuMemFree_v2", t.cuMemFree);
  resolve_optional(handle, "cuMemcpyHtoDAsync_v2", t.cuMemcpyHtoDAsync);
  resolve_optional(handle, "cuMemcpyDtoHAsync_v2", t.cuMemcpyDtoHAsync);
  resolve_optional(handle, "cuMemsetD8Async", t.cuMemsetD8Async);
  resolve_optional(handle, "cuStreamCreate", t.cuStreamCreate);
  resolve_optional(handle, "cuStreamSynchronize", t.cuStreamSynchronize);
  resolve_optional(handle, "cuStreamDestroy_v2", t.cuStreamDestroy);
  resolve_optional(handle, "cuLaunchKernel", t.cuLaunchKernel);
  resolve_optional(handle, "cuStreamBeginCapture_v2", t.cuStreamBeginCapture);
  resolve_optional(handle, "cuStreamEndCapture", t.cuStreamEndCapture);
  resolve_optional(handle, "cuGraphInstantiateWithFlags", t.cuGraphInstantiateWithFlags);
  resolve_optional(handle, "cuGraphLaunch", t.cuGraphLaunch);
  resolve_optional(handle, "cuGraphExecDestroy", t.cuGraphExecDestroy);
  resolve_optional(handle, "cuGraphDestroy", t.cuGraphDestroy);
  resolve_optional(handle, "cuMemHostAlloc", t.cuMemHostAlloc);
  resolve_optional(handle, "cuMemFreeHost", t.cuMemFreeHost);
  resolve_optional(handle, "cuEventCreate", t.cuEventCreate);
  resolve_optional(handle, "cuEventRecord", t.cuEventRecord);
  // _v2 since CUDA 12.8 (cuda.h maps the name to it); older drivers export the first only.
  resolve_optional(handle, "cuEventElapsedTime_v2", t.cuEventElapsedTime);
  if (!t.cuEventElapsedTime) resolve_optional(handle, "cuEventElapsedTime", t.cuEventElapsedTime);
  resolve_optional(handle, "cuEventDestroy_v2", t.cuEventDestroy);
  return t;  // the handle stays open: the functions live in it
}

std::string cuda_error_text(const CudaDriverTable& t, const char* call, int rc) {
  std::string s = std::string(call) + " failed: " + error_name(t, rc);
  const char* text = nullptr;
  if (t.cuGetErrorString && t.cuGetErrorString(rc, &text) == kCudaSuccess && text)
    s += std::string(": ") + text;
  return s;
}

Status cuda_check(const CudaDriverTable& t, const char* call, int rc) {
  if (rc == kCudaSuccess) return Status::Ok();
  return Error(cuda_error_text(t, call, rc));
}

Expected<CudaSystem> probe_cuda(const CudaDriverTable& t, const std::string& library) {
  if (!t.cuInit || !t.cuDeviceGetCount || !t.cuDeviceGet)
    return Error(library + ": the CUDA driver table is incomplete");
  const int init = t.cuInit(0);
  if (init == kCudaErrorStubLibrary)
    return Error("no CUDA driver: " + library +
                 " is the CUDA toolkit's stub library (CUDA_ERROR_STUB_LIBRARY): this machine "
                 "has the toolkit but no NVIDIA driver or GPU");
  if (init == kCudaErrorNoDevice)
    return Error("no CUDA device: the driver in " + library + " found no GPU (" +
                 error_name(t, init) + ")");
  if (init != kCudaSuccess)
    return Error("the CUDA driver in " + library + " failed to start: cuInit returned " +
                 error_name(t, init));
  CudaSystem sys;
  sys.library = library;
  if (t.cuDriverGetVersion) t.cuDriverGetVersion(&sys.driver_version);
  int count = 0;
  if (int rc = t.cuDeviceGetCount(&count); rc != kCudaSuccess)
    return Error("the CUDA driver in " + library + " cannot count devices: " + error_name(t, rc));
  if (count <= 0) return Error("no CUDA device: the driver in " + library + " lists none");
  for (int i = 0; i < count; ++i) {
    CudaDevice d;
    int dev = 0;
    if (int rc = t.cuDeviceGet(&dev, i); rc != kCudaSuccess)
      return Error("CUDA device " + std::to_string(i) + ": " + cuda_error_text(t, "cuDeviceGet", rc));
    d.ordinal = i;
    char name[256] = {};
    if (t.cuDeviceGetName && t.cuDeviceGetName(name, sizeof name - 1, dev) == kCudaSuccess)
      d.name = name;
    if (t.cuDeviceGetAttribute) {
      t.cuDeviceGetAttribute(&d.major, kAttrComputeMajor, dev);
      t.cuDeviceGetAttribute(&d.minor, kAttrComputeMinor, dev);
    }
    sys.devices.push_back(std::move(d));
  }
  return sys;
}

Expected<CudaSystem> probe_cuda_system(const std::string& path) {
  CudaDriverTable t = KILN_TRY(load_cuda_driver(path));
  std::string library = path;
  if (library.empty())
    if (const char* env = std::getenv("KILN_CUDA_DRIVER"); env && *env) library = env;
  if (library.empty()) library = "libcuda.so.1";
  return probe_cuda(t, library);
}

}  // namespace kiln
