// The compile cache from the command line: `kiln train` writes it and a second run reuses
// it (less compile time, the same results), --cache-dir and $KILN_CACHE_DIR choose the
// directory, and --no-cache neither reads nor writes it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "run_tool.h"

namespace {

using kiln::testing::run_tool;
using kiln::testing::temp_dir;
namespace fs = std::filesystem;

nlohmann::json last_json(const kiln::testing::ToolResult& r) {
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  std::string line = s.substr(s.find_last_of('\n') + 1);
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE(nlohmann::json::accept(line));
  return nlohmann::json::parse(line);
}

// Every file under `dir` with its size and modification time.
std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> snapshot(const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out[e.path().string()] = {e.is_regular_file() ? e.file_size() : 0, e.last_write_time()};
  return out;
}

size_t entries(const std::string& dir) {
  size_t n = 0;
  for (const auto& [path, info] : snapshot(dir)) n += path.ends_with(".kobj");
  return n;
}

// KILN_CACHE_DIR for the tools this test runs (they inherit the environment).
class CacheDirEnv {
 public:
  explicit CacheDirEnv(const std::string& dir) {
    if (const char* old = std::getenv("KILN_CACHE_DIR")) old_ = old;
    ::setenv("KILN_CACHE_DIR", dir.c_str(), 1);
  }
  ~CacheDirEnv() {
    if (old_) ::setenv("KILN_CACHE_DIR", old_->c_str(), 1);
    else ::unsetenv("KILN_CACHE_DIR");
  }

 private:
  std::optional<std::string> old_;
};

const std::string kTrain = "train mlp --epochs 1 --limit 512 --quiet --json";

}  // namespace

TEST_CASE("kiln train reuses the compile cache: less compile time, the same results", "[cli][cache]") {
  std::string dir = temp_dir("kiln_cache_cli") + "/cache";  // created by kiln
  nlohmann::json first = last_json(run_tool("kiln", kTrain + " --cache-dir " + dir));
  size_t n = entries(dir);
  CHECK(n >= 1);
  nlohmann::json second = last_json(run_tool("kiln", kTrain + " --cache-dir " + dir));
  CHECK(entries(dir) == n);  // nothing new to store
  INFO("compile seconds: first " << first["compile_seconds"] << ", second "
                                 << second["compile_seconds"]);
  CHECK(second["compile_seconds"].get<double>() < first["compile_seconds"].get<double>());
  CHECK(second["train_loss"] == first["train_loss"]);  // the same code, bit for bit
  CHECK(second["test_acc"] == first["test_acc"]);

  // --no-cache neither reads nor writes, wherever the cache would be.
  auto before = snapshot(dir);
  {
    CacheDirEnv env(dir);
    nlohmann::json off = last_json(run_tool("kiln", kTrain + " --no-cache"));
    CHECK(off["train_loss"] == first["train_loss"]);
  }
  CHECK(snapshot(dir) == before);
  // --no-cache with --cache-dir is a usage error.
  CHECK(run_tool("kiln", kTrain + " --no-cache --cache-dir " + dir).code == 2);
}

TEST_CASE("KILN_CACHE_DIR chooses the cache directory when --cache-dir is not given", "[cli][cache]") {
  std::string dir = temp_dir("kiln_cache_env");
  CacheDirEnv env(dir);
  last_json(run_tool("kiln", "train linreg --epochs 1 --quiet --json"));
  CHECK(entries(dir) >= 1);
}

TEST_CASE("an unusable cache directory is a warning, and training goes on", "[cli][cache]") {
  std::string dir = temp_dir("kiln_cache_bad");
  { std::FILE* f = std::fopen((dir + "/file").c_str(), "w"); REQUIRE(f); std::fclose(f); }
  auto r = run_tool("kiln", "train linreg --epochs 1 --quiet --json --cache-dir " + dir + "/file/cache");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("warning: compile cache"));
  last_json(r);
}
