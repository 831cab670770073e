// Helpers for op tests at the IR level: build a function of fresh inputs and report its
// shape or its first error, or evaluate it with the reference interpreter.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/gradcheck.h"
#include "ir/printer.h"
#include "ir/serialize.h"
#include "ir/verifier.h"

namespace kiln::optest {

using Build = std::function<Tensor(std::vector<Tensor>&)>;

inline TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }

inline std::vector<double> ramp(int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

// Builds f over fresh inputs of the given types: the result's shape, or the first error.
struct Built {
  Shape shape;
  std::string error;
};
inline Built build(const std::vector<TensorType>& ins, const Build& f) {
  Graph g;
  Builder b(g);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < ins.size(); ++i) xs.push_back(b.input("in" + std::to_string(i), ins[i]));
  Tensor y = f(xs);
  if (!b.ok()) return {{}, b.status().error().message()};
  return {y.shape(), ""};
}

// Evaluates f on the given values with the reference interpreter.
inline std::vector<double> eval(const std::vector<RefTensor>& ins, const Build& f) {
  Graph g;
  Builder b(g);
  std::vector<Tensor> xs;
  std::map<std::string, RefTensor> feeds;
  for (size_t i = 0; i < ins.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    xs.push_back(b.input(name, ins[i].type));
    feeds[name] = ins[i];
  }
  Tensor y = f(xs);
  INFO((b.ok() ? std::string() : b.status().error().message()));
  REQUIRE(b.ok());
  b.output("out", y);
  return test::run_output(g, feeds, "out").data;
}

// g survives the text printer/parser and the flatbuffers writer/reader unchanged.
inline void check_round_trips(const Graph& g, const std::string& file_name) {
  REQUIRE(verify(g).ok());
  const std::string text = print_graph(g);
  Expected<Graph> parsed = parse_graph(text);
  INFO(text);
  INFO((parsed.ok() ? std::string() : parsed.error().message()));
  REQUIRE(parsed.ok());
  CHECK(print_graph(*parsed) == text);
  CHECK(verify(*parsed).ok());

  Expected<Graph> loaded = deserialize_graph(serialize_graph(g), file_name);
  INFO((loaded.ok() ? std::string() : loaded.error().message()));
  REQUIRE(loaded.ok());
  CHECK(print_graph(*loaded) == text);
  for (int i = 0; i < g.size(); ++i) CHECK(loaded->node(i).attrs == g.node(i).attrs);
}

}  // namespace kiln::optest
