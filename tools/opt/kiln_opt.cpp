// kiln-opt: runs graph passes on a textual IR file and prints the result, for pass
// tests and debugging (like LLVM's opt). Usage:
//   kiln-opt FILE.kir --pass simplify[,training,...] [--loss NAME] [--lr X] [--adam]
// FILE "-" reads standard input. Errors exit 1 with the parser's line:column.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/simplify.h"
#include "passes/training.h"
#include "tools/args.h"

using namespace kiln;

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "kiln-opt: error: %s\n", msg.c_str());
  return 1;
}

Expected<std::unique_ptr<Pass>> make_pass(const std::string& name, const cli::ParsedArgs& a) {
  if (name == "simplify") return std::unique_ptr<Pass>(std::make_unique<SimplifyPass>());
  if (name == "training") {
    OptimizerConfig c;
    if (a.has("lr")) c.lr = KILN_TRY(cli::parse_double("lr", a.values.at("lr")));
    if (a.has("adam")) c.kind = OptimizerConfig::Adam;
    std::string loss = a.has("loss") ? a.values.at("loss") : "loss";
    return std::unique_ptr<Pass>(std::make_unique<TrainingStepPass>(loss, c));
  }
  return Error("unknown pass '" + name + "' (simplify, training)");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<cli::FlagSpec> specs = {{"pass", true, "comma-separated passes to run"},
                                      {"loss", true, "training: loss output name"},
                                      {"lr", true, "training: learning rate"},
                                      {"adam", false, "training: use Adam"}};
  Expected<cli::ParsedArgs> a =
      cli::parse_args(std::vector<std::string>(argv + 1, argv + argc), specs, "kiln-opt");
  if (!a.ok()) return fail(a.error().message());
  if (a->positional.size() != 1) return fail("usage: kiln-opt FILE --pass P[,P...]");
  std::stringstream text;
  if (a->positional[0] == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream f(a->positional[0]);
    if (!f) return fail("cannot read '" + a->positional[0] + "'");
    text << f.rdbuf();
  }
  Expected<Graph> g = parse_graph(text.str());
  if (!g.ok()) return fail(a->positional[0] + ": " + g.error().message());
  if (Status st = verify(*g); !st.ok()) return fail(st.error().message());
  PassManager pm;
  std::string passes = a->has("pass") ? a->values.at("pass") : "simplify";
  std::stringstream list(passes);
  for (std::string name; std::getline(list, name, ',');) {
    Expected<std::unique_ptr<Pass>> p = make_pass(name, *a);
    if (!p.ok()) return fail(p.error().message());
    pm.add(std::move(*p));
  }
  if (Status st = pm.run(*g); !st.ok()) return fail(st.error().message());
  std::fputs(print_graph(*g).c_str(), stdout);
  return 0;
}
