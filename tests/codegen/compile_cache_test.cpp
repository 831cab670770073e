// Target specs (codegen/llvm/target.h), object emission (codegen/llvm/object.h) and the
// compile cache (codegen/compile_cache.h): a second compile is a hit that runs the same
// bits, a different target or graph is a miss, corrupt entries are rebuilt, an unusable
// directory only turns the cache off, and objects export nothing but the entry.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "codegen/compile.h"
#include "codegen/compile_cache.h"
#include "codegen/llvm/jit.h"
#include "codegen/llvm/object.h"
#include "codegen/llvm/renderer.h"
#include "codegen/llvm/target.h"
#include "codegen/lower.h"
#include "frontend/ops.h"
#include "harness.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Object/ObjectFile.h"
#include "temp_dir.h"

using namespace kiln;
using namespace kiln::test;
using kiln::testing::TempDir;

namespace {

// A small layer: matmul + bias + tanh, a softmax, a reduction: several kernels, a GEMM
// call and polynomial math. `scale` changes the graph (and so the IR).
Graph layer_graph(double scale = 2.0) {
  Graph g("cache_layer");
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{8, 16}});
  Tensor w = b.input("w", {DType::f32, Shape{16, 12}});
  Tensor bias = b.input("bias", {DType::f32, Shape{12}});
  Tensor h = tanh(matmul(x, w) + broadcast_to(bias, Shape{8, 12})) * scale;
  Tensor e = exp(h - broadcast_to(max(h, {1}, true), Shape{8, 12}));
  b.output("y", e / broadcast_to(sum(e, {1}, true), Shape{8, 12}));
  b.output("total", sum(h));
  REQUIRE(b.ok());
  return g;
}

CompileOptions cached(const std::string& dir, const std::string& target = "native") {
  CompileOptions o;
  o.cache = CompileCacheConfig{true, dir};
  o.target_cpu = target;
  return o;
}

struct Run {
  bool hit = false;
  std::vector<double> y, total;
};

// Compiles `g`, feeds fixed inputs and runs it once.
Run compile_and_run(const Graph& g, const CompileOptions& o) {
  Expected<std::unique_ptr<Executable>> exe = compile(g, std::make_shared<StateStore>(), o);
  INFO((exe.ok() ? std::string() : exe.error().message()));
  REQUIRE(exe.ok());
  Executable& e = **exe;
  for (const char* name : {"x", "w", "bias"}) {
    HostBuffer* in = e.input(name);
    REQUIRE(in != nullptr);
    std::vector<double> v(static_cast<size_t>(in->type().shape.numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.7 * double(i) + name[0]);
    write_buffer(*in, v);
  }
  e.run();
  return {e.stats().cache_hit, read_buffer(*e.output("y")), read_buffer(*e.output("total"))};
}

std::vector<std::string> entries(const TempDir& d) {
  std::vector<std::string> out;
  for (const std::string& f : d.list())
    if (f.size() > 5 && f.substr(f.size() - 5) == ".kobj") out.push_back(f);
  return out;
}

CacheKey key_of(const std::string& file) {
  REQUIRE(file.size() == 32 + 5);
  return {std::stoull(file.substr(0, 16), nullptr, 16), std::stoull(file.substr(16, 16), nullptr, 16)};
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void spit(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// An environment variable set (or unset, with nullptr) for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("target specs: native, the x86-64 levels, CPU names, and bad names", "[target]") {
  Expected<llvmgen::TargetSpec> v2 = llvmgen::parse_target("x86-64-v2");
  Expected<llvmgen::TargetSpec> v3 = llvmgen::parse_target("x86-64-v3");
  Expected<llvmgen::TargetSpec> v4 = llvmgen::parse_target("x86-64-v4");
  REQUIRE(v2.ok());
  REQUIRE(v3.ok());
  REQUIRE(v4.ok());
  CHECK(v3->cpu == "x86-64-v3");
  CHECK(v3->features.empty());
  for (const char* f : {"sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cmpxchg16b"}) {
    INFO(f);
    CHECK(contains(v2->required_features, f));
    CHECK(contains(v3->required_features, f));
    CHECK(contains(v4->required_features, f));
  }
  for (const char* f : {"avx", "avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe"}) {
    INFO(f);
    CHECK_FALSE(contains(v2->required_features, f));
    CHECK(contains(v3->required_features, f));
    CHECK(contains(v4->required_features, f));
  }
  for (const char* f : {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}) {
    INFO(f);
    CHECK_FALSE(contains(v3->required_features, f));
    CHECK(contains(v4->required_features, f));
  }
  CHECK(std::is_sorted(v4->required_features.begin(), v4->required_features.end()));

  Expected<llvmgen::TargetSpec> haswell = llvmgen::parse_target("haswell");
  REQUIRE(haswell.ok());
  CHECK(contains(haswell->required_features, "avx2"));
  CHECK_FALSE(contains(haswell->required_features, "avx512f"));

  const llvmgen::TargetSpec& host = llvmgen::host_target();
  CHECK(host.name == "native");
  CHECK_FALSE(host.cpu.empty());
  CHECK_FALSE(host.features.empty());
  CHECK(host.features.find("sse2") != std::string::npos);
  CHECK(contains(host.required_features, "sse4.2"));  // every x86-64 kiln runs on has it
  CHECK(llvmgen::missing_host_features(host).empty());
  CHECK(llvmgen::missing_host_features(*v2).empty());
  Expected<llvmgen::TargetSpec> again = llvmgen::parse_target("native");
  REQUIRE(again.ok());
  CHECK(again->features == host.features);  // canonical: the same string every time

  for (const char* bad : {"x86-64-v5", "", "skylake avx512", "native2"}) {
    INFO("'" << bad << "'");
    Expected<llvmgen::TargetSpec> t = llvmgen::parse_target(bad);
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error().message(), Catch::Contains("'" + std::string(bad) + "'"));
    for (const char* accepted : {"native", "x86-64-v2", "x86-64-v3", "x86-64-v4", "haswell", "znver3"})
      CHECK_THAT(t.error().message(), Catch::Contains(accepted));
  }
  CompileOptions o;
  o.target_cpu = "x86-64-v9";
  Expected<std::unique_ptr<Executable>> exe = compile(layer_graph(), std::make_shared<StateStore>(), o);
  REQUIRE_FALSE(exe.ok());
  CHECK_THAT(exe.error().message(), Catch::Contains("'x86-64-v9'"));
}

TEST_CASE("compile refuses code for a CPU with features this one lacks", "[target]") {
  // Whichever of these the host lacks something of (none on a machine that has them all).
  for (const char* cpu : {"x86-64-v4", "sapphirerapids", "bdver4", "znver4"}) {
    Expected<llvmgen::TargetSpec> t = llvmgen::parse_target(cpu);
    REQUIRE(t.ok());
    std::vector<std::string> missing = llvmgen::missing_host_features(*t);
    if (missing.empty()) continue;
    CompileOptions o;
    o.target_cpu = cpu;
    Expected<std::unique_ptr<Executable>> exe = compile(layer_graph(), std::make_shared<StateStore>(), o);
    REQUIRE_FALSE(exe.ok());
    CHECK_THAT(exe.error().message(), Catch::Contains(missing.front()));
    CHECK_THAT(exe.error().message(), Catch::Contains(cpu));
    return;
  }
  WARN("this CPU has every feature of the targets tried");
}

TEST_CASE("emit_object: an ELF object exporting only the entry, loadable by the JIT", "[object]") {
  Graph g = layer_graph();
  Expected<LoweredProgram> lp = lower_graph(g);
  REQUIRE(lp.ok());
  REQUIRE(lp->prog.kernels.size() >= 2);
  for (const char* cpu : {"native", "x86-64-v2", "x86-64-v4"}) {
    INFO(cpu);
    Expected<llvmgen::TargetSpec> target = llvmgen::parse_target(cpu);
    REQUIRE(target.ok());
    llvm::LLVMContext ctx;
    llvmgen::RenderOptions ro;
    ro.entry_symbol = "kiln_test_entry";
    std::unique_ptr<llvm::Module> m = llvmgen::render(lp->prog, ctx, ro);
    Expected<std::vector<char>> obj = llvmgen::emit_object(*m, *target);
    INFO((obj.ok() ? std::string() : obj.error().message()));
    REQUIRE(obj.ok());
    REQUIRE(obj->size() > 4);
    CHECK(std::string(obj->data(), 4) == "\x7f" "ELF");

    auto file = llvm::object::ObjectFile::createObjectFile(
        llvm::MemoryBufferRef(llvm::StringRef(obj->data(), obj->size()), "test.o"));
    REQUIRE(static_cast<bool>(file));
    int entries = 0, kernels = 0;
    for (const llvm::object::SymbolRef& sym : (*file)->symbols()) {
      auto name = sym.getName();
      auto flags = sym.getFlags();
      REQUIRE(static_cast<bool>(name));
      REQUIRE(static_cast<bool>(flags));
      bool global = *flags & llvm::object::SymbolRef::SF_Global;
      bool undefined = *flags & llvm::object::SymbolRef::SF_Undefined;
      std::string n = name->str();
      INFO(n);
      if (n == "kiln_test_entry") {
        ++entries;
        CHECK(global);
        CHECK_FALSE(undefined);
      } else if (global && !undefined) {
        FAIL("exported symbol other than the entry: " << n);
      }
      if (n.size() > 1 && n[0] == 'k' && std::isdigit(static_cast<unsigned char>(n[1]))) {
        ++kernels;
        CHECK_FALSE(global);
      }
    }
    CHECK(entries == 1);
    CHECK(kernels >= 1);  // the kernels are there, as local symbols
    if (llvmgen::missing_host_features(*target).empty()) {
      Expected<std::unique_ptr<llvmgen::Program>> p =
          llvmgen::load_object(*obj, *target, "kiln_test_entry");
      INFO((p.ok() ? std::string() : p.error().message()));
      REQUIRE(p.ok());
      CHECK((*p)->lookup("kiln_test_entry") != nullptr);
      CHECK((*p)->lookup("k0") == nullptr);  // internal
    }
  }
  // Bytes that are no object are an error, not a crash.
  std::vector<char> junk(256, 'x');
  Expected<std::unique_ptr<llvmgen::Program>> p =
      llvmgen::load_object(junk, llvmgen::host_target(), "kiln_test_entry");
  CHECK_FALSE(p.ok());
}

TEST_CASE("a second compile of the same graph is a cache hit with identical results", "[cache]") {
  TempDir dir;
  Graph g = layer_graph();
  CompileOptions off;
  off.cache = CompileCacheConfig{};
  Run uncached = compile_and_run(g, off);
  CHECK_FALSE(uncached.hit);
  CHECK(entries(dir).empty());

  Run first = compile_and_run(g, cached(dir.path()));
  CHECK_FALSE(first.hit);
  REQUIRE(entries(dir).size() == 1);
  Run second = compile_and_run(g, cached(dir.path()));
  CHECK(second.hit);
  CHECK(entries(dir).size() == 1);
  CHECK(first.y == uncached.y);
  CHECK(second.y == first.y);
  CHECK(second.total == first.total);
  check_parity(g);  // and they are right

  // The entry holds the object the JIT ran: ELF, entry exported.
  std::optional<CompileCache> cache = CompileCache::open({true, dir.path()});
  REQUIRE(cache);
  std::optional<std::vector<char>> obj = cache->load(key_of(entries(dir).front()));
  REQUIRE(obj);
  CHECK(std::string(obj->data(), 4) == "\x7f" "ELF");
}

TEST_CASE("a different target or graph is a cache miss", "[cache]") {
  TempDir dir;
  Run native = compile_and_run(layer_graph(), cached(dir.path()));
  CHECK_FALSE(native.hit);
  Run v2 = compile_and_run(layer_graph(), cached(dir.path(), "x86-64-v2"));
  CHECK_FALSE(v2.hit);
  CHECK(entries(dir).size() == 2);
  CHECK(compile_and_run(layer_graph(), cached(dir.path(), "x86-64-v2")).hit);
  CHECK(compile_and_run(layer_graph(), cached(dir.path())).hit);
  for (size_t i = 0; i < native.y.size(); ++i) CHECK(v2.y[i] == Approx(native.y[i]).margin(1e-6));

  Run other = compile_and_run(layer_graph(3.0), cached(dir.path()));
  CHECK_FALSE(other.hit);
  CHECK(entries(dir).size() == 3);
  CHECK(other.y != native.y);
}

TEST_CASE("a corrupt cache entry is a miss: rebuilt, overwritten, and the results right", "[cache]") {
  TempDir dir;
  Graph g = layer_graph();
  Run good = compile_and_run(g, cached(dir.path()));
  REQUIRE(entries(dir).size() == 1);
  const std::string name = entries(dir).front();
  const std::string path = dir.file(name);
  const std::string original = slurp(path);
  REQUIRE(original.size() > 100);

  struct Damage {
    const char* what;
    std::function<std::string(std::string)> apply;
  };
  const Damage damages[] = {
      {"a flipped payload byte", [](std::string s) { s[s.size() / 2] ^= 0x20; return s; }},
      {"a flipped header byte", [](std::string s) { s[1] ^= 0x01; return s; }},
      {"truncated", [](std::string s) { return s.substr(0, s.size() - 17); }},
      {"truncated into the header", [](std::string s) { return s.substr(0, 12); }},
      {"empty", [](std::string) { return std::string(); }},
      {"a longer payload", [](std::string s) { return s + "tail"; }},
  };
  for (const Damage& d : damages) {
    INFO(d.what);
    spit(path, d.apply(original));
    Run r = compile_and_run(g, cached(dir.path()));
    CHECK_FALSE(r.hit);
    CHECK(r.y == good.y);
    CHECK(r.total == good.total);
    CHECK(slurp(path) == original);  // rebuilt: the same object again
    CHECK(compile_and_run(g, cached(dir.path())).hit);
  }

  // An entry whose checksum is right but whose payload is no object: the load fails,
  // which is a miss as well.
  std::optional<CompileCache> cache = CompileCache::open({true, dir.path()});
  REQUIRE(cache);
  cache->store(key_of(name), std::vector<char>(300, 'z'));
  REQUIRE(cache->load(key_of(name)));
  Run r = compile_and_run(g, cached(dir.path()));
  CHECK_FALSE(r.hit);
  CHECK(r.y == good.y);
  CHECK(slurp(path) == original);
}

TEST_CASE("an unusable cache directory does not fail compilation", "[cache]") {
  TempDir dir;
  spit(dir.file("file"), "not a directory");
  // Works for root too, who may write into read-only directories.
  const std::string bad = dir.file("file") + "/cache";
  Graph g = layer_graph();
  Run a = compile_and_run(g, cached(bad));
  Run b = compile_and_run(g, cached(bad));
  CHECK_FALSE(a.hit);
  CHECK_FALSE(b.hit);
  CHECK(a.y == b.y);
  CHECK_FALSE(CompileCache::open({true, bad}));
  CHECK_FALSE(CompileCache::open({false, dir.path()}));  // off
}

TEST_CASE("cache directory: option, KILN_CACHE_DIR, XDG_CACHE_HOME, HOME", "[cache]") {
  ScopedEnv kiln_dir("KILN_CACHE_DIR", "/tmp/k");
  ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/x");
  ScopedEnv home("HOME", "/tmp/h");
  CHECK(resolve_cache_dir("/opt/c") == "/opt/c");
  CHECK(resolve_cache_dir("") == "/tmp/k");
  {
    ScopedEnv empty("KILN_CACHE_DIR", "");
    CHECK(resolve_cache_dir("") == "/tmp/x/kiln");
    ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
    CHECK(resolve_cache_dir("") == "/tmp/h/.cache/kiln");
    ScopedEnv no_home("HOME", nullptr);
    CHECK(resolve_cache_dir("").empty());
  }
}

TEST_CASE("the process-wide default cache applies unless a compile overrides it", "[cache]") {
  TempDir dir;
  Graph g = layer_graph();
  CHECK_FALSE(default_compile_cache().enabled);  // the library's default is off
  set_default_compile_cache({true, dir.path()});
  CompileOptions plain;
  CHECK_FALSE(compile_and_run(g, plain).hit);
  CHECK(entries(dir).size() == 1);
  CHECK(compile_and_run(g, plain).hit);
  CompileOptions off;
  off.cache = CompileCacheConfig{};
  CHECK_FALSE(compile_and_run(g, off).hit);
  set_default_compile_cache({});
  CHECK_FALSE(compile_and_run(g, plain).hit);
}

TEST_CASE("cache keys: every part counts, and where parts split counts", "[cache]") {
  CacheKey a = make_cache_key({"ab", "c"});
  CHECK(a == make_cache_key({"ab", "c"}));
  CHECK_FALSE(a == make_cache_key({"a", "bc"}));
  CHECK_FALSE(a == make_cache_key({"ab", "d"}));
  CHECK(a.hex().size() == 32);
}
