// The `kiln` command-line tool (CLI11): `kiln models`, `kiln train MODEL`, `kiln eval
// MODEL`, `kiln inspect MODEL`, `kiln bench MODEL`, `kiln checkpoint FILE`, `kiln generate MODEL`, each with
// --help; the commands that compile share the compile-cache flags (tools/cache_flags.h).
// Errors print "kiln: error: ..." on stderr and exit 1; usage errors (unknown
// command or flag, missing argument) exit 2; no exception leaves main (tools/args.h).
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "codegen/cuda/compile_device.h"
#include "tools/args.h"
#include "tools/cache_flags.h"
#include "tools/commands.h"
#include "tools/device_flag.h"

int main(int argc, char** argv) {
  using namespace kiln::cli;
  return guarded_main("kiln", [&] {
    CLI::App app("kiln: a static computation-graph compiler and the d2l model zoo it trains",
                 "kiln");
    app.set_help_flag("-h,--help", "show this help and exit");  // inherited by subcommands
    app.get_formatter()->column_width(30);
    app.allow_extras();  // an unknown command is reported by parse_command_line
    app.require_subcommand(0, 1);
    app.footer("Run 'kiln COMMAND --help' (or 'kiln help COMMAND') for a command's flags.");
    std::vector<Command> commands = {add_models_command(app), add_train_command(app),
                                     add_eval_command(app), add_inspect_command(app),
                                     add_bench_command(app),
                                     add_checkpoint_command(app), add_generate_command(app),
                                     add_translate_command(app), add_export_command(app),
                                     add_compile_command(app), add_run_command(app)};
    for (const Command& c : commands) c.app->footer("");  // not inherited
    CacheFlags cache;  // one set of variables: only one command runs
    std::string device = "cpu";
    for (const Command& c : commands)  // the commands that compute or compile
      for (const char* on : {"train", "eval", "inspect", "bench", "generate", "translate", "run",
                             "compile"})
        if (c.app->get_name() == on) add_device_flag(*c.app, device);
    for (const Command& c : commands)  // the commands that JIT-compile
      for (const char* jit : {"train", "eval", "inspect", "bench", "generate", "translate", "run"})
        if (c.app->get_name() == jit) add_cache_flags(*c.app, cache);
    // `kiln help [COMMAND]` is `kiln [COMMAND] --help`.
    std::vector<const char*> args(argv, argv + argc);
    if (args.size() >= 2 && std::string(args[1]) == "help") {
      args.erase(args.begin() + 1);
      args.push_back("--help");
    }
    int code = parse_command_line(app, static_cast<int>(args.size()), args.data(), "kiln");
    if (code >= 0) return code;
    apply_cache_flags(cache);
    for (const Command& c : commands) {
      if (!c.app->parsed()) continue;
      if (c.app->get_option_no_throw("--device")) {  // the computing commands (device_flag.h)
        // A command's own --arch (add_arch_flag) compiles for it: no driver needed.
        const CLI::Option* arch = c.app->get_option_no_throw("--arch");
        const std::string given = arch && arch->count() > 0 ? arch->as<std::string>() : "";
        if (kiln::Status d = check_device(device, c.app->get_name(), given); !d.ok())
          return report_error(d.error());
      }
      const int rc = c.run();
      kiln::cudagen::set_default_cuda_target(std::nullopt);  // the device goes before exit
      return rc;
    }
    return report_usage_error("kiln", "no command given", "kiln");
  });
}
