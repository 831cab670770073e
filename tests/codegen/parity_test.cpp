// JIT vs reference interpreter for every op: random shapes with broadcasting, f32 and
// f64, fused elementwise chains, reductions over all axis sets (with keepdims),
// indexing ops, pad and stop_gradient, matmul with transposes and batches, rng ops,
// state updates, and differentiated graphs with tied maxima.
//
// Each family of cases (op_parity_cases.h) is a function returning its graphs, so the
// last test can build them all (without compiling) and assert that every OpKind is
// compiled by at least one parity case. (ctest runs every TEST_CASE in its own process, so the cases cannot
// simply be recorded as they run.)
#include <catch2/catch.hpp>

#include <functional>
#include <set>

#include "conv_parity_cases.h"
#include "harness.h"
#include "op_parity_cases.h"
#include "parity_cases.h"
#include "passes/autodiff.h"

using namespace kiln;
using namespace kiln::test;

namespace {

// Every node that reaches an output or a state update (what compile() lowers).
std::set<OpKind> live_ops(const Graph& g) {
  std::vector<NodeId> stack;
  for (const Output& o : g.outputs()) stack.push_back(o.value.id);
  for (const StateUpdate& u : g.state_updates()) {
    stack.push_back(u.state.id);
    stack.push_back(u.value.id);
  }
  std::vector<char> seen(g.size(), 0);
  std::set<OpKind> ops;
  while (!stack.empty()) {
    NodeId id = stack.back();
    stack.pop_back();
    if (seen[id]) continue;
    seen[id] = 1;
    ops.insert(g.node(id).op);
    for (Value v : g.node(id).inputs) stack.push_back(v.id);
  }
  return ops;
}

}  // namespace

TEST_CASE("parity compares element by element and names the first mismatch", "[codegen]") {
  TensorType f32{DType::f32, Shape{2, 2}};
  // Relative to max(1, |ref|): absolute near zero, relative for large values.
  CHECK(compare_elements({1e-6, 2e5 + 1, NAN, INFINITY}, {0, 2e5, NAN, INFINITY}, f32, 1e-5)
            .mismatches == 0);
  ElementCheck c = compare_elements({0, 1, 2.5, 3}, {0, 1, 2, 3.5}, f32, 1e-5);
  CHECK(c.mismatches == 2);
  CHECK(c.first == 2);
  CHECK_THAT(c.first_text, Catch::Contains("element 2 [1,0]: got 2.5, want 2"));
  CHECK(compare_elements({NAN, 1}, {0, 1}, f32, 1).mismatches == 1);
  CHECK(compare_elements({-INFINITY}, {INFINITY}, TensorType{DType::f64, Shape{1}}, 1)
            .mismatches == 1);
  // One wrong element among many is still a failure (a normalized error would hide it).
  std::vector<double> want(10000, 1.0), got = want;
  got[9999] = 1.01;
  CHECK(compare_elements(got, want, TensorType{DType::f32, Shape{10000}}, 1e-5).first == 9999);
  // Integers and bools compare exactly, whatever the tolerance.
  CHECK(compare_elements({3, 4}, {3, 5}, TensorType{DType::i32, Shape{2}}, 1).mismatches == 1);
  CHECK(compare_elements({1}, {0}, TensorType{DType::boolean, Shape{1}}, 1).mismatches == 1);
}

TEST_CASE("unary ops match the reference", "[codegen][parity]") { run_all(unary_cases()); }

TEST_CASE("binary ops with broadcasting match the reference", "[codegen][parity]") {
  run_all(binary_cases());
}

TEST_CASE("i32 arithmetic wraps on overflow in the reference and in generated code",
          "[codegen][parity]") {
  ParityCase c = i32_wrap_case();
  check_parity(c.graph, c.opts);
  // And the wrapped values are two's complement, not saturated.
  RefTensor xs{{DType::i32, Shape{64}}, std::vector<double>(64, INT32_MAX)};
  RefTensor ys{{DType::i32, Shape{64}}, std::vector<double>(64, 1)};
  auto res = interpret(c.graph, {{"x", xs}, {"y", ys}});
  REQUIRE(res.ok());
  CHECK(res->outputs.at("add").data[0] == INT32_MIN);
  CHECK(res->outputs.at("sum").data[0] == -64);
}

TEST_CASE("compare, logical, select, cast and not match the reference", "[codegen][parity]") {
  run_all(compare_cases());
}

TEST_CASE("fused elementwise chains match the reference", "[codegen][parity]") {
  run_all(chain_cases());
}

TEST_CASE("reductions over every axis set match the reference", "[codegen][parity]") {
  run_all(reduction_cases());
}

TEST_CASE("shape ops match the reference", "[codegen][parity]") { run_all(shape_cases()); }

TEST_CASE("pad and stop_gradient match the reference", "[codegen][parity]") {
  run_all(pad_and_stop_gradient_cases());
}

TEST_CASE("iota, constants, gather, one_hot and scatter_add match the reference", "[codegen][parity]") {
  run_all(leaf_and_indexing_cases());
}

TEST_CASE("matmul with transposes and batches matches the reference", "[codegen][parity]") {
  run_all(matmul_cases());
}

TEST_CASE("rng ops are bit-exact with the reference", "[codegen][parity]") {
  for (const ParityCase& c : rng_cases()) {
    INFO("case " << c.name);
    const Graph& g = c.graph;
    // The counter is fed per run, so this drives the executable by hand.
    auto st = std::make_shared<StateStore>();
    auto exe = compile(g, st);
    REQUIRE(exe.ok());
    std::map<std::string, RefTensor> feeds;
    for (int r = 0; r < 3; ++r) {
      feeds["step"] = RefTensor{{DType::i64, Shape{}}, {double(r)}};
      st->find("step")->as<int64_t>()[0] = r;
      (*exe)->run();
      auto ref = interpret(g, feeds);
      REQUIRE(ref.ok());
      // Uniforms are bit-exact; normals go through log/cos and match to rounding.
      CHECK(read_buffer(*(*exe)->output("u")) == ref->outputs["u"].data);
      CHECK(read_buffer(*(*exe)->output("u2")) == ref->outputs["u2"].data);
      check_elements("output n", read_buffer(*(*exe)->output("n")), ref->outputs["n"],
                     ParityOptions{});
      CHECK(st->find("step")->as<int64_t>()[0] == r + 1);
    }
  }
}

TEST_CASE("state updates are applied, in place where safe", "[codegen][parity]") {
  ParityCase c = state_update_case();
  check_parity(c.graph, c.opts);
}

TEST_CASE("differentiated graphs with tied maxima match the reference", "[codegen][parity]") {
  run_all(gradient_cases());
}

TEST_CASE("every op kind is compiled by at least one parity case", "[codegen][parity]") {
  const std::vector<std::function<Cases()>> families = {
      unary_cases, binary_cases, compare_cases, chain_cases, reduction_cases, shape_cases,
      pad_and_stop_gradient_cases, leaf_and_indexing_cases, matmul_cases, rng_cases,
      gradient_cases, conv_cases, pool_cases, conv_epilogue_cases, [] {
        Cases cs;
        cs.push_back(i32_wrap_case());
        cs.push_back(state_update_case());
        return cs;
      }};
  std::set<OpKind> covered;
  for (const auto& family : families)
    for (const ParityCase& c : family()) covered.merge(live_ops(c.graph));
  for (int k = 0; k < kNumOps; ++k) {
    INFO("op without a parity case: " << op_name(static_cast<OpKind>(k)));
    CHECK(covered.count(static_cast<OpKind>(k)) == 1);
  }
}
