// `kiln translate MODEL --checkpoint FILE "SENTENCE" ...`: greedy translations from a
// translation model trained with `kiln train MODEL --save FILE` (d2l's predict_seq2seq),
// one line per sentence on stdout. Each sentence is preprocessed as the training data
// (lower case, a space before punctuation); words outside the source vocabulary are
// read as <unk>, with a note on stderr.
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "models/registry.h"
#include "runtime/thread_pool.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace kiln::cli {

namespace {

struct TranslateArgs {
  std::string model;
  TranslateOptions opts;
};

std::string translation_models() {
  std::string s;
  for (const ModelEntry* m : all_models())
    if (m->translate) s += (s.empty() ? "" : ", ") + m->name;
  return s.empty() ? "none" : s;
}

}  // namespace

Command add_translate_command(CLI::App& kiln) {
  auto a = std::make_shared<TranslateArgs>();
  TranslateOptions& o = a->opts;
  CLI::App* sub = kiln.add_subcommand(
      "translate", "translate sentences with a trained translation model (train --save)");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the translation model the checkpoint belongs to")
      ->required()
      ->type_name("");
  sub->add_option("SENTENCE", o.sentences, "the sentences to translate")
      ->required()
      ->type_name("");
  sub->add_option("--checkpoint", o.checkpoint, "the weights (from train MODEL --save FILE)")
      ->required()
      ->type_name("FILE");
  add_int(*sub, "--threads", o.threads, 1, kMaxThreads, "worker threads (default: all cores)");
  return {sub, [a] {
            const ModelEntry* model = find_model(a->model);
            if (!model)
              return report_error(Error("unknown model '" + a->model + "' (see 'kiln models')"));
            if (!model->translate)
              return report_error(Error("model '" + a->model + "' is not a translation model " +
                                        "(kiln translate supports: " + translation_models() + ")"));
            Expected<std::vector<TranslatedSentence>> out = model->translate(a->opts);
            if (!out.ok()) return report_error(out.error().wrap("translating with " + a->model));
            for (size_t i = 0; i < out->size(); ++i) {
              const TranslatedSentence& t = (*out)[i];
              if (t.unknown > 0)
                std::fprintf(stderr, "kiln: note: sentence %zu has %lld words not in the "
                                     "vocabulary (read as <unk>)\n",
                             i + 1, static_cast<long long>(t.unknown));
              std::printf("%s\n", t.text.c_str());
            }
            std::fflush(stdout);
            return 0;
          }};
}

}  // namespace kiln::cli
