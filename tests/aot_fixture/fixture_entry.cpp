// The code of the test fixture library (see make_fixture.cpp for its plan): what an
// ahead-of-time compiled library looks like to the runtime. The kernel runs through
// kiln_parallel_for, which the library leaves undefined: it resolves against
// libkiln_rt.so when the library is opened.
#include "runtime/abi.h"

namespace {

// y = x * scale + c; buffers: 0 x, 1 y, 2 scale, 3 c, 4 runs.
void fixture_kernel(void** b, int64_t begin, int64_t end) {
  const float* x = static_cast<const float*>(b[0]);
  float* y = static_cast<float*>(b[1]);
  const float* scale = static_cast<const float*>(b[2]);
  const float* c = static_cast<const float*>(b[3]);
  for (int64_t i = begin; i < end; ++i) y[i] = x[i] * scale[i] + c[i];
}

}  // namespace

extern "C" void fixture_entry(void** buffers) {
  kiln_parallel_for(fixture_kernel, buffers, 4, 1);
  *static_cast<float*>(buffers[4]) += 1.0f;
}
