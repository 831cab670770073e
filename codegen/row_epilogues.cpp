#include "codegen/row_epilogues.h"

#include "codegen/row_locality.h"

namespace kiln {

int merge_row_epilogues(kir::KernelProgram& prog) {
  int merged = 0;
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    kir::ContractionKernel* g = std::get_if<kir::ContractionKernel>(&prog.kernels[i].body);
    if (!g || g->op != kir::ContractionOp::Matmul || g->dtype != DType::f32 || g->batch != 1 ||
        g->m <= 0 || g->n <= 0 || g->packed_b < 0 || !g->row_loops.empty())
      continue;
    RowGroup group(prog, *g);
    std::vector<kir::LoopKernel> members;
    size_t j = i + 1;
    for (; j < prog.kernels.size(); ++j) {
      const kir::LoopKernel* l = prog.kernels[j].loop();
      if (!l) break;
      kir::LoopKernel rows = *l;
      if (!as_rows(prog.pool, rows, g->m, /*allow_reductions=*/false) || !group.try_add(rows)) break;
      members.push_back(std::move(rows));
    }
    if (members.empty()) continue;
    merged += static_cast<int>(members.size());
    g = &std::get<kir::ContractionKernel>(prog.kernels[i].body);
    g->row_loops = std::move(members);
    prog.kernels[i].name += "+rows";
    prog.kernels.erase(prog.kernels.begin() + static_cast<long>(i + 1),
                       prog.kernels.begin() + static_cast<long>(j));
  }
  return merged;
}

}  // namespace kiln
