// The CUDA compile cache (codegen/cuda/compile.h): a second compile of the same source,
// architecture and options is a hit with the same PTX and cubin; another architecture or
// source is a miss; a corrupt entry is a miss that is compiled and rewritten.
#include <catch2/catch.hpp>

#include <fstream>

#include "codegen/cuda/compile.h"
#include "codegen/op_parity_cases.h"
#include "cuda_plans.h"
#include "temp_dir.h"

using namespace kiln;
using namespace kiln::test;

TEST_CASE("compiled CUDA kernels are cached by source arch and options", "[cuda][nvrtc]") {
  Cases cs = matmul_cases();
  CudaPlan p = cuda_plan(cs[0].name, cs[0].graph, "c_");
  const std::string src = cudagen::nvrtc_source({&p.cuda});
  testing::TempDir dir;
  const CompileCacheConfig cache{true, dir.path()};

  auto first = cudagen::compile_cuda_cached(src, "m", {"sm_80"}, cache);
  INFO((first.ok() ? std::string() : first.error().message().substr(0, 4000)));
  REQUIRE(first.ok());
  CHECK_FALSE(first->cache_hit);
  REQUIRE(dir.list().size() == 1);

  auto again = cudagen::compile_cuda_cached(src, "m", {"sm_80"}, cache);
  REQUIRE(again.ok());
  CHECK(again->cache_hit);
  CHECK(again->compiled.ptx == first->compiled.ptx);
  CHECK(again->compiled.cubin == first->compiled.cubin);

  auto other_arch = cudagen::compile_cuda_cached(src, "m", {"sm_90"}, cache);
  REQUIRE(other_arch.ok());
  CHECK_FALSE(other_arch->cache_hit);
  auto other_source = cudagen::compile_cuda_cached(src + "\n// another kernel set\n", "m", {"sm_80"}, cache);
  REQUIRE(other_source.ok());
  CHECK_FALSE(other_source->cache_hit);
  CHECK(dir.list().size() == 3);

  // Corrupt every entry: each is a miss, compiled again and rewritten.
  for (const std::string& f : dir.list()) std::ofstream(dir.file(f), std::ios::trunc) << "not a cache entry";
  auto after = cudagen::compile_cuda_cached(src, "m", {"sm_80"}, cache);
  REQUIRE(after.ok());
  CHECK_FALSE(after->cache_hit);
  CHECK(after->compiled.cubin == first->compiled.cubin);
  auto rewritten = cudagen::compile_cuda_cached(src, "m", {"sm_80"}, cache);
  REQUIRE(rewritten.ok());
  CHECK(rewritten->cache_hit);

  // A cache that is off never hits.
  auto off = cudagen::compile_cuda_cached(src, "m", {"sm_80"}, CompileCacheConfig{false, dir.path()});
  REQUIRE(off.ok());
  CHECK_FALSE(off->cache_hit);
}
