#pragma once
// NumPy's .npy format (numpy.lib.format, versions 1.0, 2.0 and 3.0) for 1-D and 2-D arrays of float32
// or float64 in C order. A file is the magic "\x93NUMPY", a major and a minor version byte, the length
// of the header (2 little-endian bytes in version 1, 4 in versions 2 and 3), the header (a Python dict
// literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}, latin-1 in versions 1-2, utf-8 in 3),
// then the raw data. Everything is checked against the file's size before anything is allocated:
// an accepted file holds exactly data_offset + rows * cols * item_size bytes, no more and no less.
// Anything else raises a DataError naming the file and the problem.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "taynode/data/errors.hpp"
#include "taynode/data/read_file.hpp"

namespace taynode {

// One example per row, as the loaders return data.
template <class T>
using DataMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// What an accepted header says. A 1-D array of n elements has rows = n, cols = 1.
struct NpyHeader {
  int major = 0, minor = 0;
  std::size_t item_size = 0;    // 4 (float32) or 8 (float64)
  std::size_t rows = 0, cols = 0;
  std::size_t ndim = 0;         // 1 or 2, as in the file
  std::size_t data_offset = 0;  // where the data start: 10 + header length (v1), 12 + header length (v2, v3)
  std::size_t data_bytes() const { return rows * cols * item_size; }  // cannot overflow: checked on parsing
};

namespace npy_detail {

// A cursor over the header text with the few Python-literal pieces a header uses.
class HeaderText {
 public:
  HeaderText(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(path_, "malformed NPY header: " + what + " (header: " + quoted() + ")");
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool at_end() { skip_space(); return i_ == s_.size(); }
  bool accept(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; }
    return false;
  }
  void expect(char c, const char* where) {
    if (!accept(c)) fail(std::string("expected '") + c + "' " + where);
  }
  bool peek(char c) { skip_space(); return i_ < s_.size() && s_[i_] == c; }
  // A Python string literal in single or double quotes, without escapes (no header key or dtype has any).
  std::string string_literal(const char* what) {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail(std::string("expected a quoted ") + what);
    const char quote = s_[i_++];
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\') fail(std::string("escape sequence in ") + what);
      ++i_;
    }
    if (i_ == s_.size()) fail(std::string("unterminated ") + what);
    return s_.substr(start, i_++ - start);
  }
  // True or False.
  bool boolean(const char* what) {
    skip_space();
    for (const char* word : {"True", "False"}) {
      const std::size_t n = std::strlen(word);
      if (s_.compare(i_, n, word) == 0) { i_ += n; return word[0] == 'T'; }
    }
    fail(std::string(what) + " is not True or False");
  }
  // A non-negative decimal integer (Python 2 numpy may append 'L'); overflow is an error, not a wrap.
  std::size_t dimension() {
    skip_space();
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') fail("a shape entry is not a non-negative integer");
    std::size_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const std::size_t digit = std::size_t(s_[i_++] - '0');
      if (v > (std::numeric_limits<std::size_t>::max() - digit) / 10)
        throw DataError(path_, "NPY shape entry does not fit in 64 bits (header: " + quoted() + ")");
      v = v * 10 + digit;
    }
    if (i_ < s_.size() && s_[i_] == 'L') ++i_;
    return v;
  }
  // A tuple of dimensions: (), (n,), (n, m), ... with an optional trailing comma.
  std::vector<std::size_t> shape_tuple() {
    if (!accept('(')) fail("'shape' is not a tuple");
    std::vector<std::size_t> dims;
    while (!accept(')')) {
      dims.push_back(dimension());
      if (!accept(',')) {
        expect(')', "after the last shape entry");
        break;
      }
    }
    return dims;
  }

 private:
  std::string quoted() const { return "'" + s_ + "'"; }
  const std::string& s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

inline std::uint32_t little_endian(const std::uint8_t* b, int bytes) {
  std::uint32_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | b[k];
  return v;
}

// Interprets a dtype string; returns the item size of the float types read here and throws for any other.
inline std::size_t item_size_of(const std::string& descr, const std::string& path) {
  const bool host_little = std::endian::native == std::endian::little;
  const std::string type = descr.empty() ? descr : descr.substr(1);
  const char order = descr.empty() ? '?' : descr[0];
  const std::string supported = " (supported: little-endian float32 '<f4' and float64 '<f8')";
  if (descr.find('O') != std::string::npos)
    throw DataError(path, "NPY object arrays (dtype '" + descr + "') are not supported" + supported);
  if (order == '>' || (order == '!'))
    throw DataError(path, "NPY data are big-endian (dtype '" + descr + "'), not supported" + supported);
  if ((order == '=' || order == '|') && !host_little)
    throw DataError(path, "NPY dtype '" + descr + "' means big-endian on this host, not supported" + supported);
  if (order != '<' && order != '=' && order != '|')
    throw DataError(path, "NPY dtype '" + descr + "' is not supported" + supported);
  if (type == "f8") return 8;
  if (type == "f4") return 4;
  throw DataError(path, "NPY dtype '" + descr + "' is not supported" + supported);
}

template <class T, class Stored>
void decode(const std::uint8_t* src, std::size_t count, T* dst) {
  using Bits = std::conditional_t<sizeof(Stored) == 8, std::uint64_t, std::uint32_t>;
  for (std::size_t i = 0; i < count; ++i, src += sizeof(Stored)) {
    Bits bits = 0;
    for (int k = int(sizeof(Stored)) - 1; k >= 0; --k) bits = Bits(bits << 8) | Bits(src[k]);  // little-endian
    dst[i] = T(std::bit_cast<Stored>(bits));
  }
}

}  // namespace npy_detail

// Parses and checks the header of an NPY file held in memory (`name` is what errors call it). The returned
// header is consistent with `size`: data_offset + data_bytes() == size.
inline NpyHeader parse_npy_header(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  static const std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 8 || std::memcmp(bytes, magic, 6) != 0)
    throw DataError(name, size < 8 ? "too short for an NPY file (" + std::to_string(size) + " bytes)"
                                   : "not an NPY file (no \\x93NUMPY magic)");
  NpyHeader h;
  h.major = bytes[6];
  h.minor = bytes[7];
  if (h.major < 1 || h.major > 3 || h.minor != 0)
    throw DataError(name, "unsupported NPY format version " + std::to_string(h.major) + "." +
                              std::to_string(h.minor) + " (supported: 1.0, 2.0, 3.0)");
  const int length_bytes = h.major == 1 ? 2 : 4;
  if (size < std::size_t(8 + length_bytes))
    throw DataError(name, "truncated NPY header: the file ends inside the header length field");
  const std::size_t header_length = npy_detail::little_endian(bytes + 8, length_bytes);
  h.data_offset = std::size_t(8 + length_bytes) + header_length;
  if (h.data_offset > size)
    throw DataError(name, "truncated NPY header: it announces " + std::to_string(header_length) +
                              " header bytes but the file holds " + std::to_string(size - 8 - length_bytes));

  // Versions 1 and 2 are latin-1, version 3 utf-8; the keys and values accepted here are plain ASCII,
  // so any other byte can only sit in something rejected anyway.
  const std::string text(reinterpret_cast<const char*>(bytes) + 8 + length_bytes, header_length);
  for (unsigned char c : text)
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
      throw DataError(name, "malformed NPY header: control character " + std::to_string(int(c)));
  npy_detail::HeaderText p(text, name);
  std::string descr;
  bool fortran_order = false, seen_descr = false, seen_fortran = false, seen_shape = false;
  std::vector<std::size_t> shape;
  p.expect('{', "at the start of the header dict");
  while (!p.accept('}')) {
    const std::string key = p.string_literal("dict key");
    p.expect(':', "after a dict key");
    bool* seen = nullptr;
    if (key == "descr") {
      seen = &seen_descr;
      if (p.peek('[')) throw DataError(name, "NPY structured dtypes (a 'descr' list) are not supported");
      descr = p.string_literal("'descr'");
    } else if (key == "fortran_order") {
      seen = &seen_fortran;
      fortran_order = p.boolean("'fortran_order'");
    } else if (key == "shape") {
      seen = &seen_shape;
      shape = p.shape_tuple();
    } else {
      p.fail("unexpected key '" + key + "'");
    }
    if (*seen) p.fail("duplicate key '" + key + "'");
    *seen = true;
    if (!p.accept(',')) {
      p.expect('}', "at the end of the header dict");
      break;
    }
  }
  if (!p.at_end()) p.fail("text after the header dict");
  if (!seen_descr || !seen_fortran || !seen_shape)
    p.fail(std::string("missing key '") + (!seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape") + "'");

  h.item_size = npy_detail::item_size_of(descr, name);
  h.ndim = shape.size();
  if (h.ndim == 0 || h.ndim > 2)
    throw DataError(name, "NPY array of " + std::to_string(h.ndim) +
                              " dimensions, only 1-D and 2-D arrays (rows x cols) are supported");
  h.rows = shape[0];
  h.cols = h.ndim == 2 ? shape[1] : 1;
  // Column-major storage differs from row-major unless at most one dimension exceeds 1.
  if (h.rows > std::size_t(std::numeric_limits<Eigen::Index>::max()) ||
      h.cols > std::size_t(std::numeric_limits<Eigen::Index>::max()))
    throw DataError(name, "NPY shape entry exceeds the largest matrix index");
  if (fortran_order && h.rows > 1 && h.cols > 1)
    throw DataError(name, "NPY array in Fortran (column-major) order, only C order is supported");

  const std::size_t available = size - h.data_offset;
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  const std::string shape_text =
      "shape (" + std::to_string(h.rows) + (h.ndim == 2 ? ", " + std::to_string(h.cols) : std::string(",")) + ")";
  if ((h.cols != 0 && h.rows > max / h.cols) || (h.rows * h.cols > max / h.item_size))
    throw DataError(name, "NPY " + shape_text + " has more bytes than a 64-bit size can count");
  if (h.data_bytes() > available)
    throw DataError(name, "truncated NPY data: " + shape_text + " of '" + descr + "' needs " +
                              std::to_string(h.data_bytes()) + " bytes but the file holds " +
                              std::to_string(available) + " after the header");
  if (h.data_bytes() < available)
    throw DataError(name, "NPY file has " + std::to_string(available - h.data_bytes()) + " trailing bytes after the " +
                              std::to_string(h.data_bytes()) + " data bytes of " + shape_text);
  return h;
}

// Parses an NPY file held in memory into a rows x cols matrix of T (float or double).
template <class T>
DataMatrix<T> parse_npy(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "NPY data are read as float or double");
  const NpyHeader h = parse_npy_header(bytes, size, name);
  DataMatrix<T> m(Eigen::Index(h.rows), Eigen::Index(h.cols));
  const std::uint8_t* data = bytes + h.data_offset;
  if (h.item_size == 8)
    npy_detail::decode<T, double>(data, h.rows * h.cols, m.data());
  else
    npy_detail::decode<T, float>(data, h.rows * h.cols, m.data());
  return m;
}

// Reads the NPY file at `path` as a rows x cols matrix of T (1-D arrays as n x 1).
template <class T>
DataMatrix<T> read_npy(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return parse_npy<T>(bytes.data(), bytes.size(), path);
}

}  // namespace taynode
