// Bounded, deterministic mutation fuzzing of the data loaders and the textual IR parser
// (issue 12): thousands of mutated and truncated inputs, none of which may crash, hang,
// allocate what the input merely claims, or be accepted inconsistently. Each loop runs
// in well under a second; `make fuzz` explores further with libFuzzer.
//   - IDX, plain and gzip (mutating the compressed bytes, and mutating the decoded bytes
//     behind a valid gzip wrapper so the header logic sees every corruption);
//   - IDX data sets through files, against Fashion-MNIST's expectation;
//   - CSV parsing and the tabular preprocessing behind it;
//   - the textual IR parser with hostile numbers in shapes and attributes.
#include <zlib.h>

#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fuzz/mutate.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "runtime/train/csv.h"
#include "runtime/train/idx.h"
#include "runtime/train/tabular.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

std::vector<uint8_t> idx_bytes(const std::vector<int64_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> s = {0, 0, 8, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<uint8_t>((d >> shift) & 0xFF));
  s.insert(s.end(), data.begin(), data.end());
  return s;
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> out(compressBound(static_cast<uLong>(raw.size())) + 64);
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string_view view(const std::vector<uint8_t>& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

std::vector<uint8_t> pixels(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(seed >> 24);
  }
  return v;
}

// Decodes `bytes` as IDX; when it is accepted the result must be self-consistent.
void check_idx(const std::vector<uint8_t>& bytes, int rank) {
  Expected<IdxArray> r = parse_idx(view(bytes), "fuzz.idx", rank);
  if (!r.ok()) {
    REQUIRE_THAT(r.error().message(), Catch::StartsWith("fuzz.idx: "));
    return;
  }
  int64_t n = 1;
  for (int64_t d : r->dims) {
    REQUIRE(d >= 0);
    n *= d;
  }
  REQUIRE(n <= kMaxIdxBytes);
  REQUIRE(static_cast<int64_t>(r->data.size()) == n);
  if (rank > 0) REQUIRE(static_cast<int>(r->dims.size()) == rank);
}

}  // namespace

TEST_CASE("fuzz: plain IDX files", "[fuzz][idx]") {
  const std::vector<uint8_t> images = idx_bytes({5, 4, 3}, pixels(60, 1));
  const std::vector<uint8_t> labels = idx_bytes({7}, {0, 1, 2, 3, 4, 5, 6});
  REQUIRE(parse_idx(view(images), "x", 3).ok());
  std::mt19937_64 rng(101);
  for (size_t n = 0; n <= images.size(); ++n) check_idx({images.begin(), images.begin() + n}, 3);
  for (int iter = 0; iter < 10000; ++iter) {
    check_idx(fuzz::mutate(images, rng), 3);
    check_idx(fuzz::mutate(labels, rng), iter % 2 ? 1 : 0);
  }
}

TEST_CASE("fuzz: gzip IDX files", "[fuzz][idx]") {
  const std::vector<uint8_t> raw = idx_bytes({6, 8, 8}, pixels(384, 2));
  const std::vector<uint8_t> gz = gzip(raw);
  REQUIRE(parse_idx(view(gz), "x", 3).ok());
  std::mt19937_64 rng(202);
  // Every truncation of the compressed file is an error (the trailer is checked).
  for (size_t n = 0; n < gz.size(); ++n) {
    Expected<IdxArray> r = parse_idx(view(std::vector<uint8_t>(gz.begin(), gz.begin() + n)), "fuzz.idx", 3);
    REQUIRE_FALSE(r.ok());
  }
  int accepted = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<uint8_t> m = fuzz::mutate(gz, rng);
    Expected<IdxArray> r = parse_idx(view(m), "fuzz.idx", 3);
    if (r.ok()) {
      // Accepted only when the decoded bytes are exactly the original (a mutation of the
      // gzip header's optional fields, say): the CRC leaves no room for silent changes.
      ++accepted;
      REQUIRE(r->data == std::vector<uint8_t>(raw.begin() + 16, raw.end()));
    }
  }
  CHECK(accepted < 500);
  // Corrupt headers behind a valid gzip wrapper.
  for (int iter = 0; iter < 3000; ++iter) check_idx(gzip(fuzz::mutate(raw, rng)), iter % 3 ? 3 : 0);
}

TEST_CASE("fuzz: IDX data sets through files", "[fuzz][idx]") {
  testing::TempDir dir;
  const std::vector<uint8_t> images = idx_bytes({3, 28, 28}, pixels(3 * 784, 3));
  const std::vector<uint8_t> labels = idx_bytes({3}, {9, 0, 4});
  const std::string ip = dir.file("train-images-idx3-ubyte.gz"), lp = dir.file("train-labels-idx1-ubyte.gz");
  auto put = [](const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);  // no fsync: fast
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    REQUIRE(f.good());
  };
  put(ip, gzip(images));
  put(lp, gzip(labels));
  REQUIRE(load_fashion_mnist(dir.path(), true).ok());
  std::mt19937_64 rng(303);
  for (int iter = 0; iter < 300; ++iter) {
    bool gz = iter % 2;
    std::vector<uint8_t> im = iter % 3 ? fuzz::mutate(images, rng) : images;
    std::vector<uint8_t> lb = iter % 3 != 1 ? fuzz::mutate(labels, rng) : labels;
    put(ip, gz ? gzip(im) : im);
    put(lp, gz ? gzip(lb) : lb);
    Expected<ImageDataset> ds = load_fashion_mnist(dir.path(), true);
    if (!ds.ok()) continue;
    // Whatever is accepted matches what the models expect.
    REQUIRE(ds->stored_height == 28);
    REQUIRE(ds->stored_width == 28);
    REQUIRE(ds->channels == 1);
    REQUIRE(ds->count > 0);
    REQUIRE(ds->numel() == ds->count * 784);
    REQUIRE(static_cast<int64_t>(ds->pixels.size()) == ds->numel());
    REQUIRE(static_cast<int64_t>(ds->labels.size()) == ds->count);
    for (int32_t l : ds->labels) REQUIRE((l >= 0 && l <= 9));
  }
}

TEST_CASE("fuzz: CSV and tabular preprocessing", "[fuzz][csv]") {
  const std::string train_text =
      "Id,Area,Zone,Street,SalePrice\n"
      "1,10,RL,Pave,100\n"
      "2,NA,RM,,200\n"
      "3,\"3,0\",RL,\"Gr\"\"vl\",300\n"
      "4,1e3,C (all),Pave,400.5\r\n";
  const std::string test_text =
      "Id,Area,Zone,Street\n"
      "5,40,C (all),Pave\n"
      "6,,RL,NA\n";
  auto base_test = parse_csv(test_text, "test.csv");
  REQUIRE(base_test.ok());
  REQUIRE(preprocess_tabular(*parse_csv(train_text, "train.csv"), *base_test).ok());
  const std::vector<uint8_t> valid(train_text.begin(), train_text.end());
  const std::string alphabet = ",\"\n\r NA0123456789.e-+inf";
  std::mt19937_64 rng(404);
  for (int iter = 0; iter < 10000; ++iter) {
    std::string text;
    if (iter % 2) {
      std::vector<uint8_t> m = fuzz::mutate(valid, rng);
      text.assign(m.begin(), m.end());
    } else {
      text = train_text;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        size_t pos = rng() % text.size();
        switch (rng() % 3) {
          case 0: text[pos] = alphabet[rng() % alphabet.size()]; break;
          case 1: text.erase(pos, 1 + rng() % 3); break;
          default: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        }
      }
    }
    CsvOptions opts;
    opts.pad_short_rows = iter % 3 == 0;
    Expected<CsvTable> t = parse_csv(text, "train.csv", opts);
    if (!t.ok()) {
      REQUIRE_THAT(t.error().message(), Catch::StartsWith("train.csv"));
      continue;
    }
    for (const auto& row : t->rows) REQUIRE(row.size() == t->header.size());
    REQUIRE(t->row_lines.size() == t->rows.size());
    Expected<TabularData> d = preprocess_tabular(*t, *base_test);
    if (!d.ok()) continue;
    REQUIRE(static_cast<int64_t>(d->train_features.size()) == d->num_train * d->num_features);
    REQUIRE(static_cast<int64_t>(d->test_features.size()) == d->num_test * d->num_features);
    for (float v : d->train_features) REQUIRE(std::isfinite(v));
    for (float v : d->train_labels) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("fuzz: textual IR with hostile numbers in shapes and attributes", "[fuzz][parser]") {
  const std::string graph = R"(graph fuzz {
  %0 = input() {name="x"} : f32[4,3]
  %1 = parameter() {init="normal", init_a=0.0, init_b=0.01, name="w"} : f32[3,2]
  %2 = matmul(%0, %1) : f32[4,2]
  %3 = reduce_sum(%2) {axes=[1], keepdims=1} : f32[4,1]
  %4 = broadcast(%3) {shape=[4,2]} : f32[4,2]
  %5 = reshape(%4) {shape=[2,4]} : f32[2,4]
  %6 = constant() {data=f[1.0,-2.5]} : f32[2]
  %7 = iota() {axis=0} : i32[2,4]
  %8 = slice(%5) {start=[0,0], stop=[2,4], step=[1,2]} : f32[2,2]
  output "y" = %8
  output "i" = %7
  update %1 = %1
})";
  REQUIRE(parse_graph(graph).ok());
  const char* numbers[] = {"0",          "-1",         "4294967296",          "4294967295",
                           "1099511627776", "1099511627777", "9223372036854775807", "-9223372036854775808",
                           "99999999999999999999", "1e308", "nan", "2147483648", "65536"};
  std::mt19937_64 rng(505);
  int parsed = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string text = graph;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      // Replace one run of digits with a hostile number, or insert one after a '[' or ','.
      std::vector<size_t> starts;
      for (size_t i = 0; i < text.size(); ++i)
        if (std::isdigit(static_cast<unsigned char>(text[i])) &&
            (i == 0 || !std::isdigit(static_cast<unsigned char>(text[i - 1]))))
          starts.push_back(i);
      const std::string num = numbers[rng() % (sizeof numbers / sizeof numbers[0])];
      if (starts.empty()) break;
      size_t at = starts[rng() % starts.size()];
      if (rng() % 4 == 0) {
        text.insert(at, num + ",");
      } else {
        size_t end = at;
        while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
        text.replace(at, end - at, num);
      }
    }
    Expected<Graph> g = parse_graph(text);
    if (!g.ok()) {
      REQUIRE_FALSE(g.error().message().empty());
      continue;
    }
    ++parsed;
    (void)verify(*g);
    for (int id = 0; id < g->size(); ++id) {
      const TensorType& t = g->type(Value{id});
      INFO(text);
      REQUIRE(t.validate().ok());  // every type in a parsed graph is within the limits
    }
  }
  CHECK(parsed > 0);
}
