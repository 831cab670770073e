// LLVM vectorizes a loop of fewer than 16 iterations only when it can fold the remainder
// into masked vector iterations, which it cannot do for the stride-2 loads of a pooling
// window: LeNet-BN's 2x2 average pool over sigmoid (12 outputs per row) compiled to
// scalar code, 24% of its training step. Such loops now carry llvm.loop.vectorize.enable
// (codegen/llvm/renderer.cpp, loads_across_vector_axis): the optimized module computes
// them on vectors, and the results match the reference.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace kiln;

TEST_CASE("a short strided pooling loop is vectorized", "[codegen][vectorize]") {
  // Short rows (12 and 8 outputs) of stride-2 windows: unclamped, and clamped by padding.
  const std::vector<std::pair<Pool2dOptions, int64_t>> cases = {
      {Pool2dOptions{}, 24},                                       // 2x2 stride 2 -> 12
      {Pool2dOptions{{3, 3}, {2, 2}, {1, 1}, true}, 16},           // 3x3 stride 2 pad 1 -> 8
  };
  for (const auto& [o, hw] : cases) {
    Graph g("short_strided_pool");
    Builder b(g);
    Tensor x = b.input("x", {DType::f32, Shape{4, 6, hw, hw}});
    b.output("y", avg_pool2d(sigmoid(x), o));
    REQUIRE(b.ok());
    const std::string llvm = test::optimized_llvm(g);
    INFO("kernel " << o.kernel[0] << "x" << o.kernel[1] << " on " << hw << "x" << hw << "\n" << llvm);
    // Vector arithmetic: the sigmoid's reciprocal and the window sum on float vectors.
    CHECK(llvm.find("fdiv <") != std::string::npos);
    test::check_parity(g);
  }
}
