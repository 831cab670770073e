// The machine's measured limits, for rooflines (`kiln bench`, bench/roofline.py): the
// f32 GEMM rate of the runtime's own GEMM on a large square problem, and the copy
// bandwidth (bytes read + written per second by a parallel memcpy of buffers far larger
// than the caches), both on the global thread pool, best of several runs.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

struct MachinePeaks {
  double gemm_flops_per_s = 0;  // 2 * n^3 / best time
  double copy_bytes_per_s = 0;  // 2 * bytes / best time
  int64_t gemm_n = 0;           // the square GEMM measured
  int64_t copy_bytes = 0;       // the buffer copied
  int threads = 0;
  std::string isa;              // the GEMM micro-kernel
};

// About half a second of work.
MachinePeaks measure_machine_peaks();

}  // namespace kiln
