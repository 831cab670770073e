// A small exported-looking model file for the AOT and CUDA module tests: x [4, 12] ->
// relu(x W1 + b1) W2 + b2 -> pred [4, 5], random weights standing in for trained ones,
// its input, and its prediction by the reference interpreter (the oracle in both builds).
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "frontend/nn.h"
#include "ir/interpreter.h"
#include "ir/serialize.h"

namespace kiln::test {

inline ModelFile small_model() {
  ModelFile m;
  m.graph = Graph("small.predict");
  Builder b(m.graph);
  nn::Context ctx{b, /*training=*/false};
  nn::Sequential net;
  net.emplace<nn::Linear>(12, 16, nn::Init::normal(0.0, 0.1), true, "small.hidden");
  net.emplace<nn::Activation>(nn::Activation::ReLU);
  net.emplace<nn::Linear>(16, 5, nn::Init::normal(0.0, 0.1), true, "small.out");
  b.output("pred", net(ctx, b.input("x", {DType::f32, Shape{4, 12}})));
  REQUIRE(b.ok());
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0, 1);
  for (const Value v : m.graph.parameters()) {
    const Node& n = m.graph.node(v.id);
    std::vector<float> values(static_cast<size_t>(n.type.shape.numel()));
    for (float& x : values) x = d(rng);
    const auto* p = reinterpret_cast<const uint8_t*>(values.data());
    m.parameters.push_back({n.name, n.type, std::vector<uint8_t>(p, p + values.size() * 4)});
  }
  m.metadata = {{"input.scale", "1"}};
  return m;
}

inline std::vector<float> small_input() {
  std::vector<float> x(48);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * float(i));
  return x;
}

inline std::vector<float> reference_prediction(const ModelFile& m) {
  std::map<std::string, RefTensor> feeds;
  for (const NamedTensor& t : m.parameters) {
    RefTensor r{t.type, std::vector<double>(t.bytes.size() / 4)};
    const auto* f = reinterpret_cast<const float*>(t.bytes.data());
    for (size_t i = 0; i < r.data.size(); ++i) r.data[i] = f[i];
    feeds[t.name] = std::move(r);
  }
  const std::vector<float> x = small_input();
  feeds["x"] = RefTensor{{DType::f32, Shape{4, 12}}, std::vector<double>(x.begin(), x.end())};
  Expected<InterpreterResult> r = interpret(m.graph, feeds);
  REQUIRE(r.ok());
  const std::vector<double>& p = r->outputs.at("pred").data;
  return {p.begin(), p.end()};
}

}  // namespace kiln::test
