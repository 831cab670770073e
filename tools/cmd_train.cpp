// `kiln models` and `kiln train MODEL`.
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "models/registry.h"
#include "passes/training.h"
#include "runtime/thread_pool.h"
#include "runtime/train/idx.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/json_out.h"

namespace kiln::cli {

namespace {

struct TrainArgs {
  std::string model;
  RunOptions opts;
  bool json = false;
  bool quiet = false;
  bool no_fusion = false;
};

const ModelEntry* lookup(const std::string& name) {
  const ModelEntry* m = find_model(name);
  if (!m) report_error(Error("unknown model '" + name + "' (see 'kiln models')"));
  return m;
}

std::string models_with_evaluation() {
  std::string s;
  for (const ModelEntry* m : all_models())
    if (m->evaluate) s += (s.empty() ? "" : ", ") + m->name;
  return s.empty() ? "none" : s;
}

}  // namespace

void add_size_flag(CLI::App& command, int& size) {
  add_int(command, "--size", size, 1, kMaxResize,
          "input images resized to S x S (default: the model's; models that take it only)")
      ->type_name("S");
}

Command add_models_command(CLI::App& kiln) {
  CLI::App* sub = kiln.add_subcommand("models", "list the model zoo");
  sub->allow_extras();
  return {sub, [] {
            for (const ModelEntry* m : all_models())
              std::printf("%-14s %s\n", m->name.c_str(), m->description.c_str());
            return 0;
          }};
}

Command add_train_command(CLI::App& kiln) {
  auto a = std::make_shared<TrainArgs>();
  RunOptions& o = a->opts;
  CLI::App* sub = kiln.add_subcommand("train", "train a model and print its metrics");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model to train (see 'kiln models')")
      ->required()
      ->type_name("");
  add_int(*sub, "--epochs", o.epochs, 1, 1000000, "epochs in all (default: the model's)");
  add_int(*sub, "--batch-size", o.batch_size, 1, 1 << 24, "minibatch size (default: the model's)");
  add_double(*sub, "--lr", o.lr, NumberCheck::Positive, "learning rate (default: the model's)");
  add_double(*sub, "--wd", o.wd, NumberCheck::NonNegative,
             "weight decay (weight_decay: the L2 penalty lambda)");
  sub->add_option("--optimizer", o.optimizer, "sgd or adam (default: the model's)")
      ->type_name("NAME")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            Expected<OptimizerConfig::Kind> k = parse_optimizer(text);
            return k.ok() ? "" : k.error().message();
          },
          "", "optimizer"));
  add_double(*sub, "--momentum", o.momentum, NumberCheck::Fraction, "SGD momentum, in [0, 1)");
  add_int(*sub, "--threads", o.threads, 1, kMaxThreads, "worker threads (default: all cores)");
  add_int(*sub, "--seed", o.seed, 0, std::numeric_limits<int64_t>::max(),
          "random seed for initialization, shuffling and dropout (default 0)");
  sub->add_option("--data", o.data, "data file or directory (model-specific)")->type_name("PATH");
  sub->add_option("--plot", o.plot, "write training curves to FILE.svg (and FILE.csv)")
      ->type_name("FILE");
  sub->add_option("--output", o.output, "model output file (house_prices: submission CSV)")
      ->type_name("FILE");
  add_int(*sub, "--limit", o.limit, 1, std::numeric_limits<int64_t>::max(),
          "train on the first N examples only");
  add_size_flag(*sub, o.size);
  sub->add_option("--save", o.save, "write a checkpoint to FILE after every epoch")
      ->type_name("FILE");
  sub->add_option("--resume", o.resume,
                  "continue the run saved in FILE up to --epochs epochs in all")
      ->type_name("FILE");
  sub->add_option("--corpus", o.corpus,
                  "language models: the text to train on (default: timemachine.txt)")
      ->type_name("FILE");
  add_int(*sub, "--max-tokens", o.max_tokens, 0, std::numeric_limits<int64_t>::max(),
          "language models: the corpus's first N tokens (default 10000; 0 = all)");
  sub->add_flag("--random-sampling", o.random_sampling,
                "language models: random minibatches (default: sequential)");
  add_int(*sub, "--hidden", o.hidden, 1, 1 << 16,
          "language models: hidden units (default: the model's)");
  add_int(*sub, "--min-freq", o.min_freq, 0, std::numeric_limits<int64_t>::max(),
          "translation models: words seen fewer times become <unk> (default 2, d2l's)");
  sub->add_flag("--reverse", o.reverse,
                "translation models: the data file is target<TAB>source");
  sub->add_flag("--allow-nan", o.allow_nan,
                "keep training when the loss becomes NaN or infinite (default: stop)");
  sub->add_flag("--no-fusion", a->no_fusion,
                "compile one kernel per op (every value stored), to see what fusion buys");
  sub->add_flag("--json", a->json, "print one JSON object with the results as the last line");
  sub->add_flag("--quiet", a->quiet, "no progress bar");
  return {sub, [a] {
            const ModelEntry* model = lookup(a->model);
            if (!model) return kExitError;
            RunOptions opts = a->opts;
            opts.progress = !a->quiet;
            opts.fusion = !a->no_fusion;
            Status ok = check_run_options(*model, opts);
            if (!ok.ok()) return report_error(ok.error());
            Expected<RunReport> report = model->run(opts);
            if (!report.ok()) return report_error(report.error().wrap("training " + a->model));
            print_report(*report, a->json);
            return 0;
          }};
}

Command add_eval_command(CLI::App& kiln) {
  auto a = std::make_shared<TrainArgs>();
  RunOptions& o = a->opts;
  CLI::App* sub = kiln.add_subcommand(
      "eval", "evaluate a checkpoint on the model's test set and print the metrics");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model the checkpoint belongs to (see 'kiln models')")
      ->required()
      ->type_name("");
  sub->add_option("--checkpoint", o.checkpoint, "the checkpoint to evaluate (from train --save)")
      ->required()
      ->type_name("FILE");
  sub->add_option("--data", o.data, "data file or directory (model-specific)")->type_name("PATH");
  add_int(*sub, "--batch-size", o.batch_size, 1, 1 << 24,
          "evaluation batch size (default: the model's)");
  add_size_flag(*sub, o.size);
  add_int(*sub, "--threads", o.threads, 1, kMaxThreads, "worker threads (default: all cores)");
  sub->add_flag("--json", a->json, "print one JSON object with the results as the last line");
  sub->add_flag("--quiet", a->quiet, "no progress output");
  return {sub, [a] {
            const ModelEntry* model = lookup(a->model);
            if (!model) return kExitError;
            if (!model->evaluate)
              return report_error(Error("model '" + a->model + "' has no evaluation (kiln eval " +
                                        "supports: " + models_with_evaluation() + ")"));
            RunOptions opts = a->opts;
            opts.progress = !a->quiet;
            Status ok = check_run_options(*model, opts);
            if (!ok.ok()) return report_error(ok.error());
            Expected<RunReport> report = model->evaluate(opts);
            if (!report.ok()) return report_error(report.error().wrap("evaluating " + a->model));
            RunReport r = std::move(*report);
            r.notes.push_back({"checkpoint", opts.checkpoint});
            print_report(r, a->json);
            return 0;
          }};
}

}  // namespace kiln::cli
