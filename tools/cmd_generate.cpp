// `kiln generate MODEL --checkpoint FILE --prefix TEXT [--len N] [--temperature T]
// [--seed S]`: text from a language model trained with `kiln train MODEL --save FILE`
// (d2l's predict_ch8: greedy by default, sampled from softmax(logits / T) with T > 0).
// Prints the prefix followed by the generated text on stdout; prefix characters outside
// the model's vocabulary are read as <unk>, as d2l does, with a note on stderr.
#include <cstdio>
#include <limits>
#include <memory>

#include <CLI/CLI.hpp>

#include "models/registry.h"
#include "runtime/thread_pool.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace kiln::cli {

namespace {

struct GenerateArgs {
  std::string model;
  GenerateOptions opts;
};

std::string language_models() {
  std::string s;
  for (const ModelEntry* m : all_models())
    if (m->generate) s += (s.empty() ? "" : ", ") + m->name;
  return s.empty() ? "none" : s;
}

}  // namespace

Command add_generate_command(CLI::App& kiln) {
  auto a = std::make_shared<GenerateArgs>();
  GenerateOptions& o = a->opts;
  CLI::App* sub = kiln.add_subcommand(
      "generate", "continue a text prefix with a trained language model (train --save)");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the language model the checkpoint belongs to")
      ->required()
      ->type_name("");
  sub->add_option("--checkpoint", o.checkpoint, "the weights (from train MODEL --save FILE)")
      ->required()
      ->type_name("FILE");
  sub->add_option("--prefix", o.prefix, "the text to continue")->required()->type_name("TEXT");
  add_int(*sub, "--len", o.len, 0, 1 << 24, "tokens to generate after the prefix (default 50)");
  add_double(*sub, "--temperature", o.temperature, NumberCheck::NonNegative,
             "0: greedy (default); T > 0: sample from softmax(logits / T)");
  add_int(*sub, "--seed", o.seed, 0, std::numeric_limits<int64_t>::max(),
          "seed of the sampling (default 0)");
  add_int(*sub, "--threads", o.threads, 1, kMaxThreads, "worker threads (default: all cores)");
  return {sub, [a] {
            const ModelEntry* model = find_model(a->model);
            if (!model)
              return report_error(Error("unknown model '" + a->model + "' (see 'kiln models')"));
            if (!model->generate)
              return report_error(Error("model '" + a->model + "' is not a language model (kiln " +
                                        "generate supports: " + language_models() + ")"));
            Expected<GeneratedText> text = model->generate(a->opts);
            if (!text.ok()) return report_error(text.error().wrap("generating with " + a->model));
            if (text->unknown > 0)
              std::fprintf(stderr, "kiln: note: %lld prefix characters are not in the vocabulary "
                                   "(read as <unk>)\n",
                           static_cast<long long>(text->unknown));
            std::printf("%s\n", text->text.c_str());
            std::fflush(stdout);
            return 0;
          }};
}

}  // namespace kiln::cli
