// `kiln compile MODEL.kiln --emit obj|so|header|bundle -o OUT`: ahead-of-time compilation
// of a model file (codegen/aot.h). Outputs are written atomically; a bundle is a folder
// with PREFIX.o and PREFIX.h.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "codegen/aot.h"
#include "runtime/atomic_file.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace kiln::cli {

namespace {

struct CompileArgs {
  std::string model, output, emit = "obj", target_cpu = "native", weights = "embed", prefix;
};

// "models/lenet.kiln" -> "lenet"; characters a C identifier cannot hold become '_'.
std::string default_prefix(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string(), s;
  for (char c : stem) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "model_" + s;
  return s;
}

int run_compile(const CompileArgs& a) {
  Expected<std::string> bytes = read_file(a.model);
  if (!bytes.ok()) return report_error(bytes.error());
  Expected<ModelFile> model = deserialize_model(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
      a.model);
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
      "compile", "compile a model file ahead of time to an object, shared library or C header");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model file (from kiln export)")->required()->type_name("");
  sub->add_option("-o,--output", a->output,
                  "the file to write (a folder for --emit bundle)")
      ->required()
      ->type_name("OUT");
  add_choice(*sub, "--emit", a->emit, {"obj", "so", "header", "bundle"}, "output kind",
             "obj (default), so, header, or bundle (a folder with PREFIX.o and PREFIX.h)");
  sub->add_option("--target-cpu", a->target_cpu,
                  "the CPU to compile for: native (default), x86-64-v2, x86-64-v3, x86-64-v4, "
                  "or an LLVM CPU name")
      ->type_name("NAME");
  add_choice(*sub, "--weights", a->weights, {"embed", "external"}, "weights mode",
             "embed (default): in the object; external: the application loads the model file");
  sub->add_option("--name,--prefix", a->prefix,
                  "prefix of the C symbols (default: the model file's name)")
      ->type_name("PREFIX");
  return {sub, [a] { return run_compile(*a); }};
}

}  // namespace kiln::cli
