// libFuzzer target for kiln's text and data parsers: every input goes to the textual IR
// parser, the IDX reader (gzip or plain), the CSV reader, the corpus tokenizer (chars and
// words, cleaned or not) and the translation-pair parser (with its vocabularies and
// arrays). A parser may refuse an
// input but must never crash, leak or hit undefined behaviour (built with ASan + UBSan);
// a graph the IR parser accepts must verify and print back to text that parses to the
// same graph. Built only with -DKILN_FUZZ=ON and clang (see the end of CMakeLists.txt).
#include <cstdint>
#include <string_view>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "runtime/train/corpus.h"
#include "runtime/train/csv.h"
#include "runtime/train/idx.h"
#include "runtime/train/translation.h"

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (Expected<Graph> g = parse_graph(text); g.ok()) {
    std::string printed = print_graph(*g);
    Expected<Graph> again = parse_graph(printed);
    require(again.ok() && print_graph(*again) == printed);
  }
  if (Expected<IdxArray> a = parse_idx(text, "fuzz.idx"); a.ok()) {
    int64_t n = 1;
    bool zero = false;
    for (int64_t d : a->dims) zero |= d == 0;
    for (int64_t d : a->dims) require(zero || !__builtin_mul_overflow(n, d, &n));
    require(static_cast<int64_t>(a->data.size()) == (zero ? 0 : n));
  }
  if (Expected<CsvTable> t = parse_csv(text, "fuzz.csv"); t.ok()) {
    for (int64_t r = 0; r < t->num_rows(); ++r) (void)t->where(r);
  }
  for (TokenKind kind : {TokenKind::Char, TokenKind::Word}) {
    CorpusOptions o;
    o.tokenize.kind = kind;
    o.tokenize.d2l_clean = size % 2 == 0;
    if (Expected<Corpus> c = make_corpus(text, "fuzz.txt", o); c.ok())
      for (int32_t t : c->tokens) require(t >= 0 && t < c->vocab.size());
  }
  TranslationOptions to;
  to.min_freq = 1;
  to.reverse = size % 3 == 0;
  if (Expected<TranslationPairs> p = parse_translation_pairs(text, "fuzz.tsv", to); p.ok())
    if (Expected<TranslationData> d = make_translation_data(*p, to); d.ok())
      require(d->source.size() == d->size() && d->target.size() == d->size());
  return 0;
}
