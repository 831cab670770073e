// Kernel IR: hash-consed expression pool with index simplification, and the textual
// printer used by `kiln inspect` and tests.
#include "codegen/kernel_ir.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

namespace kiln::kir {

const char* uop_name(UOp op) {
  static const char* n[] = {"neg", "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "not"};
  return n[static_cast<int>(op)];
}
const char* bop_name(BOp op) {
  static const char* n[] = {"add", "sub", "mul", "div", "mod", "pow", "max", "min", "and", "or"};
  return n[static_cast<int>(op)];
}
const char* cop_name(COp op) {
  static const char* n[] = {"lt", "le", "gt", "ge", "eq", "ne"};
  return n[static_cast<int>(op)];
}
const char* buffer_kind_name(BufferKind k) {
  static const char* n[] = {"arena", "input", "output", "state", "constant"};
  return n[static_cast<int>(k)];
}

bool Expr::same_key(const Expr& o) const {
  uint64_t fa, fb;
  std::memcpy(&fa, &f, 8);
  std::memcpy(&fb, &o.f, 8);
  return op == o.op && dtype == o.dtype && sub == o.sub && a == o.a && b == o.b && c == o.c &&
         buffer == o.buffer && i == o.i && i2 == o.i2 && fa == fb;
}

size_t ExprPool::KeyHash::operator()(const Expr& e) const {
  uint64_t fb;
  std::memcpy(&fb, &e.f, 8);
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(static_cast<uint64_t>(e.op));
  mix(static_cast<uint64_t>(e.dtype));
  mix(e.sub);
  mix(static_cast<uint64_t>(e.a));
  mix(static_cast<uint64_t>(e.b));
  mix(static_cast<uint64_t>(e.c));
  mix(static_cast<uint64_t>(e.buffer));
  mix(static_cast<uint64_t>(e.i));
  mix(static_cast<uint64_t>(e.i2));
  mix(fb);
  return static_cast<size_t>(h);
}

void ExprPool::check_operand(ExprId id) const {
  KILN_CHECK(id >= 0 && id < size(), "kernel IR: expression operand " + std::to_string(id) +
                                         " is not in the pool (" + std::to_string(size()) +
                                         " expressions)");
}

ExprId ExprPool::intern(Expr e) {
  auto it = memo_.find(e);
  if (it != memo_.end()) return it->second;
  ExprId id = static_cast<ExprId>(nodes_.size());
  nodes_.push_back(e);
  memo_.emplace(e, id);
  return id;
}

namespace {
int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return (a > 0) ? INT64_MAX : INT64_MIN;
  return r;
}
int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return ((a > 0) == (b > 0)) ? INT64_MAX : INT64_MIN;
  return r;
}
bool known(const Expr& e) { return e.lo != INT64_MIN && e.hi != INT64_MAX; }
}  // namespace

ExprId ExprPool::constant(DType t, double v) {
  Expr e;
  e.op = EOp::Const;
  e.dtype = t;
  if (is_float(t)) {
    e.f = t == DType::f32 ? static_cast<double>(static_cast<float>(v)) : v;
  } else if (t == DType::boolean) {
    e.i = v != 0.0;
  } else {
    e.i = static_cast<int64_t>(v);
    e.lo = e.hi = e.i;
  }
  return intern(e);
}

ExprId ExprPool::loop_index(int axis, int64_t extent) {
  Expr e;
  e.op = EOp::LoopIndex;
  e.dtype = DType::i64;
  e.i = axis;
  e.i2 = extent;
  e.lo = 0;
  e.hi = std::max<int64_t>(0, extent - 1);
  if (extent == 1) return index(0);
  return intern(e);
}

ExprId ExprPool::load(int buffer, DType t, ExprId offset) {
  check_operand(offset);
  Expr e;
  e.op = EOp::Load;
  e.dtype = t;
  e.buffer = buffer;
  e.a = offset;
  return intern(e);
}

ExprId ExprPool::unary(UOp op, ExprId a) {
  check_operand(a);
  Expr e;
  e.op = EOp::Unary;
  e.sub = static_cast<uint8_t>(op);
  e.dtype = nodes_[a].dtype;
  e.a = a;
  if (op == UOp::Not && is_const(a)) return constant(DType::boolean, nodes_[a].i ? 0 : 1);
  return intern(e);
}

void ExprPool::flatten_sum(ExprId id, int64_t coeff, std::vector<std::pair<ExprId, int64_t>>& terms,
                           int64_t& cst) const {
  const Expr& e = nodes_[id];
  if (e.op == EOp::Const) {
    cst = sat_add(cst, sat_mul(coeff, e.i));
    return;
  }
  if (e.op == EOp::Binary && e.dtype == DType::i64) {
    BOp op = static_cast<BOp>(e.sub);
    if (op == BOp::Add) {
      flatten_sum(e.a, coeff, terms, cst);
      flatten_sum(e.b, coeff, terms, cst);
      return;
    }
    if (op == BOp::Mul && is_const(e.b)) {
      flatten_sum(e.a, sat_mul(coeff, nodes_[e.b].i), terms, cst);
      return;
    }
  }
  for (auto& t : terms)
    if (t.first == id) {
      t.second = sat_add(t.second, coeff);
      return;
    }
  terms.push_back({id, coeff});
}

// a + b where the sum holds k*c*(x / c) and k*(x % c) for one x >= 0: the pair is k*x
// (delinearized indices linearized again, e.g. after coalescing loop axes). -1 when
// there is no such pair.
ExprId ExprPool::recombine_div_mod(ExprId a, ExprId b) {
  std::vector<std::pair<ExprId, int64_t>> terms;
  int64_t cst = 0;
  flatten_sum(a, 1, terms, cst);
  flatten_sum(b, 1, terms, cst);
  for (size_t i = 0; i < terms.size(); ++i) {
    const Expr& m = nodes_[terms[i].first];
    if (m.op != EOp::Binary || m.sub != uint8_t(BOp::Mod) || !is_const(m.b)) continue;
    const int64_t c = nodes_[m.b].i, k = terms[i].second;
    for (size_t j = 0; j < terms.size(); ++j) {
      const Expr& d = nodes_[terms[j].first];
      if (d.op != EOp::Binary || d.sub != uint8_t(BOp::Div) || d.a != m.a || !is_const(d.b) ||
          nodes_[d.b].i != c || terms[j].second != sat_mul(k, c) || nodes_[m.a].lo < 0)
        continue;
      ExprId sum = mul(m.a, k);
      for (size_t t = 0; t < terms.size(); ++t)
        if (t != i && t != j) sum = add(sum, mul(terms[t].first, terms[t].second));
      return add(sum, index(cst));
    }
  }
  return -1;
}

// For a >= 0 and c > 0: split a = sum(coeff_i * t_i) + k into the part whose
// coefficients are multiples of c and the rest R. When 0 <= R < c:
//   (M*c + R) / c => M      (M*c + R) % c => R
// (e.g. reshape [A,B] -> [A*B] -> [A,B] gives back the original indices).
ExprId ExprPool::simplify_div_mod(BOp op, ExprId a, int64_t c) {
  std::vector<std::pair<ExprId, int64_t>> terms;
  int64_t cst = 0;
  flatten_sum(a, 1, terms, cst);
  if (cst < 0) return -1;
  ExprId mult = index(cst / c), rest = index(cst % c);
  int64_t rlo = cst % c, rhi = cst % c;
  bool any_mult = cst >= c;
  for (auto& [t, k] : terms) {
    const Expr te = nodes_[t];
    if (k % c == 0) {
      mult = add(mult, mul(t, k / c));
      any_mult = true;
    } else {
      if (k < 0 || !known(te) || te.lo < 0) return -1;
      rest = add(rest, mul(t, k));
      rlo = sat_add(rlo, sat_mul(te.lo, k));
      rhi = sat_add(rhi, sat_mul(te.hi, k));
    }
  }
  if (rlo < 0 || rhi >= c) return -1;
  (void)any_mult;
  return op == BOp::Div ? mult : rest;
}

// (y*c1 + r) / c with c1 dividing c, 0 <= r < c1 and y >= 0 => y / (c/c1): the row of a
// flattened [rows, cols] index divided by a multiple of cols (a reshape's delinearization
// row*768 + col over 24576 = row / 32), so it no longer depends on the column. -1 when no
// coefficient of `a` gives that form.
ExprId ExprPool::divide_common_factor(ExprId a, int64_t c) {
  std::vector<std::pair<ExprId, int64_t>> terms;
  int64_t cst = 0;
  flatten_sum(a, 1, terms, cst);
  if (cst < 0) return -1;
  for (const auto& candidate : terms) {
    const int64_t c1 = candidate.second;
    if (c1 <= 1 || c1 >= c || c % c1 != 0) continue;
    ExprId y = index(cst / c1);
    int64_t rlo = cst % c1, rhi = cst % c1;
    bool ok = true;
    for (const auto& [t, k] : terms) {
      const Expr& te = nodes_[t];
      if (k % c1 == 0) {
        if (k < 0 || !known(te) || te.lo < 0) ok = false;
        y = add(y, mul(t, k / c1));
      } else {
        if (k < 0 || !known(te) || te.lo < 0) ok = false;
        rlo = sat_add(rlo, sat_mul(te.lo, k));
        rhi = sat_add(rhi, sat_mul(te.hi, k));
      }
      if (!ok) break;
    }
    if (ok && rlo >= 0 && rhi < c1) return div(y, c / c1);
  }
  return -1;
}

ExprId ExprPool::binary(BOp op, ExprId a, ExprId b) {
  check_operand(a);
  check_operand(b);
  const Expr ea = nodes_[a];
  const Expr eb = nodes_[b];
  DType t = ea.dtype;
  bool integer = is_int(t);
  if (integer && ea.op == EOp::Const && eb.op == EOp::Const) {
    int64_t x = ea.i, y = eb.i;
    switch (op) {
      case BOp::Add: return constant(t, double(x + y));
      case BOp::Sub: return constant(t, double(x - y));
      case BOp::Mul: return constant(t, double(x * y));
      case BOp::Div: if (y != 0) return constant(t, double(x / y)); break;
      case BOp::Mod: if (y != 0) return constant(t, double(x % y)); break;
      case BOp::Max: return constant(t, double(std::max(x, y)));
      case BOp::Min: return constant(t, double(std::min(x, y)));
      default: break;
    }
  }
  if (t == DType::i64) {
    bool comm = op == BOp::Add || op == BOp::Mul || op == BOp::Min || op == BOp::Max;
    if (comm && ea.op == EOp::Const && eb.op != EOp::Const) return binary(op, b, a);
    bool bc = eb.op == EOp::Const;
    int64_t y = eb.i;
    if (bc) {
      if ((op == BOp::Add || op == BOp::Sub) && y == 0) return a;
      if (op == BOp::Mul && y == 1) return a;
      if (op == BOp::Mul && y == 0) return index(0);
      if (op == BOp::Div && y == 1) return a;
      if (op == BOp::Mod && y == 1) return index(0);
      if (op == BOp::Sub) return add(a, index(-y));
      // (x + c1) + c2 => x + (c1 + c2);  (x * c1) * c2 => x * (c1 * c2)
      if ((op == BOp::Add || op == BOp::Mul) && ea.op == EOp::Binary && ea.sub == uint8_t(op) &&
          is_const(ea.b)) {
        int64_t c1 = nodes_[ea.b].i;
        return binary(op, ea.a, index(op == BOp::Add ? c1 + y : c1 * y));
      }
      if ((op == BOp::Div || op == BOp::Mod) && y > 0 && ea.lo >= 0) {
        ExprId s = simplify_div_mod(op, a, y);
        if (s >= 0) return s;
        if (op == BOp::Div) {
          s = divide_common_factor(a, y);
          if (s >= 0) return s;
        }
        // (x / c1) / c2 => x / (c1 * c2)   (x >= 0)
        if (op == BOp::Div && ea.op == EOp::Binary && ea.sub == uint8_t(BOp::Div) && is_const(ea.b))
          return div(ea.a, nodes_[ea.b].i * y);
      }
    }
    if (op == BOp::Add && ea.op != EOp::Const && eb.op != EOp::Const) {
      ExprId r = recombine_div_mod(a, b);
      if (r >= 0) return r;
    }
    if (known(ea) && known(eb)) {
      if (op == BOp::Min && ea.hi <= eb.lo) return a;
      if (op == BOp::Min && eb.hi <= ea.lo) return b;
      if (op == BOp::Max && ea.lo >= eb.hi) return a;
      if (op == BOp::Max && eb.lo >= ea.hi) return b;
    }
  }
  Expr e;
  e.op = EOp::Binary;
  e.sub = static_cast<uint8_t>(op);
  e.dtype = t;
  e.a = a;
  e.b = b;
  if (t == DType::i64 && known(ea) && known(eb)) {
    switch (op) {
      case BOp::Add: e.lo = sat_add(ea.lo, eb.lo); e.hi = sat_add(ea.hi, eb.hi); break;
      case BOp::Sub: e.lo = sat_add(ea.lo, -eb.hi); e.hi = sat_add(ea.hi, -eb.lo); break;
      case BOp::Mul: {
        int64_t c[4] = {sat_mul(ea.lo, eb.lo), sat_mul(ea.lo, eb.hi), sat_mul(ea.hi, eb.lo),
                        sat_mul(ea.hi, eb.hi)};
        e.lo = *std::min_element(c, c + 4);
        e.hi = *std::max_element(c, c + 4);
        break;
      }
      case BOp::Div:
        if (eb.lo > 0 && ea.lo >= 0) { e.lo = ea.lo / eb.hi; e.hi = ea.hi / eb.lo; }
        break;
      case BOp::Mod:
        if (eb.lo > 0 && ea.lo >= 0) { e.lo = 0; e.hi = std::min(ea.hi, eb.hi - 1); }
        break;
      case BOp::Min: e.lo = std::min(ea.lo, eb.lo); e.hi = std::min(ea.hi, eb.hi); break;
      case BOp::Max: e.lo = std::max(ea.lo, eb.lo); e.hi = std::max(ea.hi, eb.hi); break;
      default: break;
    }
    if (e.lo == INT64_MIN || e.hi == INT64_MAX) e.lo = INT64_MIN, e.hi = INT64_MAX;
  }
  return intern(e);
}

ExprId ExprPool::clamp(ExprId a, int64_t lo, int64_t hi) {
  return binary(BOp::Min, binary(BOp::Max, a, index(lo)), index(hi));
}

ExprId ExprPool::compare(COp op, ExprId a, ExprId b) {
  check_operand(a);
  check_operand(b);
  const Expr ea = nodes_[a];
  const Expr eb = nodes_[b];
  if (ea.dtype == DType::i64 && known(ea) && known(eb)) {
    int r = -1;
    switch (op) {
      case COp::Lt: r = ea.hi < eb.lo ? 1 : (ea.lo >= eb.hi ? 0 : -1); break;
      case COp::Le: r = ea.hi <= eb.lo ? 1 : (ea.lo > eb.hi ? 0 : -1); break;
      case COp::Gt: r = ea.lo > eb.hi ? 1 : (ea.hi <= eb.lo ? 0 : -1); break;
      case COp::Ge: r = ea.lo >= eb.hi ? 1 : (ea.hi < eb.lo ? 0 : -1); break;
      case COp::Eq: r = (ea.lo == ea.hi && eb.lo == eb.hi && ea.lo == eb.lo) ? 1
                        : (ea.hi < eb.lo || eb.hi < ea.lo ? 0 : -1); break;
      case COp::Ne: r = (ea.lo == ea.hi && eb.lo == eb.hi && ea.lo == eb.lo) ? 0
                        : (ea.hi < eb.lo || eb.hi < ea.lo ? 1 : -1); break;
    }
    if (r >= 0) return constant(DType::boolean, r);
  }
  // x < K with x = q*c + r (0 <= r < c, x >= 0) and K a multiple of c => q < K/c: a
  // concat's piece test on a flattened index (row*768 + col < 811008) then depends on the
  // row alone, so the vector loop over columns sees a loop-invariant condition.
  if ((op == COp::Lt || op == COp::Ge) && ea.dtype == DType::i64 && eb.op == EOp::Const &&
      ea.op == EOp::Binary && ea.lo >= 0) {
    std::vector<std::pair<ExprId, int64_t>> terms;
    int64_t cst = 0;
    flatten_sum(a, 1, terms, cst);
    int64_t c = 0;
    for (const auto& t : terms) c = std::max(c, t.second);
    if (c > 1 && eb.i % c == 0) {
      ExprId q = div(a, c);
      if (nodes_[q].op != EOp::Binary || static_cast<BOp>(nodes_[q].sub) != BOp::Div)
        return compare(op, q, index(eb.i / c));
    }
  }
  Expr e;
  e.op = EOp::Compare;
  e.sub = static_cast<uint8_t>(op);
  e.dtype = DType::boolean;
  e.a = a;
  e.b = b;
  return intern(e);
}

ExprId ExprPool::select(ExprId cond, ExprId a, ExprId b) {
  check_operand(cond);
  check_operand(a);
  check_operand(b);
  if (is_const(cond)) return nodes_[cond].i ? a : b;
  if (a == b) return a;
  Expr e;
  e.op = EOp::Select;
  e.dtype = nodes_[a].dtype;
  e.a = cond;
  e.b = a;
  e.c = b;
  const Expr ea = nodes_[a];
  const Expr eb = nodes_[b];
  if (e.dtype == DType::i64 && known(ea) && known(eb)) {
    e.lo = std::min(ea.lo, eb.lo);
    e.hi = std::max(ea.hi, eb.hi);
  }
  return intern(e);
}

ExprId ExprPool::cast(DType t, ExprId a) {
  check_operand(a);
  const Expr ea = nodes_[a];
  if (ea.dtype == t) return a;
  if (ea.op == EOp::Const) {
    if (t == DType::boolean) return constant(t, is_float(ea.dtype) ? (ea.f != 0) : (ea.i != 0));
    if (is_float(ea.dtype)) {
      if (is_float(t)) return constant(t, ea.f);
    } else {
      return constant(t, static_cast<double>(ea.i));
    }
  }
  Expr e;
  e.op = EOp::Cast;
  e.dtype = t;
  e.a = a;
  if (t == DType::i64 && (is_int(ea.dtype) || ea.dtype == DType::boolean)) {
    e.lo = ea.dtype == DType::boolean ? 0 : ea.lo;
    e.hi = ea.dtype == DType::boolean ? 1 : ea.hi;
    if (ea.dtype == DType::i32 && !known(ea)) e.lo = INT32_MIN, e.hi = INT32_MAX;
  }
  return intern(e);
}

ExprId ExprPool::rng(bool normal, DType t, int64_t seed, int64_t key, ExprId linear_index,
                     ExprId counter) {
  check_operand(linear_index);
  check_operand(counter);
  Expr e;
  e.op = EOp::Rng;
  e.dtype = t;
  e.sub = normal ? 1 : 0;
  e.i = seed;
  e.i2 = key;
  e.a = linear_index;
  e.b = counter;
  return intern(e);
}

void ExprPool::collect_loads(ExprId root, std::vector<ExprId>& loads) const {
  for_each_reachable(root, [&](ExprId id, const Expr& e) {
    if (e.op == EOp::Load) loads.push_back(id);
  });
  std::sort(loads.begin(), loads.end());
}

int KernelProgram::add_buffer(BufferKind kind, TensorType type, std::string name, NodeId node) {
  Buffer b;
  b.id = static_cast<int>(buffers.size());
  b.kind = kind;
  b.type = std::move(type);
  b.name = std::move(name);
  b.node = node;
  buffers.push_back(std::move(b));
  return buffers.back().id;
}

const char* contraction_op_name(ContractionOp op) {
  static const char* n[] = {"matmul", "conv2d", "conv2d_input_grad", "conv2d_weight_grad",
                             "max_pool2d_grad"};
  return n[static_cast<int>(op)];
}

int Kernel::output() const {
  if (const LoopKernel* l = loop()) return l->out_buffer;
  if (const ContractionKernel* c = contraction()) return c->out;
  if (const RowKernel* r = row_kernel()) return r->loops.front().out_buffer;
  return scatter()->out;
}

std::vector<int> Kernel::outputs() const {
  const RowKernel* r = row_kernel();
  const std::vector<LoopKernel>* more = r ? &r->loops : nullptr;
  if (const ContractionKernel* c = contraction()) more = &c->row_loops;
  std::vector<int> out{output()};
  if (more)
    for (const LoopKernel& l : *more)
      if (l.out_buffer != out.back()) out.push_back(l.out_buffer);
  return out;
}

namespace {
int64_t loop_work(const LoopKernel& l) {
  int64_t n = 1;
  for (int64_t d : l.dims) n *= d;
  return n;
}
}  // namespace

int64_t Kernel::work() const {
  if (const LoopKernel* l = loop()) return loop_work(*l);
  if (const RowKernel* r = row_kernel()) {
    int64_t n = 0;
    for (const LoopKernel& l : r->loops) n += loop_work(l);
    return n;
  }
  if (const ContractionKernel* c = contraction()) {
    if (c->op == ContractionOp::Matmul) return c->batch * c->m * c->n * c->k;
    const ConvGeometry& g = c->conv;
    if (c->op == ContractionOp::MaxPool2dGrad) return g.n * g.c * (g.h * g.w + g.oh * g.ow);
    return g.n * g.f * g.oh * g.ow * (g.c / std::max<int64_t>(1, g.groups)) * g.kh * g.kw;
  }
  return scatter()->count * scatter()->row_size;
}

// ---- printing ---------------------------------------------------------------------

namespace {
void print_node(std::ostringstream& os, const ExprPool& pool, ExprId id) {
  const Expr& e = pool[id];
  auto ref = [&](ExprId x) { return "%" + std::to_string(x); };
  os << "    %" << id << " = ";
  switch (e.op) {
    case EOp::Const:
      if (is_float(e.dtype)) os << "const " << e.f;
      else os << "const " << e.i;
      break;
    case EOp::LoopIndex: os << "index " << e.i << " < " << e.i2; break;
    case EOp::Load: os << "load b" << e.buffer << "[" << ref(e.a) << "]"; break;
    case EOp::Unary: os << uop_name(static_cast<UOp>(e.sub)) << " " << ref(e.a); break;
    case EOp::Binary:
      os << bop_name(static_cast<BOp>(e.sub)) << " " << ref(e.a) << ", " << ref(e.b);
      break;
    case EOp::Compare:
      os << cop_name(static_cast<COp>(e.sub)) << " " << ref(e.a) << ", " << ref(e.b);
      break;
    case EOp::Select: os << "select " << ref(e.a) << ", " << ref(e.b) << ", " << ref(e.c); break;
    case EOp::Cast: os << "cast " << ref(e.a); break;
    case EOp::Rng:
      os << (e.sub ? "rng_normal" : "rng_uniform") << " seed=" << e.i << " key=" << e.i2 << " "
         << ref(e.a) << ", " << ref(e.b);
      break;
  }
  os << " : " << dtype_name(e.dtype) << "\n";
}

void reachable(const ExprPool& pool, ExprId root, std::set<ExprId>& out) {
  std::vector<ExprId> stack{root};
  while (!stack.empty()) {
    ExprId id = stack.back();
    stack.pop_back();
    if (id < 0 || !out.insert(id).second) continue;
    stack.push_back(pool[id].a);
    stack.push_back(pool[id].b);
    stack.push_back(pool[id].c);
  }
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}
}  // namespace

std::string print_expr(const ExprPool& pool, ExprId root) {
  std::set<ExprId> ids;
  reachable(pool, root, ids);
  std::ostringstream os;
  for (ExprId id : ids) print_node(os, pool, id);
  return os.str();
}

namespace {

void print_loop(std::ostringstream& os, const ExprPool& pool, const LoopKernel& k);

void print_contraction(std::ostringstream& os, const ExprPool& pool, const ContractionKernel& c) {
  os << " " << contraction_op_name(c.op) << " " << dtype_name(c.dtype);
  if (c.op == ContractionOp::MaxPool2dGrad) {
    const ConvGeometry& g = c.conv;
    os << " dx=[" << g.n << "," << g.c << "," << g.h << "," << g.w << "] window=" << g.kh << "x"
       << g.kw << " stride=" << g.stride_h << "x" << g.stride_w << " pad=" << g.pad_h << "x"
       << g.pad_w << " indices=b" << c.a << " dy=b" << c.b;
  } else if (c.op == ContractionOp::Matmul) {
    os << " batch=" << c.batch << " m=" << c.m << " n=" << c.n << " k=" << c.k << " a=b" << c.a
       << (c.trans_a ? "^T" : "") << " b=b" << c.b << (c.trans_b ? "^T" : "");
  } else {
    const ConvGeometry& g = c.conv;
    os << " x=[" << g.n << "," << g.c << "," << g.h << "," << g.w << "] w=[" << g.f << ","
       << g.c / std::max<int64_t>(1, g.groups) << "," << g.kh << "," << g.kw << "] y=[" << g.n
       << "," << g.f << "," << g.oh << "," << g.ow << "] stride=" << g.stride_h << "x"
       << g.stride_w << " pad=" << g.pad_h << "x" << g.pad_w << " dilation=" << g.dil_h << "x"
       << g.dil_w << " groups=" << g.groups << " a=b" << c.a << " b=b" << c.b;
  }
  os << " -> b" << c.out;
  if (c.alpha != 1.0) os << " alpha=" << c.alpha;
  if (c.alpha_scale >= 0) os << " *b" << c.alpha_scale;
  if (c.accumulate) os << " +=b" << c.out;
  if (c.packed_b >= 0) os << (c.pack_b ? " packs b into b" : " packed b in b") << c.packed_b;
  os << "\n";
  if (c.prologue >= 0) {
    os << "    prologue over [" << c.prologue_view[0] << "," << c.prologue_view[1] << ","
       << c.prologue_view[2] << "]:\n";
    std::set<ExprId> ids;
    reachable(pool, c.prologue, ids);
    for (ExprId id : ids) print_node(os, pool, id);
    os << "    x = %" << c.prologue << "\n";
  }
  if (c.epilogue >= 0) {
    os << "    epilogue over [" << c.view[0] << "," << c.view[1] << "," << c.view[2] << "]:\n";
    std::set<ExprId> ids;
    reachable(pool, c.epilogue, ids);
    reachable(pool, c.epilogue_offset, ids);
    for (ExprId id : ids) print_node(os, pool, id);
    os << "    store b" << c.out << "[%" << c.epilogue_offset << "] = %" << c.epilogue << "\n";
  }
  for (const LoopKernel& l : c.row_loops) {
    os << "    row epilogue";
    print_loop(os, pool, l);
  }
}

void print_loop(std::ostringstream& os, const ExprPool& pool, const LoopKernel& k) {
  static const char* red[] = {"", "sum", "max", "mean"};
  os << " loop " << dims_str(k.dims) << " -> b" << k.out_buffer;
  if (k.reduce != ReduceOp::None) {
    os << " reduce " << red[static_cast<int>(k.reduce)] << " axes [";
    bool first = true;
    for (size_t d = 0; d < k.reduced.size(); ++d)
      if (k.reduced[d]) os << (first ? "" : ",") << d, first = false;
    os << "]";
  }
  os << "\n";
  std::set<ExprId> ids;
  reachable(pool, k.value, ids);
  reachable(pool, k.out_offset, ids);
  for (ExprId id : ids) print_node(os, pool, id);
  os << "    store b" << k.out_buffer << "[%" << k.out_offset << "] = %" << k.value << "\n";
}

}  // namespace

std::vector<int> kernel_reads(const KernelProgram& prog, const Kernel& k) {
  std::set<int> r;
  auto loads_of = [&](ExprId root) {
    if (root < 0) return;
    std::vector<ExprId> loads;
    prog.pool.collect_loads(root, loads);
    for (ExprId l : loads) r.insert(prog.pool[l].buffer);
  };
  auto loops_read = [&](const std::vector<LoopKernel>& loops) {
    for (const LoopKernel& l : loops) {
      loads_of(l.value);
      loads_of(l.out_offset);
    }
  };
  if (const LoopKernel* l = k.loop()) {
    loops_read({*l});
  } else if (const RowKernel* rk = k.row_kernel()) {
    loops_read(rk->loops);
  } else if (const ContractionKernel* c = k.contraction()) {
    loads_of(c->epilogue);
    r.erase(c->out);  // the epilogue reads the product it just wrote: not an input
    loads_of(c->prologue);
    if (c->a >= 0) r.insert(c->a);
    r.insert(c->b);
    if (c->alpha_scale >= 0) r.insert(c->alpha_scale);
    if (c->accumulate) r.insert(c->out);
    if (c->packed_b >= 0) r.insert(c->packed_b);  // written by the first, kept to the last
    loops_read(c->row_loops);
  } else {
    r.insert(k.scatter()->indices);
    r.insert(k.scatter()->updates);
  }
  return {r.begin(), r.end()};
}

std::string print_kernel(const KernelProgram& prog, const Kernel& k) {
  std::ostringstream os;
  os << "  kernel " << k.name;
  if (const LoopKernel* l = k.loop()) {
    print_loop(os, prog.pool, *l);
  } else if (const RowKernel* r = k.row_kernel()) {
    os << " rows " << r->rows << ", " << r->loops.size() << " loops\n";
    for (const LoopKernel& l : r->loops) {
      os << "    row loop";
      print_loop(os, prog.pool, l);
    }
  } else if (const ContractionKernel* c = k.contraction()) {
    print_contraction(os, prog.pool, *c);
  } else {
    const ScatterAddKernel& s = *k.scatter();
    os << " scatter_add rows=" << s.rows << " row=" << s.row_size << " count=" << s.count
       << " indices=b" << s.indices << " updates=b" << s.updates << " -> b" << s.out << "\n";
  }
  return os.str();
}

std::string print_program(const KernelProgram& prog) {
  std::ostringstream os;
  os << "buffers:\n";
  for (const Buffer& b : prog.buffers) {
    os << "  b" << b.id << " " << buffer_kind_name(b.kind) << " " << b.type.to_string() << " "
       << b.name;
    if (b.kind == BufferKind::Arena) os << " @" << b.offset;
    if (b.alias_of >= 0) os << " (in b" << b.alias_of << " +" << b.alias_offset << ")";
    os << "\n";
  }
  os << "kernels:\n";
  for (const Kernel& k : prog.kernels) os << print_kernel(prog, k);
  return os.str();
}

}  // namespace kiln::kir
