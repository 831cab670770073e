// `kiln models` and `kiln train`.
#include <cstdio>

#include "models/registry.h"
#include "runtime/train/json.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace kiln::cli {

namespace {

const std::vector<FlagSpec> kTrainFlags = {
    {"epochs", true, "number of epochs (model default otherwise)"},
    {"batch-size", true, "minibatch size"},
    {"lr", true, "learning rate"},
    {"wd", true, "weight decay (weight_decay: the L2 penalty lambda)"},
    {"optimizer", true, "sgd or adam (default: the model's)"},
    {"momentum", true, "SGD momentum"},
    {"threads", true, "worker threads (default: all cores)"},
    {"seed", true, "random seed for initialization, shuffling and dropout"},
    {"data", true, "data file or directory (model-specific)"},
    {"plot", true, "write training curves to FILE.svg (and FILE.csv)"},
    {"output", true, "model output file (house_prices: submission CSV)"},
    {"limit", true, "train on the first N examples only"},
    {"json", false, "print one JSON object with the results as the last line"},
    {"quiet", false, "no progress bar"},
    {"help", false, "show this help"},
};


Expected<RunOptions> run_options(const ParsedArgs& a) {
  RunOptions o;
  auto get = [&](const char* f) { return a.values.at(f); };
  if (a.has("epochs")) o.epochs = static_cast<int>(KILN_TRY(parse_int("epochs", get("epochs"), 1, 1000000)));
  if (a.has("batch-size"))
    o.batch_size = KILN_TRY(parse_int("batch-size", get("batch-size"), 1, 1 << 24));
  if (a.has("lr")) o.lr = KILN_TRY(parse_double("lr", get("lr")));
  if (a.has("wd")) o.wd = KILN_TRY(parse_double("wd", get("wd")));
  if (a.has("threads")) o.threads = static_cast<int>(KILN_TRY(parse_int("threads", get("threads"), 1, 256)));
  if (a.has("seed")) o.seed = static_cast<uint64_t>(KILN_TRY(parse_int("seed", get("seed"), 0, INT64_MAX)));
  if (a.has("limit")) o.limit = KILN_TRY(parse_int("limit", get("limit"), 1, INT64_MAX));
  if (a.has("momentum")) o.momentum = KILN_TRY(parse_double("momentum", get("momentum")));
  if (a.has("optimizer")) o.optimizer = get("optimizer");
  if (a.has("data")) o.data = get("data");
  if (a.has("plot")) o.plot = get("plot");
  if (a.has("output")) o.output = get("output");
  o.progress = !a.has("quiet");
  return o;
}

}  // namespace

int cmd_models(const std::vector<std::string>& args) {
  if (!args.empty()) return report_error(Error("'kiln models' takes no arguments"));
  for (const ModelEntry* m : all_models()) std::printf("%-14s %s\n", m->name.c_str(), m->description.c_str());
  return 0;
}

int cmd_train(const std::vector<std::string>& args) {
  Expected<ParsedArgs> parsed = parse_args(args, kTrainFlags, "kiln train");
  if (!parsed.ok()) return report_error(parsed.error());
  if (parsed->has("help")) {
    std::printf("usage: kiln train MODEL [flags]\n%s", flags_help(kTrainFlags).c_str());
    return 0;
  }
  if (parsed->positional.size() != 1)
    return report_error(Error("usage: kiln train MODEL [flags] (see 'kiln models')"));
  const std::string& name = parsed->positional[0];
  const ModelEntry* model = find_model(name);
  if (!model) return report_error(Error("unknown model '" + name + "' (see 'kiln models')"));
  Expected<RunOptions> opts = run_options(*parsed);
  if (!opts.ok()) return report_error(opts.error());

  Expected<RunReport> report = model->run(*opts);
  if (!report.ok()) return report_error(report.error().wrap("training " + name));

  for (const auto& [k, v] : report->metrics) std::printf("%-22s %.6g\n", k.c_str(), v);
  for (const auto& [k, v] : report->notes) std::printf("%-22s %s\n", k.c_str(), v.c_str());
  if (parsed->has("json")) {
    JsonObject j;
    j.add("model", report->model);
    for (const auto& [k, v] : report->metrics) {
      if (k == "epochs" || k == "folds" || k == "features") {
        j.add(k, static_cast<long long>(v));
      } else {
        j.add(k, v);
      }
    }
    for (const auto& [k, v] : report->notes) j.add(k, v);
    std::printf("%s\n", j.str().c_str());
  }
  return 0;
}

}  // namespace kiln::cli
