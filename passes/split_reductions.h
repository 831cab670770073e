// split_reductions: a reduction over leading and trailing axes with a kept axis between
// them, such as batch norm's statistics (an NCHW tensor over N, H and W, keeping C),
// becomes two: first over the trailing axes (contiguous runs: one streaming pass over
// the big tensor), then over the rest of a small [N, C, 1, 1] result. As one reduction
// the CPU code walks each channel's H*W run image after image, a strided gather at a
// fraction of the copy bandwidth (ResNet-18 at 32x32: 1-3 GB/s, bench/channel_reduce_bench.cpp).
// Applies to float sum, mean and max; a mean of equal-sized means is the mean. The
// inner reduction keeps its dims, so the outer one has the original axes and keepdims.
// Small tensors (below min_elements) are left alone: one kernel is cheaper there.
#pragma once

#include "passes/pass.h"

namespace kiln {

class SplitReductionsPass : public Pass {
 public:
  explicit SplitReductionsPass(int64_t min_elements = int64_t{1} << 16)
      : min_elements_(min_elements) {}
  std::string name() const override { return "split_reductions"; }
  Expected<bool> run(Graph& g) override;

 private:
  int64_t min_elements_;
};

}  // namespace kiln
