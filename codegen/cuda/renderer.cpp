// Renderer: kernel IR -> CUDA C++ (see renderer.h for the thread mapping). Expressions
// become `const T vN = ...;` statements in the innermost scope that needs them, each
// emitted once per scope (the pool is hash-consed, so shared subexpressions are shared
// variables); a select whose sides read buffers becomes an if/else that evaluates only
// the chosen side. The semantics of every operation follow the CPU backend
// (codegen/llvm/renderer.cpp) through the helpers of the common prelude.
#include "codegen/cuda/renderer.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "codegen/cuda/prelude.h"

namespace kiln::cudagen {

using kir::BOp;
using kir::COp;
using kir::EOp;
using kir::ExprId;
using kir::UOp;

namespace {

// GEMM tiling of contraction kernels: a 16x16 thread grid, r x r outputs per thread
// (tiles of 16r x 16r), r = 4 unless that leaves fewer tiles than kFewTiles (below).
constexpr int kTile = 64, kTileK = 16, kGemmThreads = 256, kGemmGrid = 16;
// Contractions with fewer tiles than an H100 has multiprocessors, a depth of at least
// kLongDepth and at most kNarrowOutputs outputs run one block per output (render_dot).
constexpr int64_t kFewTiles = 132, kLongDepth = 1024, kNarrowOutputs = 16384;
// A row kernel's member reducing at least this many outputs per row (of more than
// kSerialReduction terms each) reduces one output per warp rather than one per block:
// LeNet's bias gradients, [256, 120] summed over the batch in a one-row kernel, were 120
// block reductions in turn, two barriers each (81 us of its 1.09 ms step on an H100).
constexpr int64_t kWarpReducedOutputs = 8;

const char* ctype(DType t) {
  switch (t) {
    case DType::f32: return "float";
    case DType::f64: return "double";
    case DType::i32: return "int32_t";
    case DType::i64: return "int64_t";
    case DType::boolean: return "bool";
  }
  return "?";
}
const char* mtype(DType t) { return t == DType::boolean ? "uint8_t" : ctype(t); }

std::string int_lit(DType t, int64_t v) {
  if (t == DType::boolean) return v ? "true" : "false";
  if (t == DType::i32) {
    int32_t x = static_cast<int32_t>(v);
    return x == INT32_MIN ? "(-2147483647 - 1)" : "((int32_t)" + std::to_string(x) + ")";
  }
  if (v == INT64_MIN) return "(-9223372036854775807LL - 1)";
  return "((int64_t)" + std::to_string(v) + "LL)";
}

// A float literal that reads back exactly (inf/nan through their bits).
std::string float_lit(DType t, double v) {
  const bool f32 = t == DType::f32;
  if (std::isnan(v)) return f32 ? "kiln_f32_from_bits(0x7fc00000u)" : "kiln_f64_from_bits(0x7ff8000000000000ull)";
  if (std::isinf(v)) {
    if (f32) return v > 0 ? "kiln_f32_from_bits(0x7f800000u)" : "kiln_f32_from_bits(0xff800000u)";
    return v > 0 ? "kiln_f64_from_bits(0x7ff0000000000000ull)" : "kiln_f64_from_bits(0xfff0000000000000ull)";
  }
  char buf[64];
  if (f32) {
    const float f = static_cast<float>(v);
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
    if (std::strtof(buf, nullptr) != f) std::snprintf(buf, sizeof buf, "%a", static_cast<double>(f));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  std::string s = buf;
  if (s.find_first_of(".epx") == std::string::npos) s += ".0";
  if (f32) s += "f";
  return "(" + s + ")";
}

std::string identity_lit(kir::ReduceOp op, DType t) {
  if (op == kir::ReduceOp::Max) {
    if (is_float(t)) return float_lit(t, -INFINITY);
    if (t == DType::boolean) return "false";
    return int_lit(t, t == DType::i32 ? INT32_MIN : INT64_MIN);
  }
  return is_float(t) ? float_lit(t, 0.0) : int_lit(t, 0);
}

// Writes one function: statements into `body`, buffer pointer declarations on demand.
class FunctionWriter {
 public:
  FunctionWriter(const kir::KernelProgram& prog, std::set<int>& used)
      : prog_(prog), P_(prog.pool), used_(used) {}

  // Variables visible at the current point: expression memo and loop-index names.
  struct Scope {
    std::unordered_map<ExprId, std::string> memo;
    std::vector<std::string> axes;  // LoopIndex(d) -> C++ expression
  };

  std::ostringstream body;
  std::string indent = "  ";

  void line(const std::string& s) { body << indent << s << "\n"; }
  void open(const std::string& s) {
    line(s + " {");
    indent += "  ";
  }
  void close() {
    indent.resize(indent.size() - 2);
    line("}");
  }

  std::string buf(int id) {
    used_.insert(id);
    mine_.insert(id);
    return "b" + std::to_string(id);
  }
  std::string decls() const {
    std::string s;
    for (int id : mine_) {
      const kir::Buffer& b = prog_.buffers[id];
      s += std::string("  ") + mtype(b.type.dtype) + "* const b" + std::to_string(id) + " = (" +
           mtype(b.type.dtype) + "*)bufs[" + std::to_string(id) + "];  // " + b.name + "\n";
    }
    return s;
  }
  std::string finish(const std::string& signature) const {
    return signature + " {\n" + decls() + body.str() + "}\n";
  }

  // Element `off` of buffer `id`: KILN_AT, which the emulator bounds-checks against
  // the buffer's element count.
  std::string at(int id, const std::string& off) {
    return "KILN_AT(" + buf(id) + ", " + std::to_string(prog_.buffers[id].type.shape.numel()) + ", " + off + ")";
  }
  std::string load(int buffer, DType t, const std::string& off) {
    std::string v = at(buffer, off);
    return t == DType::boolean ? "(" + v + " != 0)" : v;
  }
  void store(int buffer, DType t, const std::string& off, const std::string& v) {
    line(at(buffer, off) + " = " + (t == DType::boolean ? "(uint8_t)(" + v + ")" : v) + ";");
  }

  // Emits `id` (and what it needs) into the current scope; returns a C++ expression.
  std::string emit(ExprId id, Scope& s) {
    auto it = s.memo.find(id);
    if (it != s.memo.end()) return it->second;
    std::string v = emit_uncached(id, s);
    s.memo[id] = v;
    return v;
  }

  std::string def(DType t, const std::string& expr) {
    std::string name = "v" + std::to_string(next_var_++);
    line(std::string("const ") + ctype(t) + " " + name + " = " + expr + ";");
    return name;
  }

  // Decomposes flat index `flat` over `axes` (outermost first) with `extents`, naming
  // each axis i<d> (or with `prefix`) in scope `s`.
  void decompose(const std::string& flat, const std::vector<int>& axes,
                 const std::vector<int64_t>& dims, Scope& s, const std::string& prefix = "i") {
    // 64-bit division is slow on a GPU: index spaces under 2^32 divide in 32 bits.
    int64_t total = 1;
    for (int d : axes) total *= dims[d];
    const bool narrow = total <= static_cast<int64_t>(UINT32_MAX);
    const std::string f = narrow && axes.size() > 1 ? "(uint32_t)" + flat : flat;
    const char* u = narrow ? "u" : "";
    int64_t stride = 1;
    for (int j = static_cast<int>(axes.size()) - 1; j >= 0; --j) {
      const int d = axes[j];
      std::string e = stride == 1 ? f : "(" + f + " / " + std::to_string(stride) + u + ")";
      if (j > 0) e = "(" + e + " % " + std::to_string(dims[d]) + u + ")";
      if (narrow && axes.size() > 1) e = "(int64_t)" + e;
      std::string name = prefix + std::to_string(d);
      line("const int64_t " + name + " = " + e + ";");
      if (static_cast<int>(s.axes.size()) <= d) s.axes.resize(d + 1);
      s.axes[d] = name;
      stride *= dims[d];
    }
  }

 private:
  std::string emit_uncached(ExprId id, Scope& s) {
    const kir::Expr& e = P_[id];
    switch (e.op) {
      case EOp::Const: return is_float(e.dtype) ? float_lit(e.dtype, e.f) : int_lit(e.dtype, e.i);
      case EOp::LoopIndex:
        KILN_CHECK(e.i < static_cast<int64_t>(s.axes.size()) && !s.axes[e.i].empty(),
                   "CUDA renderer: loop index without a name");
        return s.axes[e.i];
      case EOp::Load: return def(e.dtype, load(e.buffer, e.dtype, emit(e.a, s)));
      case EOp::Unary: return def(e.dtype, unary(static_cast<UOp>(e.sub), e.dtype, emit(e.a, s)));
      case EOp::Binary: return def(e.dtype, binary(e, emit(e.a, s), emit(e.b, s)));
      case EOp::Compare: {
        static const char* ops[] = {"<", "<=", ">", ">=", "==", "!="};
        return def(DType::boolean, "(" + emit(e.a, s) + " " + ops[e.sub] + " " + emit(e.b, s) + ")");
      }
      case EOp::Select: {
        std::string c = emit(e.a, s);
        if (!loads(e.b) && !loads(e.c)) {
          std::string a = emit(e.b, s), b = emit(e.c, s);
          return def(e.dtype, "(" + c + " ? " + a + " : " + b + ")");
        }
        // Only the chosen side is evaluated: concat's chain of selects (one load per
        // input) then reads one input per element, and the other side's index, which may
        // be outside its buffer, is never used to read.
        std::string v = "v" + std::to_string(next_var_++);
        line(std::string(ctype(e.dtype)) + " " + v + ";");
        open("if (" + c + ")");
        Scope sb = s;
        line(v + " = " + emit(e.b, sb) + ";");
        close();
        open("else");
        Scope sc = s;
        line(v + " = " + emit(e.c, sc) + ";");
        close();
        return v;
      }
      case EOp::Cast: return def(e.dtype, cast(emit(e.a, s), P_[e.a].dtype, e.dtype));
      case EOp::Rng: {
        char key[64];
        std::snprintf(key, sizeof key, "0x%08xu, 0x%08xu", static_cast<uint32_t>(e.i),
                      static_cast<uint32_t>(e.i2));
        std::string w = "w" + std::to_string(next_var_++);
        line("const kiln_words " + w + " = kiln_philox((uint64_t)" + emit(e.a, s) + ", (uint64_t)" +
             emit(e.b, s) + ", " + key + ");");
        const bool normal = e.sub != 0;
        if (e.dtype == DType::f32)
          return def(e.dtype, normal ? "(float)kiln_normal(" + w + ")" : "kiln_uniform_f32(" + w + ")");
        std::string d = normal ? "kiln_normal(" + w + ")" : "kiln_uniform_f64(" + w + ")";
        return def(e.dtype, cast(d, DType::f64, e.dtype));
      }
    }
    KILN_CHECK(false, "CUDA renderer: unhandled kernel IR node");
    return {};
  }

  // Whether `id`'s expression reads a buffer.
  bool loads(ExprId id) {
    if (id < 0) return false;
    auto it = loads_.find(id);
    if (it != loads_.end()) return it->second;
    const kir::Expr& e = P_[id];
    const bool any = e.op == EOp::Load || loads(e.a) || loads(e.b) || loads(e.c);
    return loads_[id] = any;
  }

  static std::string unary(UOp op, DType t, const std::string& a) {
    const bool f32 = t == DType::f32, fl = is_float(t);
    switch (op) {
      case UOp::Neg:
        if (fl) return "(-" + a + ")";
        return t == DType::i32 ? "kiln_neg_i32(" + a + ")" : t == DType::i64 ? "kiln_neg_i64(" + a + ")" : a;
      case UOp::Abs:
        if (fl) return std::string(f32 ? "fabsf(" : "fabs(") + a + ")";
        return t == DType::i32 ? "kiln_abs_i32(" + a + ")" : t == DType::i64 ? "kiln_abs_i64(" + a + ")" : a;
      case UOp::Exp: return std::string(f32 ? "expf(" : "exp(") + a + ")";
      case UOp::Log: return std::string(f32 ? "logf(" : "log(") + a + ")";
      case UOp::Sqrt: return std::string(f32 ? "sqrtf(" : "sqrt(") + a + ")";
      case UOp::Tanh: return std::string(f32 ? "tanhf(" : "tanh(") + a + ")";
      case UOp::Sigmoid: return "kiln_sigmoid(" + a + ")";
      // x > 0 ? x : 0 (NaN -> 0, as the reference)
      case UOp::Relu: return "(" + a + " > 0 ? " + a + " : (" + ctype(t) + ")0)";
      case UOp::Not: return "(!" + a + ")";
    }
    return a;
  }

  std::string binary(const kir::Expr& e, const std::string& a, const std::string& b) const {
    const BOp op = static_cast<BOp>(e.sub);
    const DType t = e.dtype;
    auto call = [&](const std::string& f) { return f + "(" + a + ", " + b + ")"; };
    auto infix = [&](const char* o) { return "(" + a + " " + o + " " + b + ")"; };
    if (is_float(t)) {
      const bool f32 = t == DType::f32;
      switch (op) {
        case BOp::Add: return infix("+");
        case BOp::Sub: return infix("-");
        case BOp::Mul: return infix("*");
        case BOp::Div: return infix("/");
        case BOp::Mod: return call(f32 ? "fmodf" : "fmod");
        case BOp::Pow: return call(f32 ? "powf" : "pow");
        case BOp::Max: return call("kiln_fmax");
        case BOp::Min: return call("kiln_fmin");
        case BOp::And:
        case BOp::Or: break;
      }
    } else if (t == DType::boolean) {
      switch (op) {
        case BOp::Add:
        case BOp::Sub: return infix("!=");  // i1 add/sub are xor
        case BOp::Mul:
        case BOp::Min:
        case BOp::And: return infix("&&");
        case BOp::Max:
        case BOp::Or: return infix("||");
        default: break;
      }
    } else {
      const std::string sfx = t == DType::i32 ? "_i32" : "_i64";
      // Index arithmetic with a non-negative dividend and a positive divisor (value ranges
      // tracked by the pool) is plain / and %.
      const bool nonneg = t == DType::i64 && P_[e.a].lo >= 0 && P_[e.b].lo > 0 && P_[e.a].lo != INT64_MIN;
      switch (op) {
        case BOp::Add: return t == DType::i64 ? infix("+") : call("kiln_add" + sfx);
        case BOp::Sub: return t == DType::i64 ? infix("-") : call("kiln_sub" + sfx);
        case BOp::Mul: return t == DType::i64 ? infix("*") : call("kiln_mul" + sfx);
        case BOp::Div: return nonneg ? infix("/") : call("kiln_div" + sfx);
        case BOp::Mod: return nonneg ? infix("%") : call("kiln_mod" + sfx);
        case BOp::Max: return call("kiln_imax");
        case BOp::Min: return call("kiln_imin");
        case BOp::And: return infix("&");
        case BOp::Or: return infix("|");
        case BOp::Pow: break;
      }
    }
    KILN_CHECK(false, std::string("CUDA renderer: ") + kir::bop_name(op) + " on " + dtype_name(t));
    return {};
  }

  // The reference's casts: float->int truncates and saturates (NaN -> 0), x->bool is
  // x != 0 (NaN -> true), bool->x is 0/1, int->int wraps.
  static std::string cast(const std::string& v, DType from, DType to) {
    if (from == to) return v;
    if (to == DType::boolean) return "(" + v + " != 0)";
    if (from == DType::boolean) return std::string("(") + ctype(to) + ")(" + v + " ? 1 : 0)";
    if (is_float(from) && !is_float(to))
      return std::string(to == DType::i32 ? "kiln_f2i32" : "kiln_f2i64") + "((double)" + v + ")";
    return std::string("(") + ctype(to) + ")" + v;
  }

  const kir::KernelProgram& prog_;
  const kir::ExprPool& P_;
  std::set<int>& used_;
  std::set<int> mine_;
  std::unordered_map<ExprId, bool> loads_;
  int next_var_ = 0;
};

using Scope = FunctionWriter::Scope;

// Renders one kir::Kernel into one or two CUDA kernels (+ helper device functions).
class KernelRenderer {
 public:
  KernelRenderer(const kir::KernelProgram& prog, const kir::Kernel& k, int index,
                 const CudaRenderOptions& o)
      : prog_(prog), k_(k), index_(index), o_(o),
        name_(o.prefix + "k" + std::to_string(index)) {}

  Status render(std::string& out, std::vector<CudaLaunch>& launches) {
    out += "// " + name_ + ": " + k_.name + "\n";
    if (const kir::LoopKernel* l = k_.loop()) {
      KILN_RETURN_IF_ERROR(render_loop(*l, out, launches));
    } else if (const kir::RowKernel* r = k_.row_kernel()) {
      KILN_RETURN_IF_ERROR(render_rows(r->loops, r->rows, name_, out, launches));
    } else if (const kir::ScatterAddKernel* s = k_.scatter()) {
      render_scatter(*s, out, launches);
    } else {
      KILN_RETURN_IF_ERROR(render_contraction(*k_.contraction(), out, launches));
    }
    return Status::Ok();
  }

 private:
  // A kernel's declaration; max_threads > 0 adds its launch bound (KILN_BOUNDS).
  std::string signature(const std::string& name, int max_threads = 0) const {
    const std::string bounds = max_threads > 0 ? "KILN_BOUNDS(" + std::to_string(max_threads) + ") " : "";
    return "KILN_GLOBAL void " + bounds + name + "(void* const* bufs)";
  }
  int64_t grid_for(int64_t work_items, int64_t per_block) const {
    int64_t g = (work_items + per_block - 1) / per_block;
    return std::clamp<int64_t>(g, 1, o_.max_grid);
  }
  void add_launch(std::vector<CudaLaunch>& launches, const std::string& name, int64_t grid,
                  int block, bool barriers) {
    CudaLaunch l;
    l.kernel = name;
    l.grid = grid;
    l.block = block;
    l.barriers = barriers;
    l.buffers.assign(used_.begin(), used_.end());
    l.kernel_index = index_;
    launches.push_back(std::move(l));
    used_.clear();
  }
  Error error(const std::string& what) const {
    return Error("CUDA renderer: kernel " + std::to_string(index_) + " (" + k_.name + "): " + what);
  }

  // Threads for a block whose threads share `work` items: the next power of two, at
  // least a warp and at most the configured block (a softmax row of 10 classes gets 32).
  int block_for(int64_t work) const {
    int b = 32;
    while (b < o_.block && b < work) b *= 2;
    return std::min(b, o_.block);
  }

  static int64_t product(const std::vector<int64_t>& dims, const std::vector<int>& axes) {
    int64_t n = 1;
    for (int d : axes) n *= dims[d];
    return n;
  }

  // Accumulates l's value over its reduced axes into `acc`: r runs from `first` by `step`.
  void accumulate(FunctionWriter& w, const kir::LoopKernel& l, Scope& outer,
                  const std::vector<int>& reduced, const std::string& acc,
                  const std::string& first, const std::string& step) {
    const int64_t R = product(l.dims, reduced);
    w.open("for (int64_t r = " + first + "; r < " + std::to_string(R) + "; r += " + step + ")");
    Scope s = outer;
    w.decompose("r", reduced, l.dims, s, "j");
    std::string v = w.emit(l.value, s);
    const char* op = l.reduce == kir::ReduceOp::Max ? "kiln_acc_max" : "kiln_acc_sum";
    w.line(acc + " = " + op + "(" + acc + ", " + v + ");");
    w.close();
  }
  std::string finish(const kir::LoopKernel& l, const std::string& acc, int64_t count) const {
    if (l.reduce != kir::ReduceOp::Mean) return acc;
    if (is_float(l.out_dtype))
      return "(" + acc + " / " + float_lit(l.out_dtype, static_cast<double>(count)) + ")";
    return "(" + acc + " / " + int_lit(l.out_dtype, std::max<int64_t>(1, count)) + ")";
  }

  // Who reduces one output element: one thread, a warp, or the whole block.
  enum class Reducer { Thread, Warp, Block };

  // The output element(s) of `l` whose kept axes are named in `outer`: the elementwise
  // store, or the reduction by one thread, by a warp or by the block (every thread).
  void element(FunctionWriter& w, const kir::LoopKernel& l, Scope& outer, Reducer by) {
    std::vector<int> reduced;
    for (size_t d = 0; d < l.dims.size(); ++d)
      if (l.reduced[d]) reduced.push_back(static_cast<int>(d));
    if (reduced.empty() || l.reduce == kir::ReduceOp::None) {
      std::string v = w.emit(l.value, outer);
      w.store(l.out_buffer, l.out_dtype, w.emit(l.out_offset, outer), v);
      return;
    }
    const DType t = l.out_dtype;
    const std::string T = ctype(t);
    w.line(T + " acc = " + identity_lit(l.reduce, t) + ";");
    const int64_t count = product(l.dims, reduced);
    if (by == Reducer::Thread) {
      accumulate(w, l, outer, reduced, "acc", "0", "1");
      w.store(l.out_buffer, t, w.emit(l.out_offset, outer), finish(l, "acc", count));
      return;
    }
    const std::string op = l.reduce == kir::ReduceOp::Max ? "kiln_op_max" : "kiln_op_sum";
    if (by == Reducer::Warp) {
      accumulate(w, l, outer, reduced, "acc", "(KILN_TID & 31)", "32");
      w.line("acc = kiln_warp_reduce<" + op + ">(acc);");
      w.open("if ((KILN_TID & 31) == 0)");
    } else {
      accumulate(w, l, outer, reduced, "acc", "KILN_TID", "KILN_NTID");
      w.line("acc = kiln_block_reduce<" + op + ">(acc, " + scratch(t) + ", " +
             identity_lit(l.reduce, t) + ");");
      w.open("if (KILN_TID == 0)");
    }
    Scope s = outer;
    w.store(l.out_buffer, t, w.emit(l.out_offset, s), finish(l, "acc", count));
    w.close();
  }
  std::string scratch(DType t) {
    scratch_types_.insert(t);
    return std::string("red_") + ctype(t);
  }
  std::string scratch_decls() {
    std::string s;
    for (DType t : scratch_types_)
      s += std::string("  KILN_SHARED ") + ctype(t) + " red_" + ctype(t) + "[32];\n";
    scratch_types_.clear();
    return s;
  }
  // Terms of one output element of a reduction.
  static int64_t row_terms(const kir::LoopKernel& l) {
    int64_t r = 1;
    for (size_t d = 0; d < l.dims.size(); ++d)
      if (l.reduced[d]) r *= l.dims[d];
    return r;
  }
  static bool serial(const kir::LoopKernel& l) { return row_terms(l) <= kSerialReduction; }
  static std::vector<int> kept_axes(const kir::LoopKernel& l, int from = 0) {
    std::vector<int> kept;
    for (int d = from; d < static_cast<int>(l.dims.size()); ++d)
      if (!l.reduced[d]) kept.push_back(d);
    return kept;
  }

  Status render_loop(const kir::LoopKernel& l, std::string& out, std::vector<CudaLaunch>& launches) {
    FunctionWriter w(prog_, used_);
    const std::vector<int> kept = kept_axes(l);
    const int64_t G = product(l.dims, kept);
    const bool reduces = l.reduce != kir::ReduceOp::None && kept.size() < l.dims.size();
    const bool per_block = reduces && !serial(l);
    Scope s;
    if (per_block) {
      w.open("for (int64_t g = KILN_BID; g < " + std::to_string(G) + "; g += KILN_NBID)");
    } else {
      w.open("for (int64_t g = KILN_BID * KILN_NTID + KILN_TID; g < " + std::to_string(G) +
             "; g += KILN_NBID * KILN_NTID)");
    }
    w.decompose("g", kept, l.dims, s);
    element(w, l, s, per_block ? Reducer::Block : Reducer::Thread);
    w.close();
    std::string decl = scratch_decls();
    std::string fn = w.finish(signature(name_));
    if (!decl.empty()) fn.insert(fn.find("{\n") + 2, decl);
    out += fn;
    if (per_block) {
      add_launch(launches, name_, std::clamp<int64_t>(G, 1, o_.max_grid), block_for(row_terms(l)), true);
    } else {
      add_launch(launches, name_, grid_for(G, o_.block), o_.block, false);
    }
    return Status::Ok();
  }

  // Loop kernels over [rows, ...] run for one row at a time, one block per row.
  Status render_rows(const std::vector<kir::LoopKernel>& loops, int64_t rows, const std::string& name,
                     std::string& out, std::vector<CudaLaunch>& launches) {
    FunctionWriter w(prog_, used_);
    w.open("for (int64_t row = KILN_BID; row < " + std::to_string(rows) + "; row += KILN_NBID)");
    int64_t width = 1;  // the most a member's threads share in one row
    for (size_t m = 0; m < loops.size(); ++m) {
      const kir::LoopKernel& l = loops[m];
      if (l.dims.empty() || l.dims[0] != rows || l.reduced[0])
        return error("row member " + std::to_string(m) + " is not over the kernel's rows");
      if (m > 0) w.line("KILN_SYNC();  // the members before have finished this row");
      w.open("");
      Scope s;
      s.axes.assign(l.dims.size(), "");
      s.axes[0] = "row";
      const std::vector<int> kept = kept_axes(l, 1);
      const int64_t G = product(l.dims, kept);
      const bool reduces = l.reduce != kir::ReduceOp::None && kept.size() + 1 < l.dims.size();
      const bool by_warps = reduces && !serial(l) && G >= kWarpReducedOutputs;
      width = std::max(width, by_warps ? G * 32 : reduces && !serial(l) ? row_terms(l) : G);
      if (by_warps) {  // warp w reduces outputs w, w + warps, ...: no block barrier per output
        w.open("for (int64_t g = KILN_TID >> 5; g < " + std::to_string(G) + "; g += KILN_NTID >> 5)");
        w.decompose("g", kept, l.dims, s);
        element(w, l, s, Reducer::Warp);
      } else if (reduces && !serial(l)) {
        w.open("for (int64_t g = 0; g < " + std::to_string(G) + "; ++g)");
        w.decompose("g", kept, l.dims, s);
        element(w, l, s, Reducer::Block);
      } else {
        w.open("for (int64_t g = KILN_TID; g < " + std::to_string(G) + "; g += KILN_NTID)");
        w.decompose("g", kept, l.dims, s);
        element(w, l, s, Reducer::Thread);
      }
      w.close();
      w.close();
    }
    w.line("KILN_SYNC();");
    w.close();
    std::string decl = scratch_decls();
    std::string fn = w.finish(signature(name));
    if (!decl.empty()) fn.insert(fn.find("{\n") + 2, decl);
    out += fn;
    add_launch(launches, name, std::clamp<int64_t>(rows, 1, o_.max_grid), block_for(width), true);
    return Status::Ok();
  }

  // Each thread owns one column of the output rows: zero it, then add the update rows at
  // their (clamped) indices in index order. Deterministic without atomics.
  void render_scatter(const kir::ScatterAddKernel& s, std::string& out, std::vector<CudaLaunch>& launches) {
    FunctionWriter w(prog_, used_);
    const std::string rs = std::to_string(s.row_size), rows = std::to_string(s.rows);
    const std::string o = w.at(s.out, "r * " + rs + " + d"), u = w.at(s.updates, "i * " + rs + " + d");
    w.open("for (int64_t d = KILN_BID * KILN_NTID + KILN_TID; d < " + rs + "; d += KILN_NBID * KILN_NTID)");
    w.line("for (int64_t r = 0; r < " + rows + "; ++r) " + o + " = " +
           identity_lit(kir::ReduceOp::Sum, s.dtype) + ";");
    w.open("for (int64_t i = 0; i < " + std::to_string(s.count) + "; ++i)");
    w.line("int64_t r = (int64_t)" + w.at(s.indices, "i") + ";");
    w.line("r = r < 0 ? 0 : r > " + std::to_string(std::max<int64_t>(0, s.rows - 1)) + " ? " +
           std::to_string(std::max<int64_t>(0, s.rows - 1)) + " : r;");
    w.line(o + " = kiln_acc_sum(" + o + ", " + u + ");");
    w.close();
    w.close();
    out += w.finish(signature(name_));
    add_launch(launches, name_, grid_for(s.row_size, o_.block), o_.block, false);
  }

  // ---- contractions ---------------------------------------------------------------
  // GEMM view: out[bi] (rows x cols) = sum_k A(bi, row, k) * B(bi, k, col); the element
  // lives at (bi * rows + row) * cols + col for every contraction (runtime/abi.h).
  struct GemmShape {
    int64_t batch = 1, rows = 0, cols = 0, depth = 0;
  };

  Status render_contraction(const kir::ContractionKernel& c, std::string& out,
                            std::vector<CudaLaunch>& launches) {
    if (c.dtype != DType::f32 && c.dtype != DType::f64) return error("contraction dtype");
    if (c.op == kir::ContractionOp::MaxPool2dGrad) return render_max_pool_grad(c, out, launches);
    const std::string T = ctype(c.dtype);
    const kir::ConvGeometry& g = c.conv;
    GemmShape sh;
    std::string fa, fb;  // device functions A(bi, row, kk), B(bi, kk, col)
    std::string xfn;     // conv: X(n, ch, pixel), the input operand (buffer or prologue)
    if (c.op != kir::ContractionOp::Matmul) {
      if (g.groups <= 0 || g.c % g.groups || g.f % g.groups) return error("bad groups");
      if (c.op != kir::ContractionOp::Conv2dInputGrad) xfn = render_x(c, out);
    } else if (c.prologue >= 0) {
      return error("matmul with a prologue");
    }
    const std::string A = name_ + "_a", B = name_ + "_b";
    const std::string sigA = "KILN_DEVICE " + T + " " + A + "(void* const* bufs, int64_t bi, int64_t row, int64_t kk)";
    const std::string sigB = "KILN_DEVICE " + T + " " + B + "(void* const* bufs, int64_t bi, int64_t kk, int64_t col)";
    FunctionWriter wa(prog_, used_), wb(prog_, used_);
    const int64_t G = g.groups, CG = g.groups ? g.c / g.groups : 0, FG = g.groups ? g.f / g.groups : 0;
    const int64_t KHW = g.kh * g.kw, HW = g.h * g.w, OHW = g.oh * g.ow;
    auto S = [](int64_t v) { return std::to_string(v); };
    // In-range input pixel (iy, ix) of x for output (oy, ox) and tap (ky, kx).
    auto input_pixel = [&](FunctionWriter& w) {
      w.line("const int64_t iy = oy * " + S(g.stride_h) + " - " + S(g.pad_h) + " + ky * " + S(g.dil_h) + ";");
      w.line("const int64_t ix = ox * " + S(g.stride_w) + " - " + S(g.pad_w) + " + kx * " + S(g.dil_w) + ";");
      w.line("if (iy < 0 || iy >= " + S(g.h) + " || ix < 0 || ix >= " + S(g.w) + ") return (" + T + ")0;");
    };
    switch (c.op) {
      case kir::ContractionOp::Matmul: {
        sh = {c.batch, c.m, c.n, c.k};
        const std::string ai = c.trans_a ? "kk * " + S(c.m) + " + row" : "row * " + S(c.k) + " + kk";
        const std::string bi = c.trans_b ? "col * " + S(c.k) + " + kk" : "kk * " + S(c.n) + " + col";
        wa.line("return " + wa.at(c.a, "bi * " + S(c.m * c.k) + " + " + ai) + ";");
        wb.line("return " + wb.at(c.b, "bi * " + S(c.k * c.n) + " + " + bi) + ";");
        break;
      }
      case kir::ContractionOp::Conv2d: {  // y[n, f, oy, ox] = sum_{c, ky, kx} w[f, c, ky, kx] x[n, c, iy, ix]
        sh = {g.n * G, FG, OHW, CG * KHW};
        wa.line("return " + wa.at(c.b, "((bi % " + S(G) + ") * " + S(FG) + " + row) * " + S(CG * KHW) + " + kk") + ";");
        wb.line("const int64_t cl = kk / " + S(KHW) + ", ky = (kk / " + S(g.kw) + ") % " + S(g.kh) +
                ", kx = kk % " + S(g.kw) + ";");
        wb.line("const int64_t oy = col / " + S(g.ow) + ", ox = col % " + S(g.ow) + ";");
        input_pixel(wb);
        wb.line("return " + xfn + "(bufs, bi / " + S(G) + ", (bi % " + S(G) + ") * " + S(CG) +
                " + cl, iy * " + S(g.w) + " + ix);");
        break;
      }
      case kir::ContractionOp::Conv2dInputGrad: {  // dx[n, c, iy, ix] = sum_{f, ky, kx} w[f, c, ky, kx] dy[n, f, oy, ox]
        sh = {g.n * G, CG, HW, FG * KHW};
        wa.line("const int64_t fl = kk / " + S(KHW) + ", tap = kk % " + S(KHW) + ";");
        wa.line("return " + wa.at(c.b, "(((bi % " + S(G) + ") * " + S(FG) + " + fl) * " + S(CG) + " + row) * " +
                S(KHW) + " + tap") + ";");
        wb.line("const int64_t fl = kk / " + S(KHW) + ", ky = (kk / " + S(g.kw) + ") % " + S(g.kh) +
                ", kx = kk % " + S(g.kw) + ";");
        wb.line("const int64_t iy = col / " + S(g.w) + ", ix = col % " + S(g.w) + ";");
        wb.line("const int64_t ty = iy + " + S(g.pad_h) + " - ky * " + S(g.dil_h) + ", tx = ix + " +
                S(g.pad_w) + " - kx * " + S(g.dil_w) + ";");
        wb.line("if (ty < 0 || tx < 0 || ty % " + S(g.stride_h) + " != 0 || tx % " + S(g.stride_w) +
                " != 0) return (" + T + ")0;");
        wb.line("const int64_t oy = ty / " + S(g.stride_h) + ", ox = tx / " + S(g.stride_w) + ";");
        wb.line("if (oy >= " + S(g.oh) + " || ox >= " + S(g.ow) + ") return (" + T + ")0;");
        wb.line("return " + wb.at(c.a, "(((bi / " + S(G) + ") * " + S(g.f) + " + (bi % " + S(G) + ") * " + S(FG) +
                " + fl) * " + S(g.oh) + " + oy) * " + S(g.ow) + " + ox") + ";");
        break;
      }
      case kir::ContractionOp::MaxPool2dGrad:
        return error("max_pool2d_grad is not a GEMM (render_max_pool_grad)");
      case kir::ContractionOp::Conv2dWeightGrad: {  // dw[f, c, ky, kx] = sum_{n, oy, ox} dy[n, f, oy, ox] x[n, c, iy, ix]
        sh = {G, FG, CG * KHW, g.n * OHW};
        wa.line("const int64_t n = kk / " + S(OHW) + ", p = kk % " + S(OHW) + ";");
        wa.line("return " + wa.at(c.b, "(n * " + S(g.f) + " + bi * " + S(FG) + " + row) * " + S(OHW) + " + p") + ";");
        wb.line("const int64_t n = kk / " + S(OHW) + ", oy = (kk / " + S(g.ow) + ") % " + S(g.oh) +
                ", ox = kk % " + S(g.ow) + ";");
        wb.line("const int64_t cl = col / " + S(KHW) + ", ky = (col / " + S(g.kw) + ") % " + S(g.kh) +
                ", kx = col % " + S(g.kw) + ";");
        input_pixel(wb);
        wb.line("return " + xfn + "(bufs, n, bi * " + S(CG) + " + cl, iy * " + S(g.w) + " + ix);");
        break;
      }
    }
    if (c.view[0] != sh.batch || c.view[1] != sh.rows || c.view[2] != sh.cols)
      return error("GEMM view does not match the contraction's shape");
    out += wa.finish(sigA) + wb.finish(sigB);
    const std::string epi = c.epilogue >= 0 ? render_epilogue(c, out) : "";
    const int64_t tiles = gemm_tiles(sh, kTile / kGemmGrid);
    const int64_t outputs = sh.batch * sh.rows * sh.cols;
    if (long_and_narrow(tiles, outputs, sh.depth)) {
      render_dot(c, sh, A, B, epi, out);
      add_launch(launches, name_, std::clamp<int64_t>(outputs, 1, o_.max_grid), o_.dot_block, true);
    } else {
      const int per_thread = gemm_outputs_per_thread(sh);
      render_gemm(c, sh, A, B, epi, out, per_thread);
      add_launch(launches, name_, std::clamp<int64_t>(gemm_tiles(sh, per_thread), 1, o_.max_grid),
                 kGemmThreads, true);
    }
    if (!c.row_loops.empty()) {
      if (c.op != kir::ContractionOp::Matmul || c.batch != 1) return error("row epilogue on a batched GEMM");
      out += "// " + name_ + "_rows: the row epilogue of " + name_ + "\n";
      KILN_RETURN_IF_ERROR(render_rows(c.row_loops, c.m, name_ + "_rows", out, launches));
    }
    return Status::Ok();
  }

  // max_pool2d_grad (runtime/pool.h): each dx element adds the dy of the windows that
  // cover it and whose stored index names it, in the windows' row-major order -- the
  // order in which the CPU's scatter adds them -- then the epilogue. A gather per
  // element: no atomics, and the sums do not depend on the launch.
  Status render_max_pool_grad(const kir::ContractionKernel& c, std::string& out,
                              std::vector<CudaLaunch>& launches) {
    const std::string T = ctype(c.dtype);
    const kir::ConvGeometry& g = c.conv;
    auto S = [](int64_t v) { return std::to_string(v); };
    const std::string epi = c.epilogue >= 0 ? render_epilogue(c, out) : "";
    const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, total = g.n * g.c * hw;
    FunctionWriter w(prog_, used_);
    std::string alpha = float_lit(c.dtype, c.alpha);
    if (c.alpha_scale >= 0) alpha = "(" + alpha + " * (" + T + ")" + w.at(c.alpha_scale, "0") + ")";
    w.line("const " + T + " alpha = " + alpha + ";");
    w.open("for (int64_t at = KILN_BID * KILN_NTID + KILN_TID; at < " + S(total) +
           "; at += KILN_NBID * KILN_NTID)");
    w.line("const int64_t q = at / " + S(hw) + ", p = at % " + S(hw) + ";");
    w.line("const int64_t iy = p / " + S(g.w) + ", ix = p % " + S(g.w) + ";");
    // Windows o along an axis with o*s - pad <= i < o*s - pad + k.
    auto range = [&](const std::string& o, const std::string& i, int64_t s, int64_t pad, int64_t k,
                     int64_t extent) {
      w.line("const int64_t " + o + "lo = " + i + " + " + S(pad - k + 1) + ";");
      w.line("const int64_t " + o + "0 = " + o + "lo <= 0 ? 0 : (" + o + "lo + " + S(s - 1) + ") / " +
             S(s) + ";");
      w.line("const int64_t " + o + "1 = (" + i + " + " + S(pad) + ") / " + S(s) + " < " + S(extent) +
             " ? (" + i + " + " + S(pad) + ") / " + S(s) + " : " + S(extent - 1) + ";");
    };
    range("oy", "iy", g.stride_h, g.pad_h, g.kh, g.oh);
    range("ox", "ix", g.stride_w, g.pad_w, g.kw, g.ow);
    const std::string dx = w.at(c.out, "at");
    w.line(T + " acc = " + (c.accumulate ? dx : "(" + T + ")0") + ";");
    w.open("for (int64_t oy = oy0; oy <= oy1; ++oy)");
    w.open("for (int64_t ox = ox0; ox <= ox1; ++ox)");
    w.line("const int64_t o = q * " + S(ohw) + " + oy * " + S(g.ow) + " + ox;");
    w.line("if (" + w.at(c.a, "o") + " == p) acc += alpha * " + w.at(c.b, "o") + ";");
    w.close();
    w.close();
    w.line(dx + " = acc;");
    if (!epi.empty()) w.line(epi + "(bufs, q / " + S(g.c) + ", q % " + S(g.c) + ", p);");
    w.close();
    out += w.finish(signature(name_));
    add_launch(launches, name_, grid_for(total, o_.block), o_.block, false);
    return Status::Ok();
  }

  // X(n, ch, pixel): the convolution's input operand, from buffer a or the prologue.
  std::string render_x(const kir::ContractionKernel& c, std::string& out) {
    const std::string T = ctype(c.dtype), name = name_ + "_x";
    FunctionWriter w(prog_, used_);
    if (c.prologue >= 0) {
      Scope s;
      s.axes = {"n", "ch", "q"};
      w.line("return " + w.emit(c.prologue, s) + ";");
    } else {
      const kir::ConvGeometry& g = c.conv;
      w.line("return " + w.at(c.a, "(n * " + std::to_string(g.c) + " + ch) * " + std::to_string(g.h * g.w) + " + q") + ";");
    }
    out += w.finish("KILN_DEVICE " + T + " " + name + "(void* const* bufs, int64_t n, int64_t ch, int64_t q)");
    return name;
  }

  // EPI(b, r, c): the fused elementwise epilogue of one finished element, stored in place.
  std::string render_epilogue(const kir::ContractionKernel& c, std::string& out) {
    const std::string name = name_ + "_epi";
    FunctionWriter w(prog_, used_);
    Scope s;
    s.axes = {"i0", "i1", "i2"};
    std::string v = w.emit(c.epilogue, s);
    w.store(c.out, c.dtype, w.emit(c.epilogue_offset, s), v);
    out += w.finish("KILN_DEVICE void " + name + "(void* const* bufs, int64_t i0, int64_t i1, int64_t i2)");
    return name;
  }

  // A contraction with too few output tiles to fill a GPU and a long depth (LeNet's
  // weight gradients: 6x25 outputs, depth batch*28*28) would leave all but a few
  // multiprocessors idle in the tiled GEMM; one block per output element, its threads
  // striding over the depth and reducing in a fixed order, spreads it instead.
  static bool long_and_narrow(int64_t tiles, int64_t outputs, int64_t depth) {
    return tiles < kFewTiles && depth >= kLongDepth && outputs <= kNarrowOutputs;
  }
  void render_dot(const kir::ContractionKernel& c, const GemmShape& sh, const std::string& A,
                  const std::string& B, const std::string& epi, std::string& out) {
    const std::string T = ctype(c.dtype);
    auto S = [](int64_t v) { return std::to_string(v); };
    FunctionWriter w(prog_, used_);
    const std::string o = w.at(c.out, "at");
    w.line("KILN_SHARED " + T + " red[32];");
    std::string alpha = float_lit(c.dtype, c.alpha);
    if (c.alpha_scale >= 0) alpha = "(" + alpha + " * (" + T + ")" + w.at(c.alpha_scale, "0") + ")";
    w.line("const " + T + " alpha = " + alpha + ";");
    w.open("for (int64_t at = KILN_BID; at < " + S(sh.batch * sh.rows * sh.cols) + "; at += KILN_NBID)");
    w.line("const int64_t bi = at / " + S(sh.rows * sh.cols) + ", r = (at / " + S(sh.cols) + ") % " +
           S(sh.rows) + ", col = at % " + S(sh.cols) + ";");
    w.line(T + " acc = 0;");
    w.line("for (int64_t kk = KILN_TID; kk < " + S(sh.depth) + "; kk += KILN_NTID) acc += " + A +
           "(bufs, bi, r, kk) * " + B + "(bufs, bi, kk, col);");
    w.line("acc = kiln_block_reduce<kiln_op_sum>(acc, red, (" + T + ")0);");
    w.open("if (KILN_TID == 0)");
    w.line(o + " = alpha * acc" + (c.accumulate ? " + " + o : "") + ";");
    if (!epi.empty()) w.line(epi + "(bufs, bi, r, col);");
    w.close();
    w.close();
    // The bound keeps the kernel's registers within what a block of dot_block threads
    // may use (64 each at 1024), so its launch cannot run out of registers.
    out += w.finish(signature(name_, o_.dot_block));
  }

  // Tiles of a GEMM whose threads own r x r outputs each (tiles of 16r x 16r).
  static int64_t gemm_tiles(const GemmShape& sh, int r) {
    const int64_t t = kGemmGrid * r;
    return sh.batch * ((sh.rows + t - 1) / t) * ((sh.cols + t - 1) / t);
  }
  // r = 4 (64x64 tiles), halved while that leaves fewer tiles than a GPU has
  // multiprocessors: the MLP's forward 256x784x256 had 16 blocks of 64x64 for the 132 of
  // an H100 (83 us of a 292 us step, kiln bench --device cuda); with 16x16 tiles it has
  // 256 blocks, each through the same K loop with a sixteenth of the multiply-adds per
  // thread: 36 us.
  static int gemm_outputs_per_thread(const GemmShape& sh) {
    int r = kTile / kGemmGrid;
    while (r > 1 && gemm_tiles(sh, r) < kFewTiles) r /= 2;
    return r;
  }

  // The tiled GEMM: each block computes tiles of 16r x 16r (grid-stride over batch x
  // tiles); thread (ty, tx) of a 16x16 grid owns rows ty + 16i and cols tx + 16j of the tile.
  void render_gemm(const kir::ContractionKernel& c, const GemmShape& sh, const std::string& A,
                   const std::string& B, const std::string& epi, std::string& out, int r) {
    const std::string T = ctype(c.dtype);
    auto S = [](int64_t v) { return std::to_string(v); };
    const int64_t tile = kGemmGrid * r;
    const int64_t tm = (sh.rows + tile - 1) / tile, tn = (sh.cols + tile - 1) / tile;
    FunctionWriter w(prog_, used_);
    const std::string o = w.at(c.out, "at");
    w.line("KILN_SHARED " + T + " As[" + S(kTileK) + "][" + S(tile) + "];");
    w.line("KILN_SHARED " + T + " Bs[" + S(kTileK) + "][" + S(tile) + "];");
    std::string alpha = float_lit(c.dtype, c.alpha);
    if (c.alpha_scale >= 0)
      alpha = "(" + alpha + " * (" + T + ")" + w.at(c.alpha_scale, "0") + ")";
    w.line("const " + T + " alpha = " + alpha + ";");
    w.line("const int64_t tx = KILN_TID % 16, ty = KILN_TID / 16;");
    w.open("for (int64_t tile = KILN_BID; tile < " + S(sh.batch * tm * tn) + "; tile += KILN_NBID)");
    w.line("const int64_t bi = tile / " + S(tm * tn) + ", r0 = (tile / " + S(tn) + ") % " + S(tm) +
           " * " + S(tile) + ", c0 = tile % " + S(tn) + " * " + S(tile) + ";");
    const std::string R = S(r);
    w.line(T + " acc[" + R + "][" + R + "] = {};");
    w.open("for (int64_t k0 = 0; k0 < " + S(sh.depth) + "; k0 += " + S(kTileK) + ")");
    w.open("for (int64_t e = KILN_TID; e < " + S(tile * kTileK) + "; e += " + S(kGemmThreads) + ")");
    w.line("const int64_t kk = e / " + S(tile) + ", i = e % " + S(tile) + ";");
    w.line("As[kk][i] = r0 + i < " + S(sh.rows) + " && k0 + kk < " + S(sh.depth) + " ? " + A +
           "(bufs, bi, r0 + i, k0 + kk) : (" + T + ")0;");
    w.line("Bs[kk][i] = c0 + i < " + S(sh.cols) + " && k0 + kk < " + S(sh.depth) + " ? " + B +
           "(bufs, bi, k0 + kk, c0 + i) : (" + T + ")0;");
    w.close();
    w.line("KILN_SYNC();");
    w.open("for (int kk = 0; kk < " + S(kTileK) + "; ++kk)");
    w.line(T + " a[" + R + "], b[" + R + "];");
    w.line("for (int i = 0; i < " + R + "; ++i) a[i] = As[kk][ty + 16 * i];");
    w.line("for (int j = 0; j < " + R + "; ++j) b[j] = Bs[kk][tx + 16 * j];");
    w.line("for (int i = 0; i < " + R + "; ++i) for (int j = 0; j < " + R + "; ++j) acc[i][j] += a[i] * b[j];");
    w.close();
    w.line("KILN_SYNC();  // the tiles are refilled next");
    w.close();
    w.open("for (int i = 0; i < " + R + "; ++i) for (int j = 0; j < " + R + "; ++j)");
    w.line("const int64_t r = r0 + ty + 16 * i, col = c0 + tx + 16 * j;");
    w.line("if (r >= " + S(sh.rows) + " || col >= " + S(sh.cols) + ") continue;");
    w.line("const int64_t at = (bi * " + S(sh.rows) + " + r) * " + S(sh.cols) + " + col;");
    w.line(o + " = alpha * acc[i][j]" + (c.accumulate ? " + " + o : "") + ";");
    if (!epi.empty()) w.line(epi + "(bufs, bi, r, col);");
    w.close();
    w.close();
    out += w.finish(signature(name_));
  }

  const kir::KernelProgram& prog_;
  const kir::Kernel& k_;
  int index_;
  const CudaRenderOptions& o_;
  std::string name_;
  std::set<int> used_;
  std::set<DType> scratch_types_;
};

}  // namespace

Expected<CudaProgram> render_cuda(const kir::KernelProgram& prog, const CudaRenderOptions& options) {
  for (const auto& [what, threads] : {std::pair{"block", options.block}, {"dot_block", options.dot_block}})
    if (threads <= 0 || threads % 32 || threads > 1024)
      return Error(std::string("CUDA renderer: ") + what + " size " + std::to_string(threads) +
                   " is not a multiple of 32 up to 1024");
  CudaProgram p;
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    KernelRenderer r(prog, prog.kernels[i], static_cast<int>(i), options);
    KILN_RETURN_IF_ERROR(r.render(p.source, p.launches));
    p.source += "\n";
  }
  return p;
}

std::string nvrtc_source(const std::vector<const CudaProgram*>& sources) {
  std::string s = nvrtc_prelude();
  s += common_prelude();
  for (const CudaProgram* p : sources) s += p->source;
  return s;
}

}  // namespace kiln::cudagen
