// Fuzz harness: the IDX image reader (data/mnist.hpp). An accepted file's header and sizes agree
// with its bytes exactly; every rejection is a DataError naming the file.
#include <cstring>

#include <taynode/data/mnist.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  const std::string& path = taynode_fuzz::write_scratch(data, size);
  taynode::IdxImages im;
  if (!taynode_fuzz::accepts<taynode::DataError>(path, [&] { im = taynode::read_idx_images(path); })) return 0;
  require(im.rows > 0 && im.cols > 0, "accepted images of size 0");
  require(size >= 16 && im.pixels.size() == size - 16, "pixel count != data bytes");
  std::size_t image = 0, total = 0;
  require(!__builtin_mul_overflow(im.rows, im.cols, &image) && !__builtin_mul_overflow(im.count, image, &total) &&
              total == im.pixels.size(),
          "count x rows x cols != pixel count");
  require(im.pixels.empty() || std::memcmp(im.pixels.data(), data + 16, im.pixels.size()) == 0,
          "pixels differ from the file's bytes");
  const auto x = im.scaled<float>();
  require(std::size_t(x.rows()) == im.count && std::size_t(x.cols()) == image, "scaled() has the wrong shape");
  for (Eigen::Index i = 0; i < x.size(); ++i)
    require(x.data()[i] >= 0 && x.data()[i] <= 1, "scaled pixel outside [0, 1]");
  return 0;
}
