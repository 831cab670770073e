// Reference interpreter: runs any graph node by node with each op's reference
// implementation. It is slow and simple on purpose: the oracle for codegen tests and
// gradient checks, and the evaluator used by constant folding.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

struct InterpreterResult {
  std::map<std::string, RefTensor> outputs;  // by output name
  std::map<std::string, RefTensor> states;   // new values of updated states, by leaf name
  std::vector<RefTensor> values;             // every node's value, by NodeId
};

// `feeds` binds inputs, parameters and states by leaf name. Parameters/states that are
// not fed take their initial values (see frontend/init.h) drawn with `init_seed`.
// Errors: a missing input, a fed tensor of the wrong type, a reference op failing
// (e.g. gather index out of range), each naming the node.
Expected<InterpreterResult> interpret(const Graph& g, const std::map<std::string, RefTensor>& feeds,
                                      uint64_t init_seed = 0);

// Evaluates one node given its input values (used by constant folding).
Expected<RefTensor> evaluate_node(const Node& node, std::span<const RefTensor* const> inputs);

}  // namespace kiln
