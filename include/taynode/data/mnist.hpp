#pragma once
// MNIST in its original IDX format (LeCun, Cortes, Burges): a big-endian header of a magic number
// (0x00000803 for images, 0x00000801 for labels), the counts, then unsigned bytes. The readers
// check every field against the file's size and reject anything else with a DataError naming the
// file and the problem; nothing is read past a bad header.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "taynode/data/errors.hpp"
#include "taynode/data/read_file.hpp"

namespace taynode {

// Images as stored: count × rows × cols bytes, row-major per image.
struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;
  // One image per row, pixels scaled to [0, 1] (the paper's preprocessing: /255).
  template <class T>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> scaled() const {
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(Eigen::Index(count),
                                                                         Eigen::Index(rows * cols));
    for (std::size_t i = 0; i < pixels.size(); ++i) m.data()[i] = T(pixels[i]) / T(255);
    return m;
  }
};

// An image set with its labels (0..9), checked to agree in count.
struct MnistSet {
  IdxImages images;
  std::vector<std::uint8_t> labels;
  std::size_t size() const { return labels.size(); }
};

namespace idx_detail {
inline std::uint32_t big_endian_u32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t(b[at]) << 24) | (std::uint32_t(b[at + 1]) << 16) | (std::uint32_t(b[at + 2]) << 8) |
         std::uint32_t(b[at + 3]);
}
inline std::string hex(std::uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xF];
  return s;
}
// Checks the header of an IDX file of unsigned bytes with `dims` dimensions; returns the dimensions.
inline std::vector<std::size_t> read_header(const std::vector<std::uint8_t>& b, const std::string& path, int dims,
                                            const char* what) {
  const std::size_t header = 4 + 4 * std::size_t(dims);
  if (b.size() < header)
    throw DataError(path, "truncated IDX header: " + std::to_string(b.size()) + " bytes, an IDX " + what +
                              " file has a header of " + std::to_string(header));
  const std::uint32_t magic = big_endian_u32(b, 0), expected = 0x00000800u | std::uint32_t(dims);
  if (magic != expected)
    throw DataError(path, "wrong IDX magic number " + hex(magic) + ", expected " + hex(expected) + " for " + what +
                              " (unsigned bytes, " + std::to_string(dims) + " dimensions)");
  // The data bytes the header announces, checked against the file as the product grows so that
  // it cannot wrap (4 × 2³¹ × 2³¹ is 0 in 64 bits).
  const std::size_t data = b.size() - header;
  std::vector<std::size_t> shape;
  std::size_t payload = 1;
  bool too_big = false;
  for (int d = 0; d < dims; ++d) {
    shape.push_back(big_endian_u32(b, 4 + 4 * std::size_t(d)));
    if (shape.back() != 0 && payload > data / shape.back()) too_big = true;
    payload *= shape.back();
  }
  std::string dims_text;
  for (int d = 0; d < dims; ++d) dims_text += (d ? " x " : "") + std::to_string(shape[std::size_t(d)]);
  if (too_big)
    throw DataError(path, "the header announces " + dims_text + " bytes of data but the file holds " +
                              std::to_string(data) + " (truncated or a corrupt header)");
  if (data != payload)
    throw DataError(path, "the header announces " + std::to_string(payload) + " data bytes (" + dims_text +
                              ") but the file holds " + std::to_string(data) +
                              (data < payload ? " (truncated)" : " (trailing bytes)"));
  return shape;
}
}  // namespace idx_detail

// Reads an IDX image file (magic 0x00000803: count × rows × cols unsigned bytes).
inline IdxImages read_idx_images(const std::string& path) {
  const std::vector<std::uint8_t> b = read_file_bytes(path);
  const std::vector<std::size_t> shape = idx_detail::read_header(b, path, 3, "images");
  if (shape[1] == 0 || shape[2] == 0) throw DataError(path, "images of size 0");
  // With no images the data size does not bound rows × cols: keep it a valid Eigen index.
  if (shape[1] > std::size_t(std::numeric_limits<Eigen::Index>::max()) / shape[2])
    throw DataError(path, "images of " + std::to_string(shape[1]) + " x " + std::to_string(shape[2]) +
                              " pixels are too large to index");
  IdxImages images;
  images.count = shape[0];
  images.rows = shape[1];
  images.cols = shape[2];
  images.pixels.assign(b.begin() + 16, b.end());
  return images;
}

// Reads an IDX label file (magic 0x00000801: count unsigned bytes), each a digit 0..9.
inline std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  const std::vector<std::uint8_t> b = read_file_bytes(path);
  idx_detail::read_header(b, path, 1, "labels");
  std::vector<std::uint8_t> labels(b.begin() + 8, b.end());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] > 9)
      throw DataError(path, "label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                                " is not a digit 0-9");
  return labels;
}

// Reads an MNIST image file and its label file and checks that they belong together.
inline MnistSet load_mnist(const std::string& images_path, const std::string& labels_path) {
  MnistSet set{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (set.images.count != set.labels.size())
    throw DataError(labels_path, std::to_string(set.labels.size()) + " labels for " +
                                     std::to_string(set.images.count) + " images in " + images_path);
  return set;
}

}  // namespace taynode
