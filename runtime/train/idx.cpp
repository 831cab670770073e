// IDX decoding (through zlib, which reads gzip and plain files alike) and the
// Fashion-MNIST loader. See idx.h.
#include "runtime/train/idx.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "runtime/host_buffer.h"
#include "runtime/thread_pool.h"
#include "runtime/train/resize.h"

namespace kiln {

namespace {

// Grows `v` to n elements on transparent huge pages where the kernel allows them
// (madvise mode): a minibatch gathers rows scattered over the whole set, and with 4 KiB
// pages each row costs a TLB miss, which a virtual machine's nested page walk makes
// expensive. With the parallel copy in gather(), the MLP's 256-image gather went from
// ~190 to ~70 us. Advice only: nothing fails if it is refused.
template <class T>
void resize_on_huge_pages(std::vector<T>& v, size_t n) {
  v.reserve(n);
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(v.data()) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(v.data() + n)) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  v.resize(n);
}

}  // namespace
namespace {

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Why `path` cannot be read as a file ("" when it can).
std::string file_problem(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno == ENOENT ? "no such file" : std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  return "";
}

bool dir_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// ---- Byte sources ----------------------------------------------------------------------

// Where the (possibly compressed) bytes come from: a file or memory.
class Source {
 public:
  virtual ~Source() = default;
  // Reads up to n bytes into buf; returns how many (0 at the end), or -1 with `error` set.
  virtual int64_t read(unsigned char* buf, int64_t n) = 0;
  std::string error;
};

class FileSource : public Source {
 public:
  explicit FileSource(int fd) : fd_(fd) {}
  ~FileSource() override {
    if (fd_ >= 0) ::close(fd_);
  }
  int64_t read(unsigned char* buf, int64_t n) override {
    for (;;) {
      ssize_t got = ::read(fd_, buf, static_cast<size_t>(std::min<int64_t>(n, int64_t{1} << 30)));
      if (got >= 0) return got;
      if (errno == EINTR) continue;
      error = std::string("read error: ") + std::strerror(errno);
      return -1;
    }
  }

 private:
  int fd_;
};

class MemorySource : public Source {
 public:
  explicit MemorySource(std::string_view bytes) : rest_(bytes) {}
  int64_t read(unsigned char* buf, int64_t n) override {
    size_t k = static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(rest_.size())));
    if (k > 0) std::memcpy(buf, rest_.data(), k);
    rest_.remove_prefix(k);
    return static_cast<int64_t>(k);
  }

 private:
  std::string_view rest_;
};

// The decoded byte stream of an IDX file: plain bytes, or the inflated content of a gzip
// file (told apart by the gzip magic 1f 8b; an IDX file starts with 00 00). zlib's
// inflate checks each member's CRC-32 and ISIZE when it reaches the member's end
// (Z_STREAM_END), so `finish` reads to that end: the data check covers every byte.
class Decoder {
 public:
  explicit Decoder(Source& src) : src_(src), buf_(1 << 16) {}
  ~Decoder() {
    if (zinit_) inflateEnd(&zs_);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Sniffs the format. False with `error` set when the source fails.
  bool start() {
    if (!fill(2)) return false;
    if (avail_ >= 2 && buf_[pos_] == 0x1f && buf_[pos_ + 1] == 0x8b) {
      gzip_ = true;
      std::memset(&zs_, 0, sizeof zs_);
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) {
        error = "cannot initialise zlib";
        return false;
      }
      zinit_ = true;
    }
    return true;
  }
  bool gzip() const { return gzip_; }

  // Reads up to n decoded bytes; fewer only at the end of the data or on an error
  // (then `error` is set).
  int64_t read(unsigned char* out, int64_t n) {
    int64_t got = 0;
    while (got < n && error.empty()) {
      int64_t k = gzip_ ? inflate_some(out + got, n - got) : plain_some(out + got, n - got);
      if (k < 0) break;     // error set
      if (k == 0 && done_) break;  // the end of the data
      got += k;
    }
    return got;
  }

  // After the declared data: checks that the stream ends here. Gzip: inflates to the
  // end of the stream (verifying CRC-32 and length), then requires nothing but further
  // members (which must add no data) after it. Returns "" or what is wrong.
  std::string finish() {
    unsigned char scratch[512];
    int64_t extra = read(scratch, sizeof scratch);
    if (!error.empty()) return error;
    if (extra > 0) return "data continues after the bytes the IDX header declares";
    if (gzip_ && !stream_end_) return "truncated gzip stream (it ends before its end marker)";
    return "";
  }

  std::string error;  // what went wrong ("" if nothing)

 private:
  // Ensures at least `need` bytes are buffered, unless the source ends first.
  bool fill(size_t need) {
    if (avail_ >= need || eof_) return true;
    if (pos_ > 0) {
      std::memmove(buf_.data(), buf_.data() + pos_, avail_);
      pos_ = 0;
    }
    while (avail_ < need && !eof_) {
      int64_t k = src_.read(buf_.data() + avail_, static_cast<int64_t>(buf_.size() - avail_));
      if (k < 0) {
        error = src_.error;
        return false;
      }
      if (k == 0) eof_ = true;
      avail_ += static_cast<size_t>(k);
    }
    return true;
  }

  // One step of plain reading: bytes copied, 0 with done_ set at the end, -1 on error.
  int64_t plain_some(unsigned char* out, int64_t n) {
    if (avail_ == 0 && !fill(1)) return -1;
    if (avail_ == 0) {
      done_ = true;
      return 0;
    }
    size_t k = static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(avail_)));
    std::memcpy(out, buf_.data() + pos_, k);
    pos_ += k;
    avail_ -= k;
    return static_cast<int64_t>(k);
  }

  // One inflate step: bytes produced (possibly 0 while inflate reads headers), 0 with
  // done_ set at the end of the last member, -1 on error.
  int64_t inflate_some(unsigned char* out, int64_t n) {
    if (stream_end_) {
      // Another gzip member may follow (gzip concatenates them); anything else is
      // trailing garbage, which gzip -t reports and we refuse.
      if (!fill(2)) return -1;
      if (avail_ == 0) {
        done_ = true;
        return 0;
      }
      if (avail_ < 2 || buf_[pos_] != 0x1f || buf_[pos_ + 1] != 0x8b) {
        error = "trailing garbage after the end of the gzip stream";
        return -1;
      }
      inflateReset(&zs_);
      stream_end_ = false;
    }
    if (avail_ == 0 && !fill(1)) return -1;
    if (avail_ == 0) {  // the file ends inside the member
      error = "truncated gzip stream (it ends before its end marker)";
      return -1;
    }
    const uInt room = static_cast<uInt>(std::min<int64_t>(n, int64_t{1} << 30));
    zs_.next_in = buf_.data() + pos_;
    zs_.avail_in = static_cast<uInt>(avail_);
    zs_.next_out = out;
    zs_.avail_out = room;
    int r = inflate(&zs_, Z_NO_FLUSH);
    size_t used = avail_ - zs_.avail_in;
    pos_ += used;
    avail_ -= used;
    const int64_t produced = static_cast<int64_t>(room - zs_.avail_out);
    switch (r) {
      case Z_STREAM_END:  // zlib has verified this member's CRC-32 and ISIZE
        stream_end_ = true;
        return produced;
      case Z_OK:
        return produced;
      case Z_BUF_ERROR:  // no progress possible: needs more input, which fill() brings
        if (used == 0 && produced == 0 && avail_ > 0) {
          error = "zlib made no progress";
          return -1;
        }
        return produced;
      case Z_DATA_ERROR: {
        std::string msg = zs_.msg ? zs_.msg : "invalid data";
        if (msg == "incorrect data check") msg += " (CRC-32 mismatch)";
        if (msg == "incorrect length check") msg += " (ISIZE mismatch)";
        error = "corrupt gzip stream: " + msg;
        return -1;
      }
      case Z_MEM_ERROR: error = "out of memory in zlib"; return -1;
      default:
        error = "zlib error " + std::to_string(r) + (zs_.msg ? std::string(": ") + zs_.msg : "");
        return -1;
    }
  }

  Source& src_;
  std::vector<unsigned char> buf_;
  size_t pos_ = 0, avail_ = 0;
  bool eof_ = false;
  bool gzip_ = false, zinit_ = false, stream_end_ = false, done_ = false;
  z_stream zs_;
};

const char* data_kind(int rank) { return rank == 1 ? "label" : rank == 3 ? "image" : "tensor"; }

Expected<IdxArray> decode_idx(Source& src, const std::string& path, int expected_rank) {
  Decoder dec(src);
  if (!dec.start()) return Error(path + ": " + dec.error);
  auto why = [&]() { return dec.error.empty() ? std::string() : " (" + dec.error + ")"; };

  unsigned char magic[4];
  int64_t got = dec.read(magic, 4);
  if (got < 4) {
    return Error(path + ": truncated: expected a 4-byte IDX header, got " + std::to_string(got) + " bytes" +
                 why());
  }
  if (magic[0] != 0 || magic[1] != 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    return Error(path + ": bad magic number " + buf +
                 " (not an IDX file; expected 00 00 08 <rank>, e.g. 00 00 08 03 for images)");
  }
  if (magic[2] != 0x08) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02x", magic[2]);
    return Error(path + ": unsupported IDX element type " + buf + " (only unsigned bytes, 0x08, are supported)");
  }
  int rank = magic[3];
  if (rank == 0) return Error(path + ": bad IDX header: rank 0");
  if (expected_rank > 0 && rank != expected_rank) {
    return Error(path + ": expected an idx" + std::to_string(expected_rank) + " file (" +
                 std::to_string(expected_rank) + " dims), got idx" + std::to_string(rank));
  }

  std::vector<unsigned char> dimbytes(4 * static_cast<size_t>(rank));
  got = dec.read(dimbytes.data(), 4 * rank);
  if (got < 4 * rank) {
    return Error(path + ": truncated: expected " + std::to_string(rank) + " dimensions in the header, got " +
                 std::to_string(got / 4) + why());
  }
  IdxArray out;
  // The product is computed with overflow checks: [1, 2^32-1, 2^32-1] overflows int64
  // and [1024, 2^30, 2^24] wraps to 0 with a plain multiply.
  int64_t total = 1;
  bool too_large = false;
  for (int d = 0; d < rank; ++d) {
    const unsigned char* b = &dimbytes[4 * d];
    int64_t dim = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    out.dims.push_back(dim);
    if (__builtin_mul_overflow(total, dim, &total) || total > kMaxIdxBytes) too_large = true;
  }
  bool has_zero = std::find(out.dims.begin(), out.dims.end(), 0) != out.dims.end();
  if (has_zero) total = 0;
  if (too_large && !has_zero) {
    return Error(path + ": IDX dimensions " + Shape(out.dims).to_string() + " declare more than " +
                 std::to_string(kMaxIdxBytes) + " bytes of data (the limit for one IDX file)");
  }

  // Grow the buffer as data arrives (doubling from 64 KiB), so a corrupt header claiming
  // gigabytes fails with "truncated" after allocating about what the file holds.
  try {
    got = 0;
    while (got < total) {
      int64_t chunk = std::min<int64_t>(total - got, std::max<int64_t>(got, int64_t(1) << 16));
      out.data.resize(static_cast<size_t>(got + chunk));
      int64_t n = dec.read(out.data.data() + got, chunk);
      got += n;
      if (n < chunk) break;
    }
    out.data.resize(static_cast<size_t>(got));
  } catch (const std::bad_alloc&) {
    return Error(path + ": out of memory reading " + std::to_string(total) + " bytes of " + data_kind(rank) +
                 " data");
  }
  if (got < total) {
    return Error(path + ": truncated: expected " + std::to_string(total) + " bytes of " + data_kind(rank) +
                 " data, got " + std::to_string(got) + why());
  }
  if (std::string end = dec.finish(); !end.empty()) return Error(path + ": " + end);
  return out;
}

std::string size_text(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

}  // namespace

Expected<IdxArray> read_idx(const std::string& path, int expected_rank) {
  if (std::string problem = file_problem(path); !problem.empty()) return Error(path + ": " + problem);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  FileSource src(fd);
  return decode_idx(src, path, expected_rank);
}

Expected<IdxArray> parse_idx(std::string_view bytes, const std::string& name, int expected_rank) {
  MemorySource src(bytes);
  return decode_idx(src, name, expected_rank);
}

ImageExpectation fashion_mnist_expectation() {
  ImageExpectation e;
  e.height = 28;
  e.width = 28;
  e.num_classes = 10;
  e.what = "Fashion-MNIST";
  return e;
}

Expected<ImageDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                        const ImageExpectation& expect) {
  auto images = read_idx(images_path, 3);
  if (!images.ok()) return images.error();
  auto labels = read_idx(labels_path, 1);
  if (!labels.ok()) return labels.error();
  const int64_t count = images->dims[0], h = images->dims[1], w = images->dims[2];
  if (count != labels->dims[0]) {
    return Error("images and labels disagree: " + images_path + " has " + std::to_string(count) +
                 " images but " + labels_path + " has " + std::to_string(labels->dims[0]) + " labels");
  }
  if (count == 0) return Error(images_path + ": holds no images (its header declares a count of 0)");
  if (h == 0 || w == 0)
    return Error(images_path + ": images are " + size_text(h, w) + " pixels (an image needs at least one)");
  const std::string whose = expect.what.empty() ? "the model's" : expect.what + "'s";
  if ((expect.height > 0 && h != expect.height) || (expect.width > 0 && w != expect.width)) {
    return Error(images_path + ": images are " + size_text(h, w) + " pixels, but " + whose + " are " +
                 size_text(expect.height > 0 ? expect.height : h, expect.width > 0 ? expect.width : w));
  }
  if (expect.num_classes > 0) {
    for (int64_t i = 0; i < count; ++i) {
      int label = labels->data[static_cast<size_t>(i)];
      if (label >= expect.num_classes) {
        return Error(labels_path + ": label " + std::to_string(label) + " of example " + std::to_string(i) +
                     " is out of range 0-" + std::to_string(expect.num_classes - 1) +
                     (expect.what.empty() ? std::string() : " (not a " + expect.what + " label file?)"));
      }
    }
  }
  ImageDataset ds;
  ds.count = count;
  ds.channels = 1;
  ds.stored_height = h;
  ds.stored_width = w;
  try {
    resize_on_huge_pages(ds.pixels, images->data.size());
    std::copy(images->data.begin(), images->data.end(), ds.pixels.begin());
    ds.labels.assign(labels->data.begin(), labels->data.end());
  } catch (const std::bad_alloc&) {
    return Error(images_path + ": out of memory holding " + std::to_string(count) + " images of " +
                 size_text(h, w) + " pixels (" + std::to_string(images->data.size()) + " bytes)");
  }
  return ds;
}

Expected<ImageDataset> load_fashion_mnist(const std::string& dir_in, bool train, int resize,
                                          const ImageExpectation& expect) {
  const std::string dir = dir_in.empty() ? kFashionMnistDir : dir_in;
  if (resize < 0 || resize > kMaxResize)
    return Error("load_fashion_mnist: resize must be in 0.." + std::to_string(kMaxResize) + ", got " +
                 std::to_string(resize));
  const std::string prefix = train ? "train" : "t10k";
  const std::string install_hint =
      "Fashion-MNIST is packaged in Debian as dataset-fashion-mnist: install it with "
      "`apt-get install dataset-fashion-mnist` (or run `make demo` / scripts/setup.sh, which install it), "
      "or point kiln at a directory holding the IDX files";

  // Prefers name.gz, falls back to the uncompressed name.
  auto find = [&](const std::string& name) -> std::string {
    std::string gz = dir + "/" + name + ".gz";
    if (file_exists(gz)) return gz;
    std::string plain = dir + "/" + name;
    if (file_exists(plain)) return plain;
    return "";
  };
  if (!dir_exists(dir)) {
    return Error("Fashion-MNIST not found: directory " + dir + " does not exist. " + install_hint);
  }
  std::string images = find(prefix + "-images-idx3-ubyte");
  std::string labels = find(prefix + "-labels-idx1-ubyte");
  if (images.empty() || labels.empty()) {
    std::string missing = images.empty() ? prefix + "-images-idx3-ubyte.gz" : prefix + "-labels-idx1-ubyte.gz";
    return Error("Fashion-MNIST not found: " + dir + "/" + missing + " is missing. " + install_hint);
  }
  auto ds = load_idx_dataset(images, labels, expect);
  if (!ds.ok()) return ds.error();
  if (resize > 0 && (resize != ds->stored_height || resize != ds->stored_width)) {
    const std::string split = train ? "training images" : "test images";
    KILN_RETURN_IF_ERROR(resize_images(*ds, resize, expect.what.empty() ? split : expect.what + " " + split));
  }
  return ds;
}

const std::vector<std::string>& fashion_mnist_labels() {
  static const std::vector<std::string> names = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};
  return names;
}

std::string_view fashion_mnist_label(int label) {
  const auto& names = fashion_mnist_labels();
  if (label < 0 || label >= static_cast<int>(names.size())) return "?";
  return names[label];
}

Status resize_images(ImageDataset& ds, int64_t side, const std::string& what) {
  if (side < 1) return Error(what + ": cannot resize to " + size_text(side, side));
  const Shape shape{ds.count, ds.channels, side, side};
  const std::string name = what + " resized to " + size_text(side, side);
  KILN_RETURN_IF_ERROR(check_host_allocation(TensorType{DType::f32, shape}, name));
  std::vector<float> out;
  try {
    resize_on_huge_pages(out, static_cast<size_t>(shape.numel()));
  } catch (const std::bad_alloc&) {
    return Error(name + ": out of memory allocating " + std::to_string(shape.numel() * 4) + " bytes");
  }
  std::vector<float> source;
  if (!ds.pixels.empty()) {
    try {
      source = ds.values();
    } catch (const std::bad_alloc&) {
      return Error(name + ": out of memory converting the images to float32");
    }
  }
  resize_bilinear(ds.pixels.empty() ? ds.images.data() : source.data(), ds.count * ds.channels,
                  ds.stored_height, ds.stored_width, out.data(), side, side);
  ds.images = std::move(out);
  ds.pixels = {};
  ds.stored_height = ds.stored_width = side;
  return Status::Ok();
}

void ImageDataset::gather(const int64_t* idx, int64_t n, float* dst, int32_t* labels_out) const {
  const int64_t numel = example_numel();
  // Rows scattered over a large array: each starts with a cache miss, so the copy is
  // latency-bound; both cores' misses in flight halve it, and so does asking for the
  // rows kRowsAhead ahead while converting this one.
  constexpr int64_t kRowsAhead = 4;
  auto prefetch_example = [&](int64_t e) {
    const char* p = pixels.empty() ? reinterpret_cast<const char*>(images.data() + e * numel)
                                   : reinterpret_cast<const char*>(pixels.data() + e * numel);
    const int64_t bytes = numel * (pixels.empty() ? 4 : 1);
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  };
  parallel_for(n, std::max<int64_t>(1, (int64_t{16} << 10) / std::max<int64_t>(1, numel)),
               [&](int64_t i0, int64_t i1) {
                 for (int64_t i = i0; i < i1; ++i) {
                   float* d = dst + i * numel;
                   if (i + kRowsAhead < i1) prefetch_example(idx[i + kRowsAhead]);
                   if (pixels.empty()) {
                     std::memcpy(d, images.data() + idx[i] * numel, sizeof(float) * numel);
                     continue;
                   }
                   const uint8_t* s = pixels.data() + idx[i] * numel;
                   for (int64_t j = 0; j < numel; ++j) d[j] = byte_value(s[j]);
                 }
               });
  if (labels_out) {
    for (int64_t i = 0; i < n; ++i) labels_out[i] = labels[idx[i]];
  }
}

std::vector<float> ImageDataset::values() const {
  if (pixels.empty()) return images;
  std::vector<float> out(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) out[i] = byte_value(pixels[i]);
  return out;
}

ImageDataset ImageDataset::subset(int64_t n) const {
  if (n < 0 || n > count) n = count;
  ImageDataset out;
  out.count = n;
  out.channels = channels;
  out.stored_height = stored_height;
  out.stored_width = stored_width;
  const int64_t per = example_numel();
  if (pixels.empty()) out.images.assign(images.begin(), images.begin() + n * per);
  else out.pixels.assign(pixels.begin(), pixels.begin() + n * per);
  out.labels.assign(labels.begin(), labels.begin() + n);
  return out;
}

}  // namespace kiln
