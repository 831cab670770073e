// Kernel IR index arithmetic: the simplifications ExprPool applies while expressions are
// built (constant folding, (a*c + b) / c => a, a reshape's row / multiple-of-cols
// division, x < K on a flattened index) checked by evaluating every simplified
// expression at every point of its index space against plain integer arithmetic.
#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "codegen/kernel_ir.h"

using namespace kiln;
using kir::BOp;
using kir::COp;
using kir::EOp;
using kir::ExprId;

namespace {

// Evaluates an i64 / bool expression with loop indices `at`.
int64_t eval(const kir::ExprPool& P, ExprId id, const std::vector<int64_t>& at) {
  const kir::Expr& e = P[id];
  switch (e.op) {
    case EOp::Const: return e.i;
    case EOp::LoopIndex: return at[e.i];
    case EOp::Binary: {
      int64_t a = eval(P, e.a, at), b = eval(P, e.b, at);
      switch (static_cast<BOp>(e.sub)) {
        case BOp::Add: return a + b;
        case BOp::Sub: return a - b;
        case BOp::Mul: return a * b;
        case BOp::Div: return a / b;
        case BOp::Mod: return a % b;
        case BOp::Max: return std::max(a, b);
        case BOp::Min: return std::min(a, b);
        default: break;
      }
      break;
    }
    case EOp::Compare: {
      int64_t a = eval(P, e.a, at), b = eval(P, e.b, at);
      switch (static_cast<COp>(e.sub)) {
        case COp::Lt: return a < b;
        case COp::Le: return a <= b;
        case COp::Gt: return a > b;
        case COp::Ge: return a >= b;
        case COp::Eq: return a == b;
        case COp::Ne: return a != b;
      }
      break;
    }
    default: break;
  }
  FAIL("unexpected expression in an index computation");
  return 0;
}

bool uses_axis(const kir::ExprPool& P, ExprId id, int axis) {
  bool used = false;
  P.for_each_reachable(id, [&](ExprId, const kir::Expr& e) {
    used |= e.op == EOp::LoopIndex && e.i == axis;
  });
  return used;
}

bool has_div(const kir::ExprPool& P, ExprId id) {
  bool d = false;
  P.for_each_reachable(id, [&](ExprId, const kir::Expr& e) {
    d |= e.op == EOp::Binary && static_cast<BOp>(e.sub) == BOp::Div;
  });
  return d;
}

}  // namespace

TEST_CASE("kernel IR divides a flattened index by a multiple of its row length", "[kir]") {
  // [rows, cols] flattened, divided by cols * k: the row divided by k, free of the column
  // (a reshape from [T*B, H] to [T, B, H] asking for T).
  for (int64_t rows : {12, 35}) {
    for (int64_t cols : {4, 7}) {
      for (int64_t k : {2, 3, 4}) {
        kir::ExprPool P;
        ExprId r = P.loop_index(0, rows), c = P.loop_index(1, cols);
        ExprId flat = P.add(P.mul(r, cols), c);
        ExprId q = P.div(flat, cols * k);
        INFO("rows " << rows << " cols " << cols << " k " << k);
        CHECK_FALSE(uses_axis(P, q, 1));
        // x < K with K a multiple of cols: a condition on the row alone.
        ExprId lt = P.compare(COp::Lt, flat, P.index(cols * 3));
        ExprId ge = P.compare(COp::Ge, flat, P.index(cols * 5));
        CHECK_FALSE(uses_axis(P, lt, 1));
        CHECK_FALSE(uses_axis(P, ge, 1));
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t x = i * cols + j;
            REQUIRE(eval(P, q, {i, j}) == x / (cols * k));
            REQUIRE(eval(P, lt, {i, j}) == (x < cols * 3));
            REQUIRE(eval(P, ge, {i, j}) == (x >= cols * 5));
          }
      }
    }
  }
}

TEST_CASE("kernel IR keeps divisions it cannot prove", "[kir]") {
  kir::ExprPool P;
  ExprId r = P.loop_index(0, 10), c = P.loop_index(1, 6);
  // 6*r + c over 4: 4 does not divide by 6, and c spans more than the remainder.
  ExprId q = P.div(P.add(P.mul(r, int64_t{6}), c), 4);
  CHECK(has_div(P, q));
  // x < K with K not a multiple of the row length stays a test on the flat index.
  ExprId lt = P.compare(COp::Lt, P.add(P.mul(r, int64_t{6}), c), P.index(15));
  CHECK(uses_axis(P, lt, 1));
  for (int64_t i = 0; i < 10; ++i)
    for (int64_t j = 0; j < 6; ++j) {
      REQUIRE(eval(P, q, {i, j}) == (6 * i + j) / 4);
      REQUIRE(eval(P, lt, {i, j}) == (6 * i + j < 15));
    }
}

TEST_CASE("kernel IR folds (a*c + b) / c and % c and recombines them", "[kir]") {
  kir::ExprPool P;
  ExprId a = P.loop_index(0, 9), b = P.loop_index(1, 5);
  ExprId x = P.add(P.mul(a, int64_t{5}), b);
  CHECK(P.div(x, 5) == a);
  CHECK(P.mod(x, 5) == b);
  // x / 5 * 5 + x % 5 => x
  ExprId y = P.loop_index(2, 40);
  CHECK(P.add(P.mul(P.div(y, 5), int64_t{5}), P.mod(y, 5)) == y);
  CHECK(P.is_const(P.add(P.index(3), P.index(4))));
  CHECK(P.const_int(P.mul(P.index(3), P.index(4))) == 12);
}
