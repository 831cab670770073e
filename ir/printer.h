// Stable textual form of a graph (diffable, used in tests) and its parser.
//
//   graph mlp {
//     %0 = input() {name="x"} : f32[2,3]
//     %1 = parameter() {init="zeros", name="w"} : f32[3,4]
//     %2 = matmul(%0, %1) : f32[2,4]  # model.cpp:12
//     output "y" = %2
//     update %1 = %5
//   }
//
// Attributes print sorted by name; the leaf binding name is the `name` pseudo-attribute.
// The `# file:line` comment is optional and ignored by the parser.
#pragma once

#include <string>
#include <string_view>

#include "ir/graph.h"

namespace kiln {

struct PrintOptions {
  bool locations = false;  // append "# file:line"
};

std::string print_graph(const Graph& g, const PrintOptions& opts = {});
// Parses the printed form; errors give line:column and what was expected.
Expected<Graph> parse_graph(std::string_view text);
// Graphviz export.
std::string graph_to_dot(const Graph& g);

}  // namespace kiln
