// The CUDA emulator's build and load (see emulate.h): write the host translation unit
// to a temporary folder, compile it with the system compiler, dlopen the library.
#include "codegen/cuda/emulate.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "codegen/cuda/prelude.h"
#include "runtime/nvrtc.h"

namespace kiln::cudagen {

namespace {

// Source lines a GCC/Clang diagnostic names: "<file>:<line>:<col>: ...".
std::vector<int> diagnostic_lines(const std::string& log, const std::string& file) {
  std::vector<int> lines;
  const std::string key = file + ":";
  for (size_t p = log.find(key); p != std::string::npos && lines.size() < 8; p = log.find(key, p + 1)) {
    int line = std::atoi(log.c_str() + p + key.size());
    if (line > 0) lines.push_back(line);
  }
  return lines;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

EmulatedModule::~EmulatedModule() {
  if (handle_) dlclose(handle_);
}

void* EmulatedModule::lookup(const std::string& symbol) { return dlsym(handle_, symbol.c_str()); }

std::string EmulatedModule::take_error() {
  auto fn = reinterpret_cast<const char* (*)()>(dlsym(handle_, "kiln_emu_take_error"));
  return fn ? fn() : "kiln_emu_take_error missing";
}

std::string emulation_source(const std::vector<EmulationUnit>& units) {
  std::string s = emulation_prelude();
  s += common_prelude();
  for (const EmulationUnit& u : units) s += u.program->source;
  s += "// ---- entries: each program's launches in order ----\n";
  for (const EmulationUnit& u : units) {
    s += "KILN_EXPORT void " + u.entry_symbol + "(void** bufs) {\n";
    for (const CudaLaunch& l : u.program->launches) {
      s += "  kiln_emu::launch(" + l.kernel + ", bufs, " + std::to_string(l.grid) + ", " +
           std::to_string(l.block) + ", " + (l.barriers ? "true" : "false") + ", \"" + l.kernel + "\");\n";
    }
    s += "}\n";
  }
  // One launcher per kernel, for a device runtime on the emulated driver
  // (codegen/cuda/emulated_driver.h): the grid and block come from its launch.
  s += "// ---- per-kernel launchers: " + std::string(kEmulatedLaunchPrefix) + "<kernel>(bufs, grid, block) ----\n";
  std::set<std::string> seen;
  for (const EmulationUnit& u : units)
    for (const CudaLaunch& l : u.program->launches) {
      if (!seen.insert(l.kernel).second) continue;
      s += "KILN_EXPORT void " + std::string(kEmulatedLaunchPrefix) + l.kernel +
           "(void* const* bufs, int64_t grid, int64_t block) {\n  kiln_emu::launch(" + l.kernel +
           ", bufs, grid, block, " + (l.barriers ? "true" : "false") + ", \"" + l.kernel + "\");\n}\n";
    }
  return s;
}

Expected<std::shared_ptr<EmulatedModule>> build_emulation(const std::vector<EmulationUnit>& units,
                                                          const EmulateOptions& options) {
  namespace fs = std::filesystem;
  std::string compiler = options.compiler;
  if (compiler.empty()) {
    const char* env = std::getenv("KILN_CXX");
    compiler = env && *env ? env : "c++";
  }
  std::error_code ec;
  std::string tmpl = (fs::temp_directory_path(ec) / "kiln-emu-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return Error("CUDA emulator: cannot create a temporary folder");
  const fs::path dir = tmpl;
  const fs::path src = dir / "kernels.cpp", lib = dir / "kernels.so", log = dir / "log.txt";
  const std::string source = emulation_source(units);
  {
    std::ofstream out(src);
    out << source;
    if (!out) {
      fs::remove_all(dir, ec);
      return Error("CUDA emulator: cannot write " + src.string());
    }
  }
  const std::string cmd = compiler + " -std=c++20 " + options.flags +
                          " -fPIC -shared -fwrapv -fno-strict-aliasing -fvisibility=hidden -w -o '" +
                          lib.string() + "' '" + src.string() + "' > '" + log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::string text = read_file(log);
    fs::remove_all(dir, ec);
    return Error("CUDA emulator: `" + compiler + "` failed (status " + std::to_string(rc) + "):\n" +
                 text.substr(0, 8000) + "\nsource:\n" +
                 numbered_source(source, diagnostic_lines(text, src.string())));
  }
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::string why = h ? "" : dlerror();
  fs::remove_all(dir, ec);  // the loaded library stays mapped
  if (!h) return Error("CUDA emulator: cannot load the compiled kernels: " + why);
  auto m = std::shared_ptr<EmulatedModule>(new EmulatedModule());
  m->handle_ = h;
  for (const EmulationUnit& u : units)
    if (!m->lookup(u.entry_symbol)) return Error("CUDA emulator: entry " + u.entry_symbol + " missing");
  return m;
}

}  // namespace kiln::cudagen
