// CPU feature checks through __builtin_cpu_supports (see runtime/cpu_features.h). The
// builtin takes only string literals, so every name it accepts is listed once here; the
// second list holds names GCC 12 knows and clang 14 does not (clang builds cannot check
// those and refuse modules that need them).
#include "runtime/cpu_features.h"

namespace kiln {
namespace {

struct Feature {
  const char* name;
  bool (*present)();
};

#define KILN_FEATURE(n) {n, [] { return __builtin_cpu_supports(n) != 0; }}

#if defined(__x86_64__)
const Feature kFeatures[] = {
    KILN_FEATURE("cmov"), KILN_FEATURE("mmx"), KILN_FEATURE("popcnt"), KILN_FEATURE("sse"),
    KILN_FEATURE("sse2"), KILN_FEATURE("sse3"), KILN_FEATURE("ssse3"), KILN_FEATURE("sse4.1"),
    KILN_FEATURE("sse4.2"), KILN_FEATURE("avx"), KILN_FEATURE("avx2"), KILN_FEATURE("sse4a"),
    KILN_FEATURE("fma4"), KILN_FEATURE("xop"), KILN_FEATURE("fma"), KILN_FEATURE("avx512f"),
    KILN_FEATURE("bmi"), KILN_FEATURE("bmi2"), KILN_FEATURE("aes"), KILN_FEATURE("pclmul"),
    KILN_FEATURE("avx512vl"), KILN_FEATURE("avx512bw"), KILN_FEATURE("avx512dq"),
    KILN_FEATURE("avx512cd"), KILN_FEATURE("avx512er"), KILN_FEATURE("avx512pf"),
    KILN_FEATURE("avx512vbmi"), KILN_FEATURE("avx512ifma"), KILN_FEATURE("avx5124vnniw"),
    KILN_FEATURE("avx5124fmaps"), KILN_FEATURE("avx512vpopcntdq"), KILN_FEATURE("avx512vbmi2"),
    KILN_FEATURE("gfni"), KILN_FEATURE("vpclmulqdq"), KILN_FEATURE("avx512vnni"),
    KILN_FEATURE("avx512bitalg"), KILN_FEATURE("avx512bf16"), KILN_FEATURE("avx512vp2intersect"),
#if !defined(__clang__)
    KILN_FEATURE("f16c"), KILN_FEATURE("lzcnt"), KILN_FEATURE("movbe"), KILN_FEATURE("xsave"),
    KILN_FEATURE("cmpxchg16b"), KILN_FEATURE("sha"),
    KILN_FEATURE("adx"), KILN_FEATURE("avxvnni"), KILN_FEATURE("avx512fp16"),
    KILN_FEATURE("x86-64"), KILN_FEATURE("x86-64-v2"), KILN_FEATURE("x86-64-v3"),
    KILN_FEATURE("x86-64-v4"),
#endif
};
#endif

#undef KILN_FEATURE

const Feature* find(const std::string& name) {
#if defined(__x86_64__)
  for (const Feature& f : kFeatures)
    if (name == f.name) return &f;
#endif
  return nullptr;
}

}  // namespace

bool known_cpu_feature(const std::string& feature) { return find(feature) != nullptr; }

Status check_cpu_features(const std::vector<std::string>& required, const std::string& module) {
  std::string missing, unknown;
  for (const std::string& name : required) {
    const Feature* f = find(name);
    std::string& list = f ? missing : unknown;
    if (f && f->present()) continue;
    list += (list.empty() ? "" : ", ") + name;
  }
  if (missing.empty() && unknown.empty()) return Status::Ok();
  std::string msg = module + ": ";
  if (!missing.empty()) msg += "this CPU lacks " + missing + " required by the module's code";
  if (!unknown.empty())
    msg += std::string(missing.empty() ? "" : "; ") + "the module requires CPU features " +
           "this runtime cannot check: " + unknown;
  return Error(msg);
}

}  // namespace kiln
