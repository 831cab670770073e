#include "codegen/packed_operands.h"

#include <map>
#include <tuple>
#include <vector>

#include "runtime/abi.h"

namespace kiln {

int share_packed_operands(kir::KernelProgram& prog) {
  using Key = std::tuple<int, bool, int64_t, int64_t>;  // b, trans_b, k, n
  std::map<Key, std::vector<int>> users;                // kernel indices, in order
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const kir::ContractionKernel* c = prog.kernels[i].contraction();
    if (!c || c->op != kir::ContractionOp::Matmul || c->dtype != DType::f32 || c->batch != 1 ||
        c->k == 0 || c->n == 0 || c->packed_b >= 0)
      continue;
    users[{c->b, c->trans_b, c->k, c->n}].push_back(static_cast<int>(i));
  }
  // A kernel writing b, or a buffer placed inside b, between the first and last user.
  auto written_between = [&](int b, int first, int last) {
    for (int i = first + 1; i < last; ++i)
      for (int o : prog.kernels[i].outputs())
        if (o == b || prog.buffers[o].alias_of == b) return true;
    return false;
  };
  int groups = 0;
  for (const auto& [key, ks] : users) {
    const auto& [b, trans_b, k, n] = key;
    if (static_cast<int>(ks.size()) < kMinSharedPackedB || prog.buffers[b].alias_of >= 0 ||
        written_between(b, ks.front(), ks.back()))
      continue;
    const int scratch =
        prog.add_buffer(kir::BufferKind::Arena, TensorType{DType::f32, Shape{gemm_packed_b_floats(k, n)}},
                        "packed(b" + std::to_string(b) + (trans_b ? "^T)" : ")"), -1);
    for (int i : ks) {
      kir::ContractionKernel& c = std::get<kir::ContractionKernel>(prog.kernels[i].body);
      c.packed_b = scratch;
      c.pack_b = i == ks.front();
    }
    ++groups;
  }
  return groups;
}

}  // namespace kiln
