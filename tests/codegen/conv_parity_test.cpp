// JIT vs reference for convolution and pooling (cases in conv_parity_cases.h).
#include <catch2/catch.hpp>

#include "conv_parity_cases.h"

using namespace kiln;
using namespace kiln::test;

TEST_CASE("conv2d and its gradients match the reference", "[codegen][conv]") {
  run_all(conv_cases());
}

TEST_CASE("pooling and its gradients match the reference", "[codegen][pool]") {
  run_all(pool_cases());
}

TEST_CASE("convolution epilogues and a conv training step match the reference", "[codegen][conv]") {
  run_all(conv_epilogue_cases());
}
