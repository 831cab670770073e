// What a kernel must compute and move, for profiles and the roofline report (`kiln
// bench`): floating-point operations, and the bytes it reads and writes at the least --
// each buffer it reads once (a broadcast operand counts its own size, not the loop's),
// each buffer it writes once. A contraction's FLOPs are 2 * multiply-adds; a loop's are
// its float arithmetic per point (an exp counts 1) times its points. Values a row kernel
// writes and reads again within its rows are counted as written, not read back.
#pragma once

#include "codegen/kernel_ir.h"

namespace kiln {

struct KernelCost {
  double flops = 0;
  double bytes = 0;
};

KernelCost kernel_cost(const kir::KernelProgram& prog, const kir::Kernel& k);

}  // namespace kiln
