// The MINIBOONE loaders: MAF's split arithmetic, standardization on data with known moments, the three
// input formats (MAF data.npy, pre-split files, UCI's raw text written here in its format), directory
// discovery, and the stand-in on the shared validation/test splits.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <taynode/data.hpp>

#include "npy_writer.hpp"
#include "temp_files.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using taynode::DataMatrix;
using taynode_test::npy_of;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = taynode_test::temp_dir(name);
  for (const auto& e : fs::directory_iterator(d)) fs::remove(e.path());
  return d;
}

}  // namespace

TEST_CASE("MAF's split arithmetic", "[data][miniboone]") {
  // REFERENCE.md 3a / SOURCE.md: 36,488 rows -> train 29,556, validation 3,284, test 3,648.
  const auto s = taynode::maf_split_sizes(36488);
  CHECK(s.train == 29556);
  CHECK(s.val == 3284);
  CHECK(s.test == 3648);
  const auto small = taynode::maf_split_sizes(11);
  CHECK(small.test == 1);
  CHECK(small.val == 1);
  CHECK(small.train == 9);
  CHECK(taynode::maf_split_sizes(10).val == 0);
  // MAF computes int(0.1 * n) in floating point; the integer n / 10 used here agrees.
  for (std::size_t n = 0; n < 2000000; ++n) {
    const auto t = taynode::maf_split_sizes(n);
    if (t.test != std::size_t(0.1 * double(n)) || t.val != std::size_t(0.1 * double(n - t.test))) FAIL("n = " << n);
  }
}

TEST_CASE("MAF standardization on data with known moments", "[data][miniboone]") {
  // 120 rows: MAF's split gives test 12, validation 10, train 98. The first 108 rows (train + validation)
  // alternate m_j + s_j, m_j - s_j, so their mean is m_j and their population std s_j exactly.
  const double m[3] = {5.0, -1e4, 0.25}, s[3] = {2.0, 3e3, 0.125};
  DataMatrix<double> data(120, 3);
  for (int i = 0; i < 120; ++i)
    for (int j = 0; j < 3; ++j)
      data(i, j) = i < 108 ? m[j] + (i % 2 == 0 ? s[j] : -s[j]) : m[j] + s[j] * (0.5 * (i - 108) - 2.0);
  const fs::path dir = fresh_dir("moments");
  taynode_test::write_temp(npy_of(data), "data.npy", dir);
  // Unrelated files beside data.npy do not change the choice.
  taynode_test::write_temp(npy_of(data.topRows(20)), "val.npy", dir);
  taynode_test::write_temp(npy_of(data.topRows(20)), "test.npy", dir);

  const auto d = taynode::load_miniboone<double>(dir.string());
  CHECK(d.paper_split);
  CHECK_FALSE(d.validation_is_training);
  CHECK_THAT(d.description, Contains("data.npy") && Contains("train 98 / validation 10 / test 12"));
  REQUIRE(d.train.rows() == 98);
  REQUIRE(d.val.rows() == 10);
  REQUIRE(d.test.rows() == 12);
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 98; ++i) CHECK(d.train(i, j) == Approx(i % 2 == 0 ? 1.0 : -1.0).margin(1e-12));
    for (int i = 0; i < 10; ++i) CHECK(d.val(i, j) == Approx((98 + i) % 2 == 0 ? 1.0 : -1.0).margin(1e-12));
    for (int i = 0; i < 12; ++i) CHECK(d.test(i, j) == Approx(0.5 * i - 2.0).margin(1e-12));
  }
  const auto moments = taynode::column_moments(data.topRows(98), data.middleRows(98, 10));
  for (int j = 0; j < 3; ++j) {
    CHECK(moments.mean(j) == Approx(m[j]).epsilon(1e-14));
    CHECK(moments.stddev(j) == Approx(s[j]).epsilon(1e-14));
  }
  // Float output: the double result rounded.
  const auto f = taynode::load_miniboone_maf_npy<float>((dir / "data.npy").string());
  CHECK(f.test(11, 2) == Approx(3.5f));

  SECTION("a constant column, too few rows, non-finite values") {
    DataMatrix<double> constant = data;
    constant.col(1).setConstant(7.0);
    const auto p = taynode_test::write_temp(npy_of(constant), "constant.npy");
    CHECK_THROWS_WITH(taynode::load_miniboone_maf_npy<double>(p.string()),
                      Contains(p.string()) && Contains("column 1 is constant"));
    const auto q = taynode_test::write_temp(npy_of(data.topRows(10)), "ten.npy");
    CHECK_THROWS_WITH(taynode::load_miniboone_maf_npy<double>(q.string()), Contains("too few rows for MAF's split: 10"));
    DataMatrix<double> nan = data;
    nan(3, 2) = std::nan("");
    const auto r = taynode_test::write_temp(npy_of(nan), "nan.npy");
    CHECK_THROWS_WITH(taynode::load_miniboone_maf_npy<double>(r.string()), Contains("non-finite value at row 3, column 2"));
  }
}

TEST_CASE("MINIBOONE pre-split files are used as they are", "[data][miniboone]") {
  DataMatrix<double> a(4, 2), b(2, 2), c(3, 2), wide(3, 3);
  a << 1, 2, 3, 4, 5, 6, 7, 8;
  b << -1, -2, -3, -4;
  c << 9, 10, 11, 12, 13, 14;
  wide.setZero();
  const fs::path dir = fresh_dir("presplit");
  taynode_test::write_temp(npy_of(a), "train.npy", dir);
  taynode_test::write_temp(npy_of(b), "val.npy", dir);
  taynode_test::write_temp(npy_of(c), "test.npy", dir);
  const auto d = taynode::load_miniboone<float>(dir.string());
  CHECK(d.paper_split);
  CHECK(d.train == a.cast<float>());
  CHECK(d.val == b.cast<float>());
  CHECK(d.test == c.cast<float>());
  CHECK_THAT(d.description, Contains("pre-split"));
  taynode_test::write_temp(npy_of(wide), "test.npy", dir);
  CHECK_THROWS_WITH(taynode::load_miniboone<float>(dir.string()),
                    Contains((dir / "test.npy").string()) && Contains("3 columns, but"));
}

TEST_CASE("MINIBOONE stand-in on the shared validation and test splits", "[data][miniboone]") {
  const fs::path dir = taynode_test::shared_data() / "miniboone";
  const auto d = taynode::load_miniboone<double>(dir.string());
  CHECK_FALSE(d.paper_split);
  CHECK(d.validation_is_training);
  CHECK_THAT(d.description, Contains("STAND-IN") && Contains("3284 x 43") && Contains("3648 x 43"));
  REQUIRE(d.train.rows() == 3284);
  REQUIRE(d.val.rows() == 3284);
  REQUIRE(d.test.rows() == 3648);
  REQUIRE(d.train.cols() == 43);
  CHECK(d.train == d.val);
  // MAF standardized with train + validation statistics, so on validation alone each column is near
  // mean 0, std 1 (SOURCE.md: means within +-0.07, stds 0.88-1.09 over both files).
  const auto mom = taynode::column_moments(d.val, DataMatrix<double>(0, 43));
  for (int j = 0; j < 43; ++j) {
    CHECK(std::abs(mom.mean(j)) < 0.1);
    CHECK(std::abs(mom.stddev(j) - 1.0) < 0.1);
  }
  CHECK(d.test(0, 0) == -0.9915005989901805);  // python3 struct, see test_npy.cpp
}

TEST_CASE("MINIBOONE directory without data", "[data][miniboone]") {
  const fs::path dir = fresh_dir("nothing");
  CHECK_THROWS_WITH(taynode::load_miniboone<double>(dir.string()),
                    Contains(dir.string()) && Contains("no MINIBOONE data found"));
  // A bad data.npy is an error, not a reason to fall back to other files.
  const fs::path shared = taynode_test::shared_data() / "miniboone";
  fs::copy_file(shared / "partial" / "data_truncated_first1523rows.npy", dir / "data.npy");
  fs::copy_file(shared / "val.npy", dir / "val.npy");
  fs::copy_file(shared / "test.npy", dir / "test.npy");
  CHECK_THROWS_WITH(taynode::load_miniboone<double>(dir.string()), Contains("data.npy") && Contains("truncated"));
}

namespace {

// A file in the format of UCI's MiniBooNE_PID.txt: a line with the signal and background counts, then
// one event per line, 50 numbers in the style "0.289998E+01" separated by spaces. Values are exact in
// 7 significant digits, so the text round-trips.
struct PidFile {
  static constexpr int signal = 24, background = 3, features = 50;
  static bool outlier(int i) { return i == 5 || i == 17; }  // all -999, as UCI's placeholder events
  static double value(int i, int j) {
    if (outlier(i)) return -999.0;
    const std::set<int> zeros = {0, 1, 2, 3, 4, 6}, five = {1, 2, 3, 4, 6}, seven = {0, 2, 4, 6, 8, 10, 12};
    if (j == 7 && zeros.count(i)) return 0.0;         // smallest value 6 times (after the filter): dropped
    if (j == 12 && five.count(i)) return -3.5;        // smallest value 5 times: kept
    if (j == 20 && i >= 8 && i <= 16) return 3000.0;  // a LARGER value 9 times: kept (MAF counts the smallest)
    if (j == 33 && i == 9) return -999.0;             // -999 outside column 0: the row stays
    if (j == 41 && seven.count(i)) return -1.0;       // smallest value 7 times: dropped
    if (j == 49 && zeros.count(i)) return 10.0;       // smallest value 6 times, last column: dropped
    return 100.0 * j + i + 0.25;
  }
  static double background_value(int, int j) { return j == 12 ? -3.5 : 1e5; }  // would drop column 12
  static std::string text() {
    std::string t = "    " + std::to_string(signal) + "     " + std::to_string(background) + "\r\n";
    char buf[32];
    for (int i = 0; i < signal + background; ++i) {
      for (int j = 0; j < features; ++j) {
        std::snprintf(buf, sizeof buf, " %13.6E", i < signal ? value(i, j) : background_value(i, j));
        t += buf;
      }
      t += '\n';
    }
    return t;
  }
  // What MAF's preprocessing leaves: signal rows without outliers, columns without 7, 41, 49.
  static DataMatrix<double> expected() {
    std::vector<int> rows, cols;
    for (int i = 0; i < signal; ++i)
      if (!outlier(i)) rows.push_back(i);
    for (int j = 0; j < features; ++j)
      if (j != 7 && j != 41 && j != 49) cols.push_back(j);
    DataMatrix<double> m(Eigen::Index(rows.size()), Eigen::Index(cols.size()));
    for (std::size_t r = 0; r < rows.size(); ++r)
      for (std::size_t c = 0; c < cols.size(); ++c) m(Eigen::Index(r), Eigen::Index(c)) = value(rows[r], cols[c]);
    return m;
  }
};

std::vector<char> chars(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("UCI MiniBooNE_PID.txt with MAF's preprocessing", "[data][miniboone]") {
  const fs::path dir = fresh_dir("uci");
  const auto p = taynode_test::write_temp(chars(PidFile::text()), "MiniBooNE_PID.txt", dir);
  const DataMatrix<double> expected = PidFile::expected();
  REQUIRE(expected.rows() == 22);
  REQUIRE(expected.cols() == 47);
  const DataMatrix<double> pre = taynode::read_miniboone_pid(p.string());
  REQUIRE(pre.rows() == 22);
  REQUIRE(pre.cols() == 47);
  CHECK(pre == expected);

  const auto d = taynode::load_miniboone<double>(dir.string());
  CHECK(d.paper_split);
  CHECK_THAT(d.description, Contains("UCI") && Contains("train 18 / validation 2 / test 2"));
  REQUIRE(d.train.rows() == 18);
  REQUIRE(d.val.rows() == 2);
  REQUIRE(d.test.rows() == 2);
  // Standardization recomputed here by plain loops over the first 20 rows (train + validation).
  for (Eigen::Index j = 0; j < 47; ++j) {
    double mean = 0, var = 0;
    for (int i = 0; i < 20; ++i) mean += expected(i, j) / 20;
    for (int i = 0; i < 20; ++i) var += (expected(i, j) - mean) * (expected(i, j) - mean) / 20;
    const double sd = std::sqrt(var);
    for (int i = 0; i < 18; ++i) CHECK(d.train(i, j) == Approx((expected(i, j) - mean) / sd).margin(1e-12));
    for (int i = 0; i < 2; ++i) CHECK(d.val(i, j) == Approx((expected(18 + i, j) - mean) / sd).margin(1e-12));
    for (int i = 0; i < 2; ++i) CHECK(d.test(i, j) == Approx((expected(20 + i, j) - mean) / sd).margin(1e-12));
  }
}

TEST_CASE("UCI MiniBooNE_PID.txt: malformed files raise a DataError naming the file", "[data][miniboone]") {
  const std::string good = PidFile::text();
  const auto rejects = [](const std::string& text, const std::string& name, const std::string& problem) {
    const auto p = taynode_test::write_temp(chars(text), name);
    CHECK_THROWS_AS(taynode::read_miniboone_pid(p.string()), taynode::DataError);
    CHECK_THROWS_WITH(taynode::read_miniboone_pid(p.string()), Contains(p.string()) && Contains(problem));
  };
  const std::size_t first_row = good.find('\n') + 1;
  const std::size_t second_row = good.find('\n', first_row) + 1;
  CHECK_THROWS_WITH(taynode::read_miniboone_pid("/nonexistent/MiniBooNE_PID.txt"), Contains("cannot open"));
  rejects("", "pid-empty.txt", "empty file");
  rejects("24 3 5\n" + good.substr(first_row), "pid-head3.txt", "expected two integers");
  rejects("24 x\n" + good.substr(first_row), "pid-headx.txt", "expected two integers");
  // A row with 49 numbers: drop the last number of the first event.
  std::string short_row = good;
  short_row.erase(second_row - 15, 14);
  rejects(short_row, "pid-49.txt", "line 2: 49 numbers, expected 50");
  std::string word = good;
  word.replace(first_row + 1, 13, "    NaN-ish  ");
  rejects(word, "pid-word.txt", "line 2, column 0: 'NaN-ish' is not a finite number");
  std::string nan = good;
  nan.replace(first_row + 1, 13, "          nan");
  rejects(nan, "pid-nan.txt", "'nan' is not a finite number");
  // Fewer events than the count line announces: cut inside the signal, then inside the background.
  rejects(good.substr(0, second_row + 3 * (second_row - first_row)), "pid-cut-signal.txt",
          "truncated: the count line announces 24 signal events, the file ends after 4");
  const std::size_t last = good.rfind('\n', good.size() - 2) + 1;
  rejects(good.substr(0, last), "pid-cut-background.txt", "announces 3 background events, the file ends after 2");
  rejects(good + good.substr(last), "pid-extra.txt", "more events than the count line announces (24 + 3)");
}
