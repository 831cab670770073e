// `kiln train` of a translation model, `kiln translate` and `kiln inspect --attention`:
// the --json line carries bleu; translate prints one line per sentence; every bad input
// (unknown or non-translation model, missing checkpoint, no sentence, a model without
// attention) is a clear error with a non-zero exit, never a crash.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "run_tool.h"
#include "shared_data.h"

namespace {

using Result = kiln::testing::ToolResult;
using kiln::testing::temp_dir;

Result run_kiln(const std::string& args, bool with_stderr = true) {
  return kiln::testing::run_tool("kiln", args, with_stderr);
}

std::string data_flag() {
  return " --data " + kiln::testing::shared_data_dir() + "/fr-en-small.txt";
}

std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.find_last_of('\n') + 1);
}

}  // namespace

TEST_CASE("kiln train seq2seq reports bleu and kiln translate uses its checkpoint", "[cli][translation]") {
  const std::string ck = temp_dir("kiln_translate_cli") + "/s2s.kckpt";
  Result r = run_kiln("train seq2seq --epochs 3 --min-freq 1 --quiet --json --save " + ck + data_flag());
  INFO(r.out);
  REQUIRE(r.code == 0);
  nlohmann::json j = nlohmann::json::parse(last_line(r.out));
  CHECK(j["epochs"] == 3);
  CHECK(j["bleu"].get<double>() >= 0);
  CHECK(j["pairs"] == 20);

  Result t = run_kiln("translate seq2seq --checkpoint " + ck + " 'ils regardent .' 'il est riche .'",
                      /*with_stderr=*/false);
  INFO(t.out);
  CHECK(t.code == 0);
  CHECK(std::count(t.out.begin(), t.out.end(), '\n') == 2);
  // "riche" is not in the 20 pairs: a note, not an error.
  Result note = run_kiln("translate seq2seq --checkpoint " + ck + " 'il est riche .'");
  CHECK(note.code == 0);
  CHECK_THAT(note.out, Catch::Contains("1 words not in the vocabulary"));

  // The checkpoint belongs to seq2seq.
  Result foreign = run_kiln("generate char_rnn --checkpoint " + ck + " --prefix a");
  CHECK(foreign.code != 0);
  CHECK_THAT(foreign.out, Catch::Contains("seq2seq"));
}

TEST_CASE("kiln translate refuses bad input with a clear message", "[cli][translation]") {
  Result unknown = run_kiln("translate nosuchmodel --checkpoint x 'a .'");
  CHECK(unknown.code != 0);
  CHECK_THAT(unknown.out, Catch::Contains("unknown model 'nosuchmodel'"));
  Result not_nmt = run_kiln("translate softmax --checkpoint x 'a .'");
  CHECK(not_nmt.code != 0);
  CHECK_THAT(not_nmt.out, Catch::Contains("not a translation model") && Catch::Contains("seq2seq"));
  Result missing = run_kiln("translate seq2seq --checkpoint /nonexistent/c.kckpt 'a .'");
  CHECK(missing.code != 0);
  CHECK_THAT(missing.out, Catch::Contains("/nonexistent/c.kckpt"));
  Result no_sentence = run_kiln("translate seq2seq --checkpoint c.kckpt");
  CHECK(no_sentence.code != 0);
  CHECK_THAT(no_sentence.out, Catch::Contains("SENTENCE"));
  Result no_attention = run_kiln("inspect seq2seq --attention /tmp/never.svg" + data_flag());
  CHECK(no_attention.code != 0);
  CHECK_THAT(no_attention.out, Catch::Contains("no attention weights"));
  Result flag = run_kiln("train softmax --min-freq 1 --epochs 1");
  CHECK(flag.code != 0);
  CHECK_THAT(flag.out, Catch::Contains("--min-freq"));
}
