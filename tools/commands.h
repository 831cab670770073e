// The `kiln` subcommands. Each add_*_command registers its subcommand, flags and
// --help with the top-level CLI11 app and returns the function that runs it once the
// command line has parsed; that function returns the process exit code.
#pragma once

#include <functional>

namespace CLI {
class App;
}  // namespace CLI

namespace kiln::cli {

struct Command {
  CLI::App* app = nullptr;   // the subcommand; parsed() after parsing when selected
  std::function<int()> run;  // owns the parsed flag values
};

Command add_models_command(CLI::App& kiln);      // kiln models
Command add_train_command(CLI::App& kiln);       // kiln train MODEL
Command add_eval_command(CLI::App& kiln);        // kiln eval MODEL --checkpoint FILE
Command add_inspect_command(CLI::App& kiln);     // kiln inspect MODEL
Command add_bench_command(CLI::App& kiln);       // kiln bench MODEL
Command add_checkpoint_command(CLI::App& kiln);  // kiln checkpoint FILE
Command add_generate_command(CLI::App& kiln);    // kiln generate MODEL --checkpoint FILE
Command add_translate_command(CLI::App& kiln);   // kiln translate MODEL --checkpoint FILE S...
Command add_export_command(CLI::App& kiln);      // kiln export MODEL --checkpoint FILE -o F
Command add_compile_command(CLI::App& kiln);     // kiln compile MODEL.kiln --emit K -o OUT
Command add_run_command(CLI::App& kiln);         // kiln run MODEL.kiln

// --size S (train, eval, inspect): the side of the square input images.
void add_size_flag(CLI::App& command, int& size);

}  // namespace kiln::cli
