// Progress bar drawing and throttling; see progress.h.
#include "runtime/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace kiln {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                  (long long)(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  }
  return buf;
}

ProgressBar::ProgressBar(int epochs, int64_t steps_per_epoch, ProgressOptions options)
    : options_(options), epochs_(epochs), steps_per_epoch_(steps_per_epoch) {
  switch (options_.mode) {
    case ProgressMode::kAuto: {
      const char* term = std::getenv("TERM");
      tty_ = options_.out && ::isatty(::fileno(options_.out)) && !(term && std::strcmp(term, "dumb") == 0);
      break;
    }
    case ProgressMode::kTty: tty_ = true; break;
    case ProgressMode::kLines:
    case ProgressMode::kOff: tty_ = false; break;
  }
  start_ = epoch_start_ = last_draw_ = Clock::now();
}

void ProgressBar::begin_epoch(int epoch) {
  epoch_ = epoch;
  steps_ = examples_ = correct_ = acc_examples_ = 0;
  loss_sum_ = 0;
  epoch_start_ = Clock::now();
  stopped_ = false;
  drawn_ = false;
}

void ProgressBar::step(int64_t batch_examples, double batch_loss, int64_t batch_correct) {
  ++steps_;
  examples_ += batch_examples;
  loss_sum_ += batch_loss * static_cast<double>(batch_examples);
  if (batch_correct >= 0) {
    correct_ += batch_correct;
    acc_examples_ += batch_examples;
  }
  if (!tty_ || options_.mode == ProgressMode::kOff) return;
  // The first redraw of an epoch also waits one interval, so the rate is measured over
  // a meaningful time and short epochs only print their final line.
  auto now = Clock::now();
  auto since = drawn_ ? last_draw_ : epoch_start_;
  if (std::chrono::duration<double>(now - since).count() < options_.redraw_seconds) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::end_epoch(const std::vector<std::pair<std::string, double>>& extra) {
  finished_epoch_seconds_ += epoch_seconds();
  epochs_done_ = epoch_ + 1;
  if (options_.mode == ProgressMode::kOff || !options_.out) return;
  std::string line = format_line(true);
  for (const auto& [name, value] : extra) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " %.4f", value);
    line += "  " + name + buf;
  }
  if (tty_) {
    std::fprintf(options_.out, "\r%s\033[K\n", line.c_str());
  } else {
    std::fprintf(options_.out, "%s\n", line.c_str());
  }
  std::fflush(options_.out);
  drawn_ = false;
}

void ProgressBar::stop_clock() {
  if (stopped_) return;
  stop_time_ = Clock::now();
  stopped_ = true;
}

double ProgressBar::epoch_seconds() const {
  return std::chrono::duration<double>((stopped_ ? stop_time_ : Clock::now()) - epoch_start_).count();
}

double ProgressBar::examples_per_second() const {
  double s = epoch_seconds();
  return s > 0 ? examples_ / s : 0.0;
}

// Remaining time: the rest of this epoch at its current step rate, plus the remaining
// epochs at the mean duration of finished epochs (or this epoch's projected duration).
double ProgressBar::eta_seconds(bool final_line) const {
  int remaining_epochs = std::max(0, epochs_ - epoch_ - 1);
  if (final_line && epochs_done_ > 0) return remaining_epochs * finished_epoch_seconds_ / epochs_done_;
  double elapsed = epoch_seconds();
  double this_epoch_total = NAN;
  if (steps_per_epoch_ > 0 && steps_ > 0) {
    this_epoch_total = elapsed * double(steps_per_epoch_) / double(steps_);
  }
  double per_epoch = epochs_done_ > 0 ? finished_epoch_seconds_ / epochs_done_ : this_epoch_total;
  double rest_of_epoch = std::isnan(this_epoch_total) ? per_epoch - elapsed : this_epoch_total - elapsed;
  return std::max(0.0, rest_of_epoch) + remaining_epochs * per_epoch;
}

std::string ProgressBar::format_line(bool final_line) const {
  std::string line;
  char buf[128];
  int digits = std::clamp(static_cast<int>(std::to_string(epochs_).size()), 1, 10);
  std::snprintf(buf, sizeof buf, "epoch %*d/%d", digits, epoch_ + 1, epochs_);
  line += buf;
  if (steps_per_epoch_ > 0 && options_.bar_width > 0) {
    double frac = final_line ? 1.0 : std::min(1.0, double(steps_) / double(steps_per_epoch_));
    int filled = static_cast<int>(frac * options_.bar_width);
    std::string bar(options_.bar_width, ' ');
    for (int i = 0; i < filled; ++i) bar[i] = '=';
    if (filled < options_.bar_width && filled > 0) bar[filled] = '>';
    std::snprintf(buf, sizeof buf, " [%s] %3d%%", bar.c_str(), static_cast<int>(frac * 100));
    line += buf;
  }
  std::snprintf(buf, sizeof buf, "  loss %.4f", running_loss());
  line += buf;
  if (acc_examples_ > 0) {
    std::snprintf(buf, sizeof buf, "  acc %.3f", running_accuracy());
    line += buf;
  }
  std::snprintf(buf, sizeof buf, "  %.0f ex/s", examples_per_second());
  line += buf;
  if (final_line) {
    line += "  " + format_duration(epoch_seconds());
    if (epoch_ + 1 < epochs_) line += "  ETA " + format_duration(eta_seconds(true));
  } else {
    line += "  ETA " + format_duration(eta_seconds(false));
  }
  return line;
}

void ProgressBar::draw(bool final_line) {
  if (!options_.out) return;
  std::fprintf(options_.out, "\r%s\033[K", format_line(final_line).c_str());
  std::fflush(options_.out);
  drawn_ = true;
}

}  // namespace kiln
