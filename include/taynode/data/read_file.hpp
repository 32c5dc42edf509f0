#pragma once
// The whole content of a file, for the binary loaders that check a header against the file's size.

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "taynode/data/errors.hpp"

namespace taynode {

// Reads every byte of the file at `path`; the buffer is never larger than the file.
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path, "cannot open the file");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError(path, "read error");
  return bytes;
}

}  // namespace taynode
