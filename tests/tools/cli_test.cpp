// The `kiln` command line: bad input gets a clear message and a non-zero exit, and the
// --json line carries the documented fields.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <zlib.h>

namespace {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

// Runs build/<tool> with `args`, capturing its output and exit code.
Result run_tool(const std::string& tool, const std::string& args) {
  std::string cmd = std::string(KILN_BINARY_DIR) + "/" + tool + " " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

Result run(const std::string& args) { return run_tool("kiln", args); }

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
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
      {"train resnet9000", 1, "unknown model 'resnet9000'"},
      {"train mlp --epochz 3", 1, "unknown flag '--epochz'"},
      {"train mlp --epochs three", 1, "--epochs expects an integer, got 'three'"},
      {"frobnicate", 2, "unknown command 'frobnicate'"},
      {"train mlp --lr", 1, "'--lr' needs a value"},
      {"train linreg --optimizer rmsprop --quiet", 1, "unknown optimizer 'rmsprop'"},
      {"train house_prices --momentum 0.9 --quiet", 1, "--momentum applies to sgd only"},
      {"train mlp --batch-size 0", 1, "--batch-size must be between 1"},
      {"inspect mlp --print-after nosuchpass", 1, "unknown pass 'nosuchpass'"},
  };
  for (const Case& c : cases) {
    INFO("kiln " << c.args);
    Result r = run(c.args);
    CHECK(r.code == c.code);
    CHECK_THAT(r.out, Catch::Contains(c.message));
  }
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
  std::string last = r.out.substr(r.out.find_last_of('\n', r.out.size() - 2) + 1);
  CHECK(last.front() == '{');
  for (const char* field : {"\"model\":\"linreg\"", "\"epochs\":2", "\"train_loss\":",
                            "\"seconds_per_epoch\":", "\"examples_per_second\":",
                            "\"compile_seconds\":"})
    CHECK_THAT(last, Catch::Contains(field));
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
  Result r = run("inspect mlp");
  REQUIRE(r.code == 0);
  auto pos = r.out.find("graph nodes ");
  REQUIRE(pos != std::string::npos);
  int nodes = 0, kernels = 0;
  REQUIRE(std::sscanf(r.out.c_str() + pos, "graph nodes %d -> kernels %d", &nodes, &kernels) == 2);
  CHECK(kernels > 0);
  CHECK(kernels * 3 < nodes);
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
  Result missing = run_tool("kiln-opt", dir + "/missing.kir");
  CHECK(missing.code == 1);
  CHECK_THAT(missing.out, Catch::Contains("cannot read"));
  std::filesystem::remove_all(dir);
}
