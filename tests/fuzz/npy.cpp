// Fuzz harness: the NPY reader (data/npy.hpp), read as float and as double. Invariants: both
// element types accept the same files; an accepted file's header accounts for every byte (data
// offset + rows × cols × item size = file size); the values are the file's little-endian
// numbers (float32 data read as double are exact, float64 data read as float are rounded casts);
// every rejection is a DataError naming the file.
#include <bit>
#include <cmath>
#include <cstring>

#include <taynode/data/npy.hpp>

#include "fuzz_support.hpp"

namespace {

template <class Stored>
Stored stored_value(const std::uint8_t* p) {
  std::uint8_t b[sizeof(Stored)];
  std::memcpy(b, p, sizeof b);
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t i = 0; i < sizeof b / 2; ++i) std::swap(b[i], b[sizeof b - 1 - i]);
  Stored v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  const std::string& path = taynode_fuzz::write_scratch(data, size);
  taynode::DataMatrix<double> d;
  taynode::DataMatrix<float> f;
  const bool as_double = taynode_fuzz::accepts<taynode::DataError>(path, [&] { d = taynode::read_npy<double>(path); });
  const bool as_float = taynode_fuzz::accepts<taynode::DataError>(path, [&] { f = taynode::read_npy<float>(path); });
  require(as_double == as_float, "accepted as one element type and rejected as the other");
  if (!as_double) return 0;
  const taynode::NpyHeader h = taynode::parse_npy_header(data, size, path);
  require(h.data_offset + h.rows * h.cols * h.item_size == size, "header and data do not account for the file");
  require(std::size_t(d.rows()) == h.rows && std::size_t(d.cols()) == h.cols && f.rows() == d.rows() &&
              f.cols() == d.cols(),
          "matrix shape differs from the header's");
  for (std::size_t i = 0; i < h.rows * h.cols; ++i) {
    const std::uint8_t* p = data + h.data_offset + i * h.item_size;
    const double v = h.item_size == 8 ? stored_value<double>(p) : double(stored_value<float>(p));
    require(same(d.data()[i], v), "a value read as double differs from the file's number");
    require(same(double(f.data()[i]), double(float(v))), "a value read as float differs from the file's number");
  }
  return 0;
}
