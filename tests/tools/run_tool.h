// Running the built tools from CLI tests: output and exit code of build/<tool> ARGS, and a
// fresh temporary directory per test and process (test binaries of several build trees
// may run at the same time).
#pragma once

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace kiln::testing {

struct ToolResult {
  int code = -1;
  std::string out;  // stdout and, unless left out, stderr
};

inline ToolResult run_tool(const std::string& tool, const std::string& args,
                           bool with_stderr = true) {
  std::string cmd = std::string(KILN_BINARY_DIR) + "/" + tool + " " + args +
                    (with_stderr ? " 2>&1" : " 2>/dev/null");
  ToolResult r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

inline std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace kiln::testing
