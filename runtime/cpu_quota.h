// The CPU bandwidth a Linux control group grants this process (a container's `--cpus`,
// a Kubernetes CPU limit). The affinity mask does not show it: a container limited to 2
// CPUs on a 64-core host sees 64 CPUs, and a pool of 64 spinning threads sharing 2 CPUs'
// worth of time runs far slower than 2 threads (each fork/join waits for threads the
// kernel has throttled). available_cpus() (runtime/thread_pool.h) takes the smaller of
// the two.
#pragma once

#include <string>

namespace kiln {

// CPUs' worth of time per period the process's control groups allow: the least, over
// its cgroup and every ancestor, of quota / period, read from cgroup v2's cpu.max and
// cgroup v1's cpu.cfs_quota_us / cpu.cfs_period_us (hybrid hosts mount both). 0 when no
// group sets a limit or nothing can be read: a missing or malformed file is no limit,
// never an error.
// `sysroot` prefixes every path read (/proc/self/mountinfo, /proc/self/cgroup and the
// cgroup mounts they name); "" is the running system. Tests build fake trees under it.
double cgroup_cpu_limit(const std::string& sysroot = "");

}  // namespace kiln
