// simplify: constant folding, common-subexpression elimination, algebraic identities
// (including sums of disjoint pads as one concat) and dead-code elimination, iterated to
// a fixed point.
#pragma once

#include "passes/pass.h"

namespace kiln {

// Constant folding never materialises a big tensor: a splat-preserving op (elementwise,
// cast, broadcast, reshape, permute, slice) of splats is evaluated on one element and
// stays a splat at any size (O(1) time and memory); any other op of constants is folded
// element by element only when its result and every input are small (the limits below),
// and is otherwise left in the graph for the compiled code, which streams it.
struct SimplifyOptions {
  // Fold nodes whose inputs are all constants when the result is a splat or has at most
  // this many elements (bigger folded tensors would bloat the graph).
  int64_t max_folded_elements = 4096;
  // ...and every input has at most this many elements (a splat input of a reduction or
  // a matmul would otherwise be expanded element by element, e.g. 10^12 of them).
  int64_t max_folded_input_elements = int64_t{1} << 16;
};

class SimplifyPass : public Pass {
 public:
  explicit SimplifyPass(SimplifyOptions opts = {}) : opts_(opts) {}
  std::string name() const override { return "simplify"; }
  Expected<bool> run(Graph& g) override;

 private:
  SimplifyOptions opts_;
};

// Individual rewrites, exposed for tests and for kiln-opt style use.
Expected<bool> fold_constants(Graph& g, int64_t max_elements = 4096,
                              int64_t max_input_elements = int64_t{1} << 16);
bool eliminate_common_subexpressions(Graph& g);
bool apply_algebraic_identities(Graph& g);
// pad(x) + pad(y) that place x and y at disjoint positions along one axis (and pad the
// others alike) => pad(concat(x, zeros, y)); concat of a concat on the same axis is
// flattened. Sums of slice gradients become one concat.
bool merge_disjoint_pads(Graph& g);
// a1^T b1 + a2^T b2 => concat(a1, a2)^T concat(b1, b2) for rank-2 products used once:
// per-step weight gradients of a recurrent layer become one GEMM.
bool merge_transposed_products(Graph& g);
// transpose(a @ b) => b^T @ a^T when the product has no other use (rank 2).
bool transpose_products(Graph& g);
// one_hot(i, V) @ B => gather([B; 0], i in [0, V) ? i : V) for rank-2 products: a row
// gather instead of a GEMM with K = V, and a scatter-add as its gradient.
bool one_hot_products(Graph& g);
bool eliminate_dead_code(Graph& g);

}  // namespace kiln
