// Losses and metrics built from primitives.
#pragma once

#include "frontend/ops.h"

namespace kiln {

// Mean softmax cross-entropy of logits [N, C] against integer labels [N]; computed as
// logsumexp(logits) - logits[label], which never takes log of a rounded-to-zero softmax.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels,
                             std::source_location loc = std::source_location::current());
// Per-example cross-entropy [N] (no mean).
Tensor softmax_cross_entropy_per_example(
    const Tensor& logits, const Tensor& labels,
    std::source_location loc = std::source_location::current());
// Mean of (pred - target)^2 / 2 when `half` (d2l's squared_loss), else plain MSE.
Tensor mse(const Tensor& pred, const Tensor& target, bool half = false,
           std::source_location loc = std::source_location::current());
// Sum of squares of w, halved (d2l 4.5 l2_penalty).
Tensor l2_penalty(const Tensor& w, std::source_location loc = std::source_location::current());
// Number of rows whose argmax equals the label, as an f32 scalar.
Tensor correct_count(const Tensor& logits, const Tensor& labels,
                     std::source_location loc = std::source_location::current());

}  // namespace kiln
