// Shared by the file loader tests (tests/ir/serialize_test.cpp,
// tests/runtime/checkpoint_format_test.cpp): a table of corrupted inputs to one loader, each
// with part of the message it must give, including the envelope cases every loader refuses
// (empty, short, truncated, random bytes, another version); and the bookkeeping of the
// mutation-fuzz loops. A loader is anything callable as load(bytes, source) returning
// Expected<T>.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <flatbuffers/flatbuffers.h>

namespace kiln::testing {

// The message `load` gives for `bytes`, which it must refuse.
template <typename Load>
std::string load_error(const Load& load, std::span<const uint8_t> bytes,
                       const std::string& source) {
  auto r = load(bytes, source);
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}

// A copy of `valid` with `edit` applied to its (mutable) root table, a `Root`.
template <typename Root, typename Edit>
std::vector<uint8_t> patched(std::vector<uint8_t> valid, Edit&& edit) {
  edit(flatbuffers::GetMutableRoot<Root>(valid.data()));
  return valid;
}

// How a loader names its file kind and the valid file's envelope is cut up.
struct EnvelopeCases {
  std::string name;     // "kiln checkpoint": "empty file (expected a kiln checkpoint)"
  std::string corrupt;  // "checkpoint": "corrupt or truncated checkpoint"
  std::string format;   // "checkpoint": "checkpoint format version 3"
  size_t short_size;    // a prefix this long is "truncated: N bytes"
  std::vector<size_t> cuts;  // prefixes of these lengths are corrupt or truncated
  size_t noise_bytes;        // random bytes (without the identifier) of this length ...
  uint64_t noise_seed;       // ... drawn from mt19937_64 with this seed
};

// Corrupted copies of a valid file whose root table is `Root`, for a loader that names
// `source` ("bad.kckpt") at the start of every message.
template <typename Root>
class CorruptCases {
 public:
  CorruptCases(std::vector<uint8_t> valid, std::string source)
      : valid_(std::move(valid)), source_(std::move(source)) {}

  const std::vector<uint8_t>& valid() const { return valid_; }

  void add(std::string what, std::vector<uint8_t> bytes, std::string expected) {
    cases_.push_back({std::move(what), std::move(bytes), std::move(expected)});
  }
  template <typename Edit>
  void add_patched(std::string what, Edit&& edit, std::string expected) {
    add(std::move(what), patched<Root>(valid_, std::forward<Edit>(edit)), std::move(expected));
  }

  // An empty file, a short prefix, truncations, random bytes and format version 3.
  void add_envelope(const EnvelopeCases& e) {
    add("empty", {}, source_ + ": empty file (expected a " + e.name + ")");
    add(std::to_string(e.short_size) + " bytes", prefix(e.short_size),
        "truncated: " + std::to_string(e.short_size) + " bytes is not a " + e.name);
    for (size_t cut : e.cuts)
      add("truncated at " + std::to_string(cut), prefix(cut), "corrupt or truncated " + e.corrupt);
    std::mt19937_64 rng(e.noise_seed);
    std::vector<uint8_t> noise(e.noise_bytes);
    for (uint8_t& x : noise) x = static_cast<uint8_t>(rng());
    add("random bytes", noise, source_ + ": not a " + e.name);
    add_patched("wrong version", [](Root* r) { r->mutate_version(3); },
                source_ + ": " + e.format + " format version 3, this kiln reads version 1");
  }

  // Every case is refused with a message that starts with the source and contains the
  // expected text.
  template <typename Load>
  void check(const Load& load) const {
    for (const Case& c : cases_) {
      INFO(c.what);
      std::string msg = load_error(load, c.bytes, source_);
      CHECK_THAT(msg, Catch::StartsWith(source_ + ": "));
      CHECK_THAT(msg, Catch::Contains(c.expected));
    }
  }

 private:
  struct Case {
    std::string what;
    std::vector<uint8_t> bytes;
    std::string expected;
  };
  std::vector<uint8_t> prefix(size_t n) const {
    return {valid_.begin(), valid_.begin() + static_cast<std::ptrdiff_t>(n)};
  }

  std::vector<uint8_t> valid_;
  std::string source_;
  std::vector<Case> cases_;
};

// Counts of a mutation-fuzz loop: each mutant is loaded or refused with a message naming
// its source.
struct FuzzTally {
  int loaded = 0;
  int refused = 0;

  // Loads `bytes`; what loads goes to `accepted`, a refusal must start with "`source`: ".
  template <typename Load, typename Accepted>
  void run(const Load& load, std::span<const uint8_t> bytes, const std::string& source,
           Accepted&& accepted) {
    auto r = load(bytes, source);
    if (r.ok()) {
      ++loaded;
      accepted(*r);
    } else {
      ++refused;
      REQUIRE_THAT(r.error().message(), Catch::StartsWith(source + ": "));
    }
  }
};

}  // namespace kiln::testing
