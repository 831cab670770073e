#include "codegen/row_kernels.h"

#include <set>
#include <string>

#include "codegen/row_locality.h"

namespace kiln {

namespace {

// Fewer rows than this split poorly over threads: a row kernel runs its rows in parallel
// only, while a loop kernel of the same elements may split its inner axes too.
constexpr int64_t kMinRows = 16;
constexpr size_t kWindow = 32;

// The rows of a loop kernel that can start a group: its axis 0, when not reduced.
int64_t rows_of(const kir::LoopKernel& l) {
  if (l.dims.empty() || l.reduced[0]) return 0;
  return l.dims[0];
}

// Buffers that may share memory: the same buffer, or pieces of one stacked buffer.
bool conflict(const kir::KernelProgram& prog, const std::set<int>& xs, const std::vector<int>& ys) {
  for (int y : ys)
    for (int x : xs)
      if (x == y || overlaps(prog, x, y)) return true;
  return false;
}

}  // namespace

int merge_row_kernels(kir::KernelProgram& prog) {
  int merged = 0;
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const kir::LoopKernel* first = prog.kernels[i].loop();
    if (!first) continue;
    const int64_t m = rows_of(*first);
    if (m < kMinRows) continue;
    kir::LoopKernel head = *first;
    RowGroup group(prog, m);
    if (!as_rows(prog.pool, head, m, /*allow_reductions=*/true) || !group.try_add(head)) continue;
    kir::RowKernel rk;
    rk.rows = m;
    rk.loops.push_back(std::move(head));
    std::vector<size_t> members{i};
    std::set<int> skipped_reads, skipped_writes;
    for (size_t j = i + 1; j < prog.kernels.size() && j - i <= kWindow; ++j) {
      const kir::Kernel& k = prog.kernels[j];
      const std::vector<int> reads = kir::kernel_reads(prog, k), writes = k.outputs();
      bool joined = false;
      if (const kir::LoopKernel* l = k.loop()) {
        kir::LoopKernel rows = *l;
        // Moved ahead of the skipped kernels: no read of theirs, no write to what they use.
        joined = !conflict(prog, skipped_writes, reads) && !conflict(prog, skipped_writes, writes) &&
                 !conflict(prog, skipped_reads, writes) &&
                 as_rows(prog.pool, rows, m, /*allow_reductions=*/true) && group.try_add(rows);
        if (joined) {
          rk.loops.push_back(std::move(rows));
          members.push_back(j);
        }
      }
      if (!joined) {
        skipped_reads.insert(reads.begin(), reads.end());
        skipped_writes.insert(writes.begin(), writes.end());
      }
    }
    if (members.size() < 2) continue;
    merged += static_cast<int>(members.size());
    kir::Kernel grouped = group_kernel(prog, members, std::move(rk));
    std::vector<kir::Kernel> rest;
    rest.reserve(prog.kernels.size() - members.size() + 1);
    for (size_t j = 0, next = 0; j < prog.kernels.size(); ++j) {
      if (next < members.size() && members[next] == j) {
        if (next++ == 0) rest.push_back(std::move(grouped));
        continue;
      }
      rest.push_back(std::move(prog.kernels[j]));
    }
    prog.kernels = std::move(rest);
  }
  return merged;
}

}  // namespace kiln
