// NVRTC + nvJitLink through dlopen (see nvrtc.h). The function-pointer types mirror
// nvrtc.h and nvJitLink.h of CUDA 12/13 (results as int, handles as void*).
#include "runtime/nvrtc.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <sstream>

namespace kiln {

struct NvrtcLibrary {
  using Prog = void*;
  const char* (*GetErrorString)(int) = nullptr;
  int (*Version)(int*, int*) = nullptr;
  int (*CreateProgram)(Prog*, const char*, const char*, int, const char* const*, const char* const*) = nullptr;
  int (*DestroyProgram)(Prog*) = nullptr;
  int (*CompileProgram)(Prog, int, const char* const*) = nullptr;
  int (*GetPTXSize)(Prog, size_t*) = nullptr;
  int (*GetPTX)(Prog, char*) = nullptr;
  int (*GetProgramLogSize)(Prog, size_t*) = nullptr;
  int (*GetProgramLog)(Prog, char*) = nullptr;
  std::string path;
};

namespace {

constexpr int kNvJitLinkInputPtx = 2;  // NVJITLINK_INPUT_PTX

struct JitLinkLibrary {
  using Handle = void*;
  int (*Create)(Handle*, uint32_t, const char**) = nullptr;
  int (*Destroy)(Handle*) = nullptr;
  int (*AddData)(Handle, int, const void*, size_t, const char*) = nullptr;
  int (*Complete)(Handle) = nullptr;
  int (*GetLinkedCubinSize)(Handle, size_t*) = nullptr;
  int (*GetLinkedCubin)(Handle, void*) = nullptr;
  int (*GetErrorLogSize)(Handle, size_t*) = nullptr;
  int (*GetErrorLog)(Handle, char*) = nullptr;
  int (*GetInfoLogSize)(Handle, size_t*) = nullptr;
  int (*GetInfoLog)(Handle, char*) = nullptr;
  std::string path;
};

// dlopen of the first candidate that loads: $env, then each name as-is and under
// /usr/local/cuda/lib64. Returns the handle and its path, or every dlerror.
Expected<std::pair<void*, std::string>> open_first(const char* env, std::vector<std::string> names) {
  if (const char* e = *env ? std::getenv(env) : nullptr; e && *e) names = {e};
  std::string errors;
  for (const std::string& n : names) {
    for (const std::string& path : {n, "/usr/local/cuda/lib64/" + n}) {
      if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return std::make_pair(h, path);
      if (const char* err = dlerror()) errors += std::string(errors.empty() ? "" : "; ") + err;
      if (n.find('/') != std::string::npos) break;
    }
  }
  return Error("cannot load " + names.front() + ": " + errors);
}

template <class F>
bool bind(void* lib, F& fn, const std::string& name, const std::string& alt = "") {
  void* p = dlsym(lib, name.c_str());
  if (!p && !alt.empty()) p = dlsym(lib, alt.c_str());
  fn = reinterpret_cast<F>(p);
  return p != nullptr;
}

// Opens NVRTC from `names` (the first that loads) and binds the entry points.
Expected<NvrtcLibrary> open_nvrtc(const char* env, const std::vector<std::string>& names) {
  auto opened = open_first(env, names);
  if (!opened) return opened.error().wrap("NVRTC");
  void* h = opened->first;
  NvrtcLibrary t;
  t.path = opened->second;
  bool ok = bind(h, t.GetErrorString, "nvrtcGetErrorString") && bind(h, t.Version, "nvrtcVersion") &&
            bind(h, t.CreateProgram, "nvrtcCreateProgram") &&
            bind(h, t.DestroyProgram, "nvrtcDestroyProgram") &&
            bind(h, t.CompileProgram, "nvrtcCompileProgram") && bind(h, t.GetPTXSize, "nvrtcGetPTXSize") &&
            bind(h, t.GetPTX, "nvrtcGetPTX") && bind(h, t.GetProgramLogSize, "nvrtcGetProgramLogSize") &&
            bind(h, t.GetProgramLog, "nvrtcGetProgramLog");
  if (!ok) return Error("NVRTC: " + t.path + " lacks an entry point kiln needs");
  return t;
}

Expected<const NvrtcLibrary*> load_nvrtc() {
  static std::once_flag once;
  static Expected<NvrtcLibrary> lib = Error("");
  std::call_once(once, [] { lib = open_nvrtc("KILN_NVRTC", {"libnvrtc.so.13", "libnvrtc.so.12"}); });
  if (!lib) return lib.error();
  return &lib.value();
}

std::string version_of(const NvrtcLibrary& lib) {
  int major = 0, minor = 0;
  if (lib.Version(&major, &minor) != 0) return "?";
  return std::to_string(major) + "." + std::to_string(minor);
}

Expected<const JitLinkLibrary*> load_jitlink() {
  static std::once_flag once;
  static Expected<JitLinkLibrary> lib = Error("");
  std::call_once(once, [] {
    auto opened = open_first("KILN_NVJITLINK", {"libnvJitLink.so.13", "libnvJitLink.so.12"});
    if (!opened) {
      lib = opened.error().wrap("nvJitLink");
      return;
    }
    void* h = opened->first;
    JitLinkLibrary t;
    t.path = opened->second;
    // The header maps each name to a versioned symbol (__nvJitLinkCreate_13_0); the
    // plain names are exported too.
    const std::string v = t.path.find(".so.12") != std::string::npos ? "_12_0" : "_13_0";
    auto b = [&](auto& fn, const std::string& name) { return bind(h, fn, name, "__" + name + v); };
    bool ok = b(t.Create, "nvJitLinkCreate") && b(t.Destroy, "nvJitLinkDestroy") &&
              b(t.AddData, "nvJitLinkAddData") && b(t.Complete, "nvJitLinkComplete") &&
              b(t.GetLinkedCubinSize, "nvJitLinkGetLinkedCubinSize") &&
              b(t.GetLinkedCubin, "nvJitLinkGetLinkedCubin") &&
              b(t.GetErrorLogSize, "nvJitLinkGetErrorLogSize") && b(t.GetErrorLog, "nvJitLinkGetErrorLog") &&
              b(t.GetInfoLogSize, "nvJitLinkGetInfoLogSize") && b(t.GetInfoLog, "nvJitLinkGetInfoLog");
    if (!ok) {
      lib = Error("nvJitLink: " + t.path + " lacks an entry point kiln needs");
      return;
    }
    lib = t;
  });
  if (!lib) return lib.error();
  return &lib.value();
}

// Source line numbers NVRTC's log points at: "<name>(123): error: ...".
std::vector<int> log_lines(const std::string& log, const std::string& name) {
  std::vector<int> lines;
  const std::string key = name + "(";
  for (size_t p = log.find(key); p != std::string::npos; p = log.find(key, p + 1)) {
    int line = std::atoi(log.c_str() + p + key.size());
    if (line > 0) lines.push_back(line);
  }
  return lines;
}

std::string jitlink_log(const JitLinkLibrary& j, void* h, bool error_log) {
  size_t n = 0;
  if ((error_log ? j.GetErrorLogSize(h, &n) : j.GetInfoLogSize(h, &n)) != 0 || n <= 1) return {};
  std::string s(n, '\0');
  if ((error_log ? j.GetErrorLog(h, s.data()) : j.GetInfoLog(h, s.data())) != 0) return {};
  s.resize(n - 1);
  return s;
}

Status assemble(const std::string& ptx, const std::string& arch, bool verbose, CudaCompiled& out) {
  const JitLinkLibrary* j = KILN_TRY(load_jitlink());
  std::string arch_opt = "-arch=" + arch;
  const char* opts[] = {arch_opt.c_str(), "-verbose"};
  void* h = nullptr;
  if (int r = j->Create(&h, verbose ? 2 : 1, opts); r != 0)
    return Error("nvJitLink: cannot create a linker for " + arch + " (error " + std::to_string(r) + ")");
  Status st;
  if (int r = j->AddData(h, kNvJitLinkInputPtx, ptx.data(), ptx.size(), "kiln.ptx"); r != 0) {
    st = Error("nvJitLink: the PTX was refused for " + arch + " (error " + std::to_string(r) + "):\n" +
               jitlink_log(*j, h, true));
  } else if (int r2 = j->Complete(h); r2 != 0) {
    st = Error("nvJitLink: assembling for " + arch + " failed (error " + std::to_string(r2) + "):\n" +
               jitlink_log(*j, h, true));
  } else {
    size_t n = 0;
    if (j->GetLinkedCubinSize(h, &n) != 0 || n == 0) {
      st = Error("nvJitLink: no cubin for " + arch);
    } else {
      out.cubin.resize(n);
      if (j->GetLinkedCubin(h, out.cubin.data()) != 0) st = Error("nvJitLink: cannot read the cubin");
    }
    std::string info = jitlink_log(*j, h, false);
    if (!info.empty()) out.log += (out.log.empty() ? "" : "\n") + info;
  }
  j->Destroy(&h);
  return st;
}

}  // namespace

std::string numbered_source(const std::string& source, const std::vector<int>& lines, int context) {
  std::ostringstream os;
  std::istringstream in(source);
  std::string text;
  int n = 0;
  int last = 0;
  while (std::getline(in, text)) {
    ++n;
    bool show = lines.empty();
    bool marked = false;
    for (int l : lines) {
      show |= n >= l - context && n <= l + context;
      marked |= n == l;
    }
    if (!show) continue;
    if (!lines.empty() && last && n != last + 1) os << "   ...\n";
    os << (marked ? ">" : " ") << (n < 10000 ? " " : "") << (n < 1000 ? " " : "") << (n < 100 ? " " : "")
       << (n < 10 ? " " : "") << n << "  " << text << "\n";
    last = n;
  }
  return os.str();
}

Expected<std::string> nvrtc_version() {
  const NvrtcLibrary* lib = KILN_TRY(load_nvrtc());
  return version_of(*lib);
}

Expected<std::string> nvrtc_version_of(const std::string& library) {
  NvrtcLibrary lib = KILN_TRY(open_nvrtc("", {library}));
  return version_of(lib);
}

Expected<CudaCompiled> compile_cuda(const std::string& source, const std::string& name,
                                    const CudaCompileOptions& options) {
  if (options.arch.rfind("sm_", 0) != 0 || options.arch.size() < 5)
    return Error("CUDA: architecture '" + options.arch + "' is not of the form sm_XX");
  const NvrtcLibrary* lib = KILN_TRY(load_nvrtc());
  void* prog = nullptr;
  const std::string file = name + ".cu";
  if (int r = lib->CreateProgram(&prog, source.c_str(), file.c_str(), 0, nullptr, nullptr); r != 0)
    return Error(std::string("NVRTC: cannot create the program: ") + lib->GetErrorString(r));
  // PTX for the virtual architecture; nvJitLink assembles it for the real one.
  std::vector<std::string> opts = {"--gpu-architecture=compute_" + options.arch.substr(3), "--std=c++17"};
  opts.insert(opts.end(), options.extra.begin(), options.extra.end());
  std::vector<const char*> argv;
  for (const std::string& o : opts) argv.push_back(o.c_str());
  const int r = lib->CompileProgram(prog, static_cast<int>(argv.size()), argv.data());
  CudaCompiled out;
  size_t log_size = 0;
  if (lib->GetProgramLogSize(prog, &log_size) == 0 && log_size > 1) {
    out.log.resize(log_size);
    if (lib->GetProgramLog(prog, out.log.data()) == 0) out.log.resize(log_size - 1);
    else out.log.clear();
  }
  if (r != 0) {
    lib->DestroyProgram(&prog);
    return Error("NVRTC: compiling " + file + " for " + options.arch + " failed (" +
                 lib->GetErrorString(r) + "):\n" + out.log + "\nsource:\n" +
                 numbered_source(source, log_lines(out.log, file)));
  }
  size_t ptx_size = 0;
  if (lib->GetPTXSize(prog, &ptx_size) != 0 || ptx_size == 0) {
    lib->DestroyProgram(&prog);
    return Error("NVRTC: no PTX for " + file);
  }
  out.ptx.resize(ptx_size);
  int pr = lib->GetPTX(prog, out.ptx.data());
  lib->DestroyProgram(&prog);
  if (pr != 0) return Error("NVRTC: cannot read the PTX of " + file);
  out.ptx.resize(ptx_size - 1);  // the terminating NUL
  if (options.cubin) KILN_RETURN_IF_ERROR(assemble(out.ptx, options.arch, options.resource_usage, out));
  return out;
}

}  // namespace kiln
