// Atomic file writes (temp file in the same directory + fsync + rename) and a whole-file
// reader. The temp name is ".<name>.tmp.<pid>.<n>" next to the destination: the same
// directory keeps rename() atomic (same file system), the leading dot hides it from
// globs, and O_EXCL with a per-process counter avoids collisions between threads.
#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace kiln {
namespace {

std::string sys_error(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

// Splits "a/b/c.txt" into ("a/b/", "c.txt"); a bare name gets an empty directory.
std::pair<std::string, std::string> split_path(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// fsync on the directory makes the rename itself durable. Best effort: some file
// systems refuse to open or sync directories, which is not worth failing a save for.
void sync_directory(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

Status write_file_atomic(const std::string& path, const void* data, size_t size) {
  if (path.empty()) return Error("cannot write a file with an empty path");
  auto [dir, name] = split_path(path);
  if (name.empty()) return Error("cannot write " + path + ": the path names a directory");

  static std::atomic<uint64_t> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = dir + "." + name + ".tmp." + std::to_string(::getpid()) + "." +
          std::to_string(counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
      return Error(sys_error("cannot create temporary file for", path, errno));
    }
  }
  if (fd < 0) return Error("cannot create a unique temporary file for " + path);

  auto fail = [&](const std::string& what) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return Status(Error(sys_error(what, path, err)));
  };

  const char* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot flush");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename temporary file onto");
  sync_directory(dir);
  return Status::Ok();
}

Status check_writable(const std::string& path) {
  if (path.empty()) return Error("empty output path");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Error("cannot write " + path + ": it is a directory");
  auto [dir, name] = split_path(path);
  if (name.empty()) return Error("cannot write " + path + ": no file name");
  std::string probe = dir + "." + name + ".probe." + std::to_string(::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error(sys_error("cannot write", path, errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::Ok();
}

Expected<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(sys_error("cannot open", path, errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Error(sys_error("cannot read", path, err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace kiln
