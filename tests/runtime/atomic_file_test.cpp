// Tests for runtime/atomic_file: contents, replacement, no leftover temp files, errors.
#include "runtime/atomic_file.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "temp_dir.h"

using namespace kiln;

TEST_CASE("write_file_atomic writes, replaces and leaves no temp file", "[runtime][atomic_file]") {
  testing::TempDir dir;
  std::string path = dir.file("out.txt");
  REQUIRE(write_file_atomic(path, "hello\n").ok());
  REQUIRE(*read_file(path) == "hello\n");
  REQUIRE(write_file_atomic(path, std::string_view("second")).ok());
  REQUIRE(*read_file(path) == "second");
  REQUIRE(dir.list() == std::vector<std::string>{"out.txt"});

  // Permissions follow the umask like an ordinary file (not mkstemp's 0600).
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  mode_t mask = ::umask(0);
  ::umask(mask);
  CHECK((st.st_mode & 0777) == (0666 & ~mask));
}

TEST_CASE("write_file_atomic handles empty and binary contents", "[runtime][atomic_file]") {
  testing::TempDir dir;
  REQUIRE(write_file_atomic(dir.file("empty"), "").ok());
  CHECK(read_file(dir.file("empty"))->empty());
  std::string bin("a\0b\xff", 4);
  REQUIRE(write_file_atomic(dir.file("bin"), bin).ok());
  CHECK(*read_file(dir.file("bin")) == bin);
}

TEST_CASE("write_file_atomic reports errors and cleans up", "[runtime][atomic_file]") {
  testing::TempDir dir;
  Status st = write_file_atomic(dir.file("no/such/dir/x.txt"), "x");
  REQUIRE(!st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("no/such/dir/x.txt"));

  // Renaming onto an existing directory fails; the temp file must be gone.
  REQUIRE(::mkdir(dir.file("adir").c_str(), 0755) == 0);
  REQUIRE(::mkdir(dir.file("adir/inner").c_str(), 0755) == 0);
  st = write_file_atomic(dir.file("adir"), "x");
  REQUIRE(!st.ok());
  CHECK(dir.list() == std::vector<std::string>{"adir"});

  auto missing = read_file(dir.file("missing.txt"));
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("missing.txt"));
}
