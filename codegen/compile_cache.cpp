// The compile cache (compile_cache.h): directory resolution, keys (kiln's own XXH64,
// codegen/xxh64.h, so that builds without LLVM key entries the same way), and the
// .kobj entry format. Whether a directory is usable is checked once per process and
// directory (create it, then create and remove a probe file in it).
#include "codegen/compile_cache.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "codegen/xxh64.h"
#include "runtime/atomic_file.h"

namespace kiln {

namespace {

constexpr char kMagic[4] = {'K', 'O', 'B', 'J'};
// 2: keys and checksums by XXH64 (1 used LLVM's xxh3; its entries are misses now).
constexpr uint32_t kFormatVersion = 2;
constexpr size_t kHeaderBytes = 40;
// A key's two halves: XXH64 of the same bytes under two seeds.
constexpr uint64_t kKeySeedHi = 0x6b696c6e2d6b6579ull;  // "kiln-key"
constexpr uint64_t kKeySeedLo = 1;  // magic, version, key hi, key lo, size, checksum

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
CompileCacheConfig& default_config() {
  static CompileCacheConfig c;
  return c;
}

void warn_once(const std::string& message) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(stderr, "kiln: warning: compile cache: %s\n", message.c_str());
  });
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

void put(std::vector<char>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get(const std::string& in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

uint64_t checksum(const char* data, size_t size) { return xxh64(data, size); }

// Creates `dir` and checks a file can be written in it; "" or the reason it cannot.
std::string prepare_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create " + dir + ": " + ec.message();
  Status st = check_writable(dir + "/.kiln-cache-probe");
  return st.ok() ? "" : st.error().message();
}

}  // namespace

void set_default_compile_cache(const CompileCacheConfig& config) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  default_config() = config;
}

CompileCacheConfig default_compile_cache() {
  std::lock_guard<std::mutex> lock(cache_mutex());
  return default_config();
}

std::string resolve_cache_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  if (const char* d = env("KILN_CACHE_DIR")) return d;
  if (const char* d = env("XDG_CACHE_HOME")) return std::string(d) + "/kiln";
  if (const char* d = env("HOME")) return std::string(d) + "/.cache/kiln";
  return "";
}

std::string CacheKey::hex() const {
  char s[33];
  std::snprintf(s, sizeof s, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return s;
}

CacheKey make_cache_key(std::initializer_list<std::string_view> parts) {
  std::string bytes;
  for (std::string_view p : parts) {
    bytes += std::to_string(p.size()) + ":";
    bytes += p;
  }
  return {xxh64(bytes, kKeySeedHi), xxh64(bytes, kKeySeedLo)};
}

std::optional<CompileCache> CompileCache::open(const CompileCacheConfig& config) {
  if (!config.enabled) return std::nullopt;
  std::string dir = resolve_cache_dir(config.dir);
  if (dir.empty()) {
    warn_once("off: no directory (set KILN_CACHE_DIR, XDG_CACHE_HOME or HOME, or pass --cache-dir)");
    return std::nullopt;
  }
  static std::map<std::string, std::string> checked;  // dir -> "" or why it is unusable
  std::string problem;
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto it = checked.find(dir);
    if (it == checked.end()) it = checked.emplace(dir, prepare_dir(dir)).first;
    problem = it->second;
  }
  if (!problem.empty()) {
    warn_once("off: " + problem);
    return std::nullopt;
  }
  return CompileCache(dir);
}

std::string CompileCache::path(const CacheKey& key) const {
  return dir_ + "/" + key.hex() + ".kobj";
}

std::optional<std::vector<char>> CompileCache::load(const CacheKey& key) const {
  Expected<std::string> file = read_file(path(key));
  if (!file.ok()) return std::nullopt;
  const std::string& f = *file;
  if (f.size() < kHeaderBytes || std::memcmp(f.data(), kMagic, 4) != 0) return std::nullopt;
  if (get(f, 4, 4) != kFormatVersion || get(f, 8, 8) != key.hi || get(f, 16, 8) != key.lo)
    return std::nullopt;
  uint64_t size = get(f, 24, 8);
  if (size != f.size() - kHeaderBytes) return std::nullopt;
  if (get(f, 32, 8) != checksum(f.data() + kHeaderBytes, size)) return std::nullopt;
  return std::vector<char>(f.begin() + kHeaderBytes, f.end());
}

void CompileCache::store(const CacheKey& key, const std::vector<char>& object) const {
  std::vector<char> entry(kMagic, kMagic + 4);
  entry.reserve(kHeaderBytes + object.size());
  put(entry, kFormatVersion, 4);
  put(entry, key.hi, 8);
  put(entry, key.lo, 8);
  put(entry, object.size(), 8);
  put(entry, checksum(object.data(), object.size()), 8);
  entry.insert(entry.end(), object.begin(), object.end());
  Status st = write_file_atomic(path(key), entry.data(), entry.size());
  if (!st.ok()) warn_once(st.error().message());
}

}  // namespace kiln
