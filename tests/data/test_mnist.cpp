// The MNIST IDX reader on the 1000-image smoke slice of the real test set (facts from
// ../shared/data/mnist/SOURCE.md), and on corrupted copies of it.

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <string>
#include <vector>

#include <taynode/data.hpp>

#include "temp_files.hpp"

namespace fs = std::filesystem;
using taynode_test::read_all;
using taynode_test::write_temp;

namespace {
fs::path smoke_dir() { return taynode_test::shared_data() / "mnist" / "smoke"; }
const std::string images_file = "t10k-first1000-images-idx3-ubyte";
const std::string labels_file = "t10k-first1000-labels-idx1-ubyte";
}  // namespace

TEST_CASE("MNIST smoke slice: shape, first labels and label counts of the real test set", "[data][mnist]") {
  const auto set = taynode::load_mnist((smoke_dir() / images_file).string(), (smoke_dir() / labels_file).string());
  REQUIRE(set.size() == 1000);
  CHECK(set.images.count == 1000);
  CHECK(set.images.rows == 28);
  CHECK(set.images.cols == 28);
  CHECK(set.images.pixels.size() == 1000u * 784u);
  // SOURCE.md: first test labels 7 2 1 0 4 1 4 9 5 9; label counts 0-9 of the slice.
  const std::array<int, 10> first = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
  for (int i = 0; i < 10; ++i) CHECK(int(set.labels[i]) == first[i]);
  const std::array<int, 10> expected_counts = {85, 126, 116, 107, 110, 87, 87, 99, 89, 94};
  std::array<int, 10> counts{};
  for (auto l : set.labels) ++counts[l];
  CHECK(counts == expected_counts);
  // Pixels span the full byte range; scaled() maps them to [0, 1] as the paper does (/255).
  const auto x = set.images.scaled<double>();
  CHECK(x.rows() == 1000);
  CHECK(x.cols() == 784);
  CHECK(x.minCoeff() == 0.0);
  CHECK(x.maxCoeff() == 1.0);
  CHECK(x(0, 0) == 0.0);  // MNIST digits have blank borders
}

TEST_CASE("MNIST reader rejects corrupted files with a message naming the file and the problem", "[data][mnist]") {
  const std::vector<char> images = read_all(smoke_dir() / images_file);
  const std::vector<char> labels = read_all(smoke_dir() / labels_file);
  REQUIRE(images.size() == 784016);
  REQUIRE(labels.size() == 1008);
  using Catch::Contains;

  SECTION("missing file") {
    CHECK_THROWS_WITH(taynode::read_idx_images("/nonexistent/t10k-images"),
                      Contains("/nonexistent/t10k-images") && Contains("cannot open"));
  }
  SECTION("truncated data") {
    std::vector<char> cut(images.begin(), images.end() - 100);
    const auto p = write_temp(cut, "truncated-images");
    CHECK_THROWS_WITH(taynode::read_idx_images(p.string()), Contains(p.string()) && Contains("truncated"));
  }
  SECTION("truncated header") {
    const auto p = write_temp(std::vector<char>(images.begin(), images.begin() + 10), "short-header");
    CHECK_THROWS_WITH(taynode::read_idx_images(p.string()), Contains("truncated IDX header"));
  }
  SECTION("wrong magic: a label file read as images, and a flipped byte") {
    CHECK_THROWS_WITH(taynode::read_idx_images((smoke_dir() / labels_file).string()),
                      Contains("wrong IDX magic number 0x00000801") && Contains("0x00000803"));
    std::vector<char> bad = images;
    bad[2] = 0x0D;  // an IDX file of 32-bit floats
    const auto p = write_temp(bad, "float-magic");
    CHECK_THROWS_WITH(taynode::read_idx_images(p.string()), Contains("wrong IDX magic number 0x00000d03"));
  }
  SECTION("count in the header does not match the data") {
    std::vector<char> bad = images;
    bad[7] = char(0xE9);  // 1001 images announced (0x03E9), 1000 present
    const auto p = write_temp(bad, "count-1001");
    CHECK_THROWS_WITH(taynode::read_idx_images(p.string()), Contains("truncated"));
    std::vector<char> extra = labels;
    extra.push_back(3);  // a trailing byte after the 1000 labels
    const auto q = write_temp(extra, "labels-extra");
    CHECK_THROWS_WITH(taynode::read_idx_labels(q.string()), Contains("trailing bytes"));
  }
  SECTION("label outside 0-9") {
    std::vector<char> bad = labels;
    bad[8 + 5] = 10;
    const auto p = write_temp(bad, "label-10");
    CHECK_THROWS_WITH(taynode::read_idx_labels(p.string()), Contains("label 10 at index 5"));
  }
  SECTION("images and labels of different lengths") {
    std::vector<char> fewer(labels.begin(), labels.end() - 1);
    fewer[7] = char(0xE7);  // 999 labels, consistent header
    const auto p = write_temp(fewer, "labels-999");
    CHECK_THROWS_WITH(taynode::load_mnist((smoke_dir() / images_file).string(), p.string()),
                      Contains("999 labels for 1000 images"));
  }
}

TEST_CASE("IDX headers whose sizes overflow are rejected without allocating", "[data][mnist]") {
  using Catch::Contains;
  auto header = [](std::uint32_t magic, std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
    std::vector<char> b;
    for (std::uint32_t v : {magic, n, rows, cols})
      for (int shift = 24; shift >= 0; shift -= 8) b.push_back(char((v >> shift) & 0xFF));
    return b;
  };
  // 4 × 2³¹ × 2³¹ wraps to 0 in 64 bits: it used to be accepted as 4 images with no data.
  const auto wraps = write_temp(header(0x803, 4, 0x80000000u, 0x80000000u), "wrapping-size");
  CHECK_THROWS_AS(taynode::read_idx_images(wraps.string()), taynode::DataError);
  CHECK_THROWS_WITH(taynode::read_idx_images(wraps.string()),
                    Contains(wraps.string()) && Contains("4 x 2147483648 x 2147483648") && Contains("holds 0"));
  // No images of 2³²−1 × 2³²−1 pixels: rows·cols does not fit an Eigen index (it used to give a
  // 0 × −8589934591 matrix in Release and an assertion in Debug).
  const auto huge = write_temp(header(0x803, 0, 0xFFFFFFFFu, 0xFFFFFFFFu), "huge-images");
  CHECK_THROWS_AS(taynode::read_idx_images(huge.string()), taynode::DataError);
  CHECK_THROWS_WITH(taynode::read_idx_images(huge.string()),
                    Contains(huge.string()) && Contains("4294967295 x 4294967295") && Contains("too large"));
  // A well-formed empty file is still fine.
  const auto empty = write_temp(header(0x803, 0, 28, 28), "no-images");
  const auto none = taynode::read_idx_images(empty.string());
  CHECK(none.count == 0);
  CHECK(none.scaled<float>().size() == 0);
}

TEST_CASE("IDX read errors are DataErrors naming the file", "[data][mnist]") {
  // A directory opens as a stream on Linux; reading it failed with a bare std::ios_base::failure.
  const fs::path dir = write_temp({}, "placeholder").parent_path();
  CHECK_THROWS_AS(taynode::read_idx_images(dir.string()), taynode::DataError);
  CHECK_THROWS_WITH(taynode::read_idx_labels(dir.string()),
                    Catch::Contains(dir.string()) && Catch::Contains("directory"));
}
