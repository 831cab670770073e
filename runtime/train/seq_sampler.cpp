// d2l's random and sequential minibatch sampling over a token stream.
#include "runtime/train/seq_sampler.h"

#include <algorithm>
#include <random>
#include <string>

namespace kiln {

namespace {

const char* name(SeqSampling s) { return s == SeqSampling::Random ? "random" : "sequential"; }

// The tokens the worst (largest) offset still needs for one minibatch, saturated at
// INT64_MAX (as unsigned __int128 cannot overflow for 64-bit factors).
int64_t tokens_needed(SeqSampling s, int64_t batch_size, int64_t num_steps) {
  using U = unsigned __int128;
  U b = static_cast<U>(batch_size), t = static_cast<U>(num_steps);
  U need = s == SeqSampling::Random ? (b + 1) * t : b * t + t + 1;
  return need > static_cast<U>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(need);
}

std::mt19937_64 epoch_rng(uint64_t seed, int64_t epoch) {
  // The same seeding as the trainer's epoch order: a function of (seed, epoch) only.
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch),
                    static_cast<uint32_t>(static_cast<uint64_t>(epoch) >> 32)};
  return std::mt19937_64(seq);
}

}  // namespace

Expected<SeqSampler> SeqSampler::create(std::vector<int32_t> corpus, SeqSampling sampling, int64_t batch_size,
                                        int64_t num_steps) {
  std::string what = std::string(name(sampling)) + " sampling";
  if (batch_size < 1) return Error(what + ": batch size must be >= 1, got " + std::to_string(batch_size));
  if (num_steps < 1) return Error(what + ": num_steps must be >= 1, got " + std::to_string(num_steps));
  auto len = static_cast<int64_t>(corpus.size());
  int64_t need = tokens_needed(sampling, batch_size, num_steps);
  if (len < need)
    return Error(what + " of a corpus of " + std::to_string(len) + " tokens with batch size " +
                 std::to_string(batch_size) + " and " + std::to_string(num_steps) +
                 " steps can give no minibatch: it needs at least " + std::to_string(need) + " tokens (" +
                 (sampling == SeqSampling::Random ? "(batch_size + 1) * num_steps"
                                                  : "batch_size * num_steps + num_steps + 1") +
                 ", as the random offset may drop up to " +
                 std::to_string(sampling == SeqSampling::Random ? num_steps - 1 : num_steps) + ")");
  return SeqSampler(std::move(corpus), sampling, batch_size, num_steps);
}

int64_t SeqSampler::max_offset() const { return sampling_ == SeqSampling::Random ? num_steps_ - 1 : num_steps_; }

int64_t SeqSampler::num_batches(int64_t offset) const {
  auto len = static_cast<int64_t>(corpus_.size());
  if (sampling_ == SeqSampling::Random) return (len - offset - 1) / num_steps_ / batch_size_;
  int64_t cols = (len - offset - 1) / batch_size_;  // tokens per row
  return cols / num_steps_;
}

SeqEpoch SeqSampler::plan(int64_t offset, uint64_t seed, int64_t epoch, bool draw_offset) const {
  std::mt19937_64 rng = epoch_rng(seed, epoch);
  // d2l draws the offset first (random.randint is inclusive at both ends), then shuffles.
  int64_t drawn = std::uniform_int_distribution<int64_t>(0, max_offset())(rng);
  if (draw_offset) offset = drawn;

  SeqEpoch e;
  e.sampling = sampling_;
  e.offset = offset;
  e.batch_size = batch_size_;
  e.num_steps = num_steps_;
  e.num_batches = num_batches(offset);
  auto len = static_cast<int64_t>(corpus_.size());
  if (sampling_ == SeqSampling::Random) {
    int64_t num_subseqs = (len - offset - 1) / num_steps_;
    std::vector<int64_t> subseq(static_cast<size_t>(num_subseqs));
    for (int64_t k = 0; k < num_subseqs; ++k) subseq[static_cast<size_t>(k)] = offset + k * num_steps_;
    std::shuffle(subseq.begin(), subseq.end(), rng);
    subseq.resize(static_cast<size_t>(e.num_batches * batch_size_));  // the remainder sits this epoch out
    e.starts = std::move(subseq);
  } else {
    int64_t cols = (len - offset - 1) / batch_size_;
    e.starts.resize(static_cast<size_t>(e.num_batches * batch_size_));
    for (int64_t i = 0; i < e.num_batches; ++i)
      for (int64_t r = 0; r < batch_size_; ++r)
        e.starts[static_cast<size_t>(i * batch_size_ + r)] = offset + r * cols + i * num_steps_;
  }
  return e;
}

SeqEpoch SeqSampler::epoch(uint64_t seed, int64_t epoch) const { return plan(0, seed, epoch, true); }

Expected<SeqEpoch> SeqSampler::epoch_at_offset(int64_t offset, uint64_t seed, int64_t epoch) const {
  if (offset < 0 || offset > max_offset())
    return Error(std::string(name(sampling_)) + " sampling: offset " + std::to_string(offset) +
                 " outside [0, " + std::to_string(max_offset()) + "]");
  return plan(offset, seed, epoch, false);
}

void SeqSampler::fill(const SeqEpoch& e, int64_t i, int32_t* x, int32_t* y) const {
  KILN_CHECK(e.sampling == sampling_ && e.batch_size == batch_size_ && e.num_steps == num_steps_,
             "SeqSampler::fill: the epoch plan belongs to another sampler");
  KILN_CHECK(i >= 0 && i < e.num_batches, "SeqSampler::fill: minibatch " + std::to_string(i) + " of " +
                                              std::to_string(e.num_batches));
  for (int64_t r = 0; r < batch_size_; ++r) {
    const int32_t* src = corpus_.data() + e.start(i, r);
    std::copy(src, src + num_steps_, x + r * num_steps_);
    std::copy(src + 1, src + 1 + num_steps_, y + r * num_steps_);
  }
}

SeqBatch SeqSampler::batch(const SeqEpoch& e, int64_t i) const {
  SeqBatch b;
  b.batch_size = batch_size_;
  b.num_steps = num_steps_;
  b.x.resize(static_cast<size_t>(batch_size_ * num_steps_));
  b.y.resize(b.x.size());
  fill(e, i, b.x.data(), b.y.data());
  return b;
}

}  // namespace kiln
