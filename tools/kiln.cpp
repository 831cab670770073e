// The `kiln` command-line tool: `kiln models`, `kiln train MODEL ...`,
// `kiln inspect MODEL ...`. Every failure prints "kiln: error: ..." and exits 1; usage
// errors exit 2.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: kiln <command> [args]\n"
               "commands:\n"
               "  models                 list the model zoo\n"
               "  train MODEL [flags]    train a model (kiln train --help)\n"
               "  inspect MODEL [flags]  show the IR through the passes, kernels, memory\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "models") return kiln::cli::cmd_models(args);
  if (cmd == "train") return kiln::cli::cmd_train(args);
  if (cmd == "inspect") return kiln::cli::cmd_inspect(args);
  std::fprintf(stderr, "kiln: error: unknown command '%s'\n", cmd.c_str());
  usage(stderr);
  return 2;
}
