// Writes the seed corpus for kiln_fuzz_loaders: valid graph, model, checkpoint and module files
// (tests/fuzz/samples.h) into the directory given as the only argument.
#include <cstdio>
#include <filesystem>
#include <string>

#include "fuzz/samples.h"
#include "runtime/atomic_file.h"

int main(int argc, char** argv) {
  using namespace kiln;
  if (argc != 2) {
    std::fprintf(stderr, "usage: kiln_fuzz_seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::pair<std::string, std::vector<uint8_t>> files[] = {
      {"every_attr.kgraph", serialize_graph(fuzz::every_attr_graph())},
      {"indexing.kgraph", serialize_graph(fuzz::indexing_graph())},
      {"empty.kgraph", serialize_graph(Graph())},
      {"sample.kmodel", serialize_model(fuzz::sample_model())},
      {"sample.kckpt", serialize_checkpoint(fuzz::sample_checkpoint())},
      {"empty.kckpt", serialize_checkpoint(CheckpointData{})},
      {"sample.kmod", serialize_module(fuzz::sample_module())},
  };
  for (const auto& [name, bytes] : files) {
    Status st = write_file_atomic(dir + "/" + name, bytes.data(), bytes.size());
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.error().message().c_str());
      return 1;
    }
  }
  std::printf("wrote %zu seeds to %s\n", std::size(files), dir.c_str());
  return 0;
}
