// CUDA architecture names and which devices run code built for them: a cubin for sm_XY
// runs on compute capability X.Z for Z >= Y only (the same major version); PTX for
// compute_XY is compiled by the driver for any device of capability >= X.Y. Used by
// `kiln compile --arch`, the module reader (runtime/module_format.h) and the device
// runtime, which refuses code its device cannot run in one line before loading it.
#pragma once

#include <string>

#include "ir/status.h"

namespace kiln {

struct CudaArch {
  bool ptx = false;  // compute_XY (PTX) rather than sm_XY (a cubin)
  int major = 0, minor = 0;
  // "sm_90", "compute_90", "sm_100".
  std::string name() const;
};

// "sm_NN" or "compute_NN" with NN two or three digits (the last one is the minor
// version); anything else is an error naming `arch`.
Expected<CudaArch> parse_cuda_arch(const std::string& arch);

// Ok when a device of compute capability major.minor runs code built for `arch`; else
// one line saying why not.
Status check_cuda_arch(const std::string& arch, int major, int minor);

}  // namespace kiln
