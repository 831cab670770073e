// snapshot_state (runtime/checkpoint.h) copies a model's state for a checkpoint: a state
// that cannot fit the format's 2 GiB is refused before anything is copied, rather than
// copied whole and then refused by save_checkpoint.
#include "runtime/checkpoint.h"

#include <catch2/catch.hpp>

#include <cstring>

using namespace kiln;

namespace {

void add_state(StateStore& store, const std::string& name, int64_t elems, StateScope scope) {
  Expected<StateEntry*> e = store.get_or_create(name, TensorType{DType::f32, Shape{elems}},
                                                StateKind::Parameter, scope, InitSpec::zeros(), 0);
  REQUIRE(e.ok());
}

}  // namespace

TEST_CASE("snapshot_state copies the model's state and refuses one over 2 GiB", "[checkpoint]") {
  StateStore store;
  add_state(store, "b", 3, StateScope::Model);
  add_state(store, "a", 5, StateScope::Model);
  add_state(store, "scratch", 7, StateScope::Executable);  // not the model's: not saved
  store.find("a")->as<float>()[4] = 2.5f;
  Expected<std::vector<CheckpointTensor>> small = snapshot_state(store);
  REQUIRE(small.ok());
  REQUIRE(small->size() == 2);
  CHECK((*small)[0].name == "a");
  CHECK((*small)[0].bytes.size() == 5 * sizeof(float));
  float last;
  std::memcpy(&last, (*small)[0].bytes.data() + 4 * sizeof(float), sizeof(float));
  CHECK(last == 2.5f);

  // Two states of 1.1 GiB: each fits a buffer, together not a checkpoint.
  add_state(store, "big1", int64_t{295} << 20, StateScope::Model);
  add_state(store, "big2", int64_t{295} << 20, StateScope::Model);
  Expected<std::vector<CheckpointTensor>> big = snapshot_state(store);
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().message(), Catch::Contains("the model's state of 2360 MiB") &&
                                        Catch::Contains("2 GiB limit"));
}
