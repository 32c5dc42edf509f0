// Fuzz harness: the IDX label reader (data/mnist.hpp). An accepted file holds exactly its
// announced count of digits 0–9 after an 8-byte header; every rejection is a DataError naming the
// file.
#include <cstring>

#include <taynode/data/mnist.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  const std::string& path = taynode_fuzz::write_scratch(data, size);
  std::vector<std::uint8_t> labels;
  if (!taynode_fuzz::accepts<taynode::DataError>(path, [&] { labels = taynode::read_idx_labels(path); })) return 0;
  require(size >= 8 && labels.size() == size - 8, "label count != data bytes");
  const std::size_t announced = (std::size_t(data[4]) << 24) | (std::size_t(data[5]) << 16) |
                                (std::size_t(data[6]) << 8) | std::size_t(data[7]);
  require(labels.size() == announced, "label count != the header's count");
  require(labels.empty() || std::memcmp(labels.data(), data + 8, labels.size()) == 0,
          "labels differ from the file's bytes");
  for (auto l : labels) require(l <= 9, "accepted a label outside 0-9");
  return 0;
}
