// Arena memory planning, as TensorFlow Lite's ArenaPlanner does it (DESIGN.md
// convention 12): every intermediate buffer has a lifetime [first, last] in kernel
// schedule steps (inclusive: written at `first`, last read at `last`). Buffers are
// placed largest first (ties: earlier first use, then lower index) at the lowest-waste
// position: among the gaps between already-placed buffers whose lifetimes overlap this
// one, the smallest gap that fits (best fit), else after the highest such buffer.
// Offsets are multiples of `alignment` (64 bytes: a cache line and a zmm register).
// Buffers with disjoint lifetimes share memory, including a free gap at the very start
// of the arena. The result is deterministic and printable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kiln {

struct BufferLifetime {
  size_t bytes = 0;
  int first = 0;  // schedule step that writes it
  int last = 0;   // last schedule step that reads it (>= first)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, bytes from the arena base
  size_t peak_bytes = 0;        // arena size needed
  size_t total_bytes = 0;       // sum of aligned sizes (what no reuse would need)
  std::string to_string() const;
};

// guard_bytes > 0 (a testing aid): every buffer is followed by that many unused bytes
// (rounded up to the alignment) and no two buffers share memory, so the padding after
// each buffer is never legitimately written and can hold canaries that catch overruns.
MemoryPlan plan_memory(std::span<const BufferLifetime> buffers, size_t alignment = 64,
                       size_t guard_bytes = 0);

}  // namespace kiln
