// A parity case: a named graph and the options it is checked with (harness.h). Families
// of cases are functions returning them, so the op-coverage test can build every family
// without compiling it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness.h"

namespace kiln::test {

struct ParityCase {
  std::string name;
  Graph graph;
  ParityOptions opts;
};
using Cases = std::vector<ParityCase>;

// Builds one case; `build` adds the graph's outputs (and state updates).
inline ParityCase make_case(std::string name, const std::function<void(Builder&)>& build,
                            ParityOptions o = {}) {
  Graph g(name);
  Builder b(g);
  build(b);
  INFO("case " << name << ": " << (b.ok() ? std::string() : b.status().error().message()));
  REQUIRE(b.ok());
  return {std::move(name), std::move(g), std::move(o)};
}

inline void run_all(const Cases& cases) {
  for (const ParityCase& c : cases) {
    INFO("case " << c.name);
    check_parity(c.graph, c.opts);
  }
}

}  // namespace kiln::test
