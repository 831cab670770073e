// The compile cache: object code on disk, so that compiling a graph a second time skips
// LLVM's optimizer and code generator (DESIGN.md convention 9). compile() keys an entry
// on the unoptimised LLVM IR text (any lowering or renderer change changes it), the
// target triple, CPU name and feature string, the LLVM version, KILN_ABI_VERSION and
// the code-generation options; this file knows nothing of LLVM and stores bytes.
//
// An entry is <dir>/<32 hex digits of the key>.kobj: a 40-byte header (magic "KOBJ",
// format version, the key, payload size, XXH64 checksum of the payload) and the
// object bytes. It is written to a temporary file in the same directory and renamed
// (runtime/atomic_file.h), so concurrent compiles never see a torn entry. A missing or
// corrupt entry is a miss, and the caller overwrites it; a cache that cannot be written
// only costs speed: it prints one warning per process and compiles as if it were off.
//
// Library users opt in, per compile (CompileOptions::cache) or for the whole process
// (set_default_compile_cache); the `kiln` tool turns it on unless --no-cache.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

struct CompileCacheConfig {
  bool enabled = false;
  std::string dir;  // empty: resolve_cache_dir's default
};

// The configuration compiles use when CompileOptions::cache is unset. Off by default.
void set_default_compile_cache(const CompileCacheConfig& config);
CompileCacheConfig default_compile_cache();

// `dir` when given, else $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else
// $HOME/.cache/kiln (empty variables count as unset); "" when none of them is set.
std::string resolve_cache_dir(const std::string& dir);

struct CacheKey {
  uint64_t hi = 0, lo = 0;
  std::string hex() const;  // 32 lowercase hex digits
  bool operator==(const CacheKey&) const = default;
};

// 128 bits of the parts, each preceded by its length, so ("ab", "c") != ("a", "bc"):
// XXH64 (codegen/xxh64.h) of those bytes under two seeds, the same with or without LLVM.
CacheKey make_cache_key(std::initializer_list<std::string_view> parts);

class CompileCache {
 public:
  // The cache `config` describes, its directory created if missing; nullopt when the
  // cache is off, or no directory is known or it cannot be created or written (a
  // warning on stderr, once per process).
  static std::optional<CompileCache> open(const CompileCacheConfig& config);

  const std::string& dir() const { return dir_; }
  std::string path(const CacheKey& key) const;  // <dir>/<key.hex()>.kobj

  // The object stored under `key`; nullopt when there is none or the entry is corrupt
  // (wrong magic, version, key or size, or a bad checksum).
  std::optional<std::vector<char>> load(const CacheKey& key) const;
  // Stores `object` under `key`, replacing any entry; failing is a warning (once).
  void store(const CacheKey& key, const std::vector<char>& object) const;

 private:
  explicit CompileCache(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace kiln
