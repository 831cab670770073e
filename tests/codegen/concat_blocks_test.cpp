// A concat of computed expressions (the gate gradients of an unrolled LSTM step) is
// lowered as one loop kernel per input block (codegen/lower_concat.h), with the results
// of the reference interpreter, on every axis and with empty inputs; a concat of stored
// values stays one kernel (its select picks one load per element).
#include <catch2/catch.hpp>

#include "codegen/lower.h"
#include "harness.h"

using namespace kiln;

namespace {

// The names of the lowered kernels of g, each block its own kernel: these small blocks
// would otherwise join one serial group (codegen/serial_kernels.h).
std::vector<std::string> kernel_names(const Graph& g) {
  LowerOptions blocks;
  blocks.serial_groups = false;
  Expected<LoweredProgram> lp = lower_graph(g, blocks);
  REQUIRE(lp.ok());
  std::vector<std::string> names;
  for (const kir::Kernel& k : lp->prog.kernels) names.push_back(k.name);
  return names;
}

int64_t count_prefix(const std::vector<std::string>& names, const std::string& prefix) {
  return std::count_if(names.begin(), names.end(),
                       [&](const std::string& n) { return n.rfind(prefix, 0) == 0; });
}

}  // namespace

TEST_CASE("a concat of computed gates is one kernel per block and matches the reference",
          "[codegen][concat]") {
  for (int axis : {0, 1, -1}) {
    INFO("axis " << axis);
    Graph g("gates");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{6, 5}});
    Tensor y = b.input("y", {DType::f32, Shape{6, 5}});
    // Four gate-like expressions, the third empty along the axis when axis = 1.
    Tensor i = sigmoid(x) * y;
    Tensor f = tanh(x + y) * (1.0 - y);
    Tensor o = exp(x * 0.5) - y;
    const int ax = axis < 0 ? 1 : axis;
    Tensor empty = slice(x * y, ax, 0, 0);
    b.output("cat", concat({i, f, empty, o}, axis));
    REQUIRE(b.status().ok());
    std::vector<std::string> names = kernel_names(g);
    CHECK(count_prefix(names, "concat_") == 3);  // the empty block has no kernel
    CHECK(test::check_parity(g) < 1e-5);
  }
}

TEST_CASE("a concat of stored values stays one kernel", "[codegen][concat]") {
  Graph g("stored");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{4, 3}});
  Tensor y = b.input("y", {DType::f32, Shape{4, 2}});
  b.output("cat", concat({x, y}, 1));
  REQUIRE(b.status().ok());
  std::vector<std::string> names = kernel_names(g);
  CHECK(names.size() == 1);
  CHECK(test::check_parity(g) < 1e-6);
}

TEST_CASE("a concat of stored rows of 16 or more elements is copied block by block",
          "[codegen][concat]") {
  // A GRU step's gate gradients stacked along the columns: as one kernel the select on
  // the column index does not vectorize; as blocks each row is a vector copy. Through a
  // reshape too (the stack of the per-step gradients is [1, B, 3H]).
  for (bool reshaped : {false, true}) {
    INFO("reshaped " << reshaped);
    Graph g("rows");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{4, 32}});
    Tensor y = b.input("y", {DType::f32, Shape{4, 16}});
    Tensor cat = concat({x, y}, 1);
    b.output("cat", reshaped ? reshape(cat, Shape{1, 4, 48}) : cat);
    REQUIRE(b.status().ok());
    std::vector<std::string> names = kernel_names(g);
    CHECK(count_prefix(names, "concat_") == 2);
    CHECK(test::check_parity(g) < 1e-6);
  }
}
