// `kiln export MODEL --checkpoint FILE -o model.kiln`: a trained model as a deployable
// model file (models/export.h), written atomically; prints what it wrote.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "ir/serialize.h"
#include "models/export.h"
#include "runtime/atomic_file.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace kiln::cli {

namespace {

struct ExportArgs {
  std::string model, output;
  ExportOptions opts;
};

int run_export(const ExportArgs& a) {
  const ModelEntry* model = find_model(a.model);
  if (!model) return report_error(Error("unknown model '" + a.model + "' (see 'kiln models')"));
  RunOptions ro;
  ro.size = a.opts.size;
  Status usable = check_run_options(*model, ro);
  if (!usable.ok()) return report_error(usable.error());
  if (Status w = check_writable(a.output); !w.ok()) return report_error(w.error());
  Expected<ModelFile> file = export_model(*model, a.opts);
  if (!file.ok()) return report_error(file.error().wrap("exporting " + a.model));
  const std::vector<uint8_t> bytes = serialize_model(*file);
  Status saved = write_file_atomic(a.output, bytes.data(), bytes.size());
  if (!saved.ok()) return report_error(saved.error());
  std::printf("%s: %s graph of %s, batch %lld, %zu nodes, %zu tensors, %zu bytes\n",
              a.output.c_str(), a.opts.train ? "training" : "inference", a.model.c_str(),
              (long long)a.opts.batch, static_cast<size_t>(file->graph.size()),
              file->parameters.size(), bytes.size());
  for (const TensorSignature& s : model_inputs(file->graph))
    std::printf("  input  %s %s\n", s.name.c_str(), s.type.to_string().c_str());
  for (const TensorSignature& s : model_outputs(file->graph))
    std::printf("  output %s %s\n", s.name.c_str(), s.type.to_string().c_str());
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& kiln) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* sub = kiln.add_subcommand(
      "export", "write a trained model (graph, weights, preprocessing) as a deployable model file");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model the checkpoint belongs to (see 'kiln models')")
      ->required()
      ->type_name("");
  sub->add_option("--checkpoint", a->opts.checkpoint, "the trained weights (from train --save)")
      ->required()
      ->type_name("FILE");
  sub->add_option("-o,--output", a->output, "the model file to write (e.g. model.kiln)")
      ->required()
      ->type_name("FILE");
  add_int(*sub, "--batch-size", a->opts.batch, 1, 1 << 24,
          "examples per call of the exported graph (default 1)");
  sub->add_flag("--train", a->opts.train,
                "export the training step (forward, loss, gradients, optimizer update)");
  add_size_flag(*sub, a->opts.size);
  return {sub, [a] { return run_export(*a); }};
}

}  // namespace kiln::cli
