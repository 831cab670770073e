// Backend-neutral kernel IR: what a fused kernel computes, independent of LLVM or CUDA.
// A KernelProgram owns a hash-consed expression pool (so structurally equal
// expressions are the same ExprId, which makes CSE free and lets passes compare index
// expressions by id), the buffer table and the kernels in schedule order.
//
// A kernel is a tagged variant (Kernel::body):
//   LoopKernel         iterates over an index space `dims` (LoopIndex(d) is the index
//                      along axis d). Axes marked `reduced` are folded with `reduce`
//                      (sum/max/mean) into the output element at `out_offset` (a linear
//                      offset computed from the kept axes); without reduced axes every
//                      point stores `value` at `out_offset`.
//   ContractionKernel  a matmul or a 2-D convolution (forward or either gradient) that the
//                      backend computes with its contraction routine, followed by an
//                      epilogue: an expression over the GEMM view [batch, rows, cols] of the
//                      output (LoopIndex 0, 1, 2) that reads the finished element as a load
//                      of the output buffer at `epilogue_offset` and whatever else the fused
//                      elementwise chain needs (bias, scale/shift, residual, masks), and is
//                      stored back at `epilogue_offset`.
//                      A convolution may also have a prologue: an expression over its
//                      input operand's index space [n, c, h*w] that computes the operand
//                      (x), evaluated per block of images by the runtime.
//   ScatterAddKernel   zeroes the output and adds update rows at (clamped) indices.
//   RowKernel          loop kernels over the same m rows (axis 0 of each), run one block
//                      of rows at a time: each member in order over rows [r0, r1), so a
//                      row's reductions and the elementwise work that reads them (softmax,
//                      cross-entropy and its gradient, layer norm) share one launch and
//                      the rows stay in cache (codegen/row_kernels.h).
// How loops map to threads and vector lanes is the backend's business (the CPU schedule
// lives in codegen/llvm/schedule.h).
//
// Index arithmetic is i64 and is simplified while it is built: constants fold, and with
// the value ranges the pool tracks for every i64 expression, (a*c + b) / c => a and
// (a*c + b) % c => b when 0 <= b < c, so reshapes that only regroup dims cost nothing.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "ir/dtype.h"
#include "ir/graph.h"

namespace kiln::kir {

using ExprId = int32_t;

enum class EOp : uint8_t {
  Const,      // dtype; value in f (floats) or i (ints, bool)
  LoopIndex,  // i64; axis in i
  Load,       // dtype of the buffer; buffer; a = element offset (i64)
  Unary,      // uop; a
  Binary,     // bop; a, b (same dtype; i64 for index arithmetic)
  Compare,    // cop; a, b -> bool
  Select,     // a (bool) ? b : c
  Cast,       // dtype; a
  Rng,        // dtype; i = seed, i2 = key, sub = 0 uniform / 1 normal; a = linear index, b = counter
};

enum class UOp : uint8_t { Neg, Abs, Exp, Log, Sqrt, Tanh, Sigmoid, Relu, Not };
enum class BOp : uint8_t { Add, Sub, Mul, Div, Mod, Pow, Max, Min, And, Or };
enum class COp : uint8_t { Lt, Le, Gt, Ge, Eq, Ne };

const char* uop_name(UOp op);
const char* bop_name(BOp op);
const char* cop_name(COp op);

struct Expr {
  EOp op = EOp::Const;
  DType dtype = DType::f32;
  uint8_t sub = 0;  // UOp / BOp / COp / rng kind
  ExprId a = -1, b = -1, c = -1;
  int32_t buffer = -1;
  int64_t i = 0, i2 = 0;
  double f = 0;
  // Value range of i64 expressions (inclusive); unknown = full range.
  int64_t lo = INT64_MIN, hi = INT64_MAX;

  bool same_key(const Expr& o) const;
};

class ExprPool {
 public:
  const Expr& operator[](ExprId id) const { return nodes_[id]; }
  int size() const { return static_cast<int>(nodes_.size()); }

  ExprId constant(DType t, double v);
  ExprId index(int64_t v) { return constant(DType::i64, static_cast<double>(v)); }
  ExprId loop_index(int axis, int64_t extent);
  ExprId load(int buffer, DType t, ExprId offset);
  ExprId unary(UOp op, ExprId a);
  ExprId binary(BOp op, ExprId a, ExprId b);
  ExprId compare(COp op, ExprId a, ExprId b);
  ExprId select(ExprId cond, ExprId a, ExprId b);
  ExprId cast(DType t, ExprId a);
  ExprId rng(bool normal, DType t, int64_t seed, int64_t key, ExprId linear_index, ExprId counter);

  // i64 index helpers (folded and simplified).
  ExprId add(ExprId a, ExprId b) { return binary(BOp::Add, a, b); }
  ExprId mul(ExprId a, ExprId b) { return binary(BOp::Mul, a, b); }
  ExprId add(ExprId a, int64_t b) { return add(a, index(b)); }
  ExprId mul(ExprId a, int64_t b) { return mul(a, index(b)); }
  // ExprId is an int: add(x, 5) means expression #5; constants must be int64_t{5}.
  ExprId div(ExprId a, int64_t b) { return binary(BOp::Div, a, index(b)); }
  ExprId mod(ExprId a, int64_t b) { return binary(BOp::Mod, a, index(b)); }
  ExprId clamp(ExprId a, int64_t lo, int64_t hi);

  bool is_const(ExprId id) const { return nodes_[id].op == EOp::Const; }
  int64_t const_int(ExprId id) const { return nodes_[id].i; }
  // Every buffer that `root`'s DAG loads from, and whether some load of `buffer` uses an
  // offset other than `offset` (used for in-place decisions and tests).
  void collect_loads(ExprId root, std::vector<ExprId>& loads) const;
  // Calls f(id, expr) once for every expression reachable from `root`.
  template <typename F>
  void for_each_reachable(ExprId root, F&& f) const {
    std::vector<ExprId> stack{root};
    std::vector<bool> seen(nodes_.size(), false);
    while (!stack.empty()) {
      ExprId id = stack.back();
      stack.pop_back();
      if (id < 0 || seen[id]) continue;
      seen[id] = true;
      const Expr& e = nodes_[id];
      f(id, e);
      stack.push_back(e.a);
      stack.push_back(e.b);
      stack.push_back(e.c);
    }
  }

 private:
  ExprId intern(Expr e);
  // Operands must be expressions of this pool (an out-of-range id is a lowering bug;
  // fail with a message rather than read past the pool).
  void check_operand(ExprId id) const;
  ExprId simplify_div_mod(BOp op, ExprId a, int64_t c);
  ExprId divide_common_factor(ExprId a, int64_t c);
  ExprId recombine_div_mod(ExprId a, ExprId b);
  void flatten_sum(ExprId e, int64_t coeff, std::vector<std::pair<ExprId, int64_t>>& terms,
                   int64_t& constant) const;

  struct KeyHash {
    size_t operator()(const Expr& e) const;
  };
  struct KeyEq {
    bool operator()(const Expr& a, const Expr& b) const { return a.same_key(b); }
  };
  std::vector<Expr> nodes_;
  std::unordered_map<Expr, ExprId, KeyHash, KeyEq> memo_;
};

enum class BufferKind : uint8_t { Arena, Input, Output, State, Constant };
const char* buffer_kind_name(BufferKind k);

struct Buffer {
  int id = -1;
  BufferKind kind = BufferKind::Arena;
  TensorType type;
  std::string name;   // binding name (inputs/outputs/states) or "%node"
  NodeId node = -1;   // the graph value it holds (-1 for none)
  int64_t offset = 0; // arena offset in bytes (Arena buffers, set by the memory plan)
  // An arena buffer that is a slice of another (a piece of a concatenation by placement,
  // codegen/concat_in_place.h): it starts alias_offset bytes into buffer alias_of.
  int alias_of = -1;
  int64_t alias_offset = 0;
};

enum class ReduceOp : uint8_t { None, Sum, Max, Mean };

struct LoopKernel {
  std::vector<int64_t> dims;
  std::vector<bool> reduced;
  ReduceOp reduce = ReduceOp::None;
  ExprId value = -1;
  ExprId out_offset = -1;
  int out_buffer = -1;
  DType out_dtype = DType::f32;
};

// MaxPool2dGrad: a scatter of dy at the stored indices (runtime/pool.h) with the pool's
// window in `conv` (f = c, groups 1) and the GEMM view [n, c, h*w] of dx for its epilogue.
enum class ContractionOp : uint8_t { Matmul, Conv2d, Conv2dInputGrad, Conv2dWeightGrad, MaxPool2dGrad };
const char* contraction_op_name(ContractionOp op);

// NCHW convolution geometry: x [n, c, h, w], w [f, c/groups, kh, kw], y [n, f, oh, ow].
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0, f = 0, kh = 0, kw = 0, oh = 0, ow = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
};

struct ContractionKernel {
  ContractionOp op = ContractionOp::Matmul;
  DType dtype = DType::f32;
  int a = -1, b = -1, out = -1;  // buffers: matmul A, B; conv (x, w), (dy, w), (x, dy)
  // Matmul: out[batch] = op(A) * op(B), op(A) [m, k], op(B) [k, n].
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  ConvGeometry conv;          // convolutions
  double alpha = 1.0;         // out = alpha * product (+ out when accumulating)
  int alpha_scale = -1;       // optional rank-0 buffer multiplied into alpha (the lr state)
  bool accumulate = false;    // out is also read (an in-place update)
  // Matmul with a B shared by several GEMMs (codegen/packed_operands.h): the scratch
  // buffer holding op(B) in the runtime's panel layout (-1: none), which this GEMM packs
  // (pack_b) or reads as the previous one left it.
  int packed_b = -1;
  bool pack_b = false;
  // Row epilogue (codegen/row_epilogues.h): loop kernels over [m, ...] (axis 0 = the
  // GEMM's rows) that read only their own row of the product and of each other's
  // outputs, run in order for each block of rows once all its columns are final.
  std::vector<LoopKernel> row_loops;
  // GEMM view of the output [batch, rows, cols] (runtime/abi.h) and the epilogue over it
  // (-1: none). The epilogue's loads of `out` at `epilogue_offset` read the product.
  std::array<int64_t, 3> view{1, 0, 0};
  ExprId epilogue = -1, epilogue_offset = -1;
  std::vector<NodeId> epilogue_ops;  // the graph nodes the epilogue computes (for printing)
  // Convolution prologue (forward and weight gradient; -1: none): the input operand x as
  // an expression over [n, c, h*w] (LoopIndex 0, 1, 2; `prologue_view`), which the
  // runtime evaluates per block of images into scratch (runtime/abi.h, PrologueFn)
  // instead of reading buffer `a` (then -1).
  std::array<int64_t, 3> prologue_view{0, 0, 0};
  ExprId prologue = -1;
  std::vector<NodeId> prologue_ops;  // the graph nodes the prologue computes (for printing)
};

struct ScatterAddKernel {
  int indices = -1, updates = -1, out = -1;
  DType index_dtype = DType::i64, dtype = DType::f32;
  int64_t count = 0, rows = 0, row_size = 0;
};

struct RowKernel {
  int64_t rows = 0;
  std::vector<LoopKernel> loops;  // each over [rows, ...], axis 0 not reduced
};

struct Kernel {
  std::string name;
  NodeId root = -1;
  std::variant<LoopKernel, ContractionKernel, ScatterAddKernel, RowKernel> body;
  std::vector<int> reads;  // buffers read (for printing, scheduling, lifetimes)

  const LoopKernel* loop() const { return std::get_if<LoopKernel>(&body); }
  const ContractionKernel* contraction() const { return std::get_if<ContractionKernel>(&body); }
  const ScatterAddKernel* scatter() const { return std::get_if<ScatterAddKernel>(&body); }
  const RowKernel* row_kernel() const { return std::get_if<RowKernel>(&body); }
  int output() const;        // the buffer it writes (a contraction: the product; rows: the first)
  std::vector<int> outputs() const;  // every buffer it writes (row epilogues included)
  int64_t work() const;      // rough element-operations count, for parallel grain decisions
};

struct KernelProgram {
  ExprPool pool;
  std::vector<Buffer> buffers;
  std::vector<Kernel> kernels;

  int add_buffer(BufferKind kind, TensorType type, std::string name, NodeId node);
};

// Every buffer kernel k reads (a contraction's accumulated output included; its
// epilogue's loads of the product it just wrote not).
std::vector<int> kernel_reads(const KernelProgram& prog, const Kernel& k);

std::string print_expr(const ExprPool& pool, ExprId root);
std::string print_kernel(const KernelProgram& prog, const Kernel& k);
std::string print_program(const KernelProgram& prog);

}  // namespace kiln::kir
