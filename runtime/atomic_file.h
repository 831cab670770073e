// Atomic file writes: the contents go to a temporary file in the same directory, are
// flushed to disk with fsync, and the temporary is renamed over the destination, so a
// reader (or a crash) sees either the old file or the complete new one, never a torn
// write. Curves, submissions, the compile cache and checkpoints all save through this.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ir/status.h"

namespace kiln {

// Writes `size` bytes to `path` atomically. The file gets mode 0666 minus the umask,
// like an ordinary fopen(). On failure the destination is untouched and no temporary
// file is left behind; the error names the path and the system error.
Status write_file_atomic(const std::string& path, const void* data, size_t size);

inline Status write_file_atomic(const std::string& path, std::string_view contents) {
  return write_file_atomic(path, contents.data(), contents.size());
}

// Checks, before any long work, that write_file_atomic(path, ...) can succeed: the
// folder exists and a file can be created in it, and `path` is not a folder. Leaves
// nothing behind.
Status check_writable(const std::string& path);

// Reads a whole file into a string (errors name the path).
Expected<std::string> read_file(const std::string& path);

}  // namespace kiln
