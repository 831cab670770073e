// Tests for runtime/cpu_quota: cgroup v1, v2 and hybrid trees built under a fake sysroot,
// the hierarchy walk, a container's namespaced view, and files that say nothing usable.
#include "runtime/cpu_quota.h"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "runtime/thread_pool.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

// Writes `text` to root/rel, creating the directories on the way.
void put(const testing::TempDir& root, const std::string& rel, const std::string& text) {
  const std::filesystem::path p = root.path() + "/" + rel;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A cgroup v1 group directory (under the fake root) with a CFS quota and period.
void put_v1(const testing::TempDir& root, const std::string& dir, const std::string& quota,
            const std::string& period = "100000") {
  put(root, dir + "/cpu.cfs_quota_us", quota + "\n");
  put(root, dir + "/cpu.cfs_period_us", period + "\n");
}

// A mountinfo line for a cgroup mount (`type` cgroup or cgroup2).
std::string mount_line(int id, const std::string& root, const std::string& point,
                       const std::string& type, const std::string& super) {
  return std::to_string(id) + " 1 0:" + std::to_string(id) + " " + root + " " + point +
         " rw,nosuid shared:" + std::to_string(id) + " - " + type + " " + type + " " + super + "\n";
}

}  // namespace

TEST_CASE("cgroup v2: cpu.max of the group and its ancestors", "[runtime][cpu_quota]") {
  testing::TempDir sys;
  put(sys, "proc/self/mountinfo",
      "22 1 8:1 / / rw - ext4 /dev/vda rw\n" +
          mount_line(30, "/", "/sys/fs/cgroup", "cgroup2", "rw,nsdelegate"));
  put(sys, "proc/self/cgroup", "0::/kubepods/pod1/app\n");

  // No file anywhere: no limit.
  CHECK(cgroup_cpu_limit(sys.path()) == 0);

  put(sys, "sys/fs/cgroup/kubepods/pod1/app/cpu.max", "max 100000\n");
  CHECK(cgroup_cpu_limit(sys.path()) == 0);  // "max": unlimited

  put(sys, "sys/fs/cgroup/kubepods/pod1/app/cpu.max", "250000 100000\n");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(2.5));

  // A tighter parent wins; a looser one does not.
  put(sys, "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(1.5));
  put(sys, "sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(1.5));
  put(sys, "sys/fs/cgroup/cpu.max", "50000 100000\n");  // the root, too
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(0.5));
}

TEST_CASE("cgroup v1 and hybrid hosts: cfs quota and period", "[runtime][cpu_quota]") {
  testing::TempDir sys;
  // This project's CI machines: v1 controllers, a v2 tree without the cpu controller.
  put(sys, "proc/self/mountinfo",
      mount_line(31, "/", "/sys/fs/cgroup/cpu", "cgroup", "rw,cpu") +
          mount_line(32, "/", "/sys/fs/cgroup/cpuacct", "cgroup", "rw,cpuacct") +
          mount_line(33, "/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory") +
          mount_line(34, "/", "/sys/fs/cgroup/unified", "cgroup2", "rw"));
  put(sys, "proc/self/cgroup", "4:memory:/jobs/7\n2:cpuacct:/\n1:cpu:/jobs/7\n0::/\n");
  CHECK(cgroup_cpu_limit(sys.path()) == 0);

  put_v1(sys, "sys/fs/cgroup/cpu/jobs/7", "-1");
  CHECK(cgroup_cpu_limit(sys.path()) == 0);  // -1: unlimited

  put(sys, "sys/fs/cgroup/cpu/jobs/7/cpu.cfs_quota_us", "300000\n");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(3.0));

  // A quota on the cpuacct-only or memory hierarchy is not a CPU limit.
  put_v1(sys, "sys/fs/cgroup/memory/jobs/7", "100000");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(3.0));

  // Co-mounted controllers ("cpu,cpuacct"), as most v1 hosts have them.
  testing::TempDir co;
  put(co, "proc/self/mountinfo",
      mount_line(40, "/", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"));
  put(co, "proc/self/cgroup", "3:cpu,cpuacct:/docker/abc\n");
  put_v1(co, "sys/fs/cgroup/cpu,cpuacct/docker/abc", "200000");
  CHECK(cgroup_cpu_limit(co.path()) == Approx(2.0));
}

TEST_CASE("cgroup: a container's view and escaped mount points", "[runtime][cpu_quota]") {
  testing::TempDir sys;
  // The mount shows the hierarchy from /docker/abc down; /proc/self/cgroup has the full
  // path. The group is then the mount point itself.
  put(sys, "proc/self/mountinfo",
      mount_line(50, "/docker/abc", "/sys/fs/cgroup/my\\040cpu", "cgroup", "rw,cpu"));
  put(sys, "proc/self/cgroup", "1:cpu:/docker/abc\n");
  put_v1(sys, "sys/fs/cgroup/my cpu", "100000");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(1.0));

  // A subgroup below the container's root.
  put(sys, "proc/self/cgroup", "1:cpu:/docker/abc/worker\n");
  put_v1(sys, "sys/fs/cgroup/my cpu/worker", "50000");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(0.5));

  // A group outside the mount's root (another namespace's view): the mount point's own.
  put(sys, "proc/self/cgroup", "1:cpu:/elsewhere\n");
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(1.0));
}

TEST_CASE("cgroup: unreadable or malformed files are no limit, never a failure",
          "[runtime][cpu_quota]") {
  testing::TempDir empty;
  CHECK(cgroup_cpu_limit(empty.path()) == 0);  // no /proc at all

  testing::TempDir sys;
  put(sys, "proc/self/mountinfo",
      "garbage\n\n- - -\n" + mount_line(30, "/", "/cg", "cgroup2", "rw") + "1 2 3\n");
  put(sys, "proc/self/cgroup", "nonsense\n0::/a\n::\n");
  for (const char* bad : {"", "max", "100000", "abc 100000", "100000 0", "-5 100000",
                          "1e5 100000", "99999999999999999999 1", "100000 100000 7"}) {
    put(sys, "cg/a/cpu.max", bad);
    INFO("cpu.max = '" << bad << "'");
    CHECK(cgroup_cpu_limit(sys.path()) == 0);
  }
  put(sys, "cg/a/cpu.max", "100000 100000");  // no newline: still read
  CHECK(cgroup_cpu_limit(sys.path()) == Approx(1.0));
}

TEST_CASE("available_cpus stays within the affinity mask and the range", "[runtime][cpu_quota]") {
  // Whatever this machine's groups say, the default pool size is a valid thread count no
  // larger than the affinity mask's, and no larger than a limit when one is set.
  const int n = available_cpus();
  CHECK(n >= 1);
  CHECK(n <= kMaxThreads);
  const double limit = cgroup_cpu_limit();
  if (limit > 0) CHECK(n <= static_cast<int>(limit) + 1);
}
