// Image data sets in the IDX format of MNIST and Fashion-MNIST: idx1 ubyte label files
// and idx3 ubyte image files, gzip-compressed or not (zlib reads both). Images become
// float32 in [0,1] laid out [N, 1, H, W] (NCHW with one channel), labels int32.
// `load_fashion_mnist` reads the standard four files from a directory (by default the
// Debian package dataset-fashion-mnist's) and can resize them once, at load, for the
// larger d2l models (AlexNet wants 224x224), bilinearly as PyTorch's interpolate does
// (runtime/train/resize.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/shape.h"
#include "ir/status.h"

namespace kiln {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// A decoded IDX file with unsigned-byte elements.
struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28}
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// The most data bytes one IDX file may declare (the product of its dims, computed with
// overflow checks): 2^32, 90 times Fashion-MNIST's training images. Larger headers are
// refused before anything is allocated.
inline constexpr int64_t kMaxIdxBytes = int64_t{1} << 32;

// Reads an IDX ubyte file (gzip or plain, told apart by the gzip magic bytes).
// `expected_rank` (if > 0) is checked, e.g. 3 for images, 1 for labels. Errors name the
// path and say what is wrong: missing file, bad magic, a type other than ubyte, a rank
// mismatch, dims whose product exceeds kMaxIdxBytes, truncated data ("expected 47040000
// bytes of image data, got 1234"), and data after the declared bytes. A gzip file is
// read to the end of its stream, so its CRC-32 and length (ISIZE) are always verified:
// a corrupt, short or over-long stream and trailing garbage after it are errors.
// Concatenated gzip members are read as one stream, as gzip does.
Expected<IdxArray> read_idx(const std::string& path, int expected_rank = 0);
// The same decoding from bytes in memory (a gzip or plain IDX file's contents); `name`
// stands for the path in errors.
Expected<IdxArray> parse_idx(std::string_view bytes, const std::string& name, int expected_rank = 0);

// What a model expects of an image data set; load_idx_dataset checks every header field
// against it and names the file that disagrees.
struct ImageExpectation {
  int64_t height = 0, width = 0;  // stored image size; 0 accepts any non-zero size
  int num_classes = 0;            // labels must lie in [0, num_classes) when > 0
  std::string what;               // the data set's name for messages, e.g. "Fashion-MNIST"
};
// 28x28 images, labels 0..9.
ImageExpectation fashion_mnist_expectation();

// Images are held at the size the model reads (already resized, if asked at load).
struct ImageDataset {
  int64_t count = 0;
  int64_t channels = 1;
  int64_t stored_height = 0, stored_width = 0;  // size of the images held
  // The images, [count, channels, stored_h, stored_w] with values in [0, 1], held one of
  // two ways: as the file's bytes (pixels, value = byte / 255, converted when gathered:
  // a minibatch then reads a quarter of the memory, and the MLP's gather is that much
  // shorter), or as floats (images) once resized.
  std::vector<uint8_t> pixels;
  std::vector<float> images;
  std::vector<int32_t> labels;  // [count]

  int64_t size() const { return count; }
  int64_t height() const { return stored_height; }
  int64_t width() const { return stored_width; }
  // Elements of one example: channels * height() * width().
  int64_t example_numel() const { return channels * height() * width(); }
  // [batch, C, H, W] of a batch as produced by gather.
  Shape batch_shape(int64_t batch) const { return Shape{batch, channels, height(), width()}; }
  // Values held: count * example_numel(); value(i) is element i of the whole set.
  int64_t numel() const { return count * example_numel(); }
  float value(int64_t i) const { return pixels.empty() ? images[i] : byte_value(pixels[i]); }
  // Every value as floats (a copy).
  std::vector<float> values() const;
  static float byte_value(uint8_t b) { return b * (1.0f / 255.0f); }

  // Writes examples idx[0..n) to dst ([n, C, height(), width()]) and, when labels_out
  // is not null, their labels. Indices must be in [0, count), and
  // dst must hold n * example_numel() floats: callers check example_numel() against
  // the model's input once, when the data is loaded (see models/run_common.cpp).
  void gather(const int64_t* idx, int64_t n, float* dst, int32_t* labels_out = nullptr) const;
  // The first n examples (all of them if n >= count or n < 0).
  ImageDataset subset(int64_t n) const;
};

// Reads an image file (idx3: [count, height, width]) and a label file (idx1: [count])
// and checks them against each other and `expect`: the counts agree and are not zero,
// images are not empty and have the expected size, every label is in range. Errors name
// the file ("train-images-idx3-ubyte.gz: images are 32x32 pixels, but Fashion-MNIST's
// are 28x28"). Running out of memory is an error too.
Expected<ImageDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                        const ImageExpectation& expect = {});

// Loads Fashion-MNIST's training (60000) or test (10000) split from `dir` (empty means
// kFashionMnistDir). Files are train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
// t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (the names without .gz are
// accepted too). resize > 0 (at most kMaxResize) resizes every image to resize x resize
// once, here (see resize_images; 0 or the stored size keeps them as they are). The
// files are checked against `expect` (by default Fashion-MNIST's 28x28 images and labels
// 0..9; tests pass smaller sizes). When the files are missing
// the error says how to install them (apt-get install dataset-fashion-mnist, or
// `make demo` / scripts/setup.sh).
inline constexpr int kMaxResize = 4096;
Expected<ImageDataset> load_fashion_mnist(const std::string& dir = "", bool train = true, int resize = 0,
                                          const ImageExpectation& expect = fashion_mnist_expectation());

// The ten class names, index = label: t-shirt, trouser, pullover, dress, coat, sandal,
// shirt, sneaker, bag, ankle boot (d2l's get_fashion_mnist_labels).
const std::vector<std::string>& fashion_mnist_labels();
// The name of one label, or "?" when out of range.
std::string_view fashion_mnist_label(int label);

// Resizes every image of `ds` to side x side in place with resize_bilinear (PyTorch's
// interpolate, bilinear, align_corners=False). The resized images must fit in one
// host buffer (host_buffer_limit(), runtime/host_buffer.h): 60000 images at 224x224 are
// 12 GB of float32. When they do not, or memory runs out, `ds` is left unchanged and the
// error names `what` (e.g. "Fashion-MNIST training images"), the shape and the bytes.
Status resize_images(ImageDataset& ds, int64_t side, const std::string& what);

}  // namespace kiln
