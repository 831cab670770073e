// `kiln inspect MODEL`: the model's training-step graph through every pass (node
// counts and timings; the IR after a chosen pass), then the compiled kernels and the
// memory plan; or, with --summary, the network layer by layer (output shapes and
// parameter counts, as d2l's walk-throughs print them). With --device cuda the kernels
// are compiled for the GPU's architecture (or --arch's, with no driver or GPU needed):
// the launch table next to the plan's kernels and ptxas's registers and spills per
// kernel; --print-after cuda shows the rendered CUDA C++.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "codegen/cuda/compile_device.h"
#include "codegen/cuda/inspect.h"
#include "ir/printer.h"
#include "models/registry.h"
#include "runtime/atomic_file.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/device_flag.h"

namespace kiln::cli {

namespace {

struct InspectArgs {
  std::string model;
  std::string print_after;  // "" = none
  std::string dot;
  int64_t batch = 256;
  bool no_fusion = false;
  bool eval = false;
  bool summary = false;
  int size = 0;
  std::string attention;   // SVG path for the attention heat maps ("" = none)
  std::string checkpoint;  // weights for --attention
  std::string data;
  std::string arch;  // --arch: compile for CUDA without a driver
};

int write_attention(const ModelEntry& model, const InspectArgs& a, RunOptions opts) {
  if (!model.attention)
    return report_error(Error("model '" + model.name + "' has no attention weights to show"));
  Status ok = check_writable(a.attention);
  if (ok.ok()) ok = model.attention(opts, a.attention);
  if (!ok.ok()) return report_error(ok.error().wrap("inspecting " + model.name));
  std::printf("wrote %s\n", a.attention.c_str());
  return 0;
}

// "6x28x28"; "120" for a vector.
std::string dims_text(const Shape& s) {
  std::string t;
  for (int64_t d : s.dims) t += (t.empty() ? "" : "x") + std::to_string(d);
  return t;
}

int print_summary(const ModelEntry& model, const RunOptions& opts) {
  if (!model.summary) return report_error(Error("model '" + model.name + "' has no layer summary"));
  Expected<std::vector<LayerSummary>> rows = model.summary(opts);
  if (!rows.ok()) return report_error(rows.error());
  size_t width = 5;
  for (const LayerSummary& r : *rows) width = std::max(width, r.layer.size());
  std::printf("%-*s  %-12s %s\n", int(width), "layer", "output", "parameters");
  int64_t total = 0;
  for (const LayerSummary& r : *rows) {
    std::printf("%-*s  %-12s %lld\n", int(width), r.layer.c_str(), dims_text(r.output).c_str(),
                (long long)r.parameters);
    total += r.parameters;
  }
  std::printf("total parameters: %lld\n", (long long)total);
  return 0;
}

// The CUDA half of inspect: the plan's kernels and memory plan, then each launch of the
// rendered program beside the plan kernel it computes, with ptxas's report.
int print_cuda(const Graph& g, const std::string& arch, const CompileOptions& co) {
  Expected<cudagen::CudaInspection> in = cudagen::inspect_cuda(g, arch, co);
  if (!in.ok()) return report_error(in.error());
  const ExecutablePlan& plan = in->compiled.plan;
  const auto& code = dynamic_cast<const CudaCodeModule&>(*in->compiled.code);
  std::printf("%s", plan.description.c_str());
  std::printf("cuda %s (NVRTC %s): %zu launches for %zu plan kernels, cubin %zu bytes\n", arch.c_str(),
              in->nvrtc_version.c_str(), code.launches().size(), plan.launches.size(), in->cubin_bytes);
  std::printf("%-6s %-28s %-16s %7s %6s %7s %6s %5s %12s\n", "launch", "plan kernel", "cuda kernel", "grid",
              "block", "dyn smem", "smem", "regs", "spills st/ld");
  for (size_t i = 0; i < code.launches().size(); ++i) {
    const CudaKernelLaunch& l = code.launches()[i];
    std::string kernel = "-";
    if (l.plan_launch >= 0 && l.plan_launch < static_cast<int>(plan.launches.size()))
      kernel = "k" + std::to_string(l.plan_launch) + " " + plan.launches[l.plan_launch].name;
    if (kernel.size() > 28) kernel = kernel.substr(0, 25) + "...";
    auto r = in->resources.find(l.kernel);
    const bool known = r != in->resources.end() && r->second.registers >= 0;
    const std::string regs = known ? std::to_string(r->second.registers) : "?";
    const std::string smem = known ? std::to_string(r->second.shared_bytes) : "?";
    const std::string spills = known ? std::to_string(r->second.spill_store_bytes) + "/" +
                                           std::to_string(r->second.spill_load_bytes)
                                     : "?";
    std::printf("%-6zu %-28s %-16s %7lld %6d %7d %6s %5s %12s\n", i, kernel.c_str(), l.kernel.c_str(),
                (long long)l.grid, l.block, l.shared_bytes, smem.c_str(), regs.c_str(), spills.c_str());
  }
  const ExecutableStats& s = plan.stats;
  std::printf("graph nodes %d -> kernels %d, arena %zu bytes, compile %.3f s\n", s.graph_nodes, s.kernels,
              s.arena_bytes, s.compile_seconds);
  return 0;
}

int run_inspect(const InspectArgs& a) {
  const ModelEntry* model = find_model(a.model);
  if (!model) return report_error(Error("unknown model '" + a.model + "' (see 'kiln models')"));
  RunOptions opts;
  opts.size = a.size;
  opts.data = a.data;
  opts.checkpoint = a.checkpoint;
  Status usable = check_run_options(*model, opts);
  if (!usable.ok()) return report_error(usable.error());
  if (!a.checkpoint.empty() && a.attention.empty())
    return report_error(Error("--checkpoint goes with --attention"));
  if (a.no_fusion && (!a.attention.empty() || a.summary))
    return report_error(Error("--no-fusion shows the kernels of a step: not with --attention or "
                              "--summary"));
  // --arch, or --device cuda with a device (check_device made it the default target).
  const std::optional<cudagen::CudaTarget> target = cudagen::default_cuda_target();
  const bool cuda = !a.arch.empty() || target.has_value();
  if (cuda && (!a.attention.empty() || a.summary))
    return report_error(Error("--device cuda shows the kernels of a step: not with --attention or --summary"));
  if (!cuda && a.print_after == "cuda") return report_error(Error("--print-after cuda goes with --device cuda"));
  if (cuda && a.print_after == "llvm") return report_error(Error("--print-after llvm goes with --device cpu"));
  if (!a.attention.empty()) return write_attention(*model, a, opts);
  if (a.summary) return print_summary(*model, opts);
  Expected<SupervisedSpec> spec = model->spec(opts);
  if (!spec.ok()) return report_error(spec.error());
  GraphKind kind = a.eval ? GraphKind::Eval : GraphKind::Train;

  std::vector<PassTiming> timings;
  auto after = [&](const std::string& pass, const Graph& g) {
    if (a.print_after == "all" || a.print_after == pass) {
      std::printf("// IR after %s (%d nodes)\n%s\n", pass.c_str(), g.size(),
                  print_graph(g, PrintOptions{true}).c_str());
    }
  };
  Expected<Graph> g = build_graph(*spec, kind, a.batch, after, &timings);
  if (!g.ok()) return report_error(g.error());
  std::printf("model %s, %s graph, batch %lld\n", a.model.c_str(),
              kind == GraphKind::Train ? "training-step" : "evaluation", (long long)a.batch);
  for (const PassTiming& t : timings)
    std::printf("  pass %-10s %8.3f ms  %s  %d nodes\n", t.pass.c_str(), t.seconds * 1e3,
                t.changed ? "changed" : "unchanged", t.nodes_after);
  if (!a.dot.empty()) {
    Status st = write_file_atomic(a.dot, graph_to_dot(*g));
    if (!st.ok()) return report_error(st.error());
  }
  CompileOptions co;
  co.want_llvm = a.print_after == "llvm";
  co.fusion = !a.no_fusion;
  co.after_stage = [&](const std::string& stage, const std::string& text) {
    if (a.print_after == "all" ? stage != "llvm" : a.print_after == stage)
      std::printf("// %s\n%s\n", stage.c_str(), text.c_str());
  };
  if (cuda) return print_cuda(*g, a.arch.empty() ? target->runtime->device().arch() : a.arch, co);
  auto state = std::make_shared<StateStore>();
  Expected<std::unique_ptr<Executable>> exe = compile(*g, state, co);
  if (!exe.ok()) return report_error(exe.error());
  const ExecutableStats& s = (*exe)->stats();
  std::printf("%s", (*exe)->describe().c_str());
  std::printf("graph nodes %d -> kernels %d, arena %zu bytes, compile %.3f s%s\n", s.graph_nodes,
              s.kernels, s.arena_bytes, s.compile_seconds, s.cache_hit ? " (compile cache hit)" : "");
  return 0;
}

}  // namespace

Command add_inspect_command(CLI::App& kiln) {
  auto a = std::make_shared<InspectArgs>();
  CLI::App* sub = kiln.add_subcommand(
      "inspect", "show a model's graph through the passes, its kernels and memory plan");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model to inspect (see 'kiln models')")
      ->required()
      ->type_name("");
  add_choice(*sub, "--print-after", a->print_after,
             {"dsl", "simplify", "training", "fusion", "kernels", "llvm", "cuda", "all"}, "pass",
             "print the IR after PASS (dsl = as built, simplify, training, fusion, kernels, "
             "llvm, cuda = the CUDA C++ with --device cuda, all)")
      ->type_name("PASS");
  sub->add_option("--dot", a->dot, "write the optimized graph as Graphviz to FILE")
      ->type_name("FILE");
  add_int(*sub, "--batch-size", a->batch, 1, 1 << 24, "batch size of the inspected step (default 256)");
  sub->add_flag("--eval", a->eval, "inspect the evaluation graph instead of the training step");
  sub->add_flag("--no-fusion", a->no_fusion,
                "compile one kernel per op (every value stored), to see what fusion saves");
  sub->add_flag("--summary", a->summary,
                "print each layer's output shape and parameter count for one example");
  add_size_flag(*sub, a->size);
  sub->add_option("--attention", a->attention,
                  "translation models: write the attention weights of one translated sentence "
                  "as heat maps to FILE.svg")
      ->type_name("FILE");
  sub->add_option("--checkpoint", a->checkpoint, "with --attention: the trained weights")
      ->type_name("FILE");
  sub->add_option("--data", a->data, "data file or directory (model-specific)")->type_name("PATH");
  add_arch_flag(*sub, a->arch);
  return {sub, [a] { return run_inspect(*a); }};
}

}  // namespace kiln::cli
