// compile(): Graph -> ExecutablePlan + JIT code -> Executable. Verify, split reductions
// (passes/split_reductions.h), plan fusion, lower
// to kernel IR (with buffer binding, in-place state updates and the arena plan), turn
// the kernel program's buffer table into the plan's plain-data buffer table, render to
// LLVM IR with a unique entry symbol, compile it at O3 for the target into an object (or
// take the object from the compile cache), load that into the JIT, and let the runtime
// bind.
#include "codegen/compile.h"

#include <chrono>
#include <cstdio>
#include <sstream>

#include "codegen/compile_cache.h"
#include "codegen/kernel_cost.h"
#include "codegen/llvm/jit.h"
#include "codegen/llvm/object.h"
#include "codegen/llvm/renderer.h"
#include "codegen/llvm/target.h"
#include "codegen/lower.h"
#include "ir/leaf_state.h"
#include "ir/verifier.h"
#include "passes/split_reductions.h"
#include "runtime/abi.h"
#include "runtime/profile.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"

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

// Code-generation settings that change the object but not the IR (object.h, target.h).
constexpr const char* kCodegenOptions = "O3 pic small-code-model";

struct NativeCode {
  std::unique_ptr<CodeModule> code;
  bool cache_hit = false;
};

// Renders `prog` and returns its code: the cached object when the compile cache holds
// one for this IR and target that loads, else a freshly compiled object (then cached).
// With `keep_ir` the cache is not read (it holds no IR) and the optimized IR is passed
// to after_stage("llvm").
Expected<NativeCode> native_code(const kir::KernelProgram& prog,
                                 const llvmgen::RenderOptions& ropts,
                                 const llvmgen::TargetSpec& target, const CompileOptions& options) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module = llvmgen::render(prog, ctx, ropts);
  const bool keep_ir = options.want_llvm && options.after_stage;
  std::optional<CompileCache> cache =
      CompileCache::open(options.cache ? *options.cache : default_compile_cache());
  CacheKey key;
  if (cache) {
    std::string ir;
    llvm::raw_string_ostream os(ir);
    module->print(os, nullptr);
    key = make_cache_key({ir, target.triple, target.cpu, target.features, LLVM_VERSION_STRING,
                          std::to_string(KILN_ABI_VERSION), kCodegenOptions});
    if (!keep_ir)
      if (std::optional<std::vector<char>> object = cache->load(key)) {
        // An entry that does not load is a miss: compiled again and overwritten below.
        auto program = llvmgen::load_object(*object, target, ropts.entry_symbol);
        if (program.ok()) return NativeCode{std::move(*program), true};
      }
  }
  std::string optimized_ir;
  llvmgen::ObjectOptions oo;
  if (keep_ir) oo.optimized_ir = &optimized_ir;
  std::vector<char> object = KILN_TRY(llvmgen::emit_object(*module, target, oo));
  if (cache) cache->store(key, object);
  std::unique_ptr<CodeModule> program =
      KILN_TRY(llvmgen::load_object(object, target, ropts.entry_symbol));
  if (keep_ir) options.after_stage("llvm", optimized_ir);
  return NativeCode{std::move(program), false};
}

}  // namespace

Expected<CompiledPlan> compile_plan(const Graph& source, const CompileOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
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
  LoweredProgram& lp = *lowered;
  const kir::KernelProgram& prog = lp.prog;
  std::string program_text = kir::print_program(prog);
  if (options.after_stage) {
    options.after_stage("fusion", lp.fusion.to_string(g));
    options.after_stage("kernels", program_text);
  }

  CompiledPlan out;
  ExecutablePlan& plan = out.plan;
  plan.name = g.name();
  plan.entry_symbol = entry_symbol(g.name(), program_text);
  plan.arena_bytes = (lp.memory.peak_bytes + 63) / 64 * 64;
  plan.init_seed = options.init_seed;
  for (const kir::Buffer& b : prog.buffers) {
    Expected<PlanBuffer> pb = plan_buffer(g, b);
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
  for (const Node& n : g.nodes())
    if (n.op == OpKind::Input) plan.inputs.push_back(n.name);
  for (const Output& o : g.outputs()) plan.outputs.push_back(o.name);
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const kir::Kernel& k = prog.kernels[i];
    const KernelCost cost = kernel_cost(prog, k);
    plan.launches.push_back({k.name, "k" + std::to_string(i), k.reads, k.output(), cost.flops, cost.bytes,
                              k.contraction() != nullptr});
  }

  Expected<llvmgen::TargetSpec> target = options.target_cpu == "native"
                                              ? llvmgen::host_target()
                                              : llvmgen::parse_target(options.target_cpu);
  if (!target.ok()) return target.error().wrap("compile");
  llvmgen::RenderOptions ropts;
  ropts.profile = options.profile;
  ropts.entry_symbol = plan.entry_symbol;
  Expected<NativeCode> native = native_code(prog, ropts, *target, options);
  if (!native.ok()) return native.error().wrap("compile");
  out.code = std::move(native->code);
  plan.stats.cache_hit = native->cache_hit;

  plan.stats.graph_nodes = g.size();
  plan.stats.kernels = static_cast<int>(prog.kernels.size());
  plan.stats.arena_bytes = lp.memory.peak_bytes;
  plan.stats.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream os;
  os << lp.fusion.to_string(g);
  os << "in-place state updates: " << lp.in_place_updates << ", copy kernels: " << lp.copy_kernels
     << ", concats by placement: " << lp.placed_concats
     << "\n";
  os << lp.memory.to_string();
  os << program_text;
  plan.description = os.str();
  return out;
}

Expected<std::unique_ptr<Executable>> compile(const Graph& g, std::shared_ptr<StateStore> state,
                                              const CompileOptions& options) {
  CompiledPlan cp = KILN_TRY(compile_plan(g, options));
  if (options.profile) profile_reset(static_cast<int>(cp.plan.launches.size()));
  BindOptions bo;
  bo.profile = options.profile;
  Expected<std::unique_ptr<Executable>> exe =
      Executable::bind(std::move(cp.plan), std::move(cp.code), std::move(state), bo);
  if (!exe.ok()) return exe.error().wrap("compile");
  return exe;
}

}  // namespace kiln
