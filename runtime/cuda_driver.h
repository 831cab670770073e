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

#include <memory>
#include <string>
#include <vector>

#include "ir/status.h"

namespace kiln {

// libcuda's entry points, with CUresult as int and CUdevice as int (their ABI types).
struct CudaDriverTable {
  int (*cuInit)(unsigned flags) = nullptr;
  int (*cuDriverGetVersion)(int* version) = nullptr;
  int (*cuDeviceGetCount)(int* count) = nullptr;
  int (*cuDeviceGet)(int* device, int ordinal) = nullptr;
  int (*cuDeviceGetName)(char* name, int len, int device) = nullptr;
  int (*cuDeviceGetAttribute)(int* value, int attribute, int device) = nullptr;
  int (*cuGetErrorName)(int error, const char** name) = nullptr;
};

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
