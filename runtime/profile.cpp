// Global per-kernel profile (see profile.h).
#include "runtime/profile.h"

#include "runtime/abi.h"

#include <chrono>

namespace kiln {
namespace {
std::vector<double> g_seconds;
int64_t g_runs = 0;
std::chrono::steady_clock::time_point g_last;
}  // namespace

void profile_reset(int kernels) {
  g_seconds.assign(static_cast<size_t>(kernels), 0.0);
  g_runs = 0;
}
std::vector<double> profile_seconds() { return g_seconds; }
int64_t profile_runs() { return g_runs; }

}  // namespace kiln

extern "C" void kiln_profile_tick(int64_t kernel) {
  auto now = std::chrono::steady_clock::now();
  if (kernel < 0) {
    kiln::g_runs++;
  } else if (static_cast<size_t>(kernel) < kiln::g_seconds.size()) {
    kiln::g_seconds[static_cast<size_t>(kernel)] +=
        std::chrono::duration<double>(now - kiln::g_last).count();
  }
  kiln::g_last = std::chrono::steady_clock::now();
}
