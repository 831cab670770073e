// Pass tests on textual graphs (DESIGN.md convention 3): text in, the pass, text out.
#pragma once

#include <catch2/catch.hpp>

#include <string>

#include "ir/printer.h"
#include "passes/pass.h"

namespace kiln::test {

// The printed graph after running `pass` on the graph `text` parses to.
inline std::string run_pass_on_text(Pass& pass, const std::string& text) {
  Expected<Graph> g = parse_graph(text);
  REQUIRE(g.ok());
  Expected<bool> changed = pass.run(*g);
  REQUIRE(changed.ok());
  return print_graph(*g);
}

// `text` as the printer writes it, to compare with run_pass_on_text.
inline std::string canonical(const std::string& text) {
  Expected<Graph> g = parse_graph(text);
  REQUIRE(g.ok());
  return print_graph(*g);
}

}  // namespace kiln::test
