// A B operand shared by several f32 GEMMs (a recurrent layer's W_hh^T, once per time step)
// is packed once, by the first GEMM, into one scratch buffer that the others read
// (codegen/packed_operands.h); results match the reference interpreter; a B written
// between its GEMMs, or used by too few, is packed by each GEMM as before.
#include <catch2/catch.hpp>

#include "codegen/lower.h"
#include "codegen/packed_operands.h"
#include "harness.h"

using namespace kiln;

namespace {

// The matmul kernels of g's lowered program.
std::vector<kir::ContractionKernel> matmuls(const Graph& g) {
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  std::vector<kir::ContractionKernel> out;
  for (const kir::Kernel& k : lp->prog.kernels)
    if (const kir::ContractionKernel* c = k.contraction()) out.push_back(*c);
  return out;
}

kir::Kernel gemm(int a, int b, int out) {
  kir::ContractionKernel c;
  c.a = a;
  c.b = b;
  c.out = out;
  c.m = 2;
  c.n = 3;
  c.k = 3;
  kir::Kernel k;
  k.body = c;
  return k;
}

kir::Kernel overwrite(kir::KernelProgram& prog, int buffer) {
  kir::LoopKernel l;
  l.dims = {9};
  l.reduced = {false};
  l.out_buffer = buffer;
  l.value = prog.pool.constant(DType::f32, 0.0);
  l.out_offset = prog.pool.loop_index(0, 9);
  kir::Kernel k;
  k.body = l;
  return k;
}

}  // namespace

TEST_CASE("a weight multiplied at every time step is packed once", "[codegen][gemm]") {
  for (int steps : {2, 8}) {
    INFO("steps " << steps);
    Graph g("steps");
    Builder b(g);
    Tensor w = b.parameter("w", {DType::f32, Shape{24, 24}}, InitSpec::uniform(-0.2, 0.2));
    Tensor h = b.input("h0", {DType::f32, Shape{5, 24}});
    for (int t = 0; t < steps; ++t) h = tanh(matmul(h, transpose(w)) * 0.1 + 0.5) * 0.5 - h;
    b.output("h", h);
    REQUIRE(b.status().ok());
    std::vector<kir::ContractionKernel> ms = matmuls(g);
    REQUIRE(static_cast<int>(ms.size()) == steps);
    const bool shared = steps >= kMinSharedPackedB;
    for (size_t i = 0; i < ms.size(); ++i) {
      CHECK((ms[i].packed_b >= 0) == shared);
      CHECK(ms[i].packed_b == ms[0].packed_b);
      CHECK(ms[i].pack_b == (shared && i == 0));
      CHECK(ms[i].trans_b);  // W read in place, transposed while packing
    }
    CHECK(test::check_parity(g) < 1e-5);
  }
}

TEST_CASE("a B written between its GEMMs is not shared", "[codegen][gemm]") {
  for (bool written : {false, true}) {
    INFO("written " << written);
    kir::KernelProgram prog;
    const TensorType t{DType::f32, Shape{9}};
    const int a = prog.add_buffer(kir::BufferKind::Input, t, "a", -1);
    const int b = prog.add_buffer(kir::BufferKind::Arena, t, "b", -1);
    std::vector<int> outs;
    for (int i = 0; i < 4; ++i)
      outs.push_back(prog.add_buffer(kir::BufferKind::Arena, t, "c" + std::to_string(i), -1));
    prog.kernels.push_back(gemm(a, b, outs[0]));
    prog.kernels.push_back(gemm(a, b, outs[1]));
    if (written) prog.kernels.push_back(overwrite(prog, b));
    prog.kernels.push_back(gemm(a, b, outs[2]));
    prog.kernels.push_back(gemm(a, b, outs[3]));
    CHECK(share_packed_operands(prog) == (written ? 0 : 1));
  }
}
