// JIT vs reference for convolution and pooling (cases in conv_parity_cases.h).
#include <catch2/catch.hpp>

#include "conv_parity_cases.h"
#include "runtime/thread_pool.h"

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

TEST_CASE("convolution prologues (batch-norm + residual + ReLU inputs) match the reference",
          "[codegen][conv]") {
  const int threads = num_threads();
  for (int t : {1, 3}) {
    INFO("threads " << t);
    set_num_threads(t);
    run_all(conv_prologue_cases());
  }
  set_num_threads(threads);
}
