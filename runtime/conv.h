// 2-D convolution for the runtime, NCHW, the three kinds a training step needs
// (runtime/abi.h, ConvParams and ConvKind):
//   forward      y  = conv(x, w)
//   input grad   dx = conv_transpose(dy, w)      (col2im accumulation)
//   weight grad  dw = sum over the batch of dy (x) x-patches
// with stride, padding, dilation and groups:
//   c = alpha * result (+ c when accumulating), then the epilogue (runtime/epilogue.h) on
// rectangles of c in the GEMM view abi.h gives for the kind, each element exactly once.
// With kind = weight grad, alpha = -lr and accumulate = 1 it is an in-place SGD update
// of the weights. Small maps (up to 64 output pixels) run one GEMM per block of images
// rather than per image (conv.cpp), and maps of a few pixels one GEMM over the batch
// with dense weights (conv_tiny_maps.cpp). Results do not depend on the thread count (the
// weight gradient sums the batch in a fixed split and a fixed order). Generated code
// calls kiln_conv2d_f32/f64 (runtime/abi.h) with a pointer to a constant ConvParams block.
// A prologue (runtime/epilogue.h) computes the input x of the forward convolution or the
// weight gradient per block of images (the batch-norm normalise + ReLU of the previous
// layer, fused), rather than it being read from a materialized buffer.
#pragma once

#include "runtime/abi.h"
#include "runtime/epilogue.h"

namespace kiln {

// pro: computes the input x per block of images instead of reading `a` (forward and
// weight gradient; ignored for the input gradient).
void conv2d_f32(const ConvParams& p, const float* a, const float* b, float* c,
                const Epilogue& epi = {}, const Prologue& pro = {});
void conv2d_f64(const ConvParams& p, const double* a, const double* b, double* c,
                const Epilogue& epi = {}, const Prologue& pro = {});

}  // namespace kiln
