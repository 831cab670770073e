// The C API (include/kiln/c_api.h) over AotModule and Executable (runtime/aot_module.h),
// and CUDA module files (runtime/cuda_module.h).
// Every entry point runs its body through `guarded`, which turns any C++ exception into a
// status and a message, so none crosses into C; refusals carry the Error message of the
// layer below (naming the file) in the thread's last-error string.
#include "kiln/c_api.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "runtime/aot_module.h"
#include "runtime/atomic_file.h"
#include "runtime/cuda_module.h"
#include "runtime/model_weights.h"
#include "runtime/thread_pool.h"

using namespace kiln;

struct kiln_model {
  struct Port {
    std::string name;
    TensorType type;
    void* data = nullptr;
  };
  std::unique_ptr<Executable> exe;  // holds its code (and device) alive
  std::string source;               // names the module in errors
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Port> inputs, outputs;
  std::string signature;  // plan_signature
};

namespace {

static_assert(KILN_F32 == static_cast<int>(DType::f32) && KILN_F64 == static_cast<int>(DType::f64) &&
                  KILN_I32 == static_cast<int>(DType::i32) &&
                  KILN_I64 == static_cast<int>(DType::i64) &&
                  KILN_BOOL == static_cast<int>(DType::boolean),
              "kiln_dtype mirrors ir/dtype.h");

thread_local std::string t_last_error;
thread_local bool t_error_lost = false;  // the message itself could not be stored

// Stores prefix + message as this thread's last error; allocates nothing before its try
// block, so it is safe inside a catch handler.
kiln_status fail(kiln_status status, const char* prefix, const char* message) noexcept {
  try {
    t_last_error.assign(prefix);
    t_last_error.append(message);
    t_error_lost = false;
  } catch (...) {
    t_error_lost = true;
  }
  return status;
}

kiln_status fail(kiln_status status, const std::string& message) noexcept {
  return fail(status, "", message.c_str());
}

kiln_status fail(kiln_status status, const Error& e) noexcept { return fail(status, e.message()); }

// Runs body(function), turning exceptions into statuses; `function` names the entry
// point in messages.
template <typename F>
kiln_status guarded(const char* function, F&& body) noexcept {
  try {
    return body(function);
  } catch (const std::bad_alloc&) {
    return fail(KILN_OUT_OF_MEMORY, function, ": out of memory");
  } catch (const std::exception& e) {
    return fail(KILN_INTERNAL, "internal error: ", e.what());
  } catch (...) {
    return fail(KILN_INTERNAL, function, ": internal error: unknown exception");
  }
}

kiln_status null_argument(const char* function, const char* argument) {
  return fail(KILN_INVALID_ARGUMENT, std::string(function) + ": " + argument + " is NULL");
}

// Inside a guarded body, whose parameter `fn` names the entry point.
#define KILN_REQUIRE_ARG(arg) \
  if (!(arg)) return null_argument(fn, #arg)

kiln_status status_of(ModuleError e) {
  switch (e) {
    case ModuleError::Io: return KILN_IO;
    case ModuleError::Symbol: return KILN_NOT_FOUND;
    case ModuleError::Format: return KILN_FORMAT;
    case ModuleError::AbiVersion: return KILN_ABI_MISMATCH;
    case ModuleError::CpuFeatures: return KILN_CPU_UNSUPPORTED;
    case ModuleError::Device: return KILN_DEVICE_ERROR;
    case ModuleError::DeviceArch: return KILN_DEVICE_UNSUPPORTED;
  }
  return KILN_INTERNAL;
}

// Hands a bound model to the caller.
kiln_status finish_open(std::unique_ptr<kiln_model> model, kiln_model** out) {
  for (const std::string& name : model->exe->input_names()) {
    HostBuffer* b = model->exe->input(name);
    model->inputs.push_back({name, b->type(), b->data()});
  }
  for (const std::string& name : model->exe->output_names()) {
    const HostBuffer* b = model->exe->output(name);
    model->outputs.push_back({name, b->type(), const_cast<void*>(b->data())});
  }
  model->signature = plan_signature(model->exe->plan());
  *out = model.release();
  return KILN_OK;
}

// Binds an opened CPU module and hands the model to the caller.
kiln_status finish_open(Expected<std::shared_ptr<AotModule>> opened, ModuleError why,
                        kiln_model** out) {
  if (!opened.ok()) return fail(status_of(why), opened.error());
  std::shared_ptr<AotModule> module = std::move(*opened);
  auto model = std::make_unique<kiln_model>();
  // The manifest is checked, so binding fails only when memory is short.
  Expected<std::unique_ptr<Executable>> exe = bind_module(module);
  if (!exe.ok()) return fail(KILN_OUT_OF_MEMORY, exe.error());
  model->exe = std::move(*exe);
  module->drop_weights();  // copied into the model's state
  model->source = module->source();
  model->metadata = module->manifest().metadata;
  return finish_open(std::move(model), out);
}

kiln_status port(const std::vector<kiln_model::Port>& ports, int index, const char* function,
                 const kiln_model::Port** p) {
  if (index < 0 || static_cast<size_t>(index) >= ports.size())
    return fail(KILN_INVALID_ARGUMENT, std::string(function) + ": index " +
                                           std::to_string(index) + " out of range (the model has " +
                                           std::to_string(ports.size()) + ")");
  *p = &ports[static_cast<size_t>(index)];
  return KILN_OK;
}

kiln_status info(const std::vector<kiln_model::Port>& ports, int index, const char* function,
                 kiln_tensor_info* out) {
  const kiln_model::Port* p = nullptr;
  if (kiln_status s = port(ports, index, function, &p); s != KILN_OK) return s;
  out->name = p->name.c_str();
  out->dtype = static_cast<kiln_dtype>(p->type.dtype);
  out->rank = p->type.shape.rank();
  out->dims = p->type.shape.dims.data();
  out->bytes = p->type.bytes();
  return KILN_OK;
}

kiln_status index_of(const std::vector<kiln_model::Port>& ports, const char* name,
                     const char* what, int* index) {
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) {
      *index = static_cast<int>(i);
      return KILN_OK;
    }
  return fail(KILN_NOT_FOUND, std::string("the model has no ") + what + " named '" + name + "'");
}

}  // namespace

extern "C" {

const char* kiln_last_error(void) {
  return t_error_lost ? "out of memory (while reporting an error)" : t_last_error.c_str();
}

int kiln_abi_version(void) { return KILN_ABI_VERSION; }

kiln_status kiln_set_num_threads(int n) {
  return guarded(__func__, [&](const char* fn) {
    if (n < 0)
      return fail(KILN_INVALID_ARGUMENT,
                  "kiln_set_num_threads: " + std::to_string(n) + " threads (0: every CPU)");
    set_num_threads(n);
    return KILN_OK;
  });
}

kiln_status kiln_model_open_library(const char* path, const char* prefix, kiln_model** out) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(out);
    *out = nullptr;
    KILN_REQUIRE_ARG(path);
    KILN_REQUIRE_ARG(prefix);
    ModuleError why = ModuleError::Format;
    auto opened = AotModule::open_library(path, prefix, &why);
    return finish_open(std::move(opened), why, out);
  });
}

kiln_status kiln_model_open_linked(const void* manifest, size_t size, void (*entry)(void**),
                                   kiln_model** out) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(out);
    *out = nullptr;
    KILN_REQUIRE_ARG(manifest);
    KILN_REQUIRE_ARG(entry);
    ModuleError why = ModuleError::Format;
    auto opened = AotModule::open_linked({static_cast<const uint8_t*>(manifest), size}, entry,
                                         "linked module", &why);
    return finish_open(std::move(opened), why, out);
  });
}

kiln_status kiln_model_open_cuda(const char* path, int device, kiln_model** out) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(out);
    *out = nullptr;
    KILN_REQUIRE_ARG(path);
    ModuleError why = ModuleError::Format;
    CompiledModuleFile manifest;
    Expected<std::unique_ptr<Executable>> exe = open_cuda_module(path, device, &manifest, &why);
    if (!exe.ok()) return fail(status_of(why), exe.error());
    auto model = std::make_unique<kiln_model>();
    model->exe = std::move(*exe);
    model->source = path;
    model->metadata = std::move(manifest.metadata);
    return finish_open(std::move(model), out);
  });
}

kiln_status kiln_model_load_weights(kiln_model* model, const char* model_file) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(model_file);
    Expected<std::string> contents = read_file(model_file);
    if (!contents.ok()) return fail(KILN_IO, contents.error());
    Expected<std::vector<ModuleWeight>> all = read_model_weights(
        {reinterpret_cast<const uint8_t*>(contents->data()), contents->size()}, model_file);
    if (!all.ok()) return fail(KILN_FORMAT, all.error());
    Expected<std::vector<ModuleWeight>> used =
        weights_for_plan(model->exe->plan(), std::move(*all), model_file);
    if (!used.ok()) return fail(KILN_FORMAT, used.error());
    if (Status st = load_weights(*model->exe, *used, model_file); !st.ok())
      return fail(KILN_FORMAT, st.error());
    return KILN_OK;
  });
}

void kiln_model_close(kiln_model* model) {
  delete model;  // destructors do not throw; the executable goes before its code
}

kiln_status kiln_model_num_inputs(const kiln_model* model, int* count) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(count);
    *count = static_cast<int>(model->inputs.size());
    return KILN_OK;
  });
}

kiln_status kiln_model_num_outputs(const kiln_model* model, int* count) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(count);
    *count = static_cast<int>(model->outputs.size());
    return KILN_OK;
  });
}

kiln_status kiln_model_input_info(const kiln_model* model, int index, kiln_tensor_info* out) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(out);
    return info(model->inputs, index, fn, out);
  });
}

kiln_status kiln_model_output_info(const kiln_model* model, int index, kiln_tensor_info* out) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(out);
    return info(model->outputs, index, fn, out);
  });
}

kiln_status kiln_model_input_index(const kiln_model* model, const char* name, int* index) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(name);
    KILN_REQUIRE_ARG(index);
    return index_of(model->inputs, name, "input", index);
  });
}

kiln_status kiln_model_output_index(const kiln_model* model, const char* name, int* index) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(name);
    KILN_REQUIRE_ARG(index);
    return index_of(model->outputs, name, "output", index);
  });
}

kiln_status kiln_model_set_input(kiln_model* model, int index, const void* data, size_t bytes) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    const kiln_model::Port* p = nullptr;
    if (kiln_status s = port(model->inputs, index, fn, &p); s != KILN_OK) return s;
    if (bytes != p->type.bytes())
      return fail(KILN_INVALID_ARGUMENT, std::string(fn) + ": input '" + p->name + "' is " +
                                             p->type.to_string() + ", " +
                                             std::to_string(p->type.bytes()) + " bytes; got " +
                                             std::to_string(bytes));
    if (bytes) {
      KILN_REQUIRE_ARG(data);
      std::memcpy(p->data, data, bytes);
    }
    return KILN_OK;
  });
}

kiln_status kiln_model_input_data(kiln_model* model, int index, void** data) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(data);
    const kiln_model::Port* p = nullptr;
    if (kiln_status s = port(model->inputs, index, fn, &p); s != KILN_OK) return s;
    *data = p->data;
    return KILN_OK;
  });
}

kiln_status kiln_model_run(kiln_model* model) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    if (Status st = model->exe->run_checked(); !st.ok()) return fail(KILN_DEVICE_ERROR, st.error());
    return KILN_OK;
  });
}

kiln_status kiln_model_output_data(const kiln_model* model, int index, const void** data,
                                   size_t* bytes) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(data);
    const kiln_model::Port* p = nullptr;
    if (kiln_status s = port(model->outputs, index, fn, &p); s != KILN_OK) return s;
    *data = p->data;
    if (bytes) *bytes = p->type.bytes();
    return KILN_OK;
  });
}

kiln_status kiln_model_signature(const kiln_model* model, const char** signature) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(signature);
    *signature = model->signature.c_str();
    return KILN_OK;
  });
}

kiln_status kiln_model_expect_signature(const kiln_model* model, const char* expected) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(expected);
    if (model->signature == expected) return KILN_OK;
    return fail(KILN_SIGNATURE_MISMATCH,
                model->source + ": the module's signature is \"" + model->signature +
                    "\", but \"" + expected +
                    "\" was expected (a header generated for another model? recompile both)");
  });
}

kiln_status kiln_model_metadata(const kiln_model* model, const char* key, const char** value) {
  return guarded(__func__, [&](const char* fn) {
    KILN_REQUIRE_ARG(model);
    KILN_REQUIRE_ARG(key);
    KILN_REQUIRE_ARG(value);
    for (const auto& [k, v] : model->metadata)
      if (k == key) {
        *value = v.c_str();
        return KILN_OK;
      }
    return fail(KILN_NOT_FOUND, std::string("the model has no metadata key '") + key + "'");
  });
}

}  // extern "C"
