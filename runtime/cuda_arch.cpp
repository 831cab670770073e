// CUDA architecture names (see cuda_arch.h).
#include "runtime/cuda_arch.h"

#include <cctype>

namespace kiln {

std::string CudaArch::name() const {
  return (ptx ? "compute_" : "sm_") + std::to_string(major) + std::to_string(minor);
}

Expected<CudaArch> parse_cuda_arch(const std::string& arch) {
  CudaArch a;
  std::string digits;
  if (arch.rfind("sm_", 0) == 0) {
    digits = arch.substr(3);
  } else if (arch.rfind("compute_", 0) == 0) {
    a.ptx = true;
    digits = arch.substr(8);
  }
  bool numeric = digits.size() == 2 || digits.size() == 3;
  for (char c : digits) numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
  if (!numeric || digits[0] == '0')
    return Error("CUDA architecture '" + arch + "' is not sm_NN (e.g. sm_80, sm_90) or compute_NN");
  const int n = std::stoi(digits);
  a.major = n / 10;
  a.minor = n % 10;
  return a;
}

Status check_cuda_arch(const std::string& arch, int major, int minor) {
  CudaArch a = KILN_TRY(parse_cuda_arch(arch));
  const std::string device = "sm_" + std::to_string(major) + std::to_string(minor);
  const bool runs = a.ptx ? (major > a.major || (major == a.major && minor >= a.minor))
                          : (major == a.major && minor >= a.minor);
  if (runs) return Status::Ok();
  if (a.ptx)
    return Error("the CUDA module's PTX was built for " + arch + ", newer than the device (" +
                 device + ")");
  return Error("the CUDA module was built for " + arch + ", which a " + device +
               " device cannot run (a cubin runs only on its own major version, at the same or "
               "a newer minor)");
}

}  // namespace kiln
