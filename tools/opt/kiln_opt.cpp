// kiln-opt: runs graph passes on a textual IR file and prints the result, for pass
// tests and debugging (like LLVM's opt). Usage:
//   kiln-opt FILE.kir --pass simplify[,training,split_reductions,...] [--loss NAME] [--lr X] [--adam]
// FILE "-" reads standard input. Errors exit 1 with the parser's line:column; usage
// errors (unknown flag, missing FILE) exit 2.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include <CLI/CLI.hpp>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/simplify.h"
#include "passes/split_reductions.h"
#include "passes/training.h"
#include "tools/args.h"

using namespace kiln;

namespace {

struct OptArgs {
  std::string file;
  std::string passes = "simplify";
  std::string loss = "loss";
  double lr = std::numeric_limits<double>::quiet_NaN();
  bool adam = false;
};

int fail(const std::string& msg) { return cli::report_error("kiln-opt", msg); }

Expected<std::unique_ptr<Pass>> make_pass(const std::string& name, const OptArgs& a) {
  if (name == "simplify") return std::unique_ptr<Pass>(std::make_unique<SimplifyPass>());
  if (name == "split_reductions")
    return std::unique_ptr<Pass>(std::make_unique<SplitReductionsPass>());
  if (name == "training") {
    OptimizerConfig c;
    if (!std::isnan(a.lr)) c.lr = a.lr;
    if (a.adam) c.kind = OptimizerConfig::Adam;
    return std::unique_ptr<Pass>(std::make_unique<TrainingStepPass>(a.loss, c));
  }
  return Error("unknown pass '" + name + "' (simplify, training, split_reductions)");
}

int run(const OptArgs& a) {
  std::stringstream text;
  if (a.file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream f(a.file);
    if (!f) return fail("cannot read '" + a.file + "'");
    text << f.rdbuf();
  }
  Expected<Graph> g = parse_graph(text.str());
  if (!g.ok()) return fail(a.file + ": " + g.error().message());
  if (Status st = verify(*g); !st.ok()) return fail(st.error().message());
  PassManager pm;
  std::stringstream list(a.passes);
  for (std::string name; std::getline(list, name, ',');) {
    Expected<std::unique_ptr<Pass>> p = make_pass(name, a);
    if (!p.ok()) return fail(p.error().message());
    pm.add(std::move(*p));
  }
  if (Status st = pm.run(*g); !st.ok()) return fail(st.error().message());
  std::fputs(print_graph(*g).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::guarded_main("kiln-opt", [&] {
    OptArgs a;
    CLI::App app("kiln-opt: run graph passes on a textual IR file and print the result",
                 "kiln-opt");
    app.set_help_flag("-h,--help", "show this help and exit");
    app.get_formatter()->column_width(30);
    app.allow_extras();  // reported by name in parse_command_line
    app.add_option("FILE", a.file, "the graph (.kir); - reads standard input")
        ->required()
        ->type_name("");
    app.add_option("--pass", a.passes, "comma-separated passes to run: simplify, training, "
                                       "split_reductions (default simplify)")
        ->type_name("P[,P...]");
    app.add_option("--loss", a.loss, "training: name of the loss output (default loss)")
        ->type_name("NAME");
    cli::add_double(app, "--lr", a.lr, cli::NumberCheck::Any, "training: learning rate");
    app.add_flag("--adam", a.adam, "training: use Adam instead of SGD");
    int code = cli::parse_command_line(app, argc, argv, "kiln-opt");
    return code >= 0 ? code : run(a);
  });
}
