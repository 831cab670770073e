// One kernel launch of a plan on a CUDA device, as the CUDA renderer's launch table
// describes it (codegen/cuda/renderer.h CudaLaunch), the device runtime launches it
// (runtime/cuda_runtime.h) and a serialized CUDA module stores it
// (runtime/module_format.h). Plain data; includes nothing of kiln.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

struct CudaKernelLaunch {
  std::string kernel;    // the __global__ function's name in the module
  int64_t grid = 1;      // blocks (1-D)
  int block = 256;       // threads per block (1-D)
  int shared_bytes = 0;  // dynamic shared memory
  int plan_launch = -1;  // the plan's launch (kir::Kernel) it belongs to; -1: not recorded
};

}  // namespace kiln
