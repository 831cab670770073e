// The JIT of a product with a one-hot matrix (simplified into a row gather, and its
// weight gradient into a scatter-add) matches the reference interpreter on the graph as
// written, indices outside [0, depth) included (their one-hot rows are zeros); the
// training step is checked on the simplified graph (tests/passes/one_hot_products_test.cpp
// shows it equals the one-hot product's).
#include <catch2/catch.hpp>

#include "harness.h"
#include "passes/simplify.h"
#include "passes/training.h"

using namespace kiln;

TEST_CASE("a one-hot product compiles to a gather with the reference's results",
          "[codegen][gather]") {
  for (bool train : {false, true}) {
    INFO("train " << train);
    Graph g("one_hot");
    Builder b(g);
    Tensor i = b.input("i", {DType::i32, Shape{6, 5}});  // -3..3 from the harness
    Tensor w = b.parameter("w", {DType::f32, Shape{3, 40}}, InitSpec::uniform(-1, 1));
    Tensor c = b.input("c", {DType::f32, Shape{30, 40}});
    Tensor y = matmul(reshape(one_hot(i, 3), Shape{30, 3}), w);
    b.output("y", y);
    b.output("loss", sum(y * c));
    REQUIRE(b.status().ok());
    if (train) {  // as the model harness orders it: simplify, then autodiff (scatter-add)
      REQUIRE(SimplifyPass().run(g).ok());
      OptimizerConfig sgd;
      REQUIRE(TrainingStepPass("loss", sgd).run(g).ok());
    }
    CHECK(test::check_parity(g) < 1e-5);
  }
}
