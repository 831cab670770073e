// Tests for runtime/progress: metrics, line mode (one line per epoch) and tty mode
// (in-place redraws with \r, throttled).
#include "runtime/train/progress.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

using namespace kiln;

namespace {

std::string contents(FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

int count(const std::string& s, char c) { return static_cast<int>(std::count(s.begin(), s.end(), c)); }

}  // namespace

TEST_CASE("ProgressBar line mode prints one line per epoch", "[runtime][progress]") {
  FILE* f = std::tmpfile();
  REQUIRE(f);
  ProgressOptions o;
  o.mode = ProgressMode::kLines;
  o.out = f;
  ProgressBar bar(3, 4, o);
  CHECK(!bar.tty());
  for (int e = 0; e < 3; ++e) {
    bar.begin_epoch(e);
    for (int s = 0; s < 4; ++s) bar.step(10, 1.0 + s, 5);
    CHECK(bar.running_loss() == Approx(2.5));
    CHECK(bar.running_accuracy() == Approx(0.5));
    bar.end_epoch({{"test_acc", 0.8125}});
  }
  std::string out = contents(f);
  std::fclose(f);
  CHECK(count(out, '\n') == 3);
  CHECK(count(out, '\r') == 0);
  CHECK_THAT(out, Catch::Contains("epoch 1/3") && Catch::Contains("epoch 3/3"));
  CHECK_THAT(out, Catch::Contains("loss 2.5000") && Catch::Contains("acc 0.500"));
  CHECK_THAT(out, Catch::Contains("test_acc 0.8125"));
  CHECK_THAT(out, Catch::Contains("100%"));
}

TEST_CASE("ProgressBar tty mode redraws in place, throttled", "[runtime][progress]") {
  FILE* f = std::tmpfile();
  REQUIRE(f);
  ProgressOptions o;
  o.mode = ProgressMode::kTty;
  o.out = f;
  o.redraw_seconds = 3600;  // throttled: no redraw within an epoch, only the final line
  ProgressBar bar(2, 1000, o);
  CHECK(bar.tty());
  bar.begin_epoch(0);
  for (int s = 0; s < 1000; ++s) bar.step(1, 0.5);
  bar.end_epoch();
  std::string out = contents(f);
  std::fclose(f);
  CHECK(count(out, '\r') == 1);
  CHECK(count(out, '\n') == 1);

  // Without throttling every step redraws in place.
  f = std::tmpfile();
  o.out = f;
  o.redraw_seconds = 0;
  ProgressBar fast(1, 10, o);
  fast.begin_epoch(0);
  for (int s = 0; s < 10; ++s) fast.step(1, 0.5);
  fast.end_epoch();
  out = contents(f);
  std::fclose(f);
  CHECK(count(out, '\r') == 11);
  CHECK(count(out, '\n') == 1);
  CHECK_THAT(out, Catch::Contains("\033[K"));
  CHECK_THAT(out, Catch::Contains("ETA"));
  CHECK(out.find("acc") == std::string::npos);  // no accuracy reported
}

TEST_CASE("ProgressBar off mode and format_line", "[runtime][progress]") {
  FILE* f = std::tmpfile();
  ProgressOptions o;
  o.mode = ProgressMode::kOff;
  o.out = f;
  ProgressBar bar(10, 0, o);
  bar.begin_epoch(4);
  bar.step(32, 0.25, 16);
  bar.end_epoch();
  CHECK(contents(f).empty());
  std::fclose(f);
  std::string line = bar.format_line(false);
  CHECK_THAT(line, Catch::StartsWith("epoch  5/10"));
  CHECK(line.find('[') == std::string::npos);  // no bar without steps_per_epoch
  CHECK_THAT(line, Catch::Contains("loss 0.2500") && Catch::Contains("acc 0.500"));
}

TEST_CASE("format_duration", "[runtime][progress]") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(65) == "1:05");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-1) == "?");
}
