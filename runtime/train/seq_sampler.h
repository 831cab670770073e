// Minibatches of a token stream for language models, as d2l section 8.3 draws them:
// X is [batch_size, num_steps] tokens and Y the same tokens shifted by one.
//
//   random (seq_data_iter_random): drop a random first offset in [0, num_steps - 1],
//     cut the rest into (len - offset - 1) / num_steps subsequences of num_steps tokens,
//     shuffle their starts, and take batch_size of them per minibatch (the last
//     num_subseqs % batch_size are left out of that epoch).
//   sequential (seq_data_iter_sequential): drop a random offset in [0, num_steps], lay
//     the next ((len - offset - 1) / batch_size) * batch_size tokens out as batch_size
//     rows, and walk along the rows num_steps columns at a time, so row r of batch i + 1
//     continues row r of batch i (the hidden state can be carried across).
//
// The number of minibatches depends on the epoch's offset. An epoch's random draws come
// from a std::mt19937_64 seeded with (seed, epoch) only, as the trainer's shuffling, so a
// resumed run sees the same batches. Tokens are int32 (vocabulary indices; kiln's models
// take int32 indices and labels).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "ir/status.h"

namespace kiln {

enum class SeqSampling { Random, Sequential };

// One epoch's plan: where each row of each minibatch starts in the corpus.
struct SeqEpoch {
  SeqSampling sampling = SeqSampling::Sequential;
  int64_t offset = 0;
  int64_t batch_size = 0, num_steps = 0;
  int64_t num_batches = 0;
  std::vector<int64_t> starts;  // [num_batches * batch_size]: row r of batch i at i * batch_size + r

  // Corpus position of X[row][0] in minibatch `batch`; Y[row][0] is the token after it.
  int64_t start(int64_t batch, int64_t row) const { return starts[static_cast<size_t>(batch * batch_size + row)]; }
};

// One minibatch, row-major.
struct SeqBatch {
  int64_t batch_size = 0, num_steps = 0;
  std::vector<int32_t> x, y;  // [batch_size, num_steps] each
};

class SeqSampler {
 public:
  // batch_size and num_steps must be >= 1, and every offset d2l may draw must leave at
  // least one minibatch: sequential sampling needs batch_size * num_steps + num_steps + 1
  // tokens, random sampling (batch_size + 1) * num_steps. Otherwise the error names the
  // sampling, the corpus size, the batch size, the steps and the tokens needed.
  static Expected<SeqSampler> create(std::vector<int32_t> corpus, SeqSampling sampling, int64_t batch_size,
                                     int64_t num_steps);

  SeqSampling sampling() const { return sampling_; }
  int64_t batch_size() const { return batch_size_; }
  int64_t num_steps() const { return num_steps_; }
  const std::vector<int32_t>& corpus() const { return corpus_; }
  // The largest offset d2l draws: num_steps - 1 (random) or num_steps (sequential).
  int64_t max_offset() const;
  // The number of minibatches an epoch with this offset (0 <= offset <= max_offset()) has.
  int64_t num_batches(int64_t offset) const;

  // Epoch `epoch`'s plan, its offset and (random) order drawn from (seed, epoch).
  SeqEpoch epoch(uint64_t seed, int64_t epoch) const;
  // The same with the offset fixed (tests, d2l's worked examples); the random order
  // is the one epoch(seed, epoch) would use. An offset outside [0, max_offset()] is an
  // error.
  Expected<SeqEpoch> epoch_at_offset(int64_t offset, uint64_t seed = 0, int64_t epoch = 0) const;

  // Writes minibatch i of `e` (a plan of this sampler, 0 <= i < e.num_batches) to x and
  // y, batch_size * num_steps tokens each.
  void fill(const SeqEpoch& e, int64_t i, int32_t* x, int32_t* y) const;
  SeqBatch batch(const SeqEpoch& e, int64_t i) const;

 private:
  SeqSampler(std::vector<int32_t> corpus, SeqSampling sampling, int64_t batch_size, int64_t num_steps)
      : corpus_(std::move(corpus)), sampling_(sampling), batch_size_(batch_size), num_steps_(num_steps) {}
  SeqEpoch plan(int64_t offset, uint64_t seed, int64_t epoch, bool draw_offset) const;

  std::vector<int32_t> corpus_;
  SeqSampling sampling_;
  int64_t batch_size_, num_steps_;
};

}  // namespace kiln
