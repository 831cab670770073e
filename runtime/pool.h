// Max pooling's gradient for the runtime (runtime/abi.h, ConvKind kMaxPoolGrad): each
// window's dy added at the input position its stored index names (max_pool2d_indices:
// ih*W + iw of the window's maximum), then the epilogue (runtime/epilogue.h) over the
// GEMM view [n, c, h*w] of dx. A scatter per window rather than the inline lowering's
// gather over the windows covering each input element: with stride 2 that gather reads
// its indices and dy at (w+1)/2, which the vectorizer can only do with gathers (ResNet-18
// at 32x32: 9.0 ms for the stem's pooling gradient fused with the ReLU mask, 2.6 ms as a
// scatter plus the mask in the epilogue; see bench/pool_grad_bench.cpp).
//   dx = alpha * scatter (+ dx when accumulating); planes run in parallel, the windows of
// one plane in row-major order, so the sums do not depend on the thread count. An index
// outside its window is ignored (as in the generated code; the reference interpreter
// reports it), so no index can write outside its plane.
#pragma once

#include <cstdint>

#include "runtime/abi.h"
#include "runtime/epilogue.h"

namespace kiln {

void max_pool2d_grad_f32(const ConvParams& p, const int32_t* indices, const float* dy, float* dx,
                         const Epilogue& epi = {});
void max_pool2d_grad_f64(const ConvParams& p, const int32_t* indices, const double* dy,
                         double* dx, const Epilogue& epi = {});

}  // namespace kiln
