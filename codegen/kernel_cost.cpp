#include "codegen/kernel_cost.h"

#include <algorithm>
#include <set>

namespace kiln {

namespace {

using kir::EOp;

double buffer_bytes(const kir::KernelProgram& prog, int b) {
  return static_cast<double>(prog.buffers[b].type.bytes());
}

int64_t points(const kir::LoopKernel& l) {
  int64_t n = 1;
  for (int64_t d : l.dims) n *= d;
  return n;
}

// Float arithmetic per point of a loop (reductions add their accumulation).
double loop_flops(const kir::ExprPool& P, const kir::LoopKernel& l) {
  int64_t ops = l.reduce != kir::ReduceOp::None ? 1 : 0;
  P.for_each_reachable(l.value, [&](kir::ExprId, const kir::Expr& e) {
    const bool arithmetic = e.op == EOp::Unary || e.op == EOp::Binary;
    ops += arithmetic && is_float(e.dtype);
  });
  return static_cast<double>(ops) * static_cast<double>(points(l));
}

// Bytes of `loops` run together: each buffer read from outside them once (at most as
// many elements as the loop has points), each buffer written once.
double loops_bytes(const kir::KernelProgram& prog, const std::vector<kir::LoopKernel>& loops,
                   std::set<int> written) {
  double bytes = 0;
  std::set<int> read;
  for (const kir::LoopKernel& l : loops) {
    std::vector<kir::ExprId> loads;
    prog.pool.collect_loads(l.value, loads);
    for (kir::ExprId ld : loads) {
      const int b = prog.pool[ld].buffer;
      if (written.count(b) || !read.insert(b).second) continue;
      const double elems = std::min<double>(static_cast<double>(prog.buffers[b].type.shape.numel()),
                                            static_cast<double>(points(l)));
      bytes += elems * static_cast<double>(dtype_size(prog.buffers[b].type.dtype));
    }
    if (written.insert(l.out_buffer).second) bytes += buffer_bytes(prog, l.out_buffer);
  }
  return bytes;
}

}  // namespace

KernelCost kernel_cost(const kir::KernelProgram& prog, const kir::Kernel& k) {
  KernelCost cost;
  if (const kir::LoopKernel* l = k.loop()) {
    cost.flops = loop_flops(prog.pool, *l);
    cost.bytes = loops_bytes(prog, {*l}, {});
  } else if (const kir::RowKernel* r = k.row_kernel()) {
    for (const kir::LoopKernel& m : r->loops) cost.flops += loop_flops(prog.pool, m);
    cost.bytes = loops_bytes(prog, r->loops, {});
  } else if (const kir::ContractionKernel* c = k.contraction()) {
    // A pooling gradient adds once per window (work() counts the zeroing too).
    cost.flops = c->op == kir::ContractionOp::MaxPool2dGrad
                     ? static_cast<double>(c->conv.n * c->conv.c * c->conv.oh * c->conv.ow)
                     : 2.0 * static_cast<double>(k.work());
    for (int b : {c->a, c->b})
      if (b >= 0) cost.bytes += buffer_bytes(prog, b);
    cost.bytes += buffer_bytes(prog, c->out) * (c->accumulate ? 2 : 1);
    cost.bytes += loops_bytes(prog, c->row_loops, {c->out});
  } else {
    const kir::ScatterAddKernel& s = *k.scatter();
    cost.flops = static_cast<double>(s.count * s.row_size);
    cost.bytes = buffer_bytes(prog, s.indices) + buffer_bytes(prog, s.updates) +
                 buffer_bytes(prog, s.out);
  }
  return cost;
}

}  // namespace kiln
