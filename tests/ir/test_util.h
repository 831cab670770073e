// Small helpers shared by the ir/ tests: building RefTensors, deterministic random data,
// and running a graph through the reference interpreter.
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "frontend/ops.h"
#include "ir/interpreter.h"

namespace kiln::test {

inline RefTensor ref(TensorType t, std::vector<double> data) {
  return RefTensor{std::move(t), std::move(data)};
}

inline std::vector<double> uniform_data(std::mt19937_64& rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

// Runs g and returns output `name`; fails the test when interpretation fails.
inline RefTensor run_output(const Graph& g, const std::map<std::string, RefTensor>& feeds,
                            const std::string& name) {
  Expected<InterpreterResult> r = interpret(g, feeds);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  auto it = r->outputs.find(name);
  REQUIRE(it != r->outputs.end());
  return it->second;
}

// Builds a one-op graph over fresh inputs of the given types and evaluates it.
inline Expected<RefTensor> eval_op(OpKind op, const std::vector<RefTensor>& ins,
                                   AttrMap attrs = {}) {
  Graph g;
  std::vector<Value> vs;
  std::map<std::string, RefTensor> feeds;
  for (size_t i = 0; i < ins.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    Value v = KILN_TRY(g.add_leaf(OpKind::Input, ins[i].type, {}, {}, name));
    vs.push_back(v);
    feeds[name] = ins[i];
  }
  Value out = KILN_TRY(g.add(op, vs, std::move(attrs)));
  g.add_output("out", out);
  InterpreterResult r = KILN_TRY(interpret(g, feeds));
  return r.outputs["out"];
}

}  // namespace kiln::test
