// libFuzzer target for kiln's file loaders: every input goes to the graph, model,
// checkpoint and module-manifest readers and to the runtime's model-weights reader (each
// checks its identifier first, so the fuzzer learns every kind from the seed corpus
// written by kiln_fuzz_seeds). A loader may refuse an input but must
// never crash, leak or hit undefined behaviour (built with ASan + UBSan); whatever it
// accepts must verify, print, and survive another write/read round trip. Built only with
// -DKILN_FUZZ=ON and clang (see the fuzz block at the end of CMakeLists.txt).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "ir/printer.h"
#include "ir/serialize.h"
#include "ir/verifier.h"
#include "runtime/checkpoint_format.h"
#include "runtime/model_weights.h"
#include "runtime/module_format.h"

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  std::span<const uint8_t> bytes(data, size);
  if (Expected<Graph> g = deserialize_graph(bytes, "fuzz.kgraph"); g.ok()) {
    require(verify(*g).ok());
    Expected<Graph> again = deserialize_graph(serialize_graph(*g), "again");
    require(again.ok() && print_graph(*again) == print_graph(*g));
  }
  if (Expected<ModelFile> m = deserialize_model(bytes, "fuzz.kmodel"); m.ok()) {
    require(verify(m->graph).ok());
    require(deserialize_model(serialize_model(*m), "again").ok());
  }
  if (Expected<CheckpointData> c = parse_checkpoint(bytes, "fuzz.kckpt"); c.ok()) {
    for (const CheckpointTensor& t : c->tensors) {
      require(t.bytes.size() == t.type.bytes());
      (void)content_hash(t);
    }
    require(parse_checkpoint(serialize_checkpoint(*c), "again").ok());
  }
  if (Expected<CompiledModuleFile> m = deserialize_module(bytes, "fuzz.kmod"); m.ok()) {
    require(validate_plan(m->plan).ok());
    require(check_weights(m->plan, m->weights, "").ok());
    require(deserialize_module(serialize_module(*m), "again").ok());
  }
  if (Expected<std::vector<ModuleWeight>> w = read_model_weights(bytes, "fuzz.kmodel"); w.ok()) {
    for (const ModuleWeight& t : *w) require(t.bytes.size() == t.type.bytes());
  }
  return 0;
}
