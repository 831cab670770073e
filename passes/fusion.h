// Fusion: partitions a graph into kernels, XLA-style loop fusion. A value is
// *materialized* (gets a buffer and is the root of one kernel) when it is
//   - a graph output or a state-update value,
//   - the result of a contraction (matmul, conv2d and its gradients), scatter_add,
//     reduction or max_pool2d_indices (max_pool2d_grad reads each index several times),
//   - an operand of a contraction or scatter_add (except, for matmul, a permute that only
//     swaps the last two axes of a materialized value: the GEMM reads it transposed),
//   - used by a reduction and by something else, and not cheap,
//   - used by more than one node (or a broadcast that expands it) and not cheap.
// Cheap values are recomputed in every consumer instead: leaves that are not buffers
// (splat constants, iota), and one non-transcendental elementwise, indexing, one_hot or
// gather op whose inputs are buffers or index views (broadcast/reshape/permute/slice)
// of buffers -- e.g. `logits = mm + broadcast(bias)` is recomputed by each of its
// consumers instead of being written and read back. Leaves input/parameter/state and
// constants with data are buffers, never kernels. Everything else (elementwise,
// broadcast, reshape, permute, slice, concat, iota, one_hot, gather, rng, constants,
// pooling and its gradients) is inlined into its consumers' loop nests, so a reduction
// root also absorbs its elementwise producer chain (sum(exp(x - max))). Kernels are scheduled in node order (a topological order).
//
// Contraction epilogues (FusionOptions::epilogues): a float contraction (matmul, conv2d
// and its gradients, op flag kContraction) whose value flows through a chain of
// elementwise ops of its own shape and dtype, each the single user of the previous one,
// is computed by one contraction kernel rooted at the chain's end: the chain is the
// kernel's epilogue, evaluated on each finished output element while it is hot in cache
// (codegen/kir ContractionKernel). The other operands of chain nodes are loads of
// materialized values or inlined expressions, so bias (+ broadcast(b)), batch-norm
// scale/shift, residual adds, activations, activation gradients and masks all fuse:
// relu(conv(x)*scale + shift + residual) is one kernel. ReLU also continues the chain
// when the pre-activation z also feeds `gt(z, 0)` nodes (a hand-written ReLU mask; the
// autodiff rule already masks with `gt(relu(z), 0)`): those are served as
// `gt(relu(z), 0)`, which is exact (both are false for NaN), so z is never stored;
// FusionPlan::positive_of records the substitution.
// An SGD-style update of state S, S - c*C or S + c*C (c a splat constant or broadcast of
// a scalar buffer such as the lr state), is instead written in place: out = S,
// alpha = -c, accumulate. It is kept only when no kernel scheduled after it reads S
// (the plan is rebuilt without that update otherwise).
//
// Kernel size cap (FusionOptions::max_kernel_cost): LLVM's loop vectorizer and register
// allocator are superlinear in the size of one loop body, so one fused chain of
// thousands of ops would compile in minutes. Every op has a cost (roughly the LLVM
// instructions of its vectorized code: 1 for arithmetic and index ops, 8-12 for the
// inline exp/log/tanh/sigmoid polynomials, 32 for an rng draw, 0 for splat constants and
// iota); the cost of a kernel is the sum over its root and fused nodes. While deciding
// materialization, nodes are visited in order with the exact set of nodes each would
// inline; when a node's set would cost more than the cap, its most expensive
// non-materialized inputs are materialized (they become kernels of their own) until it
// fits. Long chains are thus cut into kernels of at most the cap, and compile time grows
// linearly with the graph. The cap is far above any kernel of the model zoo's steps.
//
// Convolution prologues (FusionOptions::prologues): a value x that would be a loop
// kernel of its own (the training-mode batch-norm normalise + ReLU, optionally with a
// residual add, over a convolution's output: relu((z - mean) * scale + shift [+ r])) is
// left unmaterialized when it is a small elementwise expression over buffers, broadcasts
// of buffers and constants (cost at most kMaxPrologueCost), it is the input operand of at
// least one forward or weight-gradient convolution (as x), and its other users are not
// contractions or scatter_adds (they inline it like any elementwise value: the next
// block's residual add, the ReLU mask of the backward pass, pooling). Each such
// convolution records x as its prologue (FusedKernel::prologue_root): the runtime computes
// x per block of images into scratch memory while convolving it (runtime/abi.h,
// PrologueFn), so the activation is never written to memory. Such a value read by no
// convolution but by pooling or a reduction (ResNet's stem before max pooling, its last
// block before the global average pool) is not stored either: its readers recompute it.
//
// The plan is an analysis, not a rewrite of the graph; codegen/lower.cpp consumes it.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass.h"

namespace kiln {

enum class FusedKind : uint8_t { Elementwise, Reduction, Contraction, ScatterAdd };
const char* fused_kind_name(FusedKind k);

struct FusedKernel {
  NodeId root = -1;
  FusedKind kind = FusedKind::Elementwise;
  std::vector<NodeId> fused;  // non-materialized nodes inlined into this kernel (sorted)
  std::vector<NodeId> reads;  // materialized values and buffer leaves read (sorted)
  int64_t cost = 0;           // fusion_cost() of the root and the fused nodes
  // Contraction (and scatter_add): the materialized operands (matmul: after folding
  // transposes into trans_a / trans_b).
  NodeId a = -1, b = -1;
  bool trans_a = false, trans_b = false;
  NodeId contraction = -1;      // the contraction node (the root when there is no epilogue)
  std::vector<NodeId> epilogue; // the elementwise chain after it, in order, ending at root
  double alpha = 1.0;
  NodeId alpha_scale = -1;      // rank-0 buffer multiplied into alpha, or -1
  NodeId accumulate = -1;       // state S updated in place (the output is S's buffer), or -1
  // Convolution prologue (see above): operand a is the unmaterialized value prologue_root
  // (then a == -1), computed from `prologue` (prologue_root and its inlined producers,
  // sorted) and the materialized values prologue_reads (also in `reads`).
  NodeId prologue_root = -1;
  std::vector<NodeId> prologue, prologue_reads;
};

struct FusionPlan {
  std::vector<bool> materialized;  // by NodeId (buffer leaves included)
  std::vector<FusedKernel> kernels;  // schedule order
  std::vector<int> kernel_of;        // by NodeId: index of the kernel it roots, or -1
  // By NodeId: for a `gt(z, 0)` node whose z was fused into a contraction epilogue, the
  // materialized relu(z) node that serves it as `gt(relu(z), 0)`; else -1.
  std::vector<NodeId> positive_of;

  std::string to_string(const Graph& g) const;
};

// Leaves that live in buffers rather than being computed inline.
bool is_buffer_leaf(const Node& n);

// The cost of inlining node `n` into a loop kernel (see "Kernel size cap" above).
int fusion_cost(const Node& n);

// Largest prologue (sum of fusion_cost over its nodes, views included): a normalise +
// ReLU costs 8, with a residual add 9, and 17 when the residual is the previous block's
// unmaterialized output (recomputed); every other user of the value recomputes it too.
inline constexpr int64_t kMaxPrologueCost = 32;

struct FusionOptions {
  // false: one kernel per op, every computed value stored (`--no-fusion`, the baseline
  // that shows what fusion buys); epilogues, prologues and in-place updates off too.
  bool fuse = true;
  bool epilogues = true;         // fuse elementwise chains and updates into contractions
  bool in_place_updates = true;  // allow the in-place update epilogue
  bool prologues = true;         // compute convolution inputs in the convolution
  // Upper bound of FusedKernel::cost for loop and reduction kernels (<= 0: no cap). A
  // single node costlier than this still gets a kernel of its own.
  int64_t max_kernel_cost = 256;
};

FusionPlan plan_fusion(const Graph& g, const FusionOptions& opts = {});

}  // namespace kiln
