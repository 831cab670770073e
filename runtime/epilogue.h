// The epilogue (and a convolution's prologue) of a contraction as the runtime's C++ code passes it around: the generated
// function (runtime/abi.h, EpilogueFn), its buffers, and where the output matrix of the
// current call sits in the contraction's GEMM view. A plain GEMM is its own view (offsets
// zero); a convolution runs many GEMMs on windows of its view (one image, one group, a
// block of columns), so it hands each one an Epilogue shifted by at().
#pragma once

#include <cstdint>

#include "runtime/abi.h"

namespace kiln {

struct Epilogue {
  EpilogueFn fn = nullptr;
  void** buffers = nullptr;
  int64_t batch = 0, row = 0, col = 0;  // offset of this call's output in the GEMM view

  explicit operator bool() const { return fn != nullptr; }

  // The same epilogue for a window starting at (batch b, row r, col c) of this one.
  Epilogue at(int64_t b, int64_t r, int64_t c) const {
    return {fn, buffers, batch + b, row + r, col + c};
  }

  // Runs the epilogue on rows [r0, r1) x cols [c0, c1) of batch b (local coordinates);
  // no call for an empty rectangle or without a function.
  void operator()(int64_t b, int64_t r0, int64_t r1, int64_t c0, int64_t c1) const {
    if (fn && r0 < r1 && c0 < c1) fn(buffers, batch + b, row + r0, row + r1, col + c0, col + c1);
  }
};

// The row epilogue of a GEMM (runtime/abi.h, RowEpilogueFn) with its buffers.
struct RowEpilogue {
  RowEpilogueFn fn = nullptr;
  void** buffers = nullptr;

  explicit operator bool() const { return fn != nullptr; }
  void operator()(int64_t r0, int64_t r1) const {
    if (fn && r0 < r1) fn(buffers, r0, r1);
  }
};

// The prologue of a convolution (runtime/abi.h, PrologueFn) with its buffers: computes
// the input operand of a block of images instead of it being read from memory.
struct Prologue {
  PrologueFn fn = nullptr;
  void** buffers = nullptr;

  explicit operator bool() const { return fn != nullptr; }
  // Images [i0, i1) of the operand, dense NCHW, into dst.
  void operator()(int64_t i0, int64_t i1, void* dst) const {
    if (fn && i0 < i1) fn(buffers, i0, i1, dst);
  }
};

// A contraction's parameter block (GemmParams, ConvParams) with *alpha_scale (e.g. the
// learning-rate state) folded into alpha; what every ABI entry point does first.
template <typename Params, typename T>
Params with_alpha_scale(const Params& p, const T* alpha_scale) {
  Params q = p;
  if (alpha_scale) q.alpha *= static_cast<double>(*alpha_scale);
  return q;
}

}  // namespace kiln
