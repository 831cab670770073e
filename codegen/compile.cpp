// compile(): Graph -> native Executable. Verify, plan fusion, lower to kernel IR (with
// buffer binding, in-place state updates and the arena plan), render to LLVM IR, JIT at
// O3 for the host, then bind every buffer to a pointer once: run() is a single call of
// the entry function with that pointer table (no allocation, no per-op dispatch).
#include "codegen/compile.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "codegen/llvm/renderer.h"
#include "codegen/lower.h"
#include "ir/leaf_state.h"
#include "ir/verifier.h"
#include "runtime/profile.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

namespace kiln {

namespace {

void fill_from_doubles(HostBuffer& buf, const std::vector<double>& v) {
  size_t n = static_cast<size_t>(buf.type().shape.numel());
  auto get = [&](size_t i) { return v.empty() ? 0.0 : v[v.size() == 1 ? 0 : i]; };
  for (size_t i = 0; i < n; ++i) {
    double x = get(i);
    switch (buf.type().dtype) {
      case DType::f32: buf.as<float>()[i] = static_cast<float>(x); break;
      case DType::f64: buf.as<double>()[i] = x; break;
      case DType::i32: buf.as<int32_t>()[i] = static_cast<int32_t>(x); break;
      case DType::i64: buf.as<int64_t>()[i] = static_cast<int64_t>(x); break;
      case DType::boolean: buf.as<uint8_t>()[i] = x != 0.0; break;
    }
  }
}

class CompiledExecutable : public Executable {
 public:
  HostBuffer* input(const std::string& name) override {
    auto it = inputs_.find(name);
    return it == inputs_.end() ? nullptr : &it->second;
  }
  const HostBuffer* output(const std::string& name) const override {
    auto it = outputs_.find(name);
    return it == outputs_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> input_names() const override { return input_order_; }
  std::vector<std::string> output_names() const override { return output_order_; }
  void run() override { entry_(ptrs_.data()); }
  StateStore& state() override { return *state_; }
  const ExecutableStats& stats() const override { return stats_; }
  std::string describe() const override {
    if (!profile_) return describe_;
    std::ostringstream os;
    os << describe_;
    std::vector<double> s = profile_seconds();
    int64_t runs = std::max<int64_t>(1, profile_runs());
    double total = 0;
    for (double x : s) total += x;
    os << "profile over " << profile_runs() << " runs (us per run):\n";
    for (size_t i = 0; i < s.size() && i < kernel_names_.size(); ++i)
      os << "  k" << i << " " << kernel_names_[i] << ": " << s[i] / runs * 1e6 << "\n";
    os << "  total: " << total / runs * 1e6 << "\n";
    return os.str();
  }
  ~CompiledExecutable() override { std::free(arena_); }

  std::unique_ptr<llvmgen::Program> program;
  EntryFn entry_ = nullptr;
  std::map<std::string, HostBuffer> inputs_, outputs_;
  std::vector<std::string> input_order_, output_order_;
  std::vector<HostBuffer> constants_;
  void* arena_ = nullptr;
  std::shared_ptr<StateStore> state_;
  std::vector<void*> ptrs_;
  ExecutableStats stats_;
  std::string describe_;
  bool profile_ = false;
  std::vector<std::string> kernel_names_;
};

}  // namespace

Expected<std::unique_ptr<Executable>> compile(const Graph& g, std::shared_ptr<StateStore> state,
                                              const CompileOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  if (!state) state = std::make_shared<StateStore>();
  if (options.verify) {
    Status st = verify(g);
    if (!st.ok()) return st.error().wrap("compile: graph verification failed");
  }
  Expected<LoweredProgram> lowered = lower_graph(g);
  if (!lowered.ok()) return lowered.error();
  LoweredProgram& lp = *lowered;
  if (options.print_after == "fusion") std::cerr << lp.fusion.to_string(g);
  if (options.print_after == "lower" || options.print_after == "kernels")
    std::cerr << kir::print_program(lp.prog);

  auto exe = std::make_unique<CompiledExecutable>();
  exe->state_ = state;
  const kir::KernelProgram& prog = lp.prog;
  exe->ptrs_.assign(prog.buffers.size(), nullptr);
  size_t arena_bytes = lp.memory.peak_bytes;
  exe->arena_ = std::aligned_alloc(64, std::max<size_t>(64, (arena_bytes + 63) / 64 * 64));
  for (const kir::Buffer& b : prog.buffers) {
    void* p = nullptr;
    switch (b.kind) {
      case kir::BufferKind::Arena: p = static_cast<char*>(exe->arena_) + b.offset; break;
      case kir::BufferKind::Input: {
        auto [it, ok] = exe->inputs_.emplace(b.name, HostBuffer(b.type));
        if (ok) exe->input_order_.push_back(b.name);
        p = it->second.data();
        break;
      }
      case kir::BufferKind::Output: {
        auto [it, ok] = exe->outputs_.emplace(b.name, HostBuffer(b.type));
        if (!ok) return Error("compile: duplicate output name '" + b.name + "'");
        exe->output_order_.push_back(b.name);
        p = it->second.data();
        break;
      }
      case kir::BufferKind::State: {
        const Node& leaf = g.node(b.node);
        bool created = false;
        Expected<HostBuffer*> hb =
            state->get_or_create(b.name, b.type, leaf.op == OpKind::Parameter, &created);
        if (!hb.ok()) return hb.error().wrap("compile");
        if (created) {
          Expected<LeafState> ls = leaf_state(leaf);
          if (!ls.ok()) return ls.error().wrap("compile: initializing '" + b.name + "'");
          fill_from_doubles(**hb, initial_values(ls->init, leaf.type, leaf.name, options.init_seed));
        }
        p = (*hb)->data();
        break;
      }
      case kir::BufferKind::Constant: {
        const Node& leaf = g.node(b.node);
        HostBuffer hb(b.type);
        fill_from_doubles(hb, leaf.attrs.floats("data"));
        p = hb.data();
        exe->constants_.push_back(std::move(hb));
        break;
      }
    }
    exe->ptrs_[b.id] = p;
  }

  auto ctx = std::make_unique<llvm::LLVMContext>();
  llvmgen::RenderOptions ropts;
  ropts.profile = options.profile;
  std::unique_ptr<llvm::Module> module = llvmgen::render(prog, *ctx, ropts);
  exe->profile_ = options.profile;
  for (const kir::Kernel& k : prog.kernels) exe->kernel_names_.push_back(k.name);
  if (options.profile) profile_reset(static_cast<int>(prog.kernels.size()));
  llvmgen::CompilerOptions copts;
  copts.keep_ir = options.print_after == "llvm";
  auto program = llvmgen::compile_module(std::move(module), std::move(ctx), copts);
  if (!program.ok()) return program.error().wrap("compile");
  if (copts.keep_ir) std::cerr << (*program)->ir_text();
  exe->program = std::move(*program);
  exe->entry_ = reinterpret_cast<EntryFn>(exe->program->lookup("kiln_entry"));

  exe->stats_.graph_nodes = g.size();
  exe->stats_.kernels = static_cast<int>(prog.kernels.size());
  exe->stats_.arena_bytes = arena_bytes;
  exe->stats_.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream os;
  os << lp.fusion.to_string(g);
  os << "in-place state updates: " << lp.in_place_updates << ", copy kernels: " << lp.copy_kernels
     << "\n";
  os << lp.memory.to_string();
  os << kir::print_program(prog);
  exe->describe_ = os.str();
  return std::unique_ptr<Executable>(std::move(exe));
}

}  // namespace kiln
