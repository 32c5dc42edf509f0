#pragma once
// Reads a whole file into memory for the loaders (data/, nn/checkpoint.hpp). Every failure —
// missing, a directory, unreadable, an I/O error in the middle — is thrown as the caller's error
// type Error(path, problem), never as std::ios_base::failure or std::filesystem_error (libstdc++'s
// filebuf throws ios_base::failure by itself on a read error such as EISDIR). Allocation is
// bounded by the file: a regular file's size is reserved once; other files (pipes) grow by
// doubling up to what they deliver.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "taynode/data/errors.hpp"

namespace taynode {

template <class Error, class Path>
std::vector<unsigned char> read_whole_file(const Path& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (ec || !fs::exists(st))
    throw Error(path, "cannot open the file: " + (ec ? ec.message() : std::string("no such file or directory")));
  if (fs::is_directory(st)) throw Error(path, "cannot read it: it is a directory, not a file");
  std::vector<unsigned char> bytes;
  try {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(path, std::string("cannot open the file: ") + std::strerror(errno));
    if (fs::is_regular_file(st)) {
      const auto size = fs::file_size(p, ec);
      if (!ec) bytes.reserve(std::size_t(size));
    }
    char chunk[1 << 16];
    while (in) {
      in.read(chunk, sizeof chunk);
      bytes.insert(bytes.end(), chunk, chunk + in.gcount());
    }
    if (in.bad()) throw Error(path, "read error");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(path, std::string("read error: ") + e.what());
  }
  return bytes;
}

// The loaders of data/: failures as DataError naming the file.
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) { return read_whole_file<DataError>(path); }

}  // namespace taynode
