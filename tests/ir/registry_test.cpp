// Op registry tests: every OpKind has exactly one entry with the right name, names
// round-trip through parse_op, flags are consistent with arity, and every op that is
// neither a leaf nor marked kNoGrad has a gradient rule (DESIGN.md convention 6).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "ir/op.h"

namespace kiln {

TEST_CASE("registry: one entry per op, names round-trip", "[registry]") {
  register_all_ops();
  std::set<std::string> names;
  for (int k = 0; k < kNumOps; ++k) {
    OpKind kind = static_cast<OpKind>(k);
    const OpDef& def = op_def(kind);
    INFO("op " << op_name(kind));
    CHECK(def.kind == kind);
    CHECK(std::string(def.name) == op_name(kind));
    CHECK(names.insert(def.name).second);
    REQUIRE(parse_op(def.name).has_value());
    CHECK(*parse_op(def.name) == kind);
    CHECK(def.infer != nullptr);
    CHECK(def.reference != nullptr);
    CHECK(def.doc != nullptr);
    CHECK(std::string(def.doc).size() > 3);
  }
  CHECK(names.size() == static_cast<size_t>(kNumOps));
  CHECK_FALSE(parse_op("no_such_op").has_value());
  CHECK(std::string(op_name(OpKind::ReduceMax)) == "reduce_max");
}

TEST_CASE("registry: every differentiable op has a gradient rule", "[registry]") {
  int with_rule = 0;
  for (int k = 0; k < kNumOps; ++k) {
    const OpDef& def = op_def(static_cast<OpKind>(k));
    INFO("op " << def.name);
    if (def.has(kLeaf) || def.has(kNoGrad)) {
      CHECK(def.grad == nullptr);
      continue;
    }
    CHECK(def.grad != nullptr);
    ++with_rule;
  }
  CHECK(with_rule >= 25);
}

TEST_CASE("registry: flags are consistent", "[registry]") {
  for (int k = 0; k < kNumOps; ++k) {
    const OpDef& def = op_def(static_cast<OpKind>(k));
    INFO("op " << def.name);
    if (def.has(kLeaf)) {
      CHECK(def.min_inputs == 0);
      CHECK(def.max_inputs == 0);
    } else {
      CHECK(def.min_inputs >= 1);
    }
    if (def.has(kCommutative)) CHECK(def.min_inputs == 2);
    if (def.has(kStateful)) CHECK(def.has(kLeaf));
    if (def.has(kStateful)) CHECK(def.has(kBound));
    if (def.has(kBound)) CHECK(def.has(kLeaf));
    if (def.has(kRandom)) CHECK(def.has(kNoGrad));
  }
  CHECK(op_def(OpKind::Add).has(kElementwise));
  CHECK(op_def(OpKind::Add).has(kCommutative));
  CHECK_FALSE(op_def(OpKind::Sub).has(kCommutative));
  CHECK(op_def(OpKind::Mul).has(kPreservesZero));
  CHECK_FALSE(op_def(OpKind::Exp).has(kPreservesZero));
  CHECK(op_def(OpKind::ReduceSum).has(kReduction));
  CHECK(op_def(OpKind::Permute).has(kIndexing));
  CHECK(op_def(OpKind::RngNormal).has(kRandom));
  CHECK(op_def(OpKind::Parameter).has(kStateful));
  CHECK_FALSE(op_def(OpKind::Input).has(kStateful));
  CHECK(op_def(OpKind::Lt).has(kNoGrad));
  CHECK(op_def(OpKind::Concat).max_inputs == -1);
  // stop_gradient fuses like any elementwise op and blocks gradients by its rule (it
  // returns "no gradient"), not by kNoGrad, so autodiff and gradcheck still see it.
  CHECK(op_def(OpKind::StopGradient).has(kElementwise));
  CHECK_FALSE(op_def(OpKind::StopGradient).has(kNoGrad));
  CHECK(op_def(OpKind::StopGradient).grad != nullptr);
  // pad moves data, but its border is `value`, so pad(0) need not be 0.
  CHECK(op_def(OpKind::Pad).has(kIndexing));
  CHECK_FALSE(op_def(OpKind::Pad).has(kPreservesZero));
}

}  // namespace kiln
