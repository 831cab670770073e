// The CUDA kernels' numerics without a GPU (issue 11, testing item (b)): every family
// of the op harness runs on the emulator (emulated_harness.h) and matches the reference
// interpreter at the harness tolerances; rng draws are bit-exact with the reference
// (and so with the CPU backend); and a kernel with a barrier or an index broken on
// purpose is caught by the same comparison.
#include <catch2/catch.hpp>

#include "codegen/conv_parity_cases.h"
#include "codegen/op_parity_cases.h"
#include "emulated_harness.h"

using namespace kiln;
using namespace kiln::test;

TEST_CASE("emulated CUDA: unary and binary ops with broadcasting", "[cuda][emulated]") {
  Cases cs = unary_cases();
  for (ParityCase& c : binary_cases()) cs.push_back(std::move(c));
  cs.push_back(i32_wrap_case());
  check_emulated(cs);
}

TEST_CASE("emulated CUDA: compare select cast and fused chains", "[cuda][emulated]") {
  Cases cs = compare_cases();
  for (ParityCase& c : chain_cases()) cs.push_back(std::move(c));
  check_emulated(cs);
}

TEST_CASE("emulated CUDA: reductions over every axis set", "[cuda][emulated]") {
  check_emulated(reduction_cases());
}

TEST_CASE("emulated CUDA: shape ops and pad and indexing", "[cuda][emulated]") {
  Cases cs = shape_cases();
  for (ParityCase& c : pad_and_stop_gradient_cases()) cs.push_back(std::move(c));
  for (ParityCase& c : leaf_and_indexing_cases()) cs.push_back(std::move(c));
  check_emulated(cs);
}

TEST_CASE("emulated CUDA: matmul and state updates and gradients", "[cuda][emulated]") {
  Cases cs = matmul_cases();
  cs.push_back(state_update_case());
  for (ParityCase& c : gradient_cases()) cs.push_back(std::move(c));
  check_emulated(cs);
}

TEST_CASE("emulated CUDA: GEMM tiles of 64, 32 and 16 by how many tiles fill the GPU", "[cuda][emulated]") {
  // Threads own 4x4, 2x2 or 1x1 outputs (tiles of 64, 32, 16): 132 products of 64x64
  // already give 132 tiles of 64; 36 give 36, so 32s (144); one 40x40 gives 9 tiles of 16.
  Cases cs;
  const std::pair<int64_t, const char*> shapes[] = {{132, "acc[4][4]"}, {36, "acc[2][2]"}, {0, "acc[1][1]"}};
  for (const auto& [batch, acc] : shapes) {
    cs.push_back(make_case(std::string("tiles with ") + acc, [batch](Builder& b) {
      const int64_t side = batch ? 64 : 40;
      Shape as{side, 12}, bs{12, side};
      if (batch) {
        as.dims.insert(as.dims.begin(), batch);
        bs.dims.insert(bs.dims.begin(), batch);
      }
      Tensor a = b.input("a", {DType::f32, as});
      Tensor w = b.input("w", {DType::f32, bs});
      b.output("c", relu(matmul(a, w)));
    }));
  }
  EmulatedCases e = emulate_cases(cs);
  for (size_t i = 0; i < cs.size(); ++i) {
    INFO(cs[i].name);
    CHECK(e.plans[i].cuda.source.find(shapes[i].second) != std::string::npos);
    CHECK(emulated_mismatch(cs[i], e.plans[i], e.module) == "");
  }
}

TEST_CASE("emulated CUDA: row kernels reduce many outputs per row one warp each", "[cuda][emulated]") {
  // Per row of 3: 8 and 40 means of 64 terms (a warp each: kiln_warp_reduce), then the
  // centred values that read them in the same row kernel; one 64-term sum (the block).
  Cases cs;
  for (int64_t outputs : {8, 40}) {
    cs.push_back(make_case("centred over " + std::to_string(outputs) + " groups", [outputs](Builder& b) {
      Tensor x = b.input("x", {DType::f32, Shape{3, outputs, 64}});
      Tensor c = x - mean(x, {2}, true);
      b.output("c", c);
      b.output("s", sum(c * c, {1, 2}));
    }));
  }
  EmulatedCases e = emulate_cases(cs);
  for (size_t i = 0; i < cs.size(); ++i) {
    INFO(cs[i].name << "\n" << e.plans[i].cuda.source);
    CHECK(e.plans[i].cuda.source.find("kiln_warp_reduce<") != std::string::npos);
    CHECK(emulated_mismatch(cs[i], e.plans[i], e.module) == "");
  }
}

TEST_CASE("emulated CUDA: convolutions and pooling with epilogues and prologues", "[cuda][emulated]") {
  Cases cs = conv_cases();
  for (ParityCase& c : pool_cases()) cs.push_back(std::move(c));
  for (ParityCase& c : conv_epilogue_cases()) cs.push_back(std::move(c));
  for (ParityCase& c : conv_prologue_cases()) cs.push_back(std::move(c));
  check_emulated(cs);
}

TEST_CASE("emulated CUDA: small blocks and grids take every grid-stride path", "[cuda][emulated]") {
  // Two blocks of 64 threads: elementwise and reduction kernels loop over their index
  // spaces, row kernels over their rows, GEMMs over their tiles, several times each.
  cudagen::CudaRenderOptions small;
  small.block = 64;
  small.dot_block = 64;
  small.max_grid = 2;
  Cases cs = reduction_cases();
  for (ParityCase& c : chain_cases()) cs.push_back(std::move(c));
  for (ParityCase& c : matmul_cases()) cs.push_back(std::move(c));
  for (ParityCase& c : leaf_and_indexing_cases()) cs.push_back(std::move(c));
  for (ParityCase& c : conv_epilogue_cases()) cs.push_back(std::move(c));
  check_emulated(cs, small);
}

TEST_CASE("emulated CUDA: rng draws are bit-exact with the reference", "[cuda][emulated]") {
  Cases cs = rng_cases();
  EmulatedCases e = emulate_cases(cs);
  for (size_t i = 0; i < cs.size(); ++i) {
    INFO("case " << cs[i].name);
    auto st = std::make_shared<StateStore>();
    auto exe = Executable::bind(e.plans[i].planned->plan, e.module, st);
    REQUIRE(exe.ok());
    std::map<std::string, RefTensor> feeds;
    for (int r = 0; r < 3; ++r) {
      const int64_t step = r == 2 ? (int64_t{5} << 32) + 7 : r;  // both counter words in play
      feeds["step"] = RefTensor{{DType::i64, Shape{}}, {double(step)}};
      st->find("step")->as<int64_t>()[0] = step;
      (*exe)->run();
      CHECK(e.module->take_error() == "");
      auto ref = interpret(cs[i].graph, feeds);
      REQUIRE(ref.ok());
      CHECK(read_buffer(*(*exe)->output("u")) == ref->outputs["u"].data);
      CHECK(read_buffer(*(*exe)->output("u2")) == ref->outputs["u2"].data);
      ElementCheck n = compare_elements(read_buffer(*(*exe)->output("n")), ref->outputs["n"].data,
                                        ref->outputs["n"].type, default_rtol(ref->outputs["n"].type.dtype));
      CHECK(n.mismatches == 0);
      CHECK(st->find("step")->as<int64_t>()[0] == step + 1);
    }
  }
}

namespace {

// Replaces every occurrence of `from` in a kernel source; the edit must apply.
std::function<void(std::string&)> replace_all(std::string from, std::string to, int* count) {
  return [from, to, count](std::string& s) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
      s.replace(p, from.size(), to);
      ++*count;
    }
  };
}

Cases gemm_and_reduction_cases() {
  Cases cs;
  cs.push_back(make_case("gemm", [](Builder& b) {
    Tensor a = b.input("a", {DType::f32, Shape{40, 50}});
    Tensor w = b.input("w", {DType::f32, Shape{50, 30}});
    b.output("c", matmul(a, w));
  }));
  cs.push_back(make_case("long narrow gemm", [](Builder& b) {  // one block per output
    Tensor a = b.input("a", {DType::f32, Shape{3, 3000}});
    Tensor w = b.input("w", {DType::f32, Shape{3000, 5}});
    b.output("c", relu(matmul(a, w)));
  }, [] {
    ParityOptions o;
    o.rtol = 1e-4;  // 3000-term f32 sums in another order than the reference's
    return o;
  }()));
  cs.push_back(make_case("row sums", [](Builder& b) {
    Tensor x = b.input("x", {DType::f32, Shape{6, 300}});
    b.output("s", sum(x, {1}));
    b.output("softmax", softmax(x));
  }));
  return cs;
}

}  // namespace

TEST_CASE("emulated CUDA: the unbroken kernels of the break tests match", "[cuda][emulated]") {
  check_emulated(gemm_and_reduction_cases());
}

TEST_CASE("emulated CUDA: a missing barrier is caught", "[cuda][emulated]") {
  Cases cs = gemm_and_reduction_cases();
  int edits = 0;
  // Without the barrier after the inner product, the next k-tile overwrites the shared
  // tiles while other threads still read them (k = 50 spans four tiles).
  EmulatedCases e = emulate_cases(cs, replace_all("KILN_SYNC();  // the tiles are refilled next", "", &edits));
  REQUIRE(edits == 1);
  CHECK_THAT(emulated_mismatch(cs[0], e.plans[0], e.module), Catch::Contains("output c"));
}

TEST_CASE("emulated CUDA: a barrier skipped by some threads is caught", "[cuda][emulated]") {
  Cases cs = gemm_and_reduction_cases();
  int edits = 0;
  EmulatedCases e = emulate_cases(cs, replace_all("KILN_SYNC();  // the tiles are refilled next",
                                                  "if (KILN_TID != 3) KILN_SYNC();", &edits));
  REQUIRE(edits == 1);
  // Thread 3 runs ahead to the next tile's barrier while the others wait at this one.
  const std::string m = emulated_mismatch(cs[0], e.plans[0], e.module);
  CHECK_THAT(m, Catch::Contains("emulator:"));
  CHECK_THAT(m, Catch::Contains("threads 0 and 3 wait at different KILN_SYNC()"));
}

TEST_CASE("emulated CUDA: a wrong index is caught", "[cuda][emulated]") {
  Cases cs = gemm_and_reduction_cases();
  int edits = 0;
  // The block reductions' threads stride by one element too many: terms are skipped.
  EmulatedCases e = emulate_cases(cs, replace_all("+= KILN_NTID)", "+= KILN_NTID + 1)", &edits));
  REQUIRE(edits >= 1);
  CHECK_THAT(emulated_mismatch(cs[2], e.plans[2], e.module), Catch::Contains("output s"));
  CHECK_THAT(emulated_mismatch(cs[1], e.plans[1], e.module), Catch::Contains("output c"));
}

TEST_CASE("emulated CUDA: an access outside a buffer is caught", "[cuda][emulated]") {
  Cases cs = gemm_and_reduction_cases();
  int edits = 0;
  // One row too many: row 6 of the [6, 300] input is read (and element 6 of s written).
  EmulatedCases e = emulate_cases(cs, replace_all("g < 6;", "g < 7;", &edits));
  REQUIRE(edits >= 1);
  const std::string m = emulated_mismatch(cs[2], e.plans[2], e.module);
  CHECK_THAT(m, Catch::Contains("emulator:"));
  CHECK_THAT(m, Catch::Contains("is outside its 1800 elements"));
}
