// A kiln built with -DKILN_LLVM=OFF (codegen/no_llvm.cpp): compile(), compile_plan() and
// compile_aot() return one error naming the missing backend and what to use instead,
// nothing aborts, and the same graph still plans (fusion, memory, kernel IR), renders
// to CUDA C++ and runs in the reference interpreter. Built only in that configuration.
#include <catch2/catch.hpp>

#include <cmath>

#include "codegen/aot.h"
#include "codegen/compile.h"
#include "codegen/cuda/renderer.h"
#include "codegen/plan_program.h"
#include "frontend/ops.h"
#include "ir/interpreter.h"

using namespace kiln;

namespace {

Graph small_graph() {
  Graph g("no_llvm");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{4, 8}});
  Tensor w = b.input("w", {DType::f32, Shape{8, 3}});
  b.output("y", sum(tanh(matmul(x, w)), {1}));
  REQUIRE(b.ok());
  return g;
}

void check_refusal(const Error& e) {
  INFO(e.message());
  CHECK(e.message().find("built without the LLVM backend (-DKILN_LLVM=OFF)") != std::string::npos);
  CHECK(e.message().find("--device cuda") != std::string::npos);
  CHECK(e.message().find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("without LLVM: the CPU compile entry points refuse with one line", "[no_llvm]") {
  CHECK_FALSE(llvm_backend_built());
  const Graph g = small_graph();
  Expected<std::unique_ptr<Executable>> exe = compile(g, std::make_shared<StateStore>());
  REQUIRE_FALSE(exe.ok());
  check_refusal(exe.error());
  Expected<CompiledPlan> plan = compile_plan(g);
  REQUIRE_FALSE(plan.ok());
  check_refusal(plan.error());
  Expected<AotOutput> aot = compile_aot(ModelFile{small_graph(), {}, {}}, AotOptions{});
  REQUIRE_FALSE(aot.ok());
  check_refusal(aot.error());
  Status link = link_shared_library("in.o", "out.so");
  REQUIRE_FALSE(link.ok());
  check_refusal(link.error());
}

TEST_CASE("without LLVM: planning, the CUDA renderer and the interpreter still work", "[no_llvm]") {
  const Graph g = small_graph();
  Expected<PlannedProgram> p = plan_program(g, CompileOptions{});
  INFO((p.ok() ? std::string() : p.error().message()));
  REQUIRE(p.ok());
  CHECK_FALSE(p->plan.launches.empty());
  Expected<cudagen::CudaProgram> cuda = cudagen::render_cuda(p->lowered.prog);
  INFO((cuda.ok() ? std::string() : cuda.error().message()));
  REQUIRE(cuda.ok());
  REQUIRE_FALSE(cuda->launches.empty());
  CHECK(cuda->source.find("KILN_GLOBAL void " + cuda->launches[0].kernel) != std::string::npos);

  RefTensor x{{DType::f32, Shape{4, 8}}, std::vector<double>(32, 0.5)};
  RefTensor w{{DType::f32, Shape{8, 3}}, std::vector<double>(24, 0.25)};
  Expected<InterpreterResult> r = interpret(g, {{"x", x}, {"w", w}});
  REQUIRE(r.ok());
  const std::vector<double>& y = r->outputs.at("y").data;
  REQUIRE(y.size() == 4);
  CHECK(y[0] == Approx(3 * std::tanh(1.0)).epsilon(1e-6));
}
