// cgroup CPU limits (see cpu_quota.h). The mounts come from /proc/self/mountinfo rather
// than an assumed /sys/fs/cgroup layout, since hosts differ: cgroup v2 alone, v1 alone,
// or hybrid (v1 controllers plus a v2 tree at /sys/fs/cgroup/unified, as on this
// project's CI machines). A mount's root field is the part of the hierarchy it shows (a
// container sees its own group as "/"), so the process's group path from
// /proc/self/cgroup is taken relative to it.
#include "runtime/cpu_quota.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace kiln {

namespace {

struct CgroupMount {
  std::string root;   // the hierarchy's path shown at the mount point
  std::string point;  // where it is mounted
  bool v2 = false;    // cgroup2 (cpu.max); else a v1 hierarchy with the cpu controller
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

bool contains(const std::vector<std::string>& items, const std::string& want) {
  return std::find(items.begin(), items.end(), want) != items.end();
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo (octal).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
        s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The cgroup mounts that can carry a CPU limit. A line: ID PARENT MAJ:MIN ROOT POINT
// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS.
std::vector<CgroupMount> cgroup_mounts(std::istream& mountinfo) {
  std::vector<CgroupMount> mounts;
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::vector<std::string> f = split(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || dash == f.end() || f.end() - dash < 4) continue;
    const std::string& type = dash[1];
    CgroupMount m{unescape(f[3]), unescape(f[4]), type == "cgroup2"};
    if (m.v2 || (type == "cgroup" && contains(split(dash[3], ','), "cpu"))) mounts.push_back(m);
  }
  return mounts;
}

// The process's group in the v2 hierarchy ("0::PATH") and in the v1 cpu hierarchy
// ("N:cpu,cpuacct:PATH").
void group_paths(std::istream& cgroup, std::string* v2, std::string* v1_cpu) {
  std::string line;
  while (std::getline(cgroup, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) *v2 = path;
    else if (contains(split(controllers, ','), "cpu")) *v1_cpu = path;
  }
}

// The first line of a file, or "" when it cannot be read.
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// A positive decimal integer, or 0 (also for "max", "-1" and anything malformed).
double positive(const std::string& text) {
  if (text.empty() || text.size() > 18) return 0;
  for (char c : text)
    if (c < '0' || c > '9') return 0;
  return static_cast<double>(std::strtoll(text.c_str(), nullptr, 10));
}

// The limit set on one group directory, in CPUs (0: none).
double group_limit(const std::string& dir, bool v2) {
  double quota = 0, period = 0;
  if (v2) {  // cpu.max: "QUOTA PERIOD" or "max PERIOD"
    std::vector<std::string> f = split(first_line(dir + "/cpu.max"), ' ');
    if (f.size() == 2) quota = positive(f[0]), period = positive(f[1]);
  } else {
    quota = positive(first_line(dir + "/cpu.cfs_quota_us"));
    period = positive(first_line(dir + "/cpu.cfs_period_us"));
  }
  return quota > 0 && period > 0 ? quota / period : 0;
}

// The tighter of two limits in CPUs, where 0 means none.
double tighter(double a, double b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

// The least limit on `group` and its ancestors within a mount (0: none).
double mount_limit(const std::string& sysroot, const CgroupMount& m, std::string_view group) {
  // The group relative to the mount's root; outside it (another namespace's view), the
  // mount point's own group is the nearest one readable.
  const std::string_view root = m.root;
  if (root != "/") {
    const bool below = group.size() > root.size() && group.substr(0, root.size()) == root &&
                       group[root.size()] == '/';
    group = below ? group.substr(root.size()) : std::string_view("/");
  }
  double least = 0;
  for (;;) {
    std::string dir = sysroot + m.point;
    if (group != "/") dir.append(group);
    least = tighter(least, group_limit(dir, m.v2));
    const size_t slash = group.find_last_of('/');
    if (slash == std::string_view::npos || group == "/") break;
    group = slash == 0 ? std::string_view("/") : group.substr(0, slash);
  }
  return least;
}

}  // namespace

double cgroup_cpu_limit(const std::string& sysroot) {
  std::ifstream mountinfo(sysroot + "/proc/self/mountinfo");
  std::ifstream cgroup(sysroot + "/proc/self/cgroup");
  if (!mountinfo || !cgroup) return 0;
  std::string v2_group, v1_group;
  group_paths(cgroup, &v2_group, &v1_group);
  double least = 0;
  for (const CgroupMount& m : cgroup_mounts(mountinfo)) {
    const std::string& group = m.v2 ? v2_group : v1_group;
    if (group.empty() || group[0] != '/') continue;  // not in this hierarchy
    least = tighter(least, mount_limit(sysroot, m, group));
  }
  return least;
}

}  // namespace kiln
