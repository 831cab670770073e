// The op registry: collects the OpDefs from every family file (ir/ops/*.cpp) once,
// thread-safely (function-local static), and checks that every OpKind has exactly one
// entry whose name matches the KILN_OPS table. Lookup by kind is an array index.
#include <array>
#include <string>
#include <vector>

#include "ir/op.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

constexpr std::array<const char*, kNumOps> kOpNames = {
#define KILN_OP_NAME(e, s) s,
    KILN_OPS(KILN_OP_NAME)
#undef KILN_OP_NAME
};

struct Registry {
  std::vector<OpDef> defs;  // indexed by OpKind

  Registry() {
    std::vector<OpDef> all;
    register_leaf_ops(all);
    register_elementwise_ops(all);
    register_shape_ops(all);
    register_reduce_ops(all);
    register_matmul_ops(all);
    register_indexing_ops(all);
    register_conv_ops(all);
    register_pool_ops(all);
    std::vector<int> seen(kNumOps, 0);
    defs.resize(kNumOps);
    for (OpDef& d : all) {
      int k = static_cast<int>(d.kind);
      KILN_CHECK(k >= 0 && k < kNumOps, "op kind out of range");
      KILN_CHECK(seen[k] == 0, std::string("op registered twice: ") + kOpNames[k]);
      KILN_CHECK(std::string(d.name) == kOpNames[k],
                 std::string("op name mismatch: ") + d.name + " vs " + kOpNames[k]);
      KILN_CHECK(d.infer != nullptr, std::string("op without shape rule: ") + d.name);
      KILN_CHECK(d.reference != nullptr, std::string("op without reference: ") + d.name);
      seen[k] = 1;
      defs[k] = std::move(d);
    }
    for (int k = 0; k < kNumOps; ++k)
      KILN_CHECK(seen[k] == 1, std::string("op not registered: ") + kOpNames[k]);
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

void register_all_ops() { (void)registry(); }

const OpDef& op_def(OpKind kind) {
  int k = static_cast<int>(kind);
  KILN_CHECK(k >= 0 && k < kNumOps, "op_def: bad op kind " + std::to_string(k));
  return registry().defs[k];
}

const char* op_name(OpKind kind) {
  int k = static_cast<int>(kind);
  if (k < 0 || k >= kNumOps) return "?";
  return kOpNames[k];
}

std::optional<OpKind> parse_op(std::string_view name) {
  for (int k = 0; k < kNumOps; ++k)
    if (name == kOpNames[k]) return static_cast<OpKind>(k);
  return std::nullopt;
}

}  // namespace kiln
