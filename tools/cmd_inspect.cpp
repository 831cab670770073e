// `kiln inspect MODEL`: the model's training-step graph through every pass (node
// counts and timings; the IR after a chosen pass), then the compiled kernels and the
// memory plan; or, with --summary, the network layer by layer (output shapes and
// parameter counts, as d2l's walk-throughs print them).
#include <algorithm>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "ir/printer.h"
#include "models/registry.h"
#include "runtime/atomic_file.h"
#include "tools/args.h"
#include "tools/commands.h"

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
             {"dsl", "simplify", "training", "fusion", "kernels", "llvm", "all"}, "pass",
             "print the IR after PASS (dsl = as built, simplify, training, fusion, kernels, "
             "llvm, all)")
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
  return {sub, [a] { return run_inspect(*a); }};
}

}  // namespace kiln::cli
