// The CUDA compile cache (see compile.h). Payload: "KCU1", the PTX size (8 bytes, little
// endian), the PTX, the cubin size, the cubin.
#include "codegen/cuda/compile.h"

#include <cstring>

namespace kiln::cudagen {

namespace {

void put_u64(std::vector<char>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
bool get_u64(const std::vector<char>& in, size_t& at, uint64_t& v) {
  if (in.size() < at + 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  at += 8;
  return true;
}

std::vector<char> pack(const CudaCompiled& c) {
  std::vector<char> out{'K', 'C', 'U', '1'};
  put_u64(out, c.ptx.size());
  out.insert(out.end(), c.ptx.begin(), c.ptx.end());
  put_u64(out, c.cubin.size());
  out.insert(out.end(), c.cubin.begin(), c.cubin.end());
  return out;
}

std::optional<CudaCompiled> unpack(const std::vector<char>& in) {
  if (in.size() < 4 || std::memcmp(in.data(), "KCU1", 4) != 0) return std::nullopt;
  size_t at = 4;
  uint64_t n = 0;
  CudaCompiled c;
  if (!get_u64(in, at, n) || in.size() - at < n) return std::nullopt;
  c.ptx.assign(in.begin() + at, in.begin() + at + n);
  at += n;
  if (!get_u64(in, at, n) || in.size() - at != n) return std::nullopt;
  c.cubin.assign(in.begin() + at, in.end());
  return c;
}

}  // namespace

Expected<CudaImage> compile_cuda_cached(const std::string& source, const std::string& name,
                                        const CudaCompileOptions& options,
                                        const std::optional<CompileCacheConfig>& cache) {
  const std::string version = KILN_TRY(nvrtc_version());
  std::optional<CompileCache> store = CompileCache::open(cache ? *cache : default_compile_cache());
  std::string opts = options.arch + (options.cubin ? " cubin" : " ptx");
  for (const std::string& o : options.extra) opts += " " + o;
  const CacheKey key = make_cache_key({"kiln-cuda-1", version, opts, name, source});
  if (store) {
    if (std::optional<std::vector<char>> blob = store->load(key)) {
      if (std::optional<CudaCompiled> c = unpack(*blob)) return CudaImage{std::move(*c), true};
    }
  }
  CudaCompiled c = KILN_TRY(compile_cuda(source, name, options));
  if (store) store->store(key, pack(c));
  return CudaImage{std::move(c), false};
}

}  // namespace kiln::cudagen
