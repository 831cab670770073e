// Tests for runtime/idx: IDX round trip through gzip and plain files, truncation, bad
// magic, mismatched counts, missing data set hints, resizing at load, and the real
// Fashion-MNIST files when the Debian package is installed.
#include "runtime/train/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "runtime/atomic_file.h"
#include "runtime/host_buffer.h"
#include "runtime/train/resize.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

std::string idx_bytes(std::vector<int64_t> dims, const std::vector<uint8_t>& data, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (int64_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xFF);
  }
  s.append(reinterpret_cast<const char*>(data.data()), data.size());
  return s;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// 3 images of 2x4 with pixel value (i*8 + p) * 10, labels 7, 0, 9.
void write_tiny_set(const testing::TempDir& dir, const std::string& prefix, bool gz = true) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 3 * 8; ++i) pixels.push_back(static_cast<uint8_t>(i * 10));
  std::string images = idx_bytes({3, 2, 4}, pixels), labels = idx_bytes({3}, {7, 0, 9});
  if (gz) {
    write_gz(dir.file(prefix + "-images-idx3-ubyte.gz"), images);
    write_gz(dir.file(prefix + "-labels-idx1-ubyte.gz"), labels);
  } else {
    REQUIRE(write_file_atomic(dir.file(prefix + "-images-idx3-ubyte"), images).ok());
    REQUIRE(write_file_atomic(dir.file(prefix + "-labels-idx1-ubyte"), labels).ok());
  }
}

// Fashion-MNIST's labels 0..9 with images of any size (the tiny test sets are 2x4).
ImageExpectation any_size() {
  ImageExpectation e = fashion_mnist_expectation();
  e.height = e.width = 0;
  return e;
}

}  // namespace

TEST_CASE("IDX round trip through gzip", "[runtime][idx]") {
  testing::TempDir dir;
  write_tiny_set(dir, "train");
  auto arr = read_idx(dir.file("train-images-idx3-ubyte.gz"), 3);
  REQUIRE(arr.ok());
  CHECK(arr->dims == std::vector<int64_t>{3, 2, 4});
  CHECK(arr->data.size() == 24);
  CHECK(arr->data[23] == 230);

  auto ds = load_fashion_mnist(dir.path(), /*train=*/true, 0, any_size());
  REQUIRE(ds.ok());
  CHECK(ds->count == 3);
  CHECK(ds->size() == 3);
  CHECK(ds->height() == 2);
  CHECK(ds->width() == 4);
  CHECK(ds->batch_shape(3) == Shape{3, 1, 2, 4});
  CHECK(ds->labels == std::vector<int32_t>{7, 0, 9});
  REQUIRE(ds->numel() == 24);
  CHECK(ds->pixels.size() == 24);  // held as the file's bytes until resized
  CHECK(ds->images.empty());
  CHECK(ds->value(0) == 0.0f);
  CHECK(ds->value(9) == Approx(90.0 / 255.0));
  CHECK(ds->value(23) == Approx(230.0 / 255.0));

  // gather picks examples in the given order.
  std::vector<float> batch(2 * 8);
  std::vector<int32_t> labels(2);
  int64_t idx[] = {2, 0};
  ds->gather(idx, 2, batch.data(), labels.data());
  CHECK(labels == std::vector<int32_t>{9, 7});
  CHECK(batch[0] == ds->value(16));
  CHECK(batch[8] == ds->value(0));
  CHECK(batch[9] == ds->value(1));
  CHECK(batch[9] == 10.0f / 255.0f);  // the same float the whole-set conversion gave

  auto sub = ds->subset(2);
  CHECK(sub.count == 2);
  CHECK(sub.numel() == 16);
  const std::vector<float> all = ds->values();
  CHECK(sub.values() == std::vector<float>(all.begin(), all.begin() + 16));
  CHECK(sub.labels == std::vector<int32_t>{7, 0});
  CHECK(ds->subset(100).count == 3);
}

TEST_CASE("IDX uncompressed files are accepted", "[runtime][idx]") {
  testing::TempDir dir;
  write_tiny_set(dir, "t10k", /*gz=*/false);
  auto ds = load_fashion_mnist(dir.path(), /*train=*/false, 0, any_size());
  REQUIRE(ds.ok());
  CHECK(ds->count == 3);
  CHECK(ds->labels[2] == 9);
}

TEST_CASE("IDX truncated data is reported", "[runtime][idx]") {
  testing::TempDir dir;
  std::string full = idx_bytes({3, 2, 4}, std::vector<uint8_t>(24, 1));
  write_gz(dir.file("short.gz"), full.substr(0, full.size() - 5));
  auto r = read_idx(dir.file("short.gz"), 3);
  REQUIRE(!r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("short.gz") && Catch::Contains("truncated") &&
                                      Catch::Contains("expected 24 bytes of image data, got 19"));

  // A gzip stream cut in the middle.
  std::vector<uint8_t> noise(5000);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>((i * 7919) ^ (i >> 3));
  write_gz(dir.file("cut.gz"), idx_bytes({5000}, noise));
  std::string gz = *read_file(dir.file("cut.gz"));
  REQUIRE(write_file_atomic(dir.file("cut.gz"), gz.substr(0, gz.size() / 2)).ok());
  auto cut = read_idx(dir.file("cut.gz"), 1);
  REQUIRE(!cut.ok());
  CHECK_THAT(cut.error().message(), Catch::Contains("truncated") && Catch::Contains("bytes of label data"));

  // Header only partly there.
  REQUIRE(write_file_atomic(dir.file("hdr"), std::string("\0\0\x08\x03\0\0", 6)).ok());
  auto hdr = read_idx(dir.file("hdr"));
  REQUIRE(!hdr.ok());
  CHECK_THAT(hdr.error().message(), Catch::Contains("truncated"));
}

TEST_CASE("IDX bad magic, type and rank", "[runtime][idx]") {
  testing::TempDir dir;
  write_gz(dir.file("magic.gz"), "PK\x03\x04 this is not idx");
  auto m = read_idx(dir.file("magic.gz"));
  REQUIRE(!m.ok());
  CHECK_THAT(m.error().message(), Catch::Contains("magic.gz") && Catch::Contains("bad magic"));

  write_gz(dir.file("float.gz"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  auto f = read_idx(dir.file("float.gz"));
  REQUIRE(!f.ok());
  CHECK_THAT(f.error().message(), Catch::Contains("element type"));

  write_gz(dir.file("rank.gz"), idx_bytes({3}, {1, 2, 3}));
  auto r = read_idx(dir.file("rank.gz"), 3);
  REQUIRE(!r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("expected an idx3 file"));

  auto missing = read_idx(dir.file("none.gz"));
  REQUIRE(!missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("none.gz") && Catch::Contains("no such file"));
}

TEST_CASE("IDX images and labels must agree", "[runtime][idx]") {
  testing::TempDir dir;
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_bytes({2, 1, 1}, {1, 2}));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes({3}, {1, 2, 3}));
  auto ds = load_fashion_mnist(dir.path(), true, 0, any_size());
  REQUIRE(!ds.ok());
  CHECK_THAT(ds.error().message(), Catch::Contains("2 images") && Catch::Contains("3 labels"));

  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes({2}, {1, 12}));
  auto bad_label = load_fashion_mnist(dir.path(), true, 0, any_size());
  REQUIRE(!bad_label.ok());
  CHECK_THAT(bad_label.error().message(), Catch::Contains("label 12"));
}

TEST_CASE("Fashion-MNIST missing files name the Debian package", "[runtime][idx]") {
  testing::TempDir dir;
  auto no_dir = load_fashion_mnist(dir.file("does-not-exist"), true);
  REQUIRE(!no_dir.ok());
  CHECK_THAT(no_dir.error().message(), Catch::Contains("dataset-fashion-mnist") &&
                                           Catch::Contains("does-not-exist") && Catch::Contains("make demo"));
  auto no_files = load_fashion_mnist(dir.path(), false);
  REQUIRE(!no_files.ok());
  CHECK_THAT(no_files.error().message(),
             Catch::Contains("t10k-images-idx3-ubyte.gz") && Catch::Contains("apt-get install dataset-fashion-mnist"));
}

TEST_CASE("Fashion-MNIST text labels", "[runtime][idx]") {
  REQUIRE(fashion_mnist_labels().size() == 10);
  CHECK(fashion_mnist_label(0) == "t-shirt");
  CHECK(fashion_mnist_label(9) == "ankle boot");
  CHECK(fashion_mnist_label(10) == "?");
}

TEST_CASE("load_fashion_mnist resizes once, at load", "[runtime][idx]") {
  testing::TempDir dir;
  write_tiny_set(dir, "train");
  auto plain = load_fashion_mnist(dir.path(), true, 0, any_size());
  REQUIRE(plain.ok());
  auto ds = load_fashion_mnist(dir.path(), true, /*resize=*/8, any_size());
  REQUIRE(ds.ok());
  CHECK(ds->height() == 8);
  CHECK(ds->width() == 8);
  CHECK(ds->example_numel() == 64);
  CHECK(ds->batch_shape(5) == Shape{5, 1, 8, 8});
  CHECK(ds->images.size() == 3 * 64);
  CHECK(ds->pixels.empty());
  CHECK(ds->labels == plain->labels);
  // The held images are resize_bilinear of the stored ones, and gather copies them.
  std::vector<float> want(3 * 64);
  resize_bilinear(plain->values().data(), 3, 2, 4, want.data(), 8, 8);
  CHECK(ds->images == want);
  std::vector<float> batch(2 * 64);
  int64_t idx[] = {2, 0};
  ds->gather(idx, 2, batch.data());
  CHECK(std::equal(batch.begin(), batch.begin() + 64, want.begin() + 128));
  CHECK(std::equal(batch.begin() + 64, batch.end(), want.begin()));
  CHECK(ds->subset(1).images == std::vector<float>(want.begin(), want.begin() + 64));
}

TEST_CASE("real Fashion-MNIST when installed", "[runtime][idx][data]") {
  struct stat st;
  if (::stat(kFashionMnistDir, &st) != 0) {
    WARN("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); skipping");
    return;
  }
  for (bool train : {true, false}) {
    auto ds = load_fashion_mnist("", train);
    REQUIRE(ds.ok());
    CHECK(ds->count == (train ? 60000 : 10000));
    CHECK(ds->height() == 28);
    CHECK(ds->width() == 28);
    CHECK(ds->numel() == ds->count * 784);
    int counts[10] = {};
    for (int32_t l : ds->labels) {
      REQUIRE(l >= 0);
      REQUIRE(l <= 9);
      ++counts[l];
    }
    for (int c : counts) CHECK(c == (train ? 6000 : 1000));  // Fashion-MNIST is balanced
    float lo = 1, hi = 0;
    for (float v : ds->values()) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
  }
  auto resized = load_fashion_mnist("", false, 32);
  REQUIRE(resized.ok());
  CHECK(resized->batch_shape(256) == Shape{256, 1, 32, 32});
}

// ---- Hardening (issue 12, items 2-4): header fields against the model's expectation,
// overflow-checked sizes, gzip streams verified to their end. ---------------------------

namespace {

// A Fashion-MNIST-like directory whose images are h x w.
void write_images_of_size(const testing::TempDir& dir, int64_t n, int64_t h, int64_t w,
                          std::vector<uint8_t> labels = {}) {
  if (labels.empty()) labels.assign(static_cast<size_t>(n), 3);
  write_gz(dir.file("train-images-idx3-ubyte.gz"),
           idx_bytes({n, h, w}, std::vector<uint8_t>(static_cast<size_t>(n * h * w), 128)));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes({n}, labels));
}

std::string gz_bytes(const std::string& raw) {
  uLongf cap = compressBound(static_cast<uLong>(raw.size())) + 64;
  std::string out(cap, '\0');
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Pixels that do not compress to nothing, so corruption lands in real deflate data.
std::vector<uint8_t> noisy(size_t n) {
  std::vector<uint8_t> v(n);
  uint32_t x = 12345;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>((x >> 16) & 0x3f);
  }
  return v;
}

}  // namespace

TEST_CASE("IDX images must have the size the model expects", "[runtime][idx][hardening]") {
  // 32x32 images overflowed the heap in gather (a 28x28 batch buffer); 10x10 and 0x0
  // trained silently on a half-filled buffer.
  for (auto [h, w] : {std::pair<int64_t, int64_t>{32, 32}, {10, 10}, {28, 27}}) {
    testing::TempDir dir;
    write_images_of_size(dir, 4, h, w);
    auto ds = load_fashion_mnist(dir.path(), true);
    INFO(h << "x" << w);
    REQUIRE(!ds.ok());
    CHECK_THAT(ds.error().message(),
               Catch::Contains("train-images-idx3-ubyte.gz") &&
                   Catch::Contains(std::to_string(h) + "x" + std::to_string(w) + " pixels") &&
                   Catch::Contains("Fashion-MNIST's are 28x28"));
  }
  testing::TempDir dir;
  write_images_of_size(dir, 4, 0, 0);
  auto empty = load_fashion_mnist(dir.path(), true);
  REQUIRE(!empty.ok());
  CHECK_THAT(empty.error().message(), Catch::Contains("train-images-idx3-ubyte.gz") && Catch::Contains("0x0"));
  // Even with no size expectation an image needs pixels, and a set needs images.
  auto any = load_fashion_mnist(dir.path(), true, 0, ImageExpectation{});
  REQUIRE(!any.ok());
  CHECK_THAT(any.error().message(), Catch::Contains("0x0"));
  write_images_of_size(dir, 0, 28, 28);
  auto none = load_fashion_mnist(dir.path(), true);
  REQUIRE(!none.ok());
  CHECK_THAT(none.error().message(), Catch::Contains("holds no images"));

  // 28x28 with labels in range loads; a label of 10 names the label file.
  write_images_of_size(dir, 4, 28, 28);
  auto ok = load_fashion_mnist(dir.path(), true);
  REQUIRE(ok.ok());
  CHECK(ok->example_numel() == 784);
  write_images_of_size(dir, 4, 28, 28, {0, 9, 10, 1});
  auto label = load_fashion_mnist(dir.path(), true);
  REQUIRE(!label.ok());
  CHECK_THAT(label.error().message(), Catch::Contains("train-labels-idx1-ubyte.gz") &&
                                          Catch::Contains("label 10 of example 2") && Catch::Contains("0-9"));
  // A custom expectation: 3 classes.
  ImageExpectation three;
  three.num_classes = 3;
  write_images_of_size(dir, 2, 5, 5, {2, 3});
  auto custom = load_idx_dataset(dir.file("train-images-idx3-ubyte.gz"), dir.file("train-labels-idx1-ubyte.gz"),
                                 three);
  REQUIRE(!custom.ok());
  CHECK_THAT(custom.error().message(), Catch::Contains("label 3") && Catch::Contains("0-2"));
  auto resize = load_fashion_mnist(dir.path(), true, kMaxResize + 1);
  REQUIRE(!resize.ok());
  CHECK_THAT(resize.error().message(), Catch::Contains("resize"));
}

TEST_CASE("IDX dimensions whose product overflows are refused before any allocation",
          "[runtime][idx][hardening]") {
  testing::TempDir dir;
  struct Case {
    std::vector<int64_t> dims;
  };
  // [1, 2^32-1, 2^32-1] overflows int64; [1024, 2^30, 2^24] wraps to 0 with a plain
  // multiply; [2^31, 2^31, 4] wraps to exactly 2^64 = 0 too.
  for (const auto& dims : {std::vector<int64_t>{1, 0xFFFFFFFF, 0xFFFFFFFF}, std::vector<int64_t>{1024, 1 << 30, 1 << 24},
                           std::vector<int64_t>{int64_t{1} << 31, int64_t{1} << 31, 4},
                           std::vector<int64_t>{0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF},
                           std::vector<int64_t>{2, 0x80000000, 2}}) {
    std::string bytes = idx_bytes(dims, std::vector<uint8_t>(64, 1));
    for (bool gz : {false, true}) {
      std::string name = gz ? "big.gz" : "big";
      REQUIRE(write_file_atomic(dir.file(name), gz ? gz_bytes(bytes) : bytes).ok());
      auto r = read_idx(dir.file(name), 3);
      INFO(Shape(dims).to_string() << (gz ? " gzip" : " plain"));
      REQUIRE(!r.ok());
      CHECK_THAT(r.error().message(), Catch::Contains(name) && Catch::Contains("more than 4294967296 bytes"));
    }
  }
  // A zero dim makes the product 0 whatever the others are: no data, no overflow.
  auto zero = parse_idx(idx_bytes({0, 0xFFFFFFFF, 0xFFFFFFFF}, {}), "zero", 3);
  REQUIRE(zero.ok());
  CHECK(zero->data.empty());
}

TEST_CASE("a gzip IDX file is verified to the end of its stream", "[runtime][idx][hardening]") {
  testing::TempDir dir;
  const std::string raw = idx_bytes({200, 28, 28}, noisy(200 * 784));
  const std::string gz = gz_bytes(raw);
  auto load = [&](const std::string& bytes) {
    REQUIRE(write_file_atomic(dir.file("train-images-idx3-ubyte.gz"), bytes).ok());
    return read_idx(dir.file("train-images-idx3-ubyte.gz"), 3);
  };
  REQUIRE(load(gz).ok());
  CHECK(load(gz)->data.size() == 200u * 784);

  // The CRC-32 (the trailer's first 4 bytes) and ISIZE (the last 4) are checked: the old
  // loader stopped at the header's byte count and never read them.
  std::string crc = gz;
  crc[crc.size() - 6] ^= 0x5a;
  auto bad_crc = load(crc);
  REQUIRE(!bad_crc.ok());
  CHECK_THAT(bad_crc.error().message(),
             Catch::Contains("train-images-idx3-ubyte.gz") && Catch::Contains("CRC-32 mismatch"));
  std::string len = gz;
  len[len.size() - 1] ^= 0x01;
  auto bad_len = load(len);
  REQUIRE(!bad_len.ok());
  CHECK_THAT(bad_len.error().message(), Catch::Contains("ISIZE mismatch"));

  // 64 bytes flipped in the middle (what gzip -t reports as CRC and length errors).
  std::string flipped = gz;
  for (size_t i = 0; i < 64; ++i) flipped[flipped.size() / 2 + i] ^= 0xff;
  auto bad = load(flipped);
  REQUIRE(!bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("train-images-idx3-ubyte.gz"));

  // A stream cut inside its trailer, and one cut right after the data.
  for (size_t cut : {size_t{3}, size_t{8}}) {
    auto short_stream = load(gz.substr(0, gz.size() - cut));
    REQUIRE(!short_stream.ok());
    CHECK_THAT(short_stream.error().message(), Catch::Contains("truncated gzip stream"));
  }

  // Trailing garbage after the stream; a second gzip member is part of the file, as in
  // gzip, and must not add data beyond the header's count.
  auto trailing = load(gz + "garbage");
  REQUIRE(!trailing.ok());
  CHECK_THAT(trailing.error().message(), Catch::Contains("trailing garbage"));
  auto zeros = load(gz + std::string(16, '\0'));
  REQUIRE(!zeros.ok());
  CHECK_THAT(zeros.error().message(), Catch::Contains("trailing garbage"));
  auto split = load(gz_bytes(raw.substr(0, 1000)) + gz_bytes(raw.substr(1000)));
  REQUIRE(split.ok());
  CHECK(split->data == load(gz)->data);
  CHECK(load(gz + gz_bytes("")).ok());
  auto more = load(gz + gz_bytes("x"));
  REQUIRE(!more.ok());
  CHECK_THAT(more.error().message(), Catch::Contains("data continues after the bytes the IDX header declares"));

  // Plain files: data after the declared bytes is refused too.
  auto plain_tail = parse_idx(raw + "x", "plain", 3);
  REQUIRE(!plain_tail.ok());
  CHECK_THAT(plain_tail.error().message(), Catch::Contains("plain: data continues"));
  // In memory and on disk decode alike.
  auto mem = parse_idx(gz, "mem.gz", 3);
  REQUIRE(mem.ok());
  CHECK(mem->data == load(gz)->data);
}

TEST_CASE("the installed Fashion-MNIST files pass the end-of-stream checks", "[runtime][idx][data]") {
  struct stat st;
  if (::stat(kFashionMnistDir, &st) != 0) {
    WARN("Fashion-MNIST not installed; skipping");
    return;
  }
  for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz"}) {
    auto r = read_idx(std::string(kFashionMnistDir) + "/" + name);
    INFO(name);
    CHECK(r.ok());
  }
}

TEST_CASE("resizing to the stored size keeps the images", "[runtime][idx]") {
  testing::TempDir dir;
  write_images_of_size(dir, 2, 5, 5);
  auto plain = load_fashion_mnist(dir.path(), true, 0, any_size());
  auto same = load_fashion_mnist(dir.path(), true, 5, any_size());
  REQUIRE(plain.ok());
  REQUIRE(same.ok());
  CHECK(same->height() == 5);
  CHECK(same->values() == plain->values());
}

TEST_CASE("a resize larger than the buffer limit is refused with its size", "[runtime][idx][hardening]") {
  testing::TempDir dir;
  write_images_of_size(dir, 4, 28, 28);
  // 4 images at 64x64 are 65536 bytes of float32: over a 64000-byte limit.
  set_host_buffer_limit(64000);
  auto big = load_fashion_mnist(dir.path(), true, 64);
  auto fits = load_fashion_mnist(dir.path(), true, 32);
  set_host_buffer_limit(0);
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().message(), Catch::Contains("Fashion-MNIST training images resized to 64x64") &&
                                        Catch::Contains("f32[4,1,64,64]") && Catch::Contains("65536") &&
                                        Catch::Contains("limit"));
  REQUIRE(fits.ok());
  CHECK(fits->height() == 32);
  ImageDataset ds = *fits;
  CHECK_THAT(resize_images(ds, 0, "test set").error().message(), Catch::Contains("test set"));
  CHECK(ds.height() == 32);
}
