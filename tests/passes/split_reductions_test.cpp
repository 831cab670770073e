// split_reductions on small textual graphs: text in, expected text out, graphs that must
// not change, and the split graph computing the same values as the original.
#include <catch2/catch.hpp>

#include "ir/interpreter.h"
#include "ir/printer.h"
#include "passes/split_reductions.h"
#include "pass_text.h"

using namespace kiln;

namespace {

std::string run_split(const std::string& text, int64_t min_elements = 1) {
  SplitReductionsPass pass(min_elements);
  return test::run_pass_on_text(pass, text);
}

using test::canonical;

}  // namespace

TEST_CASE("split_reductions splits batch-norm statistics over N, H, W", "[split_reductions]") {
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[4,3,2,5]
  %1 = reduce_mean(%0) {axes=[0,2,3], keepdims=1} : f32[1,3,1,1]
  output "m" = %1
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[4,3,2,5]
  %1 = reduce_mean(%0) {axes=[2,3], keepdims=1} : f32[4,3,1,1]
  %2 = reduce_mean(%1) {axes=[0,2,3], keepdims=1} : f32[1,3,1,1]
  output "m" = %2
})";
  CHECK(run_split(in) == canonical(want));
}

TEST_CASE("split_reductions keeps keepdims=0 and skips size-1 axes", "[split_reductions]") {
  // [N, C, 1, W]: the trailing run is W alone (H has size 1); the result drops the axes.
  std::string in = R"(graph t {
  %0 = input() {name="x"} : f32[4,3,1,5]
  %1 = reduce_sum(%0) {axes=[0,2,3], keepdims=0} : f32[3]
  output "s" = %1
})";
  std::string want = R"(graph t {
  %0 = input() {name="x"} : f32[4,3,1,5]
  %1 = reduce_sum(%0) {axes=[3], keepdims=1} : f32[4,3,1,1]
  %2 = reduce_sum(%1) {axes=[0,2,3], keepdims=0} : f32[3]
  output "s" = %2
})";
  CHECK(run_split(in) == canonical(want));
}

TEST_CASE("split_reductions leaves contiguous and small reductions alone", "[split_reductions]") {
  for (const char* text : {
           // Trailing axes only: already one contiguous run per output.
           R"(graph t {
  %0 = input() {name="x"} : f32[4,3,2,5]
  %1 = reduce_sum(%0) {axes=[2,3], keepdims=0} : f32[4,3]
  output "s" = %1
})",
           // Leading axis only (1x1 maps): rows accumulate contiguously.
           R"(graph t {
  %0 = input() {name="x"} : f32[4,3,1,1]
  %1 = reduce_mean(%0) {axes=[0,2,3], keepdims=1} : f32[1,3,1,1]
  output "m" = %1
})",
           // Integer sums are not rewritten (only float reductions are).
           R"(graph t {
  %0 = input() {name="x"} : i32[4,3,2,5]
  %1 = reduce_sum(%0) {axes=[0,2,3], keepdims=1} : i32[1,3,1,1]
  output "s" = %1
})"}) {
    CHECK(run_split(text) == canonical(text));
  }
  // Below the size threshold.
  std::string bn = R"(graph t {
  %0 = input() {name="x"} : f32[4,3,2,5]
  %1 = reduce_max(%0) {axes=[0,2,3], keepdims=1} : f32[1,3,1,1]
  output "m" = %1
})";
  CHECK(run_split(bn, 1000) == canonical(bn));
  CHECK(run_split(bn, 120) != canonical(bn));
}

TEST_CASE("split_reductions computes the same sums, means and maxima", "[split_reductions]") {
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max"}) {
    std::string text = std::string(R"(graph t {
  %0 = input() {name="x"} : f64[3,4,2,3]
  %1 = )") + op + R"((%0) {axes=[0,2,3], keepdims=0} : f64[4]
  output "r" = %1
})";
    Expected<Graph> g = parse_graph(text);
    REQUIRE(g.ok());
    Graph split = *g;
    REQUIRE(*SplitReductionsPass(1).run(split));
    RefTensor x{TensorType{DType::f64, Shape{3, 4, 2, 3}}, {}};
    for (int64_t i = 0; i < 72; ++i) x.data.push_back(double((i * 37) % 23) - 11.5);
    auto before = interpret(*g, {{"x", x}});
    auto after = interpret(split, {{"x", x}});
    REQUIRE(before.ok());
    REQUIRE(after.ok());
    const RefTensor& a = before->outputs.at("r");
    const RefTensor& b = after->outputs.at("r");
    REQUIRE(b.data.size() == 4);
    for (int64_t i = 0; i < 4; ++i) CHECK(b.data[i] == Approx(a.data[i]).epsilon(1e-12));
  }
}
