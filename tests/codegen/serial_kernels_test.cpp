// Serial groups (codegen/serial_kernels.h): the kernels that run on one thread anyway --
// global-norm clipping's sums of squares, sqrt, min and scale, an L2 penalty's sum(w*w)
// and the loss it joins, updates too small to split -- are one kernel. Checked: the
// group forms (and the kernel count drops by what it merges, so a regression fails
// here), fused and unfused steps match the reference interpreter and each other over
// several SGD steps, and the fused step gives the same bits on 1, 2 and 3 threads.
#include <catch2/catch.hpp>

#include <cstring>

#include "codegen/llvm/renderer.h"
#include "codegen/lower.h"
#include "codegen/serial_kernels.h"
#include "frontend/losses.h"
#include "harness.h"
#include "passes/simplify.h"
#include "passes/training.h"
#include "runtime/thread_pool.h"

using namespace kiln;

namespace {

constexpr int64_t kBatch = 8, kIn = 64, kHidden = 256, kClasses = 10, kWdInputs = 200;

void train(Graph& g, const OptimizerConfig& c) {
  REQUIRE(SimplifyPass().run(g).ok());
  REQUIRE(TrainingStepPass("loss", c).run(g).ok());
  REQUIRE(SimplifyPass().run(g).ok());
}

// A 3-layer MLP step with global-norm clipping: six gradients, the 256x256 one above
// the parallel threshold, so the step mixes serial and parallel kernels.
Graph clipped_mlp_step() {
  Graph g("clipped_mlp");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{kBatch, kIn}});
  Tensor y = b.input("y", {DType::i32, Shape{kBatch}});
  Tensor h = x;
  int64_t width = kIn;
  int layer = 0;
  for (int64_t out : {kHidden, kHidden, kClasses}) {
    const std::string n = "l" + std::to_string(layer++);
    Tensor w = b.parameter(n + ".w", {DType::f32, Shape{width, out}}, InitSpec::uniform(-0.2, 0.2));
    Tensor bias = b.parameter(n + ".b", {DType::f32, Shape{out}}, InitSpec::uniform(-0.1, 0.1));
    h = add(matmul(h, w), bias);
    if (out != kClasses) h = relu(h);
    width = out;
  }
  b.output("loss", softmax_cross_entropy(h, y));
  REQUIRE(b.ok());
  OptimizerConfig c;
  c.lr = 0.1;
  c.clip_norm = 0.05;  // small: the clip is active in every step
  train(g, c);
  return g;
}

// d2l 4.5's weight decay: squared loss plus lambda * l2_penalty(w).
Graph l2_penalty_step() {
  Graph g("l2_penalty");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{kBatch, kWdInputs}});
  Tensor y = b.input("y", {DType::f32, Shape{kBatch, 1}});
  Tensor w = b.parameter("w", {DType::f32, Shape{kWdInputs, 1}}, InitSpec::normal(0.0, 1.0));
  Tensor bias = b.parameter("b", {DType::f32, Shape{1}}, InitSpec::zeros());
  b.output("loss", mse(add(matmul(x, w), bias), y, /*half=*/true) + l2_penalty(w) * 3.0);
  REQUIRE(b.ok());
  OptimizerConfig c;
  c.lr = 0.003;
  train(g, c);
  return g;
}

// Reductions to one element outside a group, and the groups of one row.
struct Shape1 {
  int loose_scalar_reductions = 0, groups = 0, grouped_reductions = 0, kernels = 0;
};
Shape1 shape_of(const LoweredProgram& lp) {
  Shape1 s;
  s.kernels = static_cast<int>(lp.prog.kernels.size());
  for (const kir::Kernel& k : lp.prog.kernels) {
    if (const kir::LoopKernel* l = k.loop())
      s.loose_scalar_reductions += l->reduce != kir::ReduceOp::None &&
                                   lp.prog.buffers[l->out_buffer].type.shape.numel() == 1;
    if (const kir::RowKernel* r = k.row_kernel(); r && r->rows == 1) {
      ++s.groups;
      for (const kir::LoopKernel& l : r->loops) s.grouped_reductions += l.reduce != kir::ReduceOp::None;
    }
  }
  return s;
}

test::ParityOptions sgd_parity(bool fusion) {
  test::ParityOptions o;
  o.runs = 4;
  o.fusion = fusion;
  o.gens["lr"] = [](std::mt19937_64&, int64_t) { return 0.1; };
  o.gens["y"] = [](std::mt19937_64& r, int64_t) {
    return double(std::uniform_int_distribution<int>(0, int(kClasses) - 1)(r));
  };
  return o;
}

// Every parameter and output after `steps` runs of g compiled with `fusion` on `threads` threads, from
// the same initial values and inputs, as raw bytes.
std::map<std::string, std::vector<unsigned char>> run_steps(const Graph& g, bool fusion,
                                                            int threads, int steps) {
  const int before = num_threads();
  set_num_threads(threads);
  CompileOptions co;
  co.fusion = fusion;
  co.init_seed = 7;
  Expected<std::unique_ptr<Executable>> exe = compile(g, std::make_shared<StateStore>(), co);
  REQUIRE(exe.ok());
  std::mt19937_64 rng(3);
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Input) continue;
    std::vector<double> v;
    for (int64_t i = 0; i < n.type.shape.numel(); ++i)
      v.push_back(n.dtype() == DType::i32 ? double(rng() % kClasses)
                                          : std::uniform_real_distribution<double>(-2, 2)(rng));
    test::write_buffer(*(*exe)->input(n.name), v);
  }
  for (int s = 0; s < steps; ++s) (*exe)->run();
  std::map<std::string, std::vector<unsigned char>> out;
  auto keep = [&](const std::string& name, const HostBuffer* b) {
    REQUIRE(b != nullptr);
    const auto* p = static_cast<const unsigned char*>(b->data());
    out[name].assign(p, p + b->bytes());
  };
  for (const Node& n : g.nodes())
    if (n.op == OpKind::Parameter) keep(n.name, (*exe)->state_buffer(n.name));
  for (const Output& o : g.outputs()) keep("output " + o.name, (*exe)->output(o.name));
  set_num_threads(before);
  return out;
}

void check_same_bits_on_1_2_3_threads(const Graph& g) {
  const auto one = run_steps(g, true, 1, 5);
  for (int t : {2, 3}) {
    INFO("threads " << t);
    const auto other = run_steps(g, true, t, 5);
    REQUIRE(other.size() == one.size());
    for (const auto& [name, bytes] : one) {
      INFO("state " << name);
      CHECK(other.at(name) == bytes);
    }
  }
}

// Fused and unfused parameters and outputs after five steps, element by element.
void check_fused_matches_unfused(const Graph& g, double rtol) {
  const auto fused = run_steps(g, true, 2, 5), unfused = run_steps(g, false, 2, 5);
  for (const auto& [name, bytes] : fused) {
    INFO("state " << name);
    const std::vector<unsigned char>& other = unfused.at(name);
    REQUIRE(other.size() == bytes.size());
    double worst = 0;
    for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
      float a, b;
      std::memcpy(&a, &bytes[i], 4);
      std::memcpy(&b, &other[i], 4);
      worst = std::max(worst, std::fabs(double(a) - b) / std::max(1.0, std::fabs(double(b))));
    }
    CHECK(worst <= rtol);
  }
}

}  // namespace

TEST_CASE("the serial work threshold is the renderer's parallel threshold", "[codegen][serial]") {
  CHECK(llvmgen::RenderOptions{}.parallel_threshold == kSerialWork);
  kir::LoopKernel scalar_sum;
  scalar_sum.dims = {1 << 20};
  scalar_sum.reduced = {true};
  scalar_sum.reduce = kir::ReduceOp::Sum;
  CHECK(runs_serially(scalar_sum));  // one accumulator, however long
  kir::LoopKernel column_sums = scalar_sum;
  column_sums.dims = {1024, 64};
  column_sums.reduced = {true, false};
  CHECK_FALSE(runs_serially(column_sums));
  kir::LoopKernel small;
  small.dims = {28};
  small.reduced = {false};
  CHECK(runs_serially(small));
}

TEST_CASE("global-norm clipping: the sums of squares and the scale are one kernel",
          "[codegen][serial]") {
  Graph g = clipped_mlp_step();
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  INFO(kir::print_program(lp->prog));
  LowerOptions ungrouped;
  ungrouped.serial_groups = false;
  Expected<LoweredProgram> before = lower_graph(g, ungrouped);
  REQUIRE(before.ok());
  const Shape1 s = shape_of(*lp), b = shape_of(*before);
  // Six sums of squares (the loss's mean too) were a kernel each; now none is alone.
  CHECK(b.loose_scalar_reductions >= 6);
  CHECK(s.loose_scalar_reductions == 0);
  CHECK(s.grouped_reductions >= 6);
  // The clip's six reductions and its scale are one kernel: at least six fewer.
  CHECK(s.kernels <= b.kernels - 6);
  // The group holding the 256x256 gradient's sum also computes the clip scale (a loop
  // without reduction that reads the sums).
  bool scale_with_sums = false;
  for (const kir::Kernel& k : lp->prog.kernels) {
    const kir::RowKernel* r = k.row_kernel();
    if (!r || r->rows != 1) continue;
    int sums = 0, scalar_loops = 0;
    for (const kir::LoopKernel& l : r->loops) {
      sums += l.reduce == kir::ReduceOp::Sum;
      scalar_loops += l.reduce == kir::ReduceOp::None &&
                      lp->prog.buffers[l.out_buffer].type.shape.numel() == 1;
    }
    scale_with_sums |= sums >= 6 && scalar_loops >= 1;
  }
  CHECK(scale_with_sums);

  LowerOptions off;
  off.fusion = false;
  Expected<LoweredProgram> unfused = lower_graph(g, off);
  REQUIRE(unfused.ok());
  CHECK(shape_of(*unfused).groups == 0);  // --no-fusion: one kernel per op

  CHECK(test::check_parity(g, sgd_parity(true)) < 1e-5);
  CHECK(test::check_parity(g, sgd_parity(false)) < 1e-5);
  check_fused_matches_unfused(g, 1e-5);
  check_same_bits_on_1_2_3_threads(g);
}

TEST_CASE("an L2-penalty step: the penalty, the loss and the small updates are one kernel",
          "[codegen][serial]") {
  Graph g = l2_penalty_step();
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  INFO(kir::print_program(lp->prog));
  LowerOptions ungrouped;
  ungrouped.serial_groups = false;
  Expected<LoweredProgram> before = lower_graph(g, ungrouped);
  REQUIRE(before.ok());
  const Shape1 s = shape_of(*lp), b = shape_of(*before);
  // sum(w*w) (ahead of the GEMM whose output the loss's mean reduces: the group sinks
  // past it), the mean, the loss, the bias gradient's sum and the bias update.
  CHECK(b.loose_scalar_reductions >= 3);
  CHECK(s.loose_scalar_reductions == 0);
  CHECK(s.groups == 1);
  CHECK(s.kernels <= b.kernels - 4);
  // Only the GEMMs and the weight's copy stay outside.
  int outside = 0;
  for (const kir::Kernel& k : lp->prog.kernels) outside += !k.row_kernel() && !k.contraction();
  CHECK(outside <= 1);

  test::ParityOptions o = sgd_parity(true);
  o.gens["lr"] = [](std::mt19937_64&, int64_t) { return 0.003; };
  o.gens.erase("y");
  CHECK(test::check_parity(g, o) < 1e-5);
  o.fusion = false;
  CHECK(test::check_parity(g, o) < 1e-5);
  check_fused_matches_unfused(g, 1e-5);
  check_same_bits_on_1_2_3_threads(g);
}

TEST_CASE("a serial kernel that needs a parallel kernel's result waits for it",
          "[codegen][serial]") {
  // s1 = sum(x*x) can sink past the big elementwise loop; s2 = sum(big) cannot join
  // ahead of it, and the group's order keeps every member after what it reads.
  Graph g("serial_order");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{300}});
  Tensor m = b.input("m", {DType::f32, Shape{256, 256}});
  Tensor s1 = sum(x * x);
  Tensor big = exp(m) * broadcast_to(s1, Shape{256, 256});
  Tensor s2 = sum(big * big);
  b.output("big", big);
  b.output("r", sqrt(s1 + s2) + s1);
  REQUIRE(b.ok());
  REQUIRE(SimplifyPass().run(g).ok());
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  INFO(kir::print_program(lp->prog));
  test::ParityOptions o;
  o.rtol = 1e-4;  // sums of 65536 exp(2)^2-sized terms in f32
  o.gens["m"] = [](std::mt19937_64& r, int64_t) { return std::uniform_real_distribution<double>(-1, 0)(r); };
  CHECK(test::check_parity(g, o) <= o.rtol);
  check_same_bits_on_1_2_3_threads(g);
}
