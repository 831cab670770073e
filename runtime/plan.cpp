// ExecutablePlan helpers: names and the consistency check run before binding.
#include "runtime/plan.h"

#include <map>
#include <set>
#include <utility>

namespace kiln {

const char* plan_buffer_kind_name(PlanBufferKind k) {
  switch (k) {
    case PlanBufferKind::Arena: return "arena";
    case PlanBufferKind::Input: return "input";
    case PlanBufferKind::Output: return "output";
    case PlanBufferKind::State: return "state";
    case PlanBufferKind::Constant: return "constant";
  }
  return "?";
}

Status validate_plan(const ExecutablePlan& plan) {
  if (plan.entry_symbol.empty()) return Error("plan '" + plan.name + "' has no entry symbol");
  std::set<std::string> inputs, outputs;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer& b = plan.buffers[i];
    std::string what = "plan '" + plan.name + "': buffer " + std::to_string(i) + " (" +
                       plan_buffer_kind_name(b.kind) + (b.name.empty() ? "" : " '" + b.name + "'") +
                       ")";
    if (b.type.shape.numel() < 0) return Error(what + ": bad shape " + b.type.to_string());
    uint64_t bytes = b.type.bytes();
    switch (b.kind) {
      case PlanBufferKind::Arena:
        if (b.offset % 64 != 0 || b.offset > plan.arena_bytes || bytes > plan.arena_bytes - b.offset)
          return Error(what + ": offset " + std::to_string(b.offset) + " + " +
                       std::to_string(bytes) + " bytes outside the arena of " +
                       std::to_string(plan.arena_bytes));
        break;
      case PlanBufferKind::Input:
      case PlanBufferKind::Output:
      case PlanBufferKind::State:
        if (b.name.empty()) return Error(what + ": needs a name");
        if (b.kind == PlanBufferKind::Input) inputs.insert(b.name);
        if (b.kind == PlanBufferKind::Output && !outputs.insert(b.name).second)
          return Error(what + ": duplicate output name");
        break;
      case PlanBufferKind::Constant:
        if (b.data.size() != bytes)
          return Error(what + ": holds " + std::to_string(b.data.size()) + " bytes, " +
                       b.type.to_string() + " needs " + std::to_string(bytes));
        break;
    }
  }
  // Buffers of one name share storage: they must agree on what it holds.
  auto holds = [](const PlanBuffer& b) {
    std::string s = b.type.to_string();
    if (b.kind == PlanBufferKind::State)
      s += std::string(" ") + state_kind_name(b.state_kind) + " (" + state_scope_name(b.scope) +
           " scope)";
    return s;
  };
  std::map<std::pair<PlanBufferKind, std::string>, size_t> first;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer& b = plan.buffers[i];
    if (b.kind != PlanBufferKind::Input && b.kind != PlanBufferKind::State) continue;
    auto [it, fresh] = first.emplace(std::make_pair(b.kind, b.name), i);
    if (!fresh && holds(b) != holds(plan.buffers[it->second]))
      return Error("plan '" + plan.name + "': buffer " + std::to_string(i) + " (" +
                   plan_buffer_kind_name(b.kind) + " '" + b.name + "') is " + holds(b) +
                   ", buffer " + std::to_string(it->second) + " of that name is " +
                   holds(plan.buffers[it->second]));
  }
  for (const std::string& n : plan.inputs)
    if (!inputs.count(n)) return Error("plan '" + plan.name + "': input '" + n + "' has no buffer");
  for (const std::string& n : plan.outputs)
    if (!outputs.count(n)) return Error("plan '" + plan.name + "': output '" + n + "' has no buffer");
  for (const ArenaGuard& gd : plan.guards)
    if (gd.buffer < 0 || gd.buffer >= static_cast<int>(plan.buffers.size()) ||
        gd.offset > plan.arena_bytes || gd.bytes > plan.arena_bytes - gd.offset)
      return Error("plan '" + plan.name + "': guard after buffer " + std::to_string(gd.buffer) +
                   " outside the arena");
  for (const KernelLaunch& k : plan.launches) {
    auto bad = [&](int id) { return id < 0 || id >= static_cast<int>(plan.buffers.size()); };
    for (int r : k.reads)
      if (bad(r)) return Error("plan '" + plan.name + "': kernel " + k.symbol + " reads buffer " + std::to_string(r));
    if (k.writes != -1 && bad(k.writes))
      return Error("plan '" + plan.name + "': kernel " + k.symbol + " writes buffer " + std::to_string(k.writes));
  }
  return Status::Ok();
}

std::string plan_signature(const ExecutablePlan& plan) {
  auto side = [&](const std::vector<std::string>& names, PlanBufferKind kind) {
    std::string s;
    for (const std::string& name : names) {
      std::string type = "?";
      for (const PlanBuffer& b : plan.buffers)
        if (b.kind == kind && b.name == name) {
          type = b.type.to_string();
          break;
        }
      s += (s.empty() ? "" : ", ") + name + ": " + type;
    }
    return s;
  };
  return side(plan.inputs, PlanBufferKind::Input) + " -> " +
         side(plan.outputs, PlanBufferKind::Output);
}

}  // namespace kiln
