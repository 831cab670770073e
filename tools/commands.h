// The `kiln` subcommands; each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

int cmd_models(const std::vector<std::string>& args);
int cmd_train(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);

}  // namespace kiln::cli
