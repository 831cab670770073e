// ptxas's per-kernel report from nvJitLink's info log (see kernel_resources.h).
#include "codegen/cuda/kernel_resources.h"

#include <regex>
#include <sstream>

namespace kiln::cudagen {

namespace {

// The number before `unit` in `line` ("256 bytes smem" -> 256), if it is there.
bool number_before(const std::string& line, const std::string& unit, int64_t& out) {
  const std::regex re("([0-9]+) " + unit);
  std::smatch m;
  if (!std::regex_search(line, m, re)) return false;
  out = std::stoll(m[1].str());
  return true;
}

}  // namespace

std::map<std::string, KernelResources> parse_kernel_resources(const std::string& log) {
  std::map<std::string, KernelResources> out;
  std::istringstream in(log);
  std::string line, current;
  const std::string properties = "Function properties for ";
  while (std::getline(in, line)) {
    if (line.rfind("ptxas", 0) != 0) continue;  // nvJitLink's own summary lines differ
    if (size_t at = line.find(properties); at != std::string::npos) {
      current = line.substr(at + properties.size());
      out[current];
      continue;
    }
    if (current.empty()) continue;
    KernelResources& r = out[current];
    int64_t v = 0;
    if (number_before(line, "bytes stack frame", v)) r.stack_bytes = v;
    if (number_before(line, "bytes spill stores", v)) r.spill_store_bytes = v;
    if (number_before(line, "bytes spill loads", v)) r.spill_load_bytes = v;
    if (number_before(line, "registers", v)) r.registers = static_cast<int>(v);
    if (number_before(line, "bytes smem", v)) r.shared_bytes = v;
  }
  return out;
}

}  // namespace kiln::cudagen
