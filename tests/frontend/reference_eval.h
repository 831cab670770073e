// Reference-interpreter helpers shared by the layer tests: run a graph (failing the test
// with the interpreter's message) and compare values element by element.
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "ir/interpreter.h"

namespace kiln::test {

inline InterpreterResult run_reference(const Graph& g,
                                       const std::map<std::string, RefTensor>& feeds) {
  Expected<InterpreterResult> r = interpret(g, feeds);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  return *r;
}

inline void check_close(const std::vector<double>& got, const std::vector<double>& want,
                        double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

}  // namespace kiln::test
