// Terminal progress for training loops. On a terminal the current line is redrawn in
// place with \r (at most ~10 times a second, so calling step() every minibatch costs a
// clock read): "epoch 3/10 [=======>      ] 58% loss 0.4312 acc 0.842 51234 ex/s ETA 0:41".
// Elsewhere (CI logs, pipes) it prints one line per epoch. Running loss and accuracy
// are averages over the epoch's examples so far, weighted by batch size.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

enum class ProgressMode {
  kAuto,   // redraw in place when the stream is a terminal (and TERM is not "dumb"), else lines
  kTty,    // always redraw in place
  kLines,  // one line per epoch
  kOff,    // print nothing
};

struct ProgressOptions {
  ProgressMode mode = ProgressMode::kAuto;
  FILE* out = stderr;
  int bar_width = 24;
  double redraw_seconds = 0.1;  // minimum time between redraws in tty mode
};

class ProgressBar {
 public:
  // steps_per_epoch may be 0 when unknown (then no bar or in-epoch ETA is shown).
  ProgressBar(int epochs, int64_t steps_per_epoch, ProgressOptions options = {});

  // Starts epoch `epoch` (0-based; shown as epoch+1 of N). Resets the running metrics.
  void begin_epoch(int epoch);
  // Records one minibatch: its size, its mean loss and, optionally, how many of its
  // examples were classified correctly (< 0 = no accuracy). Redraws when due.
  void step(int64_t batch_examples, double batch_loss, int64_t batch_correct = -1);
  // Stops the epoch's clock (e.g. before evaluating on the test set), so the examples/s
  // shown is training throughput. The next begin_epoch restarts it.
  void stop_clock();
  // Ends the epoch: prints its final line with any extra metrics (e.g. {"test_acc", 0.85}).
  void end_epoch(const std::vector<std::pair<std::string, double>>& extra = {});

  double running_loss() const { return examples_ ? loss_sum_ / examples_ : 0.0; }
  // Accuracy over the epoch so far, or -1 when no step reported it.
  double running_accuracy() const { return acc_examples_ ? double(correct_) / acc_examples_ : -1.0; }
  double examples_per_second() const;
  double epoch_seconds() const;
  bool tty() const { return tty_; }

  // The status line for the current state (no \r, no newline); used by the drawing code
  // and by tests.
  std::string format_line(bool final_line) const;

 private:
  using Clock = std::chrono::steady_clock;
  void draw(bool final_line);
  double eta_seconds(bool final_line) const;

  ProgressOptions options_;
  bool tty_ = false;
  int epochs_;
  int64_t steps_per_epoch_;
  int epoch_ = 0;
  int64_t steps_ = 0, examples_ = 0, correct_ = 0, acc_examples_ = 0;
  double loss_sum_ = 0;
  Clock::time_point start_, epoch_start_, last_draw_;
  bool drawn_ = false;
  bool stopped_ = false;
  Clock::time_point stop_time_;
  int epochs_done_ = 0;
  double finished_epoch_seconds_ = 0;  // sum of durations of finished epochs
};

// "1:05" or "1:02:03".
std::string format_duration(double seconds);

}  // namespace kiln
