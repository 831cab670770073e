// IDX decoding (through zlib, which reads gzip and plain files alike), the Fashion-MNIST
// loader, and PIL-compatible bilinear resizing. See idx.h.
#include "runtime/train/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>

namespace kiln {
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

// Closes a gzFile on scope exit.
struct GzCloser {
  gzFile f;
  ~GzCloser() {
    if (f) gzclose(f);
  }
};

// Reads up to `size` bytes; returns the count read, and sets `err` to zlib's message
// when the stream is corrupt (a truncated gzip stream reads short or reports an error).
int64_t gz_read_fully(gzFile f, void* buf, int64_t size, std::string* err) {
  int64_t got = 0;
  char* p = static_cast<char*>(buf);
  while (got < size) {
    unsigned chunk = static_cast<unsigned>(std::min<int64_t>(size - got, 1 << 30));
    int n = gzread(f, p + got, chunk);
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      *err = msg ? msg : "read error";
      break;
    }
    if (n == 0) break;
    got += n;
  }
  return got;
}

const char* data_kind(int rank) { return rank == 1 ? "label" : rank == 3 ? "image" : "tensor"; }

}  // namespace

Expected<IdxArray> read_idx(const std::string& path, int expected_rank) {
  if (std::string problem = file_problem(path); !problem.empty()) return Error(path + ": " + problem);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return Error(path + ": cannot open: " + std::strerror(errno));
  GzCloser closer{f};
  gzbuffer(f, 1 << 17);

  std::string zerr;
  unsigned char magic[4];
  int64_t got = gz_read_fully(f, magic, 4, &zerr);
  if (got < 4) {
    return Error(path + ": truncated: expected a 4-byte IDX header, got " + std::to_string(got) + " bytes" +
                 (zerr.empty() ? "" : " (" + zerr + ")"));
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
  got = gz_read_fully(f, dimbytes.data(), 4 * rank, &zerr);
  if (got < 4 * rank) {
    return Error(path + ": truncated: expected " + std::to_string(rank) + " dimensions in the header, got " +
                 std::to_string(got / 4) + (zerr.empty() ? "" : " (" + zerr + ")"));
  }
  IdxArray out;
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    const unsigned char* b = &dimbytes[4 * d];
    int64_t dim = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    out.dims.push_back(dim);
    total *= dim;
    if (total > (int64_t(1) << 42)) return Error(path + ": IDX dimensions are implausibly large");
  }

  // Grow the buffer as data arrives, so a corrupt header claiming terabytes fails with
  // "truncated" instead of an allocation failure.
  got = 0;
  while (got < total && zerr.empty()) {
    int64_t chunk = std::min<int64_t>(total - got, int64_t(1) << 26);
    out.data.resize(static_cast<size_t>(got + chunk));
    int64_t n = gz_read_fully(f, out.data.data() + got, chunk, &zerr);
    got += n;
    if (n < chunk) break;
  }
  out.data.resize(static_cast<size_t>(got));
  if (got < total) {
    return Error(path + ": truncated: expected " + std::to_string(total) + " bytes of " + data_kind(rank) +
                 " data, got " + std::to_string(got) + (zerr.empty() ? "" : " (" + zerr + ")"));
  }
  return out;
}

Expected<ImageDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path) {
  auto images = read_idx(images_path, 3);
  if (!images.ok()) return images.error();
  auto labels = read_idx(labels_path, 1);
  if (!labels.ok()) return labels.error();
  if (images->dims[0] != labels->dims[0]) {
    return Error("images and labels disagree: " + images_path + " has " + std::to_string(images->dims[0]) +
                 " images but " + labels_path + " has " + std::to_string(labels->dims[0]) + " labels");
  }
  ImageDataset ds;
  ds.count = images->dims[0];
  ds.channels = 1;
  ds.stored_height = images->dims[1];
  ds.stored_width = images->dims[2];
  ds.images.resize(images->data.size());
  for (size_t i = 0; i < images->data.size(); ++i) ds.images[i] = images->data[i] * (1.0f / 255.0f);
  ds.labels.assign(labels->data.begin(), labels->data.end());
  return ds;
}

Expected<ImageDataset> load_fashion_mnist(const std::string& dir_in, bool train, int resize) {
  const std::string dir = dir_in.empty() ? kFashionMnistDir : dir_in;
  if (resize < 0) return Error("load_fashion_mnist: resize must be >= 0, got " + std::to_string(resize));
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
  auto ds = load_idx_dataset(images, labels);
  if (!ds.ok()) return ds.error();
  for (int64_t i = 0; i < ds->count; ++i) {
    if (ds->labels[i] < 0 || ds->labels[i] > 9) {
      return Error(labels + ": label " + std::to_string(ds->labels[i]) + " of example " + std::to_string(i) +
                   " is out of range 0-9 (not a Fashion-MNIST label file?)");
    }
  }
  if (resize > 0) {
    ds->resize_height = resize;
    ds->resize_width = resize;
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

// ---- Resizing -------------------------------------------------------------------------

namespace {

// Per output index: the first source index and `taps` normalized weights
// (PIL's precompute_coeffs for the bilinear/triangle filter).
struct ResampleAxis {
  int64_t taps = 0;
  std::vector<int64_t> first;
  std::vector<float> weights;  // [out, taps]
};

ResampleAxis make_axis(int64_t in, int64_t out) {
  ResampleAxis ax;
  double scale = double(in) / double(out);
  double filterscale = std::max(scale, 1.0);
  double support = 1.0 * filterscale;  // the triangle filter has support 1
  ax.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  ax.first.resize(out);
  ax.weights.assign(out * ax.taps, 0.0f);
  for (int64_t o = 0; o < out; ++o) {
    double center = (o + 0.5) * scale;
    int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in);
    int64_t n = std::min(hi - lo, ax.taps);
    std::vector<double> w(std::max<int64_t>(n, 0));
    double total = 0;
    for (int64_t k = 0; k < n; ++k) {
      double x = (lo + k - center + 0.5) / filterscale;
      w[k] = std::max(0.0, 1.0 - std::abs(x));
      total += w[k];
    }
    ax.first[o] = lo;
    for (int64_t k = 0; k < n; ++k) {
      ax.weights[o * ax.taps + k] = total > 0 ? static_cast<float>(w[k] / total) : 0.0f;
    }
  }
  return ax;
}

// Resizes one image using precomputed axes; tmp holds [channels, h, out_w].
void resize_with(const ResampleAxis& ax_h, const ResampleAxis& ax_w, const float* src, int64_t channels,
                 int64_t h, int64_t w, float* dst, int64_t out_h, int64_t out_w, std::vector<float>& tmp) {
  tmp.resize(channels * h * out_w);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      const float* row = src + (c * h + y) * w;
      float* trow = tmp.data() + (c * h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const float* wt = &ax_w.weights[x * ax_w.taps];
        int64_t first = ax_w.first[x];
        int64_t n = std::min(ax_w.taps, w - first);
        float acc = 0;
        for (int64_t k = 0; k < n; ++k) acc += wt[k] * row[first + k];
        trow[x] = acc;
      }
    }
    for (int64_t y = 0; y < out_h; ++y) {
      const float* wt = &ax_h.weights[y * ax_h.taps];
      int64_t first = ax_h.first[y];
      int64_t n = std::min(ax_h.taps, h - first);
      float* drow = dst + (c * out_h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) drow[x] = 0;
      for (int64_t k = 0; k < n; ++k) {
        if (wt[k] == 0.0f) continue;
        const float* trow = tmp.data() + (c * h + first + k) * out_w;
        for (int64_t x = 0; x < out_w; ++x) drow[x] += wt[k] * trow[x];
      }
    }
  }
}

}  // namespace

void resize_bilinear(const float* src, int64_t channels, int64_t h, int64_t w, float* dst, int64_t out_h,
                     int64_t out_w) {
  ResampleAxis ax_h = make_axis(h, out_h), ax_w = make_axis(w, out_w);
  std::vector<float> tmp;
  resize_with(ax_h, ax_w, src, channels, h, w, dst, out_h, out_w, tmp);
}

ImageDataset resize_images(const ImageDataset& ds, int64_t out_h, int64_t out_w) {
  ImageDataset out;
  out.count = ds.count;
  out.channels = ds.channels;
  out.stored_height = out_h;
  out.stored_width = out_w;
  out.labels = ds.labels;
  out.images.resize(ds.count * ds.channels * out_h * out_w);
  ResampleAxis ax_h = make_axis(ds.stored_height, out_h), ax_w = make_axis(ds.stored_width, out_w);
  std::vector<float> tmp;
  for (int64_t i = 0; i < ds.count; ++i) {
    resize_with(ax_h, ax_w, ds.stored_image(i), ds.channels, ds.stored_height, ds.stored_width,
                out.images.data() + i * ds.channels * out_h * out_w, out_h, out_w, tmp);
  }
  return out;
}

void ImageDataset::gather(const int64_t* idx, int64_t n, float* dst, int32_t* labels_out) const {
  const int64_t out_numel = example_numel();
  if (!resized()) {
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(dst + i * out_numel, stored_image(idx[i]), sizeof(float) * out_numel);
    }
  } else {
    ResampleAxis ax_h = make_axis(stored_height, height()), ax_w = make_axis(stored_width, width());
    std::vector<float> tmp;
    for (int64_t i = 0; i < n; ++i) {
      resize_with(ax_h, ax_w, stored_image(idx[i]), channels, stored_height, stored_width, dst + i * out_numel,
                  height(), width(), tmp);
    }
  }
  if (labels_out) {
    for (int64_t i = 0; i < n; ++i) labels_out[i] = labels[idx[i]];
  }
}

ImageDataset ImageDataset::subset(int64_t n) const {
  if (n < 0 || n > count) n = count;
  ImageDataset out;
  out.count = n;
  out.channels = channels;
  out.stored_height = stored_height;
  out.stored_width = stored_width;
  out.resize_height = resize_height;
  out.resize_width = resize_width;
  const int64_t per = channels * stored_height * stored_width;
  out.images.assign(images.begin(), images.begin() + n * per);
  out.labels.assign(labels.begin(), labels.begin() + n);
  return out;
}

}  // namespace kiln
