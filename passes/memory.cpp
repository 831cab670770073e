// Greedy best-fit arena planner (see memory.h). O(n^2) in the number of buffers, which
// is the number of materialized values (tens to hundreds).
#include "passes/memory.h"

#include <algorithm>
#include <numeric>
#include <sstream>

namespace kiln {

namespace {
size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
}  // namespace

MemoryPlan plan_memory(std::span<const BufferLifetime> bufs, size_t alignment,
                       size_t guard_bytes) {
  if (alignment == 0) alignment = 1;
  const size_t guard = align_up(guard_bytes, alignment);
  auto slot = [&](const BufferLifetime& b) {
    return align_up(std::max<size_t>(b.bytes, 1), alignment) + guard;
  };
  const size_t n = bufs.size();
  MemoryPlan plan;
  plan.offsets.assign(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (bufs[a].bytes != bufs[b].bytes) return bufs[a].bytes > bufs[b].bytes;
    if (bufs[a].first != bufs[b].first) return bufs[a].first < bufs[b].first;
    return a < b;
  });
  std::vector<size_t> placed;  // indices, kept sorted by offset
  for (size_t idx : order) {
    const BufferLifetime& cur = bufs[idx];
    size_t size = slot(cur);
    plan.total_bytes += size;
    size_t best = SIZE_MAX, best_gap = SIZE_MAX;
    size_t cursor = 0;  // end of the previous overlapping buffer
    for (size_t p : placed) {
      const BufferLifetime& o = bufs[p];
      bool overlap = guard > 0 || !(o.last < cur.first || cur.last < o.first);
      if (!overlap) continue;
      size_t off = plan.offsets[p];
      if (off >= cursor) {
        size_t gap = off - cursor;
        if (gap >= size && gap < best_gap) {
          best_gap = gap;
          best = cursor;
        }
      }
      cursor = std::max(cursor, off + slot(o));
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[idx] = best;
    plan.peak_bytes = std::max(plan.peak_bytes, best + size);
    auto pos = std::upper_bound(placed.begin(), placed.end(), best,
                                [&](size_t off, size_t p) { return off < plan.offsets[p]; });
    placed.insert(pos, idx);
  }
  return plan;
}

std::string MemoryPlan::to_string() const {
  std::ostringstream os;
  os << "arena: " << peak_bytes << " bytes (" << total_bytes << " without reuse), "
     << offsets.size() << " buffers\n";
  return os.str();
}

}  // namespace kiln
