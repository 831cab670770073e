// The Lowerer computes graph values at multi-indices inside one kernel, as kernel-IR
// expressions; every op's inline lowering is an entry of a table indexed by OpKind
// (codegen/lower_ops.cpp: leaves, elementwise, indexing; codegen/lower_pool.cpp:
// pooling and its gradients), not a switch. Materialized values are loads of their
// buffers; everything else is computed by its op's lowering at the requested index,
// memoized per (value, index).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "codegen/kernel_ir.h"
#include "ir/graph.h"

namespace kiln {

class Lowerer {
 public:
  Lowerer(const Graph& g, const std::vector<int>& buffer_of, const std::vector<NodeId>& positive_of,
          kir::ExprPool& pool, NodeId root, bool flat)
      : g_(g), buf_(buffer_of), pos_(positive_of), P_(pool), root_(root), flat_(flat) {}

  const Graph& graph() const { return g_; }
  kir::ExprPool& pool() { return P_; }
  // Flat kernels index every value with one linear index (elementwise groups only).
  bool flat() const { return flat_; }

  // The value of v at idx (one index per axis of v, or one linear index when flat).
  kir::ExprId at(NodeId v, const std::vector<kir::ExprId>& idx);
  kir::ExprId in(const Node& n, int i, const std::vector<kir::ExprId>& idx) {
    return at(n.inputs[i].id, idx);
  }
  // The value of v at idx, computed by its op's lowering even when v has a buffer (the
  // kernel's root).
  kir::ExprId compute(NodeId v, const std::vector<kir::ExprId>& idx);
  kir::ExprId load(NodeId v, const std::vector<kir::ExprId>& idx);

  kir::ExprId linear(const Shape& s, const std::vector<kir::ExprId>& idx);
  std::vector<kir::ExprId> delinear(const Shape& s, kir::ExprId lin);
  kir::ExprId to_index(kir::ExprId x) { return P_.cast(DType::i64, x); }

  // Inside a contraction's epilogue: `v` (the contraction) is served by `fn` (a load of
  // the finished product), and `lin` is the linear offset of `idx` in `shape` (saves
  // re-linearizing the GEMM view's delinearized index).
  void serve(NodeId v, std::function<kir::ExprId(const std::vector<kir::ExprId>&)> fn) {
    served_[v] = std::move(fn);
  }
  void know_linear(const Shape& s, const std::vector<kir::ExprId>& idx, kir::ExprId lin) {
    known_linear_[{s.dims, idx}] = lin;
  }

 private:
  const Graph& g_;
  const std::vector<int>& buf_;
  const std::vector<NodeId>& pos_;
  kir::ExprPool& P_;
  NodeId root_;
  bool flat_;
  std::map<std::pair<NodeId, std::vector<kir::ExprId>>, kir::ExprId> memo_;
  std::map<NodeId, std::function<kir::ExprId(const std::vector<kir::ExprId>&)>> served_;
  std::map<std::pair<std::vector<int64_t>, std::vector<kir::ExprId>>, kir::ExprId> known_linear_;
};

// An op's value at a multi-index (or a linear index in flat kernels).
using InlineLowering = kir::ExprId (*)(Lowerer& L, const Node& n,
                                       const std::vector<kir::ExprId>& idx);
using InlineLoweringTable = std::array<InlineLowering, kNumOps>;

// The table (built once); entries are null for ops that only lower at the kernel level
// (reductions, contractions, scatter_add).
const InlineLoweringTable& inline_lowerings();
void add_basic_lowerings(InlineLoweringTable& t);    // lower_ops.cpp
void add_pooling_lowerings(InlineLoweringTable& t);  // lower_pool.cpp

}  // namespace kiln

namespace kiln {

// How a contraction op becomes a ContractionKernel (codegen/lower_contraction.cpp): its
// geometry and the GEMM view of its output, and the map from a view index (batch, row,
// col) to the output's multi-index (for the epilogue). One entry per contraction op.
struct ContractionLowering {
  kir::ContractionOp op;
  void (*geometry)(const Graph& g, const Node& n, kir::ContractionKernel& k);
  std::vector<kir::ExprId> (*output_index)(kir::ExprPool& P, const kir::ContractionKernel& k,
                                           const Shape& out,
                                           const std::array<kir::ExprId, 3>& view_index);
};
// The entry for op, or null when op is not a contraction.
const ContractionLowering* contraction_lowering(OpKind op);

// Sets k's prologue (kernel_ir.h) to the value x (a convolution's unmaterialized input
// operand, fusion.h) over the view [n, c, h*w].
void lower_prologue(const Graph& g, const std::vector<int>& buffer_of,
                    const std::vector<NodeId>& positive_of, NodeId x, kir::ContractionKernel& k,
                    kir::ExprPool& P);

}  // namespace kiln
