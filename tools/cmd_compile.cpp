// `kiln compile MODEL.kiln --emit obj|so|header|bundle -o OUT`: ahead-of-time compilation
// of a model file (codegen/aot.h). Outputs are written atomically; a bundle is a folder
// with PREFIX.o and PREFIX.h. `--device cuda [--arch sm_NN] [--emit kmod]` writes a CUDA
// module file instead (codegen/cuda/module_file.h); it needs NVRTC, and the driver only
// to take the architecture from the GPU when --arch is not given.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "codegen/aot.h"
#include "codegen/cuda/emulated_driver.h"
#include "codegen/cuda/module_file.h"
#include "runtime/atomic_file.h"
#include "runtime/cuda_driver.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/device_flag.h"

namespace kiln::cli {

namespace {

struct CompileArgs {
  std::string model, output, emit, target_cpu = "native", weights = "embed", prefix, arch;
  std::string device = "cpu";       // kiln.cpp's --device (tools/device_flag.h)
  bool target_cpu_given = false, prefix_given = false;
};

// "models/lenet.kiln" -> "lenet"; characters a C identifier cannot hold become '_'.
std::string default_prefix(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string(), s;
  for (char c : stem) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "model_" + s;
  return s;
}

Expected<ModelFile> read_model(const std::string& path) {
  Expected<std::string> bytes = read_file(path);
  if (!bytes.ok()) return bytes.error();
  return deserialize_model(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()), path);
}

// The GPU's architecture, for --device cuda without --arch; the emulated driver's when
// $KILN_CUDA_DRIVER selects it (tools/device_flag.h).
Expected<std::string> device_arch() {
  const char* env = std::getenv("KILN_CUDA_DRIVER");
  Expected<CudaSystem> sys =
      env && std::string(env) == cudagen::kEmulatedDriverName
          ? probe_cuda(cudagen::emulated_driver_table(), cudagen::kEmulatedDriverName)
          : probe_cuda_system();
  if (!sys.ok())
    return Error("--device cuda: no --arch given, and no GPU to take it from (" + sys.error().message() +
                 "): name the target, e.g. --arch sm_90");
  return sys->devices.front().arch();
}

int run_compile_cuda(const CompileArgs& a) {
  if (a.emit != "kmod")
    return report_error(Error("--device cuda writes a module file: use --emit kmod (or leave --emit out), not --emit " + a.emit));
  if (a.target_cpu_given || a.prefix_given)
    return report_error(Error("--device cuda: --target-cpu and --name are for CPU code; a CUDA module takes --arch"));
  std::string arch = a.arch;
  if (arch.empty()) {
    Expected<std::string> found = device_arch();
    if (!found.ok()) return report_error(found.error());
    arch = *found;
  }
  if (Status w = check_writable(a.output); !w.ok()) return report_error(w.error());
  Expected<ModelFile> model = read_model(a.model);
  if (!model.ok()) return report_error(model.error());
  cudagen::CudaModuleOptions o;
  o.arch = arch;
  o.embed_weights = a.weights == "embed";
  o.source = std::filesystem::path(a.model).filename().string();
  Expected<CompiledModuleFile> m = cudagen::compile_cuda_module(*model, o);
  if (!m.ok()) return report_error(m.error().wrap("compiling " + a.model + " for cuda " + arch));
  if (Status s = save_module(a.output, *m); !s.ok()) return report_error(s.error());
  size_t weight_bytes = 0;
  for (const ModuleWeight& w : m->weights) weight_bytes += w.bytes.size();
  std::printf("%s: cuda module for %s, %d kernels (%zu launches), arena %llu bytes\n", a.output.c_str(),
              arch.c_str(), m->plan.stats.kernels, m->cuda->launches.size(),
              (unsigned long long)m->plan.arena_bytes);
  std::printf("  cubin %zu bytes, PTX %zu bytes, CUDA C++ %zu bytes\n", m->cuda->image.size(),
              m->cuda->ptx.size(), m->cuda->source.size());
  std::printf("  weights %s (%zu tensors, %zu bytes)\n", o.embed_weights ? "embedded" : "external",
              o.embed_weights ? m->weights.size() : model->parameters.size(),
              o.embed_weights ? weight_bytes : size_t{0});
  return 0;
}

int run_compile(const CompileArgs& a) {
  if (a.device == "cuda") return run_compile_cuda(a);
  if (a.emit == "kmod") return report_error(Error("--emit kmod is for --device cuda (a CPU module is an obj, so or bundle)"));
  Expected<ModelFile> model = read_model(a.model);
  if (!model.ok()) return report_error(model.error());
  AotOptions o;
  o.prefix = a.prefix.empty() ? default_prefix(a.model) : a.prefix;
  o.target_cpu = a.target_cpu;
  o.embed_weights = a.weights == "embed";
  o.source = std::filesystem::path(a.model).filename().string();
  // Where the outputs go, checked before the (long) compilation.
  std::string object_path, header_path, so_path;
  if (a.emit == "bundle") {
    std::error_code ec;
    std::filesystem::create_directories(a.output, ec);
    if (ec) return report_error(Error("cannot create the bundle folder " + a.output + ": " + ec.message()));
    object_path = a.output + "/" + o.prefix + ".o";
    header_path = a.output + "/" + o.prefix + ".h";
  } else if (a.emit == "obj") {
    object_path = a.output;
  } else if (a.emit == "header") {
    header_path = a.output;
  } else {
    so_path = a.output;
    object_path = a.output + ".o.tmp";
  }
  for (const std::string& p : {object_path, header_path, so_path})
    if (!p.empty())
      if (Status w = check_writable(p); !w.ok()) return report_error(w.error());

  Expected<AotOutput> m = compile_aot(*model, o);
  if (!m.ok()) return report_error(m.error().wrap("compiling " + a.model));
  if (!object_path.empty())
    if (Status s = write_file_atomic(object_path, m->object.data(), m->object.size()); !s.ok())
      return report_error(s.error());
  if (!header_path.empty())
    if (Status s = write_file_atomic(header_path, m->header.data(), m->header.size()); !s.ok())
      return report_error(s.error());
  if (!so_path.empty()) {
    Status linked = link_shared_library(object_path, so_path);
    std::filesystem::remove(object_path);
    if (!linked.ok()) return report_error(linked.error());
  }
  size_t weight_bytes = 0;
  for (const ModuleWeight& w : m->manifest.weights) weight_bytes += w.bytes.size();
  std::string features;
  for (const std::string& f : m->manifest.target.features) features += " " + f;
  std::printf("%s: %s, entry %s_entry, %d kernels, arena %llu bytes\n", a.output.c_str(),
              a.emit.c_str(), o.prefix.c_str(), m->manifest.plan.stats.kernels,
              (unsigned long long)m->manifest.plan.arena_bytes);
  std::printf("  target %s (cpu %s; needs%s)\n", a.target_cpu.c_str(),
              m->manifest.target.cpu.c_str(), features.empty() ? " nothing beyond x86-64" : features.c_str());
  std::printf("  weights %s (%zu tensors, %zu bytes)\n", o.embed_weights ? "embedded" : "external",
              o.embed_weights ? m->manifest.weights.size() : model->parameters.size(),
              o.embed_weights ? weight_bytes : size_t{0});
  return 0;
}

}  // namespace

Command add_compile_command(CLI::App& kiln) {
  auto a = std::make_shared<CompileArgs>();
  CLI::App* sub = kiln.add_subcommand(
      "compile", "compile a model file ahead of time to an object, shared library or C header, "
                 "or (--device cuda) to a CUDA module");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model file (from kiln export)")->required()->type_name("");
  sub->add_option("-o,--output", a->output,
                  "the file to write (a folder for --emit bundle)")
      ->required()
      ->type_name("OUT");
  add_choice(*sub, "--emit", a->emit, {"obj", "so", "header", "bundle", "kmod"}, "output kind",
             "obj (default), so, header, bundle (a folder with PREFIX.o and PREFIX.h), or kmod "
             "(a CUDA module file; the default with --device cuda)");
  add_arch_flag(*sub, a->arch);
  sub->add_option("--target-cpu", a->target_cpu,
                  "the CPU to compile for: native (default), x86-64-v2, x86-64-v3, x86-64-v4, "
                  "or an LLVM CPU name")
      ->type_name("NAME");
  add_choice(*sub, "--weights", a->weights, {"embed", "external"}, "weights mode",
             "embed (default): in the object; external: the application loads the model file");
  sub->add_option("--name,--prefix", a->prefix,
                  "prefix of the C symbols (default: the model file's name)")
      ->type_name("PREFIX");
  return {sub, [a, sub] {
            // --device belongs to kiln.cpp (add_device_flag), which checks it before this runs.
            if (const CLI::Option* d = sub->get_option_no_throw("--device"); d && d->count())
              a->device = d->as<std::string>();
            a->target_cpu_given = sub->count("--target-cpu") > 0;
            a->prefix_given = sub->count("--name") > 0;
            if (a->emit.empty()) a->emit = a->device == "cuda" ? "kmod" : "obj";
            return run_compile(*a);
          }};
}

}  // namespace kiln::cli
