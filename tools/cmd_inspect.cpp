// `kiln inspect MODEL`: the model's training-step graph through every pass (node
// counts and timings; the IR after a chosen pass), then the compiled kernels and the
// memory plan.
#include <cstdio>

#include "ir/printer.h"
#include "models/registry.h"
#include "runtime/atomic_file.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace kiln::cli {

namespace {

const std::vector<FlagSpec> kInspectFlags = {
    {"print-after", true, "print the IR after PASS (dsl = as built, simplify, training, fusion, all)"},
    {"dot", true, "write the optimized graph as Graphviz to FILE"},
    {"batch-size", true, "batch size of the inspected step (default: the model's)"},
    {"eval", false, "inspect the evaluation graph instead of the training step"},
    {"help", false, "show this help"},
};


}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  Expected<ParsedArgs> parsed = parse_args(args, kInspectFlags, "kiln inspect");
  if (!parsed.ok()) return report_error(parsed.error());
  if (parsed->has("help")) {
    std::printf("usage: kiln inspect MODEL [flags]\n%s", flags_help(kInspectFlags).c_str());
    return 0;
  }
  if (parsed->positional.size() != 1)
    return report_error(Error("usage: kiln inspect MODEL [flags] (see 'kiln models')"));
  const std::string& name = parsed->positional[0];
  const ModelEntry* model = find_model(name);
  if (!model) return report_error(Error("unknown model '" + name + "' (see 'kiln models')"));
  std::string print_after = parsed->has("print-after") ? parsed->values.at("print-after") : "";
  const char* known[] = {"", "dsl", "simplify", "training", "fusion", "all"};
  bool ok = false;
  for (const char* k : known) ok |= print_after == k;
  if (!ok) return report_error(Error("--print-after: unknown pass '" + print_after +
                             "' (dsl, simplify, training, fusion, all)"));
  int64_t batch = 256;
  if (parsed->has("batch-size")) {
    Expected<long long> b = parse_int("batch-size", parsed->values.at("batch-size"), 1, 1 << 24);
    if (!b.ok()) return report_error(b.error());
    batch = *b;
  }
  RunOptions opts;
  Expected<SupervisedSpec> spec = model->spec(opts);
  if (!spec.ok()) return report_error(spec.error());
  GraphKind kind = parsed->has("eval") ? GraphKind::Eval : GraphKind::Train;

  std::vector<PassTiming> timings;
  auto after = [&](const std::string& pass, const Graph& g) {
    if (print_after == "all" || print_after == pass) {
      std::printf("// IR after %s (%d nodes)\n%s\n", pass.c_str(), g.size(),
                  print_graph(g, PrintOptions{true}).c_str());
    }
  };
  Expected<Graph> g = build_graph(*spec, kind, batch, after, &timings);
  if (!g.ok()) return report_error(g.error());
  std::printf("model %s, %s graph, batch %lld\n", name.c_str(),
              kind == GraphKind::Train ? "training-step" : "evaluation", (long long)batch);
  for (const PassTiming& t : timings)
    std::printf("  pass %-10s %8.3f ms  %s  %d nodes\n", t.pass.c_str(), t.seconds * 1e3,
                t.changed ? "changed" : "unchanged", t.nodes_after);
  if (parsed->has("dot")) {
    Status st = write_file_atomic(parsed->values.at("dot"), graph_to_dot(*g));
    if (!st.ok()) return report_error(st.error());
  }
  CompileOptions co;
  co.print_after = print_after == "all" ? "fusion" : print_after;
  auto state = std::make_shared<StateStore>();
  Expected<std::unique_ptr<Executable>> exe = compile(*g, state, co);
  if (!exe.ok()) return report_error(exe.error());
  const ExecutableStats& s = (*exe)->stats();
  std::printf("%s", (*exe)->describe().c_str());
  std::printf("graph nodes %d -> kernels %d, arena %zu bytes, compile %.3f s\n", s.graph_nodes,
              s.kernels, s.arena_bytes, s.compile_seconds);
  return 0;
}

}  // namespace kiln::cli
