// plan_program: see plan_program.h.
#include "codegen/plan_program.h"

#include <cctype>
#include <cstdio>
#include <sstream>

#include "codegen/kernel_cost.h"
#include "ir/leaf_state.h"
#include "ir/verifier.h"
#include "passes/split_reductions.h"

namespace kiln {

namespace {

// "kiln_<graph name>_<hash of the kernel program>": unique per distinct executable and
// the same for the same program, so several executables can share one code object.
std::string entry_symbol(const std::string& graph_name, const std::string& program_text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : program_text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  std::string s = "kiln_";
  for (char c : graph_name) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return s + "_" + hex;
}

Expected<PlanBuffer> plan_buffer(const Graph& g, const kir::Buffer& b) {
  PlanBuffer pb;
  pb.name = b.name;
  pb.type = b.type;
  switch (b.kind) {
    case kir::BufferKind::Arena:
      pb.kind = PlanBufferKind::Arena;
      pb.offset = static_cast<uint64_t>(b.offset);
      break;
    case kir::BufferKind::Input: pb.kind = PlanBufferKind::Input; break;
    case kir::BufferKind::Output: pb.kind = PlanBufferKind::Output; break;
    case kir::BufferKind::State: {
      pb.kind = PlanBufferKind::State;
      Expected<LeafState> ls = leaf_state(g.node(b.node));
      if (!ls.ok()) return ls.error().wrap("state '" + b.name + "'");
      pb.state_kind = ls->kind;
      pb.scope = ls->scope;
      pb.init = ls->init;
      break;
    }
    case kir::BufferKind::Constant: {
      pb.kind = PlanBufferKind::Constant;
      KILN_RETURN_IF_ERROR(check_host_allocation(b.type, "constant '" + b.name + "'"));
      const Node& leaf = g.node(b.node);
      pb.data.resize(b.type.bytes());
      const AttrValue* data = leaf.attrs.find("data");
      std::vector<double> values =
          data ? std::get<std::vector<double>>(*data) : std::vector<double>{leaf.attrs.f("value")};
      store_elements(b.type.dtype, values, static_cast<size_t>(b.type.shape.numel()),
                     pb.data.data());
      break;
    }
  }
  return pb;
}

}  // namespace

Expected<PlannedProgram> plan_program(const Graph& source, const CompileOptions& options) {
  if (options.verify) {
    Status st = verify(source);
    if (!st.ok()) return st.error().wrap("compile: graph verification failed");
  }
  // Graph rewrites that only serve code generation, on a copy of the caller's graph.
  Graph g = source;
  Expected<bool> split = SplitReductionsPass().run(g);
  if (!split.ok()) return split.error().wrap("compile");
  LowerOptions lopts;
  lopts.arena_guard_bytes = options.arena_guard_bytes;
  lopts.fusion = options.fusion;
  Expected<LoweredProgram> lowered = lower_graph(g, lopts);
  if (!lowered.ok()) return lowered.error();
  PlannedProgram out{std::move(g), std::move(*lowered), {}, {}};
  const Graph& lg = out.graph;
  LoweredProgram& lp = out.lowered;
  const kir::KernelProgram& prog = lp.prog;
  out.program_text = kir::print_program(prog);
  const std::string& program_text = out.program_text;
  if (options.after_stage) {
    options.after_stage("fusion", lp.fusion.to_string(lg));
    options.after_stage("kernels", program_text);
  }

  ExecutablePlan& plan = out.plan;
  plan.name = lg.name();
  plan.entry_symbol = entry_symbol(lg.name(), program_text);
  plan.arena_bytes = (lp.memory.peak_bytes + 63) / 64 * 64;
  plan.init_seed = options.init_seed;
  for (const kir::Buffer& b : prog.buffers) {
    Expected<PlanBuffer> pb = plan_buffer(lg, b);
    if (!pb.ok()) return pb.error().wrap("compile");
    plan.buffers.push_back(std::move(*pb));
  }
  if (options.arena_guard_bytes > 0) {
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const PlanBuffer& b = plan.buffers[i];
      // A slice of a stacked buffer (concat_in_place.h) has its neighbours right after it.
      if (b.kind != PlanBufferKind::Arena || prog.buffers[i].alias_of >= 0) continue;
      uint64_t end = b.offset + (std::max<uint64_t>(b.type.bytes(), 1) + 63) / 64 * 64 +
                     (options.arena_guard_bytes + 63) / 64 * 64;
      uint64_t start = b.offset + b.type.bytes();
      plan.guards.push_back({static_cast<int>(i), start, end - start});
    }
  }
  for (const Node& n : lg.nodes())
    if (n.op == OpKind::Input) plan.inputs.push_back(n.name);
  for (const Output& o : lg.outputs()) plan.outputs.push_back(o.name);
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const kir::Kernel& k = prog.kernels[i];
    const KernelCost cost = kernel_cost(prog, k);
    // GEMM-bound: the products, not max pooling's gradient (a scatter, memory-bound).
    const kir::ContractionKernel* c = k.contraction();
    const bool gemm = c && c->op != kir::ContractionOp::MaxPool2dGrad;
    plan.launches.push_back({k.name, "k" + std::to_string(i), k.reads, k.output(), cost.flops,
                             cost.bytes, gemm});
  }

  return out;
}

void describe_plan(PlannedProgram& p) {
  const LoweredProgram& lp = p.lowered;
  ExecutablePlan& plan = p.plan;
  plan.stats.graph_nodes = p.graph.size();
  plan.stats.kernels = static_cast<int>(lp.prog.kernels.size());
  plan.stats.arena_bytes = lp.memory.peak_bytes;
  std::ostringstream os;
  os << lp.fusion.to_string(p.graph);
  os << "in-place state updates: " << lp.in_place_updates << ", copy kernels: " << lp.copy_kernels
     << ", concats by placement: " << lp.placed_concats << "\n";
  os << lp.memory.to_string();
  os << p.program_text;
  plan.description = os.str();
}

}  // namespace kiln
