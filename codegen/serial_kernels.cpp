// Serial groups (see serial_kernels.h).
#include "codegen/serial_kernels.h"

#include <set>
#include <string>
#include <vector>

#include "codegen/row_locality.h"

namespace kiln {

namespace {

constexpr size_t kWindow = 32;
constexpr size_t kMaxMembers = 64;   // bounds the size of one kernel's code

struct Access {
  std::vector<int> reads, writes;
};

bool conflict(const kir::KernelProgram& prog, const std::vector<int>& xs, const std::vector<int>& ys) {
  for (int x : xs)
    for (int y : ys)
      if (x == y || overlaps(prog, x, y)) return true;
  return false;
}

// Whether kernels a and b may swap places: neither writes what the other uses.
bool independent(const kir::KernelProgram& prog, const Access& a, const Access& b) {
  return !conflict(prog, a.writes, b.reads) && !conflict(prog, a.writes, b.writes) &&
         !conflict(prog, a.reads, b.writes);
}

// The kernels between the group's members (`between`, in schedule order) split into
// those that go before the group and those after: the first `before` of them go before
// (each may move ahead of the members that preceded it), the rest after (each may move
// behind the members that follow it). Returns the split, or -1 when there is none.
int split_between(const kir::KernelProgram& prog, const std::vector<size_t>& members,
                  const std::vector<size_t>& between, const std::vector<Access>& access,
                  size_t base) {
  const size_t n = between.size();
  auto fits = [&](size_t s, bool before) {
    for (size_t m : members)
      if ((before ? m < s : m > s) && !independent(prog, access[s - base], access[m - base]))
        return false;
    return true;
  };
  size_t prefix = 0;  // the longest run of kernels that may go before
  while (prefix < n && fits(between[prefix], true)) ++prefix;
  size_t suffix = n;  // the earliest start of a run that may go after
  while (suffix > 0 && fits(between[suffix - 1], false)) --suffix;
  return suffix <= prefix ? static_cast<int>(prefix) : -1;
}

}  // namespace

bool runs_serially(const kir::LoopKernel& l) {
  int64_t work = 1, kept = 1;
  for (size_t d = 0; d < l.dims.size(); ++d) {
    work *= l.dims[d];
    if (!l.reduced[d]) kept *= l.dims[d];
  }
  return work < kSerialWork || (l.reduce != kir::ReduceOp::None && kept == 1);
}

int merge_serial_kernels(kir::KernelProgram& prog) {
  int merged = 0;
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const kir::LoopKernel* first = prog.kernels[i].loop();
    if (!first || !runs_serially(*first)) continue;
    kir::LoopKernel head = *first;
    RowGroup group(prog, 1);
    if (!as_one_row(prog.pool, head) || !group.try_add(head)) continue;
    const size_t end = std::min(prog.kernels.size(), i + 1 + kWindow);
    std::vector<Access> access;
    for (size_t j = i; j < end; ++j)
      access.push_back({kir::kernel_reads(prog, prog.kernels[j]), prog.kernels[j].outputs()});
    kir::RowKernel rk;
    rk.rows = 1;
    rk.loops.push_back(std::move(head));
    std::vector<size_t> members{i}, skipped;
    int split = 0;  // of the skipped kernels before the last member
    for (size_t j = i + 1; j < end && members.size() < kMaxMembers; ++j) {
      const kir::LoopKernel* l = prog.kernels[j].loop();
      bool joined = false;
      if (l && runs_serially(*l)) {
        kir::LoopKernel row = *l;
        members.push_back(j);
        const int s = split_between(prog, members, skipped, access, i);
        joined = s >= 0 && as_one_row(prog.pool, row) && group.try_add(row);
        if (joined) {
          rk.loops.push_back(std::move(row));
          split = s;
        } else {
          members.pop_back();
        }
      }
      if (!joined) skipped.push_back(j);
    }
    if (members.size() < 2) continue;
    merged += static_cast<int>(members.size());
    kir::Kernel grouped = group_kernel(prog, members, std::move(rk));
    // [0, i) | skipped before | the group | skipped after | the rest after the last member.
    const size_t last = members.back();
    std::vector<kir::Kernel> order;
    order.reserve(prog.kernels.size() - members.size() + 1);
    for (size_t j = 0; j < i; ++j) order.push_back(std::move(prog.kernels[j]));
    std::vector<size_t> between;
    for (size_t s : skipped)
      if (s < last) between.push_back(s);
    for (size_t b = 0; b < static_cast<size_t>(split); ++b) order.push_back(std::move(prog.kernels[between[b]]));
    const size_t group_at = order.size();
    order.push_back(std::move(grouped));
    for (size_t b = static_cast<size_t>(split); b < between.size(); ++b)
      order.push_back(std::move(prog.kernels[between[b]]));
    for (size_t j = last + 1; j < prog.kernels.size(); ++j) order.push_back(std::move(prog.kernels[j]));
    prog.kernels = std::move(order);
    i = group_at;  // the next group starts after this one
  }
  return merged;
}

}  // namespace kiln
