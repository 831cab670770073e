// Out-of-line parts of status.h.
#include "ir/status.h"

#include <cstring>

namespace kiln {

std::string SourceLoc::to_string() const {
  if (!known()) return "<unknown>";
  size_t slash = file.rfind('/');
  return file.substr(slash == std::string::npos ? 0 : slash + 1) + ":" + std::to_string(line);
}

void check_failed(const char* cond, const std::string& msg, const char* file, int line) {
  std::fprintf(stderr, "kiln internal error at %s:%d: check `%s` failed: %s\n", file, line, cond,
               msg.c_str());
  std::abort();
}

}  // namespace kiln
