// The NPY reader on files written byte by byte here (formats 1.0, 2.0, 3.0; float32/float64; 1-D/2-D),
// on every kind of malformed file, and on the real files of ../shared/data/miniboone.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <taynode/data.hpp>

#include "npy_writer.hpp"
#include "temp_files.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using taynode_test::little_endian;
using taynode_test::npy_file;
using taynode_test::write_temp;
using taynode_test::npy_dict;

namespace {

// Every accepted file satisfies the reader's size invariant.
void check_size_invariant(const fs::path& p) {
  const auto bytes = taynode::read_file_bytes(p.string());
  const auto h = taynode::parse_npy_header(bytes.data(), bytes.size(), p.string());
  CHECK(h.data_offset + h.data_bytes() == bytes.size());
  CHECK(h.data_offset % 64 == 0);  // numpy's alignment, kept by npy_file
}

}  // namespace

TEST_CASE("NPY version 1.0, float64, 2-D: known IEEE-754 bytes decode to their values", "[data][npy]") {
  // 1.0, -2.0, 0.1, 0.5, 1e300, -0.0 written as literal little-endian bytes (IEEE-754 binary64).
  const std::vector<unsigned char> raw = {
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F,  // 1.0
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0,  // -2.0
      0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F,  // 0.1
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F,  // 0.5
      0x9C, 0x75, 0x00, 0x88, 0x3C, 0xE4, 0x37, 0x7E,  // 1e300
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,  // -0.0
  };
  const auto p = write_temp(npy_file(1, npy_dict("<f8", "(2, 3)"), std::vector<char>(raw.begin(), raw.end())), "v1.npy");
  const auto m = taynode::read_npy<double>(p.string());
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  CHECK(m(0, 0) == 1.0);
  CHECK(m(0, 1) == -2.0);
  CHECK(m(0, 2) == 0.1);
  CHECK(m(1, 0) == 0.5);
  CHECK(m(1, 1) == 1e300);
  CHECK(m(1, 2) == 0.0);
  CHECK(std::signbit(m(1, 2)));
  check_size_invariant(p);
  // Read as float: each value rounded to the nearest float.
  const auto f = taynode::read_npy<float>(p.string());
  CHECK(f(0, 2) == 0.1f);
  CHECK(std::isinf(f(1, 1)));
}

TEST_CASE("NPY versions 2.0 and 3.0, float32, 1-D and 2-D", "[data][npy]") {
  // 1.5f = 0x3FC00000, -0.25f = 0xBE800000 (IEEE-754 binary32), little-endian.
  const std::vector<char> raw = {0x00, 0x00, char(0xC0), 0x3F, 0x00, 0x00, char(0x80), char(0xBE)};
  SECTION("version 2.0, 1-D: an n x 1 matrix") {
    const auto p = write_temp(npy_file(2, npy_dict("<f4", "(2,)"), raw), "v2.npy");
    const auto m = taynode::read_npy<float>(p.string());
    REQUIRE(m.rows() == 2);
    REQUIRE(m.cols() == 1);
    CHECK(m(0, 0) == 1.5f);
    CHECK(m(1, 0) == -0.25f);
    check_size_invariant(p);
    const auto h = taynode::parse_npy_header(taynode::read_file_bytes(p.string()).data(), fs::file_size(p), "x");
    CHECK(h.major == 2);
    CHECK(h.ndim == 1);
    CHECK(h.item_size == 4);
  }
  SECTION("version 3.0 (utf-8 header), double-quoted keys, keys in another order, read as double") {
    const std::string d = "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<f4\"}";
    const auto p = write_temp(npy_file(3, d, raw), "v3.npy");
    const auto m = taynode::read_npy<double>(p.string());
    REQUIRE(m.rows() == 1);
    REQUIRE(m.cols() == 2);
    CHECK(m(0, 0) == 1.5);
    CHECK(m(0, 1) == -0.25);
    check_size_invariant(p);
  }
  SECTION("larger 2-D float32 array, row-major") {
    std::vector<float> values;
    for (int i = 0; i < 7 * 5; ++i) values.push_back(float(i) * 0.5f - 3.0f);
    const auto p = write_temp(npy_file(1, npy_dict("<f4", "(7, 5)"), little_endian(values)), "f4-7x5.npy");
    const auto m = taynode::read_npy<float>(p.string());
    REQUIRE(m.rows() == 7);
    REQUIRE(m.cols() == 5);
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 5; ++j) CHECK(m(i, j) == float(i * 5 + j) * 0.5f - 3.0f);
  }
}

TEST_CASE("NPY headers that mean the same thing as '<f8' C order are accepted", "[data][npy]") {
  const std::vector<char> data = little_endian(std::vector<double>{3.0, 4.0, 5.0});
  if (std::endian::native == std::endian::little) {
    for (const char* descr : {"=f8", "|f8"}) {
      const auto p = write_temp(npy_file(1, npy_dict(descr, "(3,)"), data), "native.npy");
      CHECK(taynode::read_npy<double>(p.string())(2, 0) == 5.0);
    }
  }
  // Python 2 numpy wrote long integers with an L; no trailing comma after the last entry.
  const auto py2 = write_temp(npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 3L)}", data), "py2.npy");
  CHECK(taynode::read_npy<double>(py2.string())(0, 1) == 4.0);
  // Fortran order with a single non-unit dimension stores the same bytes as C order.
  const auto f1 = write_temp(npy_file(1, npy_dict("<f8", "(1, 3)", "True"), data), "fortran-row.npy");
  CHECK(taynode::read_npy<double>(f1.string())(0, 2) == 5.0);
  const auto f2 = write_temp(npy_file(1, npy_dict("<f8", "(3,)", "True"), data), "fortran-1d.npy");
  CHECK(taynode::read_npy<double>(f2.string())(1, 0) == 4.0);
  // An empty array.
  const auto e = write_temp(npy_file(1, npy_dict("<f8", "(0, 43)"), {}), "empty.npy");
  const auto m = taynode::read_npy<double>(e.string());
  CHECK(m.rows() == 0);
  CHECK(m.cols() == 43);
  check_size_invariant(e);
}

TEST_CASE("NPY reader rejects malformed files with a DataError naming the file and the problem", "[data][npy]") {
  const std::vector<char> six = little_endian(std::vector<double>{1, 2, 3, 4, 5, 6});
  // Writes `bytes`, reads them, and checks the error names the file and contains `problem`.
  const auto rejects = [](const std::vector<char>& bytes, const std::string& name, const std::string& problem) {
    const auto p = write_temp(bytes, name);
    CHECK_THROWS_AS(taynode::read_npy<double>(p.string()), taynode::DataError);
    CHECK_THROWS_WITH(taynode::read_npy<double>(p.string()), Contains(p.string()) && Contains(problem));
  };
  SECTION("missing file") {
    CHECK_THROWS_WITH(taynode::read_npy<double>("/nonexistent/x.npy"),
                      Contains("/nonexistent/x.npy") && Contains("cannot open"));
  }
  SECTION("not NPY, or too short") {
    std::vector<char> bad = npy_file(1, npy_dict("<f8", "(2, 3)"), six);
    bad[1] = 'X';
    rejects(bad, "magic.npy", "no \\x93NUMPY magic");
    rejects({char(0x93), 'N', 'U'}, "short.npy", "too short");
    rejects({}, "zero.npy", "too short");
  }
  SECTION("unsupported versions") {
    rejects(npy_file(4, npy_dict("<f8", "(2, 3)"), six), "v4.npy", "unsupported NPY format version 4.0");
    rejects(npy_file(1, npy_dict("<f8", "(2, 3)"), six, 1), "v11.npy", "unsupported NPY format version 1.1");
  }
  SECTION("header shorter than announced") {
    const auto full = npy_file(2, npy_dict("<f8", "(2, 3)"), {});
    rejects(std::vector<char>(full.begin(), full.begin() + 40), "cut-header.npy", "truncated NPY header");
    rejects(std::vector<char>(full.begin(), full.begin() + 10), "cut-length.npy", "header length field");
  }
  SECTION("malformed header dict") {
    rejects(npy_file(1, "'descr': '<f8'", six), "nobrace.npy", "expected '{'");
    rejects(npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)", six), "open.npy", "expected '}'");
    rejects(npy_file(1, "{'descr': '<f8', 'shape': (2, 3)}", six), "nokey.npy", "missing key 'fortran_order'");
    rejects(npy_file(1, "{'descr': '<f8', 'fortran_order': False}", six), "noshape.npy", "missing key 'shape'");
    rejects(npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", six), "extra.npy",
            "unexpected key 'x'");
    rejects(npy_file(1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", six), "dup.npy",
            "duplicate key 'descr'");
    rejects(npy_file(1, npy_dict("<f8", "(2, 3)", "false"), six), "bool.npy", "'fortran_order' is not True or False");
    rejects(npy_file(1, npy_dict("<f8", "[2, 3]"), six), "list.npy", "'shape' is not a tuple");
    rejects(npy_file(1, npy_dict("<f8", "(2, -3)"), six), "neg.npy", "not a non-negative integer");
    rejects(npy_file(1, npy_dict("<f8", "(2 3)"), six), "comma.npy", "expected ')'");
    rejects(npy_file(1, npy_dict("<f8", "(2, 3)") + " {}", six), "after.npy", "text after the header dict");
    rejects(npy_file(1, "{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3)}", six), "quote.npy",
            "malformed NPY header");
    rejects(npy_file(1, "{'descr': '<f8', 'fortran_order'\x01: False, 'shape': (2, 3)}", six), "ctrl.npy",
            "control character");
  }
  SECTION("Fortran order, big-endian, object arrays and other dtypes") {
    rejects(npy_file(1, npy_dict("<f8", "(2, 3)", "True"), six), "fortran.npy", "Fortran (column-major) order");
    rejects(npy_file(1, npy_dict(">f8", "(2, 3)"), six), "big.npy", "big-endian");
    rejects(npy_file(1, npy_dict("|O", "(2, 3)"), six), "object.npy", "object arrays");
    rejects(npy_file(1, npy_dict("<i8", "(2, 3)"), six), "int.npy", "dtype '<i8' is not supported");
    rejects(npy_file(1, npy_dict("<f2", "(2, 3)"), six), "half.npy", "dtype '<f2' is not supported");
    rejects(npy_file(1, npy_dict("<c16", "(2, 3)"), six), "complex.npy", "dtype '<c16' is not supported");
    rejects(npy_file(1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (6,)}", six), "struct.npy",
            "structured dtypes");
  }
  SECTION("shapes the reader does not take") {
    rejects(npy_file(1, npy_dict("<f8", "(1, 2, 3)"), six), "3d.npy", "3 dimensions");
    rejects(npy_file(1, npy_dict("<f8", "()"), six), "0d.npy", "0 dimensions");
  }
  SECTION("shapes that overflow or exceed the file: rejected before any allocation") {
    rejects(npy_file(1, npy_dict("<f8", "(99999999999999999999999, 1)"), six), "digits.npy", "does not fit in 64 bits");
    rejects(npy_file(1, npy_dict("<f8", "(4294967296, 4294967296)"), six), "overflow.npy", "more bytes than a 64-bit");
    rejects(npy_file(1, npy_dict("<f8", "(2305843009213693952,)"), six), "overflow-bytes.npy", "more bytes than a 64-bit");
    // 2^30 x 2^30 doubles = 2^63 bytes: countable, so only the size check stops an impossible allocation.
    rejects(npy_file(1, npy_dict("<f8", "(1073741824, 1073741824)"), six), "huge.npy", "truncated NPY data");
  }
  SECTION("truncated data and trailing bytes") {
    auto cut = npy_file(1, npy_dict("<f8", "(2, 3)"), six);
    cut.pop_back();
    rejects(cut, "cut.npy", "truncated NPY data: shape (2, 3) of '<f8' needs 48 bytes but the file holds 47");
    auto extra = npy_file(1, npy_dict("<f8", "(2, 3)"), six);
    extra.push_back(0);
    rejects(extra, "extra-byte.npy", "1 trailing bytes");
  }
}

TEST_CASE("NPY reader on the real MINIBOONE files of the shared folder", "[data][npy][miniboone]") {
  const fs::path dir = taynode_test::shared_data() / "miniboone";
  SECTION("val.npy and test.npy: shapes, and values read independently") {
    // Reference values: read once with python3's struct module from the raw bytes after the 128-byte
    // header ('<%dd' of 3284*43 resp. 3648*43 values), files verified with `sha256sum -c SHA256SUMS`.
    const auto val = taynode::read_npy<double>((dir / "val.npy").string());
    REQUIRE(val.rows() == 3284);
    REQUIRE(val.cols() == 43);
    CHECK(val(0, 0) == -1.2124625996563256);
    CHECK(val(0, 1) == -0.820708588922682);
    CHECK(val(0, 2) == 0.057209527295328806);
    CHECK(val(1000, 17) == -0.590466392312477);
    CHECK(val(3283, 42) == -1.4248889859989249);
    CHECK(val.minCoeff() == -12.92512585667591);
    CHECK(val.maxCoeff() == 29.04401177643372);
    const auto test = taynode::read_npy<double>((dir / "test.npy").string());
    REQUIRE(test.rows() == 3648);
    REQUIRE(test.cols() == 43);
    CHECK(test(0, 0) == -0.9915005989901805);
    CHECK(test(0, 1) == -0.6891035541512048);
    CHECK(test(1000, 17) == 1.370309616309424);
    CHECK(test(3647, 42) == -1.1738464099335506);
    CHECK(test.minCoeff() == -23.939698245969737);
    CHECK(test.maxCoeff() == 16.905783789813604);
    check_size_invariant(dir / "val.npy");
    check_size_invariant(dir / "test.npy");
  }
  SECTION("the truncated copy of MAF's data.npy is rejected as truncated") {
    const fs::path cut = dir / "partial" / "data_truncated_first1523rows.npy";
    CHECK_THROWS_WITH(taynode::read_npy<double>(cut.string()),
                      Contains(cut.string()) && Contains("truncated NPY data") && Contains("(36488, 43)") &&
                          Contains("needs 12551872 bytes but the file holds 524208"));
  }
  SECTION("its 1523 complete rows, with the header's shape corrected, are MAF's first rows") {
    // SOURCE.md: header 80 bytes, 1523 complete rows. Rewrite the shape to (1523, 43) (same header length)
    // and cut the partial 1524th row. Values read once with python3 struct from byte offset 80, written as
    // Python's shortest round-trip repr: MAF's parse of UCI's 6-digit text is not always correctly rounded
    // (0.46880299999999997 is one ulp below the double nearest to 0.468803).
    auto bytes = taynode_test::read_all(dir / "partial" / "data_truncated_first1523rows.npy");
    const std::string text(bytes.begin(), bytes.begin() + 80);
    const std::size_t at = text.find("(36488, 43)");
    REQUIRE(at != std::string::npos);
    std::memcpy(bytes.data() + at, "(1523 , 43)", 11);
    bytes.resize(80 + 1523 * 43 * 8);
    const auto p = write_temp(bytes, "maf-first1523.npy");
    const auto m = taynode::read_npy<double>(p.string());
    REQUIRE(m.rows() == 1523);
    REQUIRE(m.cols() == 43);
    CHECK(m(0, 0) == 2.59413);
    CHECK(m(0, 1) == 0.46880299999999997);
    CHECK(m(0, 2) == 20.6916);
    CHECK(m(1000, 17) == 1.4660600000000001);
    CHECK(m(1522, 42) == 0.28439899999999996);
    CHECK(m.minCoeff() == -152.735);
    CHECK(m.maxCoeff() == 6506.12);
  }
}
