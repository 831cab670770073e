// DSL composite ops built from the primitives of ir/tensor_ops.h.
#pragma once

#include "ir/tensor_ops.h"

namespace kiln {

// Bernoulli(p) draws as `dtype` 0/1.
Tensor bernoulli(Builder& b, Shape shape, double p, const Tensor& counter, int64_t seed,
                 DType dtype = DType::f32, KILN_LOC);

// Composite ops built from primitives.
Tensor softmax(const Tensor& x, int axis = -1, KILN_LOC);
Tensor log_softmax(const Tensor& x, int axis = -1, KILN_LOC);
Tensor logsumexp(const Tensor& x, int axis = -1, bool keepdims = false, KILN_LOC);
// argmax along the last axis as i32 (ties -> lowest index).
Tensor argmax(const Tensor& x, KILN_LOC);

}  // namespace kiln
