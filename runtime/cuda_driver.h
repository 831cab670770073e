// The CUDA driver API as the runtime uses it (issue 11, DESIGN.md convention 15): a table
// of the libcuda functions kiln calls, filled with dlopen/dlsym from `libcuda.so.1` (or
// $KILN_CUDA_DRIVER), so kiln builds and runs on machines with no driver or GPU and says so
// clearly. Tests fill the table with fakes that record calls. Only plain C types cross
// here: no cuda.h is needed to build kiln.
//
// probe() answers "can this process use a GPU?": it loads the driver, calls cuInit(0) and
// lists the devices; every way of failing is one line naming the cause:
//   - the library is missing (no driver installed): dlerror's text;
//   - the toolkit's stub libcuda answered CUDA_ERROR_STUB_LIBRARY (34): a build machine
//     with the CUDA toolkit but no driver;
//   - CUDA_ERROR_NO_DEVICE (100), or a driver that lists no device.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ir/status.h"

namespace kiln {

// A device address (CUdeviceptr: 64 bits on every platform kiln builds for).
using CudaDevicePtr = unsigned long long;

// libcuda's entry points, with CUresult as int and CUdevice as int (their ABI types) and
// every handle (CUcontext, CUmodule, CUfunction, CUstream, CUgraph, CUgraphExec) an opaque
// pointer, as the driver's own header declares them.
struct CudaDriverTable {
  int (*cuInit)(unsigned flags) = nullptr;
  int (*cuDriverGetVersion)(int* version) = nullptr;
  int (*cuDeviceGetCount)(int* count) = nullptr;
  int (*cuDeviceGet)(int* device, int ordinal) = nullptr;
  int (*cuDeviceGetName)(char* name, int len, int device) = nullptr;
  int (*cuDeviceGetAttribute)(int* value, int attribute, int device) = nullptr;
  int (*cuGetErrorName)(int error, const char** name) = nullptr;

  // What the device runtime (runtime/cuda_runtime.h) uses. load_cuda_driver fills the ones
  // the library exports (the `_v2` symbol where there is one, i.e. the 64-bit-size ABI);
  // the runtime names any that are missing, so an old driver still probes.
  int (*cuGetErrorString)(int error, const char** text) = nullptr;
  int (*cuDevicePrimaryCtxRetain)(void** ctx, int device) = nullptr;
  int (*cuDevicePrimaryCtxRelease)(int device) = nullptr;  // _v2
  int (*cuCtxSetCurrent)(void* ctx) = nullptr;
  int (*cuModuleLoadData)(void** module, const void* image) = nullptr;
  int (*cuModuleGetFunction)(void** function, void* module, const char* name) = nullptr;
  int (*cuModuleUnload)(void* module) = nullptr;
  int (*cuMemAlloc)(CudaDevicePtr* ptr, size_t bytes) = nullptr;  // _v2
  int (*cuMemFree)(CudaDevicePtr ptr) = nullptr;                  // _v2
  int (*cuMemcpyHtoDAsync)(CudaDevicePtr dst, const void* src, size_t bytes,
                           void* stream) = nullptr;  // _v2
  int (*cuMemcpyDtoHAsync)(void* dst, CudaDevicePtr src, size_t bytes,
                           void* stream) = nullptr;  // _v2
  int (*cuMemsetD8Async)(CudaDevicePtr dst, unsigned char value, size_t count,
                         void* stream) = nullptr;
  int (*cuStreamCreate)(void** stream, unsigned flags) = nullptr;
  int (*cuStreamSynchronize)(void* stream) = nullptr;
  int (*cuStreamDestroy)(void* stream) = nullptr;  // _v2
  int (*cuLaunchKernel)(void* function, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                        unsigned block_x, unsigned block_y, unsigned block_z,
                        unsigned shared_bytes, void* stream, void** params,
                        void** extra) = nullptr;
  int (*cuStreamBeginCapture)(void* stream, int mode) = nullptr;  // _v2
  int (*cuStreamEndCapture)(void* stream, void** graph) = nullptr;
  int (*cuGraphInstantiateWithFlags)(void** exec, void* graph,
                                     unsigned long long flags) = nullptr;
  int (*cuGraphLaunch)(void* exec, void* stream) = nullptr;
  int (*cuGraphExecDestroy)(void* exec) = nullptr;
  int (*cuGraphDestroy)(void* graph) = nullptr;
  // Page-locked host memory: the per-step staging of inputs and outputs, so that the
  // async copies on the non-blocking stream are truly asynchronous.
  int (*cuMemHostAlloc)(void** ptr, size_t bytes, unsigned flags) = nullptr;
  int (*cuMemFreeHost)(void* ptr) = nullptr;
  // Events: the device profile (one pair around each launch).
  int (*cuEventCreate)(void** event, unsigned flags) = nullptr;
  int (*cuEventRecord)(void* event, void* stream) = nullptr;
  int (*cuEventElapsedTime)(float* ms, void* start, void* end) = nullptr;  // _v2, else the first
  int (*cuEventDestroy)(void* event) = nullptr;                            // _v2
};

// The driver enums the runtime passes (values from cuda.h, stable since CUDA 10).
inline constexpr unsigned kCudaStreamNonBlocking = 1;    // CU_STREAM_NON_BLOCKING
inline constexpr unsigned kCudaEventDefault = 0;         // CU_EVENT_DEFAULT (timed)
inline constexpr int kCudaCaptureModeThreadLocal = 1;    // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
inline constexpr int kCudaErrorInvalidValue = 1;
inline constexpr int kCudaErrorOutOfMemory = 2;

// "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory" for a failed call
// (`rc` != 0), naming the call, the error's name and the driver's description.
std::string cuda_error_text(const CudaDriverTable& t, const char* call, int rc);
// Ok when rc is 0, else an Error carrying cuda_error_text.
Status cuda_check(const CudaDriverTable& t, const char* call, int rc);

inline constexpr int kCudaSuccess = 0;
inline constexpr int kCudaErrorStubLibrary = 34;
inline constexpr int kCudaErrorNoDevice = 100;

struct CudaDevice {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability: sm_<major><minor>
  std::string arch() const { return "sm_" + std::to_string(major) + std::to_string(minor); }
};

struct CudaSystem {
  std::string library;  // where the driver came from
  int driver_version = 0;  // e.g. 13000 for CUDA 13.0
  std::vector<CudaDevice> devices;
};

// Loads the driver library (`path`, else $KILN_CUDA_DRIVER, else "libcuda.so.1") and
// returns its table; the library stays loaded for the life of the process.
Expected<CudaDriverTable> load_cuda_driver(const std::string& path = "");

// cuInit and the device list through `table`; `library` names it in messages.
Expected<CudaSystem> probe_cuda(const CudaDriverTable& table, const std::string& library);

// load_cuda_driver + probe_cuda: the one-line answer `--device cuda` gives.
Expected<CudaSystem> probe_cuda_system(const std::string& path = "");

}  // namespace kiln
