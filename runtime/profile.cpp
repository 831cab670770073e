// Per-kernel profiles (see profile.h): the thread's current profile, else the
// process-wide fallback under a mutex.
#include "runtime/profile.h"

#include "runtime/abi.h"

#include <mutex>

namespace kiln {
namespace {
thread_local KernelProfile* t_current = nullptr;
std::mutex g_fallback_mu;
KernelProfile& fallback() {
  static KernelProfile p;
  return p;
}
}  // namespace

void KernelProfile::reset(int kernels) {
  seconds_.assign(static_cast<size_t>(kernels > 0 ? kernels : 0), 0.0);
  least_.assign(seconds_.size(), 0.0);
  runs_ = 0;
  last_ = std::chrono::steady_clock::now();
}

void KernelProfile::tick(int64_t kernel) {
  auto now = std::chrono::steady_clock::now();
  if (kernel < 0) {
    runs_++;
  } else if (static_cast<size_t>(kernel) < seconds_.size()) {
    const size_t k = static_cast<size_t>(kernel);
    const double s = std::chrono::duration<double>(now - last_).count();
    seconds_[k] += s;
    if (least_[k] == 0 || s < least_[k]) least_[k] = s;
  }
  last_ = std::chrono::steady_clock::now();
}

void KernelProfile::record_run(const std::vector<double>& seconds) {
  runs_++;
  for (size_t k = 0; k < seconds.size() && k < seconds_.size(); ++k) {
    seconds_[k] += seconds[k];
    if (least_[k] == 0 || seconds[k] < least_[k]) least_[k] = seconds[k];
  }
}

ProfileScope::ProfileScope(KernelProfile* p) : saved_(t_current) { t_current = p; }
ProfileScope::~ProfileScope() { t_current = saved_; }

void profile_reset(int kernels) {
  std::lock_guard<std::mutex> lock(g_fallback_mu);
  fallback().reset(kernels);
}
std::vector<double> profile_seconds() {
  std::lock_guard<std::mutex> lock(g_fallback_mu);
  return fallback().seconds();
}
int64_t profile_runs() {
  std::lock_guard<std::mutex> lock(g_fallback_mu);
  return fallback().runs();
}

}  // namespace kiln

extern "C" void kiln_profile_tick(int64_t kernel) {
  if (kiln::KernelProfile* p = kiln::t_current) {
    p->tick(kernel);
    return;
  }
  std::lock_guard<std::mutex> lock(kiln::g_fallback_mu);
  kiln::fallback().tick(kernel);
}
