// One full training step of zoo models on the CUDA emulator against the reference
// interpreter (issue 11, "Done when": mlp, lenet and char_gru): the step graph as
// `kiln train` builds it (forward, loss, gradients, SGD update in place), planned and
// rendered to CUDA, run twice so the updated parameters feed the second step.
#include <catch2/catch.hpp>

#include "emulated_harness.h"

using namespace kiln;
using namespace kiln::test;

namespace {

Gen uniform(double lo, double hi) {
  return [lo, hi](std::mt19937_64& r, int64_t) { return std::uniform_real_distribution<double>(lo, hi)(r); };
}
Gen below(int64_t n) {
  return [n](std::mt19937_64& r, int64_t) { return static_cast<double>(r() % n); };
}

// The step of `model` with data of its kind: images in [0, 1) or token ids, labels in
// range, small weights, lr 0.1. Every step intermediate is rounded to f32 in memory and
// sums run in another order than the reference's double sums: rtol 1e-4, as the JIT's
// step tests.
ParityCase zoo_case(const std::string& model, int64_t classes, bool tokens) {
  ParityCase c{model, zoo_step_graph(model, 4), {}};
  c.opts.rtol = 1e-4;
  c.opts.runs = 2;
  for (const Node& n : c.graph.nodes()) {
    if (!n.def().has(kBound) || n.dtype() != DType::f32) continue;
    c.opts.gens[n.name] = uniform(-0.2, 0.2);
  }
  c.opts.gens["x"] = tokens ? below(classes) : uniform(0, 1);
  c.opts.gens["y"] = below(classes);
  c.opts.gens["lr"] = [](std::mt19937_64&, int64_t) { return 0.1; };
  return c;
}

}  // namespace

TEST_CASE("emulated CUDA: training steps of mlp lenet and char_gru match the reference", "[cuda][emulated][zoo]") {
  Cases cs;
  cs.push_back(zoo_case("mlp", 10, false));
  cs.push_back(zoo_case("lenet", 10, false));
  cs.push_back(zoo_case("char_gru", 28, true));
  check_emulated(cs);
}
