// Per-kernel wall-clock profile for compiled executables (CompileOptions::profile):
// the entry function calls kiln_profile_tick(i) after kernel i (and with -1 at its
// start), which adds the time since the previous tick to slot i and keeps the least
// such time per kernel (its cost undisturbed; the sum's mean includes the machine's noise).
//
// Each profiling Executable owns a KernelProfile; Executable::run makes it the calling
// thread's current profile (a thread_local pointer, ProfileScope) for the duration of the
// entry call, and kiln_profile_tick writes there. So the ABI is unchanged, executables
// profiled on different threads at once never touch each other's numbers, and one
// executable's runs are serialised by its run() (runtime/executable.h).
//
// A device (runtime/cuda_runtime.h) times its launches with events and hands each run's
// per-kernel seconds to record_run, so the same profile reports both.
//
// Code that calls a profiling entry directly, with no current profile on its thread,
// ticks into one process-wide fallback profile (profile_reset / profile_seconds /
// profile_runs), guarded by a mutex: correct but shared by every such caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace kiln {

class KernelProfile {
 public:
  explicit KernelProfile(int kernels = 0) { reset(kernels); }
  void reset(int kernels);
  // Accumulated seconds per kernel and the number of entry calls since the reset.
  const std::vector<double>& seconds() const { return seconds_; }
  // The least seconds of one call of each kernel (0 before its first call).
  const std::vector<double>& least_seconds() const { return least_; }
  int64_t runs() const { return runs_; }
  // One tick (what kiln_profile_tick does): -1 starts a run, i >= 0 ends kernel i.
  void tick(int64_t kernel);
  // One run timed elsewhere (a device's events): `seconds` per kernel, in slot order.
  void record_run(const std::vector<double>& seconds);

 private:
  std::vector<double> seconds_, least_;
  int64_t runs_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

// Makes `p` the calling thread's current profile until the scope ends (then restores
// the previous one, so scopes nest).
class ProfileScope {
 public:
  explicit ProfileScope(KernelProfile* p);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  KernelProfile* saved_;
};

// The process-wide fallback profile (ticks made with no current profile).
void profile_reset(int kernels);
std::vector<double> profile_seconds();
int64_t profile_runs();

}  // namespace kiln
