#pragma once
// NPY files written byte by byte for the reader's tests, independent of the reader's code.

#include <bit>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <taynode/data/npy.hpp>

namespace taynode_test {

// An NPY file: magic, version, header length (2 bytes for version 1, 4 otherwise, little-endian), the dict
// padded with spaces and ended by '\n' to a multiple of 64 bytes as numpy writes it, then `data`.
inline std::vector<char> npy_file(int major, const std::string& dict, const std::vector<char>& data, int minor = 0) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<char> f = {char(0x93), 'N', 'U', 'M', 'P', 'Y', char(major), char(minor)};
  for (std::size_t k = 0; k < prefix - 8; ++k) f.push_back(char((header.size() >> (8 * k)) & 0xFF));
  f.insert(f.end(), header.begin(), header.end());
  f.insert(f.end(), data.begin(), data.end());
  return f;
}

inline std::string npy_dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

// IEEE-754 little-endian encodings, byte by byte.
template <class T>
std::vector<char> little_endian(const T* values, std::size_t n) {
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  std::vector<char> out;
  for (std::size_t i = 0; i < n; ++i) {
    const Bits b = std::bit_cast<Bits>(values[i]);
    for (std::size_t k = 0; k < sizeof(T); ++k) out.push_back(char((b >> (8 * k)) & 0xFF));
  }
  return out;
}
template <class T>
std::vector<char> little_endian(const std::vector<T>& values) {
  return little_endian(values.data(), values.size());
}

// A version-1.0 '<f8' file of a matrix, row-major.
inline std::vector<char> npy_of(const taynode::DataMatrix<double>& m) {
  return npy_file(1, npy_dict("<f8", "(" + std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + ")"),
                  little_endian(m.data(), std::size_t(m.size())));
}

}  // namespace taynode_test
