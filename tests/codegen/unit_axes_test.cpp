// Axes of extent 1 get no loop (codegen/lower.cpp, loop_nest): a per-channel sum over
// [N, C, 1, 1] (batch norm after the last ResNet stage) is a loop over [N, C] that keeps
// C as its contiguous innermost loop instead of a scalar walk over a trailing axis of
// one element, and the results still match the reference interpreter.
#include <catch2/catch.hpp>

#include "codegen/lower.h"
#include "harness.h"

using namespace kiln;

namespace {

// Every loop kernel's dims (members of row and serial groups included).
std::vector<std::vector<int64_t>> loop_dims(const Graph& g) {
  LowerOptions plain;
  plain.serial_groups = false;
  Expected<LoweredProgram> lp = lower_graph(g, plain);
  REQUIRE(lp.ok());
  std::vector<std::vector<int64_t>> dims;
  for (const kir::Kernel& k : lp->prog.kernels) {
    if (const kir::LoopKernel* l = k.loop()) dims.push_back(l->dims);
    if (const kir::RowKernel* r = k.row_kernel())
      for (const kir::LoopKernel& l : r->loops) dims.push_back(l.dims);
  }
  return dims;
}

bool has_unit_axis(const std::vector<std::vector<int64_t>>& all) {
  for (const auto& d : all)
    if (d.size() > 1 && std::count(d.begin(), d.end(), 1) > 0) return true;
  return false;
}

}  // namespace

TEST_CASE("reductions and elementwise loops get no loop for axes of extent 1",
          "[codegen][unit_axes]") {
  Graph g("unit_axes");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{64, 96, 1, 1}});
  Tensor scale = b.input("scale", {DType::f32, Shape{1, 96, 1, 1}});
  Tensor m = mean(x, {0, 2, 3}, true);
  Tensor d = sub(x, m);
  b.output("mean", m);
  b.output("var", mean(mul(d, d), {0, 2, 3}, true));
  b.output("scaled", mul(relu(x), scale));
  b.output("sum_hw", sum(x, {2, 3}));
  REQUIRE(b.ok());
  const auto dims = loop_dims(g);
  INFO("kernels " << dims.size());
  CHECK_FALSE(has_unit_axis(dims));
  test::check_parity(g);
}

TEST_CASE("a reduction over only axes of extent 1 is a copy that matches the reference",
          "[codegen][unit_axes]") {
  Graph g("unit_reduce");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{8, 1, 5, 1}});
  b.output("sum", sum(x, {1, 3}));
  b.output("mean_all_units", mean(b.input("y", {DType::f32, Shape{1, 1}}), {0, 1}, false));
  b.output("max", max(x, {1}, true));
  REQUIRE(b.ok());
  test::check_parity(g);
}
