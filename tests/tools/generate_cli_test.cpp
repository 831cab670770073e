// `kiln train` of the language models and `kiln generate`: the --json line carries
// perplexity and throughput; generate prints prefix + generated text, and every bad
// input (unknown or non-language model, missing or foreign checkpoint, empty prefix,
// negative length or temperature) is a clear error with exit code 1 or 2, never a crash.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "run_tool.h"
#include "shared_data.h"

namespace {

using Result = kiln::testing::ToolResult;
using kiln::testing::temp_dir;

// build/kiln ARGS; language models trained here read the corpus from the shared data
// folder (the clone may live anywhere, so the default next to the source tree may not
// exist).
Result run_kiln(std::string args, bool with_stderr = true) {
  const bool trains_lm = args.rfind("train char_", 0) == 0 || args.rfind("train deep_lstm", 0) == 0 ||
                         args.rfind("train bi_gru", 0) == 0;
  if (trains_lm && args.find("--corpus") == std::string::npos)
    args += " --corpus " + kiln::testing::shared_data_dir() + "/timemachine.txt";
  return kiln::testing::run_tool("kiln", args, with_stderr);
}

std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.find_last_of('\n') + 1);
}

// A char_gru checkpoint trained for two quick epochs (shared by the tests of this file).
const std::string& gru_checkpoint() {
  static const std::string path = [] {
    std::string p = temp_dir("kiln_generate_cli") + "/gru.kckpt";
    Result r = run_kiln("train char_gru --epochs 2 --max-tokens 2000 --hidden 32 --quiet --save " + p);
    INFO(r.out);
    REQUIRE(r.code == 0);
    return p;
  }();
  return path;
}

}  // namespace

TEST_CASE("kiln train char_gru --json reports perplexity and throughput", "[cli][lm]") {
  Result r = run_kiln("train char_gru --epochs 2 --max-tokens 2000 --json --quiet");
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::string line = last_line(r.out);
  REQUIRE(nlohmann::json::accept(line));
  nlohmann::json j = nlohmann::json::parse(line);
  CHECK(j["model"] == "char_gru");
  CHECK(j["epochs"] == 2);
  REQUIRE(j["perplexity"].is_number());
  CHECK(j["perplexity"].get<double>() > 1.0);
  CHECK(j["perplexity"].get<double>() < 40.0);
  CHECK(j["tokens_per_second"].get<double>() > 0);
  CHECK(j["seconds_per_epoch"].get<double>() > 0);
  CHECK(j["compile_seconds"].get<double>() > 0);
  CHECK(j["vocab_size"].get<double>() == 28);
  CHECK_THAT(j["corpus"].get<std::string>(), Catch::EndsWith("timemachine.txt"));
  // The text report names perplexity too.
  CHECK_THAT(r.out, Catch::Contains("perplexity"));
}

TEST_CASE("kiln generate prints the prefix and its continuation", "[cli][lm]") {
  const std::string& ck = gru_checkpoint();
  Result r = run_kiln("generate char_gru --checkpoint " + ck + " --prefix 'time traveller' --len 20",
                      /*with_stderr=*/false);
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::string line = last_line(r.out);
  REQUIRE(line.size() == 14 + 20);
  CHECK(line.rfind("time traveller", 0) == 0);
  // Seeded sampling repeats itself.
  const std::string sample = "generate char_gru --checkpoint " + ck +
                             " --prefix 'the ' --len 30 --temperature 1 --seed 4";
  Result a = run_kiln(sample), b = run_kiln(sample);
  REQUIRE(a.code == 0);
  CHECK(a.out == b.out);
  CHECK(last_line(a.out).size() == 34);
  // Characters outside the vocabulary: a note, not an error.
  Result unk = run_kiln("generate char_gru --checkpoint " + ck + " --prefix 'The' --len 3");
  REQUIRE(unk.code == 0);
  CHECK_THAT(unk.out, Catch::Contains("1 prefix characters are not in the vocabulary"));
}

TEST_CASE("kiln generate refuses bad input with clear errors", "[cli][lm]") {
  const std::string& ck = gru_checkpoint();
  struct Case {
    std::string args;
    int code;
    const char* message;
  };
  const Case cases[] = {
      {"generate no_such --checkpoint " + ck + " --prefix a", 1, "unknown model 'no_such'"},
      {"generate softmax --checkpoint " + ck + " --prefix a", 1, "not a language model"},
      {"generate char_lstm --checkpoint " + ck + " --prefix a", 1,
       "checkpoint of model 'char_gru', not 'char_lstm'"},
      {"generate char_gru --checkpoint /nonexistent/x.kckpt --prefix a", 1, "/nonexistent/x.kckpt"},
      {"generate char_gru --checkpoint " + ck + " --prefix ''", 1, "prefix is empty"},
      {"generate char_gru --checkpoint " + ck + " --prefix a --len -1", 1, "--len"},
      {"generate char_gru --checkpoint " + ck + " --prefix a --temperature -1", 1, "--temperature"},
      {"generate char_gru --prefix a", 2, "--checkpoint"},
      {"generate char_gru --checkpoint " + ck, 2, "--prefix"},
      {"train char_gru --corpus /nonexistent/corpus.txt --epochs 1", 1, "/nonexistent/corpus.txt"},
      {"train softmax --max-tokens 100", 1, "does not use --max-tokens"},
  };
  for (const Case& c : cases) {
    INFO(c.args);
    Result r = run_kiln(c.args);
    INFO(r.out);
    CHECK(r.code == c.code);
    CHECK_THAT(r.out, Catch::Contains(c.message));
    CHECK_THAT(r.out, !Catch::Contains("internal error"));
  }
}
