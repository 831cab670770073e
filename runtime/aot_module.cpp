// AotModule and bind_module (see runtime/aot_module.h).
#include "runtime/aot_module.h"

#include <dlfcn.h>

#include <cctype>
#include <cstring>

#include "runtime/cpu_features.h"

namespace kiln {
namespace {

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

Error refuse(ModuleError* why, ModuleError kind, Error e) {
  if (why) *why = kind;
  return e;
}

// dlerror()'s text, or `fallback` when it has none.
std::string dl_error(const char* fallback) {
  const char* e = dlerror();
  return e ? e : fallback;
}

}  // namespace

Expected<std::shared_ptr<AotModule>> AotModule::from_manifest(std::span<const uint8_t> manifest,
                                                              const std::string& source,
                                                              ModuleError* why) {
  std::shared_ptr<AotModule> m(new AotModule());
  m->source_ = source;
  m->manifest_ = KILN_TRY(deserialize_module(manifest, source, why));
  if (m->manifest_.cuda)
    return refuse(why, ModuleError::Format,
                  Error(source + ": the module holds CUDA code for " + m->manifest_.cuda->arch +
                        ", not CPU code (open it with the CUDA runtime)"));
  if (Status st = check_cpu_features(m->manifest_.target.features, source); !st.ok())
    return refuse(why, ModuleError::CpuFeatures, st.error());
  return m;
}

Expected<std::shared_ptr<AotModule>> AotModule::open_library(const std::string& path,
                                                             const std::string& prefix,
                                                             ModuleError* why) {
  if (!is_identifier(prefix))
    return refuse(why, ModuleError::Symbol,
                  Error(path + ": symbol prefix '" + prefix + "' is not a C identifier"));
  // A bare file name means the file, not a search of the library path.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  dlerror();
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return refuse(why, ModuleError::Io, Error(path + ": " + dl_error("dlopen failed")));
  // Closes the library on every early return; released once the module owns it.
  std::unique_ptr<void, int (*)(void*)> guard(handle, dlclose);
  auto symbol = [&](const std::string& name) -> Expected<void*> {
    dlerror();
    void* p = dlsym(handle, name.c_str());
    if (!p)
      return refuse(why, ModuleError::Symbol,
                    Error(path + ": " + dl_error(("no symbol " + name).c_str())));
    return p;
  };
  auto* bytes = static_cast<const uint8_t*>(KILN_TRY(symbol(prefix + "_module")));
  auto* size = static_cast<const unsigned long*>(KILN_TRY(symbol(prefix + "_module_size")));
  std::shared_ptr<AotModule> m = KILN_TRY(from_manifest({bytes, *size}, path, why));
  m->entry_ = reinterpret_cast<EntryFn>(KILN_TRY(symbol(m->manifest_.plan.entry_symbol)));
  m->handle_ = guard.release();
  return m;
}

Expected<std::shared_ptr<AotModule>> AotModule::open_linked(std::span<const uint8_t> manifest,
                                                            EntryFn entry,
                                                            const std::string& source,
                                                            ModuleError* why) {
  if (!entry)
    return refuse(why, ModuleError::Symbol, Error(source + ": no entry function given"));
  std::shared_ptr<AotModule> m = KILN_TRY(from_manifest(manifest, source, why));
  m->entry_ = entry;
  return m;
}

AotModule::~AotModule() {
  if (handle_) dlclose(handle_);
}

void* AotModule::lookup(const std::string& symbol) {
  return symbol == manifest_.plan.entry_symbol ? reinterpret_cast<void*>(entry_) : nullptr;
}

void AotModule::drop_weights() { std::vector<ModuleWeight>().swap(manifest_.weights); }

Status load_weights(Executable& exe, const std::vector<ModuleWeight>& weights,
                    const std::string& source) {
  KILN_RETURN_IF_ERROR(check_weights(exe.plan(), weights, source + ": "));
  for (const ModuleWeight& w : weights) {
    HostBuffer* b = exe.state().find(w.name);
    KILN_CHECK(b && b->type() == w.type, "load_weights: bound state '" + w.name + "' missing");
    if (!w.bytes.empty()) std::memcpy(b->data(), w.bytes.data(), w.bytes.size());
  }
  return Status::Ok();
}

Expected<std::unique_ptr<Executable>> bind_module(std::shared_ptr<AotModule> module,
                                                  std::shared_ptr<StateStore> state,
                                                  const std::vector<ModuleWeight>* weights,
                                                  const BindOptions& options) {
  if (!module) return Error("bind_module: no module");
  const std::vector<ModuleWeight>& values = weights ? *weights : module->manifest().weights;
  const std::string& source = module->source();
  Expected<std::unique_ptr<Executable>> exe =
      Executable::bind(module->manifest().plan, module, std::move(state), options);
  if (!exe.ok()) return exe.error().wrap(source);
  KILN_RETURN_IF_ERROR(load_weights(**exe, values, source));
  return exe;
}

}  // namespace kiln
