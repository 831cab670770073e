// Tests for runtime/train/seq_sampler: d2l 8.3's sequential partition of 0..34 with
// batch 2 and 5 steps at fixed offsets, random sampling using every subsequence once per
// epoch, offsets drawn over d2l's inclusive ranges, reproducible epochs, and the errors
// for sizes that leave no minibatch.
#include "runtime/train/seq_sampler.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <set>

using namespace kiln;

namespace {

using Ints = std::vector<int32_t>;

Ints iota_corpus(int32_t n) {
  Ints v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

SeqSampler make(int32_t n, SeqSampling s, int64_t batch, int64_t steps) {
  auto sampler = SeqSampler::create(iota_corpus(n), s, batch, steps);
  REQUIRE(sampler.ok());
  return std::move(*sampler);
}

// Minibatch i of an epoch, as the rows d2l prints.
std::pair<Ints, Ints> xy(const SeqSampler& s, const SeqEpoch& e, int64_t i) {
  SeqBatch b = s.batch(e, i);
  REQUIRE(b.batch_size == s.batch_size());
  REQUIRE(b.num_steps == s.num_steps());
  return {b.x, b.y};
}

}  // namespace

TEST_CASE("sequential sampling reproduces d2l's partition of 0..34", "[text][sampler]") {
  SeqSampler s = make(35, SeqSampling::Sequential, 2, 5);
  CHECK(s.max_offset() == 5);

  // Offset 0 (d2l's printed example): rows start at 0 and 17, three minibatches.
  auto e0 = s.epoch_at_offset(0);
  REQUIRE(e0.ok());
  REQUIRE(e0->num_batches == 3);
  CHECK(xy(s, *e0, 0) == std::pair<Ints, Ints>{{0, 1, 2, 3, 4, 17, 18, 19, 20, 21},
                                               {1, 2, 3, 4, 5, 18, 19, 20, 21, 22}});
  CHECK(xy(s, *e0, 1) == std::pair<Ints, Ints>{{5, 6, 7, 8, 9, 22, 23, 24, 25, 26},
                                               {6, 7, 8, 9, 10, 23, 24, 25, 26, 27}});
  CHECK(xy(s, *e0, 2) == std::pair<Ints, Ints>{{10, 11, 12, 13, 14, 27, 28, 29, 30, 31},
                                               {11, 12, 13, 14, 15, 28, 29, 30, 31, 32}});

  // Offset 2: 32 tokens in two rows of 16 starting at 2 and 18.
  auto e2 = s.epoch_at_offset(2);
  REQUIRE(e2.ok());
  REQUIRE(e2->num_batches == 3);
  CHECK(xy(s, *e2, 0).first == Ints{2, 3, 4, 5, 6, 18, 19, 20, 21, 22});
  CHECK(xy(s, *e2, 2) == std::pair<Ints, Ints>{{12, 13, 14, 15, 16, 28, 29, 30, 31, 32},
                                               {13, 14, 15, 16, 17, 29, 30, 31, 32, 33}});

  // Offset 5, the largest: ((35 - 5 - 1) // 2) = 14 columns, two minibatches.
  auto e5 = s.epoch_at_offset(5);
  REQUIRE(e5.ok());
  REQUIRE(e5->num_batches == 2);
  CHECK(s.num_batches(5) == 2);
  CHECK(xy(s, *e5, 0).first == Ints{5, 6, 7, 8, 9, 19, 20, 21, 22, 23});
  CHECK(xy(s, *e5, 1) == std::pair<Ints, Ints>{{10, 11, 12, 13, 14, 24, 25, 26, 27, 28},
                                               {11, 12, 13, 14, 15, 25, 26, 27, 28, 29}});

  CHECK(!s.epoch_at_offset(6).ok());
  CHECK(!s.epoch_at_offset(-1).ok());
}

TEST_CASE("sequential rows continue from one minibatch to the next", "[text][sampler]") {
  SeqSampler s = make(1000, SeqSampling::Sequential, 4, 7);
  for (uint64_t epoch = 0; epoch < 5; ++epoch) {
    SeqEpoch e = s.epoch(42, static_cast<int64_t>(epoch));
    REQUIRE(e.num_batches >= 2);
    for (int64_t i = 0; i + 1 < e.num_batches; ++i) {
      auto [x0, y0] = xy(s, e, i);
      auto [x1, y1] = xy(s, e, i + 1);
      for (int r = 0; r < 4; ++r) {
        CHECK(x1[static_cast<size_t>(r * 7)] == x0[static_cast<size_t>(r * 7 + 6)] + 1);
        CHECK(y0[static_cast<size_t>(r * 7 + 6)] == x1[static_cast<size_t>(r * 7)]);
      }
    }
  }
}

TEST_CASE("random sampling uses every subsequence once per epoch", "[text][sampler]") {
  SeqSampler s = make(35, SeqSampling::Random, 2, 5);
  CHECK(s.max_offset() == 4);
  for (int64_t offset = 0; offset <= 4; ++offset) {
    // (35 - offset - 1) // 5 = 6 subsequences for every offset: three full minibatches.
    auto e = s.epoch_at_offset(offset, 7, offset);
    REQUIRE(e.ok());
    REQUIRE(e->num_batches == 3);
    std::multiset<int32_t> starts;
    for (int64_t i = 0; i < e->num_batches; ++i) {
      auto [x, y] = xy(s, *e, i);
      for (int r = 0; r < 2; ++r) {
        const int32_t* row = x.data() + r * 5;
        starts.insert(row[0]);
        for (int t = 0; t < 5; ++t) {
          CHECK(row[t] == row[0] + t);         // a contiguous piece of the corpus
          CHECK(y[static_cast<size_t>(r * 5 + t)] == row[t] + 1);  // shifted by one
        }
      }
    }
    std::multiset<int32_t> want;
    for (int32_t k = 0; k < 6; ++k) want.insert(static_cast<int32_t>(offset) + 5 * k);
    CHECK(starts == want);
  }

  // 7 subsequences, batches of 4: one minibatch of 4 distinct subsequences per epoch.
  SeqSampler r = make(40, SeqSampling::Random, 4, 5);
  auto e = r.epoch_at_offset(0, 3, 0);
  REQUIRE(e.ok());
  REQUIRE(e->num_batches == 1);
  std::set<int64_t> distinct(e->starts.begin(), e->starts.end());
  CHECK(distinct.size() == 4);
  for (int64_t st : distinct) CHECK(st % 5 == 0);
  for (int64_t st : distinct) CHECK(st <= 30);
}

TEST_CASE("epochs draw d2l's offsets and orders reproducibly", "[text][sampler]") {
  SeqSampler seq = make(200, SeqSampling::Sequential, 2, 5);
  SeqSampler rnd = make(200, SeqSampling::Random, 2, 5);
  std::set<int64_t> seq_offsets, rnd_offsets;
  std::set<std::vector<int64_t>> orders;
  for (int64_t epoch = 0; epoch < 300; ++epoch) {
    SeqEpoch a = seq.epoch(11, epoch);
    seq_offsets.insert(a.offset);
    CHECK(a.num_batches == seq.num_batches(a.offset));
    SeqEpoch b = rnd.epoch(11, epoch);
    rnd_offsets.insert(b.offset);
    orders.insert(b.starts);
    // The same (seed, epoch) gives the same plan; a fixed offset keeps the order.
    CHECK(rnd.epoch(11, epoch).starts == b.starts);
    auto fixed = rnd.epoch_at_offset(b.offset, 11, epoch);
    REQUIRE(fixed.ok());
    CHECK(fixed->starts == b.starts);
  }
  // randint(0, num_steps) and randint(0, num_steps - 1): both ends included.
  CHECK(seq_offsets == std::set<int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(rnd_offsets == std::set<int64_t>{0, 1, 2, 3, 4});
  CHECK(orders.size() > 250);  // shuffled anew every epoch
  CHECK(rnd.epoch(11, 0).starts != rnd.epoch(12, 0).starts);
}

TEST_CASE("sampler sizes that give no minibatch are errors", "[text][sampler]") {
  // Sequential needs batch * steps + steps + 1 tokens (the offset may drop num_steps).
  auto seq_short = SeqSampler::create(iota_corpus(15), SeqSampling::Sequential, 2, 5);
  REQUIRE(!seq_short.ok());
  CHECK_THAT(seq_short.error().message(),
             Catch::Contains("sequential") && Catch::Contains("15 tokens") && Catch::Contains("batch size 2") &&
                 Catch::Contains("5 steps") && Catch::Contains("at least 16 tokens"));
  auto seq_ok = SeqSampler::create(iota_corpus(16), SeqSampling::Sequential, 2, 5);
  REQUIRE(seq_ok.ok());
  CHECK(seq_ok->num_batches(5) == 1);

  // Random needs (batch + 1) * steps.
  auto rnd_short = SeqSampler::create(iota_corpus(14), SeqSampling::Random, 2, 5);
  REQUIRE(!rnd_short.ok());
  CHECK_THAT(rnd_short.error().message(), Catch::Contains("random") && Catch::Contains("at least 15 tokens"));
  auto rnd_ok = SeqSampler::create(iota_corpus(15), SeqSampling::Random, 2, 5);
  REQUIRE(rnd_ok.ok());
  CHECK(rnd_ok->num_batches(4) == 1);

  auto zero_batch = SeqSampler::create(iota_corpus(100), SeqSampling::Random, 0, 5);
  REQUIRE(!zero_batch.ok());
  CHECK_THAT(zero_batch.error().message(), Catch::Contains("batch size must be >= 1, got 0"));
  auto zero_steps = SeqSampler::create(iota_corpus(100), SeqSampling::Sequential, 2, -3);
  REQUIRE(!zero_steps.ok());
  CHECK_THAT(zero_steps.error().message(), Catch::Contains("num_steps must be >= 1, got -3"));
  // Huge sizes neither overflow nor pass.
  auto huge = SeqSampler::create(iota_corpus(100), SeqSampling::Sequential, INT64_MAX / 2, INT64_MAX / 2);
  REQUIRE(!huge.ok());
  CHECK_THAT(huge.error().message(), Catch::Contains("no minibatch"));
}
