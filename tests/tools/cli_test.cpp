// The `kiln` command line (CLI11): every subcommand has --help; bad input gets a clear
// message naming the flag and value, exit 1 for errors and 2 for usage errors, never a
// crash; the --json line (nlohmann-json) carries the documented fields at full precision;
// checkpoints written by `train --save` can be evaluated, inspected and resumed.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "models/harness.h"
#include "models/registry.h"
#include "run_tool.h"

namespace {

using Result = kiln::testing::ToolResult;
using kiln::testing::run_tool;
using kiln::testing::temp_dir;

// A shell word: 'text' with embedded single quotes escaped.
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Result run(const std::string& args) { return run_tool("kiln", args); }


// The last line of `out` (the --json object).
std::string last_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.find_last_of('\n') + 1);
}

nlohmann::json last_json(const Result& r) {
  std::string line = last_line(r.out);
  INFO(line);
  REQUIRE(nlohmann::json::accept(line));
  return nlohmann::json::parse(line);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

const char* kFashion = "/usr/share/datasets/fashion-mnist";

bool have_fashion() {
  return std::filesystem::exists(std::string(kFashion) + "/train-images-idx3-ubyte.gz");
}

// name -> hash of every tensor listed by `kiln checkpoint FILE --json`.
std::map<std::string, std::string> tensor_hashes(const std::string& file) {
  Result r = run("checkpoint " + quote(file) + " --json");
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::map<std::string, std::string> h;
  nlohmann::json j = last_json(r);  // not a temporary: the loop refers into it
  for (const auto& t : j["tensors"]) h[t["name"].get<std::string>()] = t["hash"].get<std::string>();
  return h;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

}  // namespace

TEST_CASE("kiln models lists the zoo", "[cli]") {
  Result r = run("models");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("mlp_dropout"));
  CHECK_THAT(r.out, Catch::Contains("house_prices"));
}

TEST_CASE("unknown model, command and flags exit non-zero with a clear message", "[cli]") {
  struct Case {
    const char* args;
    int code;
    const char* message;
  };
  const Case cases[] = {
      // errors: exit 1, the message names the flag and the bad value
      {"train resnet9000", 1, "unknown model 'resnet9000'"},
      {"train mlp --epochs three", 1, "--epochs: expected an integer from 1 to 1000000, got 'three'"},
      {"train mlp --epochs 0", 1, "--epochs: expected an integer from 1 to 1000000, got '0'"},
      {"train mlp --epochs 1000001", 1, "--epochs: expected an integer from 1 to 1000000"},
      {"train mlp --epochs 2.5", 1, "--epochs: expected an integer from 1 to 1000000, got '2.5'"},
      {"train mlp --batch-size 0", 1, "--batch-size: expected an integer from 1 to 16777216, got '0'"},
      {"train mlp --batch-size 16777217", 1, "--batch-size: expected an integer from 1 to 16777216"},
      {"train mlp --threads 0", 1, "--threads: expected an integer from 1 to 256, got '0'"},
      {"train mlp --threads 257", 1, "--threads: expected an integer from 1 to 256, got '257'"},
      {"train mlp --seed -1", 1, "--seed: expected an integer >= 0, got '-1'"},
      {"train mlp --seed 99999999999999999999", 1, "--seed: expected an integer >= 0"},
      {"train mlp --limit 0", 1, "--limit: expected an integer >= 1, got '0'"},
      {"train mlp --lr 0", 1, "--lr: expected a number > 0, got '0'"},
      {"train mlp --lr -0.1", 1, "--lr: expected a number > 0, got '-0.1'"},
      {"train mlp --lr nan", 1, "--lr: expected a number > 0, got 'nan'"},
      {"train mlp --lr 1x", 1, "--lr: expected a number > 0, got '1x'"},
      {"train mlp --wd -1", 1, "--wd: expected a number >= 0, got '-1'"},
      {"train mlp --momentum 1", 1, "--momentum: expected a number in [0, 1), got '1'"},
      {"train linreg --optimizer rmsprop --quiet", 1, "--optimizer: unknown optimizer 'rmsprop'"},
      {"train house_prices --momentum 0.9 --quiet", 1, "--momentum applies to sgd only"},
      {"inspect mlp --print-after nosuchpass", 1, "--print-after: unknown pass 'nosuchpass'"},
      {"inspect mlp --batch-size -3", 1, "--batch-size: expected an integer from 1 to 16777216, got '-3'"},
      {"inspect resnet9000", 1, "unknown model 'resnet9000'"},
      {"eval resnet9000 --checkpoint x", 1, "unknown model 'resnet9000'"},
      {"eval linreg --checkpoint x", 1, "model 'linreg' has no evaluation"},
      {"eval softmax --checkpoint /nonexistent/x.kckpt", 1, "/nonexistent/x.kckpt"},
      {"checkpoint /nonexistent/x.kckpt", 1, "/nonexistent/x.kckpt"},
      {"train lenet --size 0", 1, "--size: expected an integer from 1 to 4096, got '0'"},
      {"train mlp --size 32 --quiet", 1, "model 'mlp' does not use --size"},
      {"inspect mlp --size 32", 1, "model 'mlp' does not use --size"},
      {"inspect mlp --summary", 1, "model 'mlp' has no layer summary"},
      {"inspect lenet --summary --no-fusion", 1, "--no-fusion shows the kernels of a step"},
      // a size too small is refused before the data is read (no missing-data error)
      {"train lenet --size 11 --quiet --data /nonexistent/kiln", 1,
       "lenet: --size 11 is too small: the output of layer 6 (AvgPool2d"},
      {"train alexnet --size 64 --quiet", 1, "the smallest valid size is 65"},
      {"eval lenet --checkpoint x --size 8", 1, "lenet: --size 8 is too small"},
      {"inspect densenet --summary --size 28", 1,
       "layer 7.4 (TransitionBlock(120) > AvgPool2d(kernel=2x2"},
      // usage errors: exit 2
      {"frobnicate", 2, "unknown command 'frobnicate'"},
      {"--frobnicate", 2, "unknown flag '--frobnicate'"},
      {"", 2, "Usage: kiln"},
      {"train mlp --epochz 3", 2, "unknown flag '--epochz' for 'kiln train'"},
      {"train mlp -e 3", 2, "unknown flag '-e' for 'kiln train'"},
      {"train mlp extra", 2, "unexpected argument 'extra' for 'kiln train'"},
      {"train", 2, "MODEL is required"},
      {"train mlp --lr", 2, "flag '--lr' needs a value"},
      {"train mlp --epochs 2 --epochs 3", 2, "flag '--epochs' given more than once"},
      {"models extra", 2, "unexpected argument 'extra' for 'kiln models'"},
      {"eval softmax", 2, "--checkpoint is required"},
      {"eval softmax --checkpoint x --limit 5", 2, "unknown flag '--limit' for 'kiln eval'"},
      {"inspect mlp --json", 2, "unknown flag '--json' for 'kiln inspect'"},
      {"bench nosuchmodel", 1, "unknown model 'nosuchmodel'"},
      {"bench mlp --steps 0", 1, "--steps: expected an integer from 1 to 1000000, got '0'"},
      {"bench mlp --size 32", 1, "model 'mlp' does not use --size"},
      {"bench mlp --limit 5", 2, "unknown flag '--limit' for 'kiln bench'"},
      {"checkpoint", 2, "FILE is required"},
      {"checkpoint a b", 2, "unexpected argument 'b' for 'kiln checkpoint'"},
  };
  for (const Case& c : cases) {
    INFO("kiln " << c.args);
    Result r = run(c.args);
    CHECK(r.code == c.code);
    CHECK_THAT(r.out, Catch::Contains(c.message));
    if (c.code == 1) CHECK_THAT(r.out, Catch::StartsWith("kiln: error: "));
    CHECK_THAT(r.out, !Catch::Contains("terminate"));
  }
}

TEST_CASE("every subcommand's --help exits 0 and lists its flags", "[cli]") {
  struct Case {
    const char* command;
    std::vector<const char*> flags;
  };
  const Case cases[] = {
      {"", {"models", "train", "eval", "inspect", "bench", "checkpoint", "--help"}},
      {"models", {"--help"}},
      {"train",
       {"MODEL", "--epochs", "--batch-size", "--lr", "--wd", "--optimizer", "--momentum",
        "--threads", "--seed", "--data", "--plot", "--output", "--limit", "--save", "--resume",
        "--size", "--no-fusion", "--json", "--quiet", "--cache-dir", "--no-cache"}},
      {"eval",
       {"MODEL", "--checkpoint", "--json", "--data", "--batch-size", "--threads", "--size",
        "--quiet", "--cache-dir", "--no-cache"}},
      {"inspect", {"MODEL", "--print-after", "--dot", "--batch-size", "--eval", "--summary", "--size",
                   "--no-fusion", "--cache-dir", "--no-cache"}},
      {"checkpoint", {"FILE", "--json"}},
      {"bench", {"MODEL", "--batch-size", "--steps", "--threads", "--eval", "--no-fusion", "--json",
                 "--size", "--cache-dir", "--no-cache"}},
  };
  for (const Case& c : cases) {
    for (std::string form : {std::string(c.command) + " --help", std::string(c.command) + " -h",
                             "help " + std::string(c.command)}) {
      INFO("kiln " << form);
      Result r = run(form);
      CHECK(r.code == 0);
      CHECK_THAT(r.out, Catch::Contains("Usage: kiln " + std::string(c.command)));
      for (const char* f : c.flags) CHECK_THAT(r.out, Catch::Contains(f));
    }
  }
  // --help wins over everything else on the line, even a missing MODEL.
  Result r = run("train --help --epochs 3");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("--resume"));
}

TEST_CASE("a truncated IDX file is reported with its path", "[cli]") {
  std::string dir = temp_dir("kiln_cli_truncated");
  std::string images = be32(0x00000803) + be32(100) + be32(28) + be32(28) + std::string(1000, '\0');
  std::string labels = be32(0x00000801) + be32(100) + std::string(100, '\0');
  for (const char* split : {"train", "t10k"}) {
    write_gz(dir + "/" + split + "-images-idx3-ubyte.gz", images);
    write_gz(dir + "/" + split + "-labels-idx1-ubyte.gz", labels);
  }
  Result r = run("train mlp --epochs 1 --quiet --data " + dir);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("train-images-idx3-ubyte.gz"));
  CHECK_THAT(r.out, Catch::Contains("truncated"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a missing data directory names the Debian package", "[cli]") {
  Result r = run("train softmax --epochs 1 --quiet --data /nonexistent/fmnist");
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("dataset-fashion-mnist"));
}

TEST_CASE("the json flag prints one object with the documented fields last", "[cli]") {
  Result r = run("train linreg --epochs 2 --quiet --json");
  REQUIRE(r.code == 0);
  std::string last = last_line(r.out);
  CHECK(last.front() == '{');
  for (const char* field : {"\"model\":\"linreg\"", "\"epochs\":2", "\"train_loss\":",
                            "\"seconds_per_epoch\":", "\"fastest_epoch_seconds\":",
                            "\"examples_per_second\":",
                            "\"compile_seconds\":"})
    CHECK_THAT(last, Catch::Contains(field));
  nlohmann::json j = last_json(r);
  CHECK(j["model"] == "linreg");
  CHECK(j["epochs"].is_number_integer());
  CHECK(j["fastest_epoch_seconds"].get<double>() > 0);
  CHECK(j["fastest_epoch_seconds"].get<double>() <= j["seconds_per_epoch"].get<double>());
  CHECK(j["train_loss"].is_number_float());
  // Full precision: the number's text round-trips and carries more than printf's %.6g.
  std::smatch m;
  REQUIRE(std::regex_search(last, m, std::regex("\"train_loss\":([-0-9.eE+]+)")));
  CHECK(std::stod(m[1].str()) == j["train_loss"].get<double>());
  CHECK(m[1].str().size() > 8);
  // --flag=value works as well as --flag value.
  Result eq = run("train linreg --epochs=1 --quiet --json");
  REQUIRE(eq.code == 0);
  CHECK(last_json(eq)["epochs"] == 1);
}

TEST_CASE("json strings are escaped and invalid UTF-8 is replaced", "[cli]") {
  std::string dir = temp_dir("kiln_cli_json_strings");
  // Notes carry the paths: a quote, a backslash, a tab, non-ASCII and an invalid byte.
  std::string plot = dir + "/c\"ur\\ve\t\xc3\xa9\xff.svg";
  Result r = run("train linreg --epochs 1 --quiet --json --plot " + quote(plot));
  REQUIRE(r.code == 0);
  nlohmann::json j = last_json(r);
  CHECK(j["plot"] == dir + "/c\"ur\\ve\t\xc3\xa9\xef\xbf\xbd.svg");  // U+FFFD
  std::filesystem::remove_all(dir);
}

TEST_CASE("the plot flag writes the SVG and CSV curves", "[cli]") {
  std::string dir = temp_dir("kiln_cli_plot");
  Result r = run("train linreg --epochs 2 --quiet --plot " + dir + "/curves.svg");
  REQUIRE(r.code == 0);
  std::ifstream svg(dir + "/curves.svg"), csv(dir + "/curves.csv");
  REQUIRE(svg.good());
  REQUIRE(csv.good());
  std::string head;
  std::getline(csv, head);
  CHECK_THAT(head, Catch::Contains("train_loss"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln inspect shows far fewer kernels than graph nodes", "[cli]") {
  auto counts = [](const std::string& args) {
    Result r = run(args);
    REQUIRE(r.code == 0);
    auto pos = r.out.find("graph nodes ");
    REQUIRE(pos != std::string::npos);
    int nodes = 0, kernels = 0;
    REQUIRE(std::sscanf(r.out.c_str() + pos, "graph nodes %d -> kernels %d", &nodes, &kernels) ==
            2);
    return std::make_pair(nodes, kernels);
  };
  auto [nodes, kernels] = counts("inspect mlp");
  CHECK(kernels > 0);
  CHECK(kernels * 3 < nodes);
  // --no-fusion: a kernel for (almost) every computed node.
  auto [same_nodes, unfused] = counts("inspect mlp --no-fusion");
  CHECK(same_nodes == nodes);
  CHECK(unfused > 3 * kernels);
}

TEST_CASE("kiln inspect mlp: softmax cross-entropy and its gradient in at most 3 kernels", "[cli]") {
  Result r = run("inspect mlp");
  REQUIRE(r.code == 0);
  // Every kernel line after the GEMM computing the logits up to the next GEMM (the
  // backward pass through the class head) is the loss or its gradient.
  std::vector<std::string> kernels;
  for (size_t at = r.out.find("\n  kernel "); at != std::string::npos;
       at = r.out.find("\n  kernel ", at + 1))
    kernels.push_back(r.out.substr(at + 10, r.out.find('\n', at + 1) - at - 10));
  REQUIRE(kernels.size() >= 4);
  CHECK_THAT(kernels[1], Catch::StartsWith("matmul_"));  // logits = h @ W2 (+ b2)
  size_t next_gemm = 2;
  while (next_gemm < kernels.size() && kernels[next_gemm].rfind("matmul_", 0) != 0) ++next_gemm;
  INFO(r.out);
  // The row kernel, the mean loss, the accuracy count and the bias gradient's column sum:
  // the loss and its gradient are the first two.
  CHECK(next_gemm - 2 <= 4);
  CHECK_THAT(kernels[2], Catch::Contains("reduce_max") && Catch::Contains("rows 256"));
}

TEST_CASE("training with --no-fusion reaches the same accuracy as the fused step", "[cli]") {
  nlohmann::json fused = last_json(run("train mlp --epochs 2 --limit 3000 --quiet --json"));
  nlohmann::json unfused =
      last_json(run("train mlp --epochs 2 --limit 3000 --quiet --json --no-fusion"));
  REQUIRE(fused.contains("test_acc"));
  REQUIRE(unfused.contains("test_acc"));
  // The same arithmetic; only the order of some f32 sums differs.
  CHECK(std::abs(fused["test_acc"].get<double>() - unfused["test_acc"].get<double>()) <= 0.005);
  CHECK(std::abs(fused["train_loss"].get<double>() - unfused["train_loss"].get<double>()) <= 1e-3);
  CHECK(fused["test_acc"].get<double>() > 0.3);  // chance is 0.1
}

TEST_CASE("kiln bench times a step per kernel against the machine's limits", "[cli]") {
  Result r = run("bench mlp --steps 3 --batch-size 32");
  REQUIRE(r.code == 0);
  for (const char* s : {"kiln bench mlp: training step, batch 32", "machine: GEMM ", "copy ",
                        "step: ", "GFLOP/s", "of peak", "roofline: GEMM-bound ", "limit "})
    CHECK_THAT(r.out, Catch::Contains(s));
  Result j = run("bench softmax --steps 2 --batch-size 16 --eval --json");
  REQUIRE(j.code == 0);
  for (const char* key : {"\"model\":\"softmax\"", "\"graph\":\"eval\"", "\"gemm_peak_gflops\":",
                          "\"copy_gbps\":", "\"steps\":2", "\"limit_ms\":", "\"fraction_of_limit\":",
                          "\"profile\":[{\"name\":"})
    CHECK_THAT(j.out, Catch::Contains(key));
  // A softmax regression step's contraction: 2 * 16 * 784 * 10 FLOPs.
  CHECK_THAT(j.out, Catch::Contains("\"gemm_flops\":250880"));
}

TEST_CASE("kiln inspect --summary prints d2l's LeNet shapes and parameter counts", "[cli]") {
  Result r = run("inspect lenet --summary");
  INFO(r.out);
  REQUIRE(r.code == 0);
  // (layer, output shape) in order, as d2l 6.6 prints them.
  const std::pair<const char*, const char*> rows[] = {
      {"input", "1x28x28"},   {"Conv2d", "6x28x28"}, {"Sigmoid", "6x28x28"},
      {"AvgPool2d", "6x14x14"}, {"Conv2d", "16x10x10"}, {"Sigmoid", "16x10x10"},
      {"AvgPool2d", "16x5x5"}, {"Flatten", "400"},     {"Linear(400, 120)", "120"},
      {"Sigmoid", "120"},      {"Linear(120, 84)", "84"}, {"Sigmoid", "84"},
      {"Linear(84, 10)", "10"}};
  std::istringstream lines(r.out);
  std::string line;
  std::getline(lines, line);  // the header
  for (auto [layer, shape] : rows) {
    REQUIRE(std::getline(lines, line));
    std::istringstream words(line.substr(line.find("  ")));
    std::string got;
    words >> got;
    CHECK_THAT(line, Catch::StartsWith(layer));
    CHECK(got == shape);
  }
  CHECK_THAT(r.out, Catch::Contains("total parameters: 61706"));  // PyTorch's count

  // --size: the same network on 32x32 inputs.
  r = run("inspect lenet --summary --size 32");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("6x32x32") && Catch::Contains("16x6x6") &&
                        Catch::Contains("Linear(576, 120)"));
}

TEST_CASE("kiln-opt runs a pass on a textual graph", "[cli]") {
  std::string dir = temp_dir("kiln_opt_test");
  {
    std::ofstream f(dir + "/in.kir");
    f << "graph t {\n  %0 = input() {name=\"x\"} : f32[3]\n  %1 = exp(%0) : f32[3]\n"
         "  %2 = exp(%0) : f32[3]\n  %3 = add(%1, %2) : f32[3]\n  output \"y\" = %3\n}\n";
  }
  Result ok = run_tool("kiln-opt", dir + "/in.kir --pass simplify");
  CHECK(ok.code == 0);
  CHECK_THAT(ok.out, Catch::Contains("%2 = add(%1, %1)"));
  CHECK_THAT(ok.out, !Catch::Contains("%3"));
  {
    std::ofstream f(dir + "/bn.kir");
    f << "graph t {\n  %0 = input() {name=\"x\"} : f32[64,32,8,8]\n"
         "  %1 = reduce_mean(%0) {axes=[0,2,3], keepdims=1} : f32[1,32,1,1]\n"
         "  output \"m\" = %1\n}\n";
  }
  Result split = run_tool("kiln-opt", dir + "/bn.kir --pass split_reductions");
  CHECK(split.code == 0);
  CHECK_THAT(split.out, Catch::Contains("reduce_mean(%0) {axes=[2,3], keepdims=1} : f32[64,32,1,1]"));
  Result missing = run_tool("kiln-opt", dir + "/missing.kir");
  CHECK(missing.code == 1);
  CHECK_THAT(missing.out, Catch::Contains("cannot read"));
  Result pass = run_tool("kiln-opt", dir + "/in.kir --pass nosuch");
  CHECK(pass.code == 1);
  CHECK_THAT(pass.out, Catch::Contains("unknown pass 'nosuch'"));
  Result lr = run_tool("kiln-opt", dir + "/in.kir --pass training --lr x");
  CHECK(lr.code == 1);
  CHECK_THAT(lr.out, Catch::Contains("--lr: expected a number, got 'x'"));
  Result flag = run_tool("kiln-opt", dir + "/in.kir --passes simplify");
  CHECK(flag.code == 2);
  CHECK_THAT(flag.out, Catch::Contains("unknown flag '--passes'"));
  Result none = run_tool("kiln-opt", "");
  CHECK(none.code == 2);
  CHECK_THAT(none.out, Catch::Contains("FILE is required"));
  Result help = run_tool("kiln-opt", "--help");
  CHECK(help.code == 0);
  for (const char* f : {"--pass", "--loss", "--lr", "--adam"}) CHECK_THAT(help.out, Catch::Contains(f));
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln eval reports the test accuracy that training reported", "[cli]") {
  if (!have_fashion()) {
    WARN("Fashion-MNIST is not installed (dataset-fashion-mnist): skipped");
    return;
  }
  std::string dir = temp_dir("kiln_cli_eval");
  std::string ck = dir + "/softmax.kckpt";
  // Without --limit, training evaluates on the whole test set, as eval does.
  Result train = run("train softmax --epochs 1 --save " + ck + " --quiet --json");
  REQUIRE(train.code == 0);
  nlohmann::json t = last_json(train);
  Result eval = run("eval softmax --checkpoint " + ck + " --json --quiet");
  INFO(eval.out);
  REQUIRE(eval.code == 0);
  CHECK_THAT(eval.out, Catch::Contains("test_acc"));
  nlohmann::json e = last_json(eval);
  CHECK(e["model"] == "softmax");
  CHECK(e["epochs"] == 1);
  CHECK(e["examples"] == 10000);
  CHECK(e["checkpoint"] == ck);
  double acc = e["test_acc"].get<double>();
  CHECK(acc >= 0.0);
  CHECK(acc <= 1.0);
  CHECK(acc == t["test_acc"].get<double>());
  CHECK(e["test_loss"].get<double>() == Approx(t["test_loss"].get<double>()).epsilon(1e-6));
  // --batch-size changes the batching, not the result.
  Result batched = run("eval softmax --checkpoint " + ck + " --json --batch-size 1000 --threads 1");
  REQUIRE(batched.code == 0);
  CHECK(last_json(batched)["test_acc"].get<double>() == acc);

  // A checkpoint trained on a --limit subset evaluates on the whole test set too.
  std::string small = dir + "/small.kckpt";
  REQUIRE(run("train softmax --epochs 1 --limit 512 --save " + small + " --quiet").code == 0);
  Result e2 = run("eval softmax --checkpoint " + small);
  REQUIRE(e2.code == 0);
  CHECK_THAT(e2.out, Catch::Contains("test_acc"));
  CHECK_THAT(e2.out, Catch::Contains("examples               10000"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln checkpoint lists every parameter with a content hash", "[cli]") {
  if (!have_fashion()) {
    WARN("Fashion-MNIST is not installed (dataset-fashion-mnist): skipped");
    return;
  }
  std::string dir = temp_dir("kiln_cli_checkpoint");
  const std::string flags = " --limit 512 --quiet";
  std::string a = dir + "/a.kckpt", b = dir + "/b.kckpt", c = dir + "/c.kckpt",
              d = dir + "/d.kckpt";
  REQUIRE(run("train softmax --epochs 1 --save " + a + flags).code == 0);
  REQUIRE(run("train softmax --epochs 1 --save " + b + flags).code == 0);

  // The model's parameters, from the model itself.
  const kiln::ModelEntry* entry = kiln::find_model("softmax");
  REQUIRE(entry != nullptr);
  kiln::Expected<kiln::SupervisedSpec> spec = entry->spec(kiln::RunOptions{});
  REQUIRE(spec.ok());
  kiln::CompiledModel model(std::move(*spec));
  REQUIRE(model.get(kiln::GraphKind::Train, 8).ok());
  std::vector<std::string> params = model.state().parameters();
  REQUIRE(!params.empty());

  Result text = run("checkpoint " + a);
  INFO(text.out);
  REQUIRE(text.code == 0);
  CHECK_THAT(text.out, Catch::Contains("model          softmax"));
  CHECK_THAT(text.out, Catch::Contains("format         1"));
  CHECK_THAT(text.out, Catch::Contains("epoch          1"));
  CHECK_THAT(text.out, Catch::Contains("train_loss"));
  for (const std::string& p : params) {
    std::regex line("\n  " + p + " +parameter +f32 +\\[[0-9,]*\\] +[0-9a-f]{16}\n");
    CHECK(std::regex_search(text.out, line));
  }

  Result js = run("checkpoint " + a + " --json");
  REQUIRE(js.code == 0);
  nlohmann::json j = last_json(js);
  CHECK(j["model"] == "softmax");
  CHECK(j["format_version"] == 1);
  CHECK(j["epoch"] == 1);
  CHECK(j["step"].get<int64_t>() == 2);  // 512 examples in batches of 256
  CHECK(j["data_seed"] == 0);
  REQUIRE(j["epoch_metrics"].size() == 1);
  CHECK(j["epoch_metrics"][0]["train_loss"].is_number_float());
  std::set<std::string> listed;
  for (const auto& t : j["tensors"])
    if (t["kind"] == "parameter") listed.insert(t["name"].get<std::string>());
  CHECK(listed == std::set<std::string>(params.begin(), params.end()));

  // Identical runs give identical hashes; one more epoch changes every parameter.
  std::map<std::string, std::string> ha = tensor_hashes(a), hb = tensor_hashes(b);
  CHECK(ha.size() >= params.size());
  CHECK(ha == hb);
  REQUIRE(run("train softmax --epochs 2 --resume " + a + " --save " + c + flags).code == 0);
  std::map<std::string, std::string> hc = tensor_hashes(c);
  for (const std::string& p : params) {
    INFO(p);
    REQUIRE(hc.count(p));
    CHECK(hc[p] != ha[p]);
  }
  CHECK(last_json(run("checkpoint " + c + " --json"))["epoch"] == 2);
  // Resuming continues the run exactly: 1 + 1 epochs equal 2 epochs in one go.
  REQUIRE(run("train softmax --epochs 2 --save " + d + flags).code == 0);
  CHECK(tensor_hashes(d) == hc);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a bad checkpoint is an error naming the file, not a crash", "[cli]") {
  if (!have_fashion()) {
    WARN("Fashion-MNIST is not installed (dataset-fashion-mnist): skipped");
    return;
  }
  std::string dir = temp_dir("kiln_cli_bad_checkpoint");
  std::string good = dir + "/good.kckpt";
  REQUIRE(run("train softmax --epochs 1 --limit 512 --quiet --save " + good).code == 0);
  std::string bytes = read_file(good);
  REQUIRE(bytes.size() > 64);
  std::string truncated = dir + "/truncated.kckpt", random = dir + "/random.kckpt",
              empty = dir + "/empty.kckpt", other = dir + "/linreg.kckpt";
  write_file(truncated, bytes.substr(0, bytes.size() / 2));
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (char& ch : noise) ch = static_cast<char>(rng());
  write_file(random, noise);
  write_file(empty, "");
  REQUIRE(run("train linreg --epochs 1 --quiet --save " + other).code == 0);

  for (const std::string& file : {truncated, random, empty, other}) {
    for (const std::string& cmd :
         {"train softmax --epochs 2 --limit 512 --quiet --resume " + file,
          "eval softmax --quiet --checkpoint " + file}) {
      INFO("kiln " << cmd);
      Result r = run(cmd);
      CHECK(r.code == 1);  // an error, not a signal (128) or a usage error
      CHECK_THAT(r.out, Catch::Contains(file));
      CHECK_THAT(r.out, Catch::StartsWith("kiln: error: "));
    }
  }
  for (const std::string& file : {truncated, random, empty}) {
    INFO("kiln checkpoint " << file);
    Result r = run("checkpoint " + file);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::Contains(file));
  }
  CHECK_THAT(run("train softmax --epochs 2 --limit 512 --quiet --resume " + other).out,
             Catch::Contains("checkpoint of model 'linreg', not 'softmax'"));
  std::filesystem::remove_all(dir);
}

// ---- Hardening (issue 12): loaders and sizes from user input --------------------------

namespace {

// A --data directory whose train and test images are h x w, gzip-compressed.
std::string fashion_dir_of_size(const std::string& name, uint32_t h, uint32_t w) {
  std::string dir = temp_dir(name);
  for (const char* split : {"train", "t10k"}) {
    uint32_t n = 8;
    std::string images = be32(0x00000803) + be32(n) + be32(h) + be32(w) + std::string(size_t(n) * h * w, '\x40');
    std::string labels = be32(0x00000801) + be32(n) + std::string(n, '\x03');
    write_gz(dir + "/" + split + "-images-idx3-ubyte.gz", images);
    write_gz(dir + "/" + split + "-labels-idx1-ubyte.gz", labels);
  }
  return dir;
}

}  // namespace

TEST_CASE("images that are not 28x28 are refused naming the file and never trained on", "[cli][hardening]") {
  // 32x32 overflowed the heap in gather; 10x10 and 0x0 trained on a half-filled buffer.
  for (auto [h, w] : {std::pair<uint32_t, uint32_t>{32, 32}, {10, 10}, {0, 0}}) {
    std::string dir = fashion_dir_of_size("kiln_cli_size", h, w);
    Result r = run("train mlp --epochs 1 --quiet --data " + dir);
    INFO(h << "x" << w << ": " << r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("kiln: error: ") && Catch::Contains("train-images-idx3-ubyte.gz") &&
                          Catch::Contains(std::to_string(h) + "x" + std::to_string(w)));
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("a gzip file with a bad CRC or trailing garbage is refused and never trained on", "[cli][hardening]") {
  std::string dir = fashion_dir_of_size("kiln_cli_crc", 28, 28);
  std::string path = dir + "/train-images-idx3-ubyte.gz";
  std::string gz = read_file(path);
  REQUIRE(gz.size() > 16);
  gz[gz.size() - 6] ^= 0x40;  // inside the CRC-32 of the trailer
  write_file(path, gz);
  Result r = run("train mlp --epochs 1 --quiet --data " + dir);
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("train-images-idx3-ubyte.gz") && Catch::Contains("CRC-32 mismatch"));
  // Trailing garbage after the stream.
  write_gz(path, be32(0x00000803) + be32(8) + be32(28) + be32(28) + std::string(8 * 784, '\x40'));
  write_file(path, read_file(path) + "junk");
  r = run("train mlp --epochs 1 --quiet --data " + dir);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("train-images-idx3-ubyte.gz") && Catch::Contains("trailing garbage"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a linreg limit beyond what it can generate is refused and no abort", "[cli][hardening]") {
  for (const char* limit : {"9223372036854775807", "4000000000", "10000001"}) {
    Result r = run(std::string("train linreg --epochs 1 --quiet --limit ") + limit);
    INFO(limit << ": " << r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("kiln: error: ") && Catch::Contains("--limit") &&
                          Catch::Contains("10000000") && Catch::Contains(limit));
  }
}

TEST_CASE("a limit larger than Fashion-MNIST means the whole data set", "[cli][hardening]") {
  std::string dir = fashion_dir_of_size("kiln_cli_limit", 28, 28);
  Result r = run("train softmax --epochs 1 --quiet --json --limit 9223372036854775807 --data " + dir);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(last_json(r)["epochs"] == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a batch too large for memory is a clear refusal and no abort", "[cli][hardening]") {
  // f32[16777216,1,28,28] is 52,613,349,376 bytes: refused with the shape and the bytes
  // (HostBuffer::allocate and the arena check), never "internal error ... out of memory".
  Result r = run("inspect mlp --batch-size 16777216");
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::StartsWith("kiln: error: ") && Catch::Contains("bytes") && Catch::Contains("limit"));
  CHECK_THAT(r.out, !Catch::Contains("internal error"));
}

TEST_CASE("a conv model trains on resized images and evaluates at the same size", "[cli]") {
  std::string dir = fashion_dir_of_size("kiln_cli_resize", 28, 28);
  std::string ck = dir + "/lenet.kckpt";
  Result r = run("train lenet --size 20 --epochs 1 --batch-size 4 --quiet --json --data " + dir +
                 " --save " + ck);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(last_json(r)["epochs"] == 1);
  r = run("eval lenet --size 20 --quiet --json --data " + dir + " --checkpoint " + ck);
  REQUIRE(r.code == 0);
  CHECK(last_json(r)["examples"] == 8);
  // At another size the first Linear layer has another shape: refused, not misread.
  r = run("eval lenet --quiet --data " + dir + " --checkpoint " + ck);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("trained on examples of shape [1,20,20], but the model now "
                                    "takes [1,28,28] (give the training run's --size)"));
  std::filesystem::remove_all(dir);
}
