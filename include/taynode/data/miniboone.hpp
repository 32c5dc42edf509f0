#pragma once
// MINIBOONE as the paper uses it (through MAF: Papamakarios, Pavlakou, Murray, NeurIPS 2017): the 36,488
// signal events of UCI's MiniBooNE particle-identification data, 43 features, split in file order
// (last 10 % test, then the last 10 % of the rest validation) and standardized per column with the mean
// and standard deviation of train + validation. Read from whichever input a user has:
//   (a) MAF's data.npy (unnormalized; the paper's input),
//   (b) pre-split train.npy / val.npy / test.npy (already normalized, as MAF-derived repositories ship them),
//   (c) UCI's raw MiniBooNE_PID.txt, preprocessed as MAF did (read_miniboone_pid below).
// load_miniboone(dir) picks the best of these in a directory, or the stand-in of the shared data folder
// (val.npy + test.npy only), and says in words what it used. Bad input raises a DataError naming the file.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/data/errors.hpp"
#include "taynode/data/npy.hpp"

namespace taynode {

// The three splits of MINIBOONE and a sentence saying where they came from.
template <class T>
struct MinibooneData {
  DataMatrix<T> train, val, test;
  bool paper_split = false;              // train/val/test are MAF's (the paper's) splits
  bool validation_is_training = false;   // stand-in: val is the same rows as train
  std::string description;
};

// MAF's split of n rows in file order: test = int(0.1 n) last rows, validation = int(0.1 (n - test)) rows
// before them, train = the rest (MAF datasets/miniboone.py, load_data). int(0.1 * n) equals n / 10 for
// every n below 2^50: 0.1 as a double is slightly above 1/10, so the product never rounds below n / 10.
struct MafSplitSizes {
  std::size_t train = 0, val = 0, test = 0;
};
inline MafSplitSizes maf_split_sizes(std::size_t n) {
  MafSplitSizes s;
  s.test = n / 10;
  s.val = (n - s.test) / 10;
  s.train = n - s.test - s.val;
  return s;
}

// Per-column mean and standard deviation (population, numpy's default ddof = 0) of the rows of a and b.
struct ColumnMoments {
  Eigen::VectorXd mean, stddev;
};
inline ColumnMoments column_moments(const DataMatrix<double>& a, const DataMatrix<double>& b) {
  const double n = double(a.rows() + b.rows());
  ColumnMoments m;
  m.mean = (a.colwise().sum() + b.colwise().sum()).transpose() / n;
  // Two passes: the mean first, then squared deviations from it (no cancellation for large means).
  const Eigen::RowVectorXd mu = m.mean.transpose();
  m.stddev = (((a.rowwise() - mu).array().square().colwise().sum() +
               (b.rowwise() - mu).array().square().colwise().sum()) /
              n)
                 .sqrt()
                 .transpose();
  return m;
}

namespace miniboone_detail {

inline std::string shape_text(Eigen::Index rows, Eigen::Index cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

inline void require_finite(const DataMatrix<double>& m, const std::string& path) {
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j)))
        throw DataError(path, "non-finite value at row " + std::to_string(i) + ", column " + std::to_string(j));
}

// Splits whitespace-separated tokens of a text line.
inline std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (i < line.size()) {
    while (i < line.size() && space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !space(line[i])) ++i;
    if (i > start) out.emplace_back(line.data() + start, i - start);
  }
  return out;
}

template <class Number>
bool parse_whole(std::string_view tok, Number& v) {
  if (!tok.empty() && tok[0] == '+') tok.remove_prefix(1);  // from_chars does not take a leading '+'
  const auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
  return ec == std::errc() && end == tok.data() + tok.size();
}

}  // namespace miniboone_detail

// MAF's split and normalization of an unnormalized data matrix (rows in file order; `source` names it in
// errors and in the description). The statistics are computed in double, as MAF computes them in float64
// before its float32 cast.
template <class T>
MinibooneData<T> maf_split_normalized(const DataMatrix<double>& data, const std::string& source) {
  using miniboone_detail::shape_text;
  const MafSplitSizes s = maf_split_sizes(std::size_t(data.rows()));
  // MAF's slicing data[-N_test:] takes every row when N_test = 0: require non-empty splits instead.
  if (s.test == 0 || s.val == 0)
    throw DataError(source, "too few rows for MAF's split: " + std::to_string(data.rows()) +
                                " (at least 11 for non-empty train/validation/test splits)");
  if (data.cols() == 0) throw DataError(source, "no columns");
  miniboone_detail::require_finite(data, source);
  const auto train = data.topRows(Eigen::Index(s.train));
  const auto val = data.middleRows(Eigen::Index(s.train), Eigen::Index(s.val));
  const auto test = data.bottomRows(Eigen::Index(s.test));
  const ColumnMoments m = column_moments(train, val);
  for (Eigen::Index j = 0; j < data.cols(); ++j)
    if (!(m.stddev(j) > 0))
      throw DataError(source, "column " + std::to_string(j) + " is constant over train + validation; it cannot be standardized");
  const Eigen::RowVectorXd mu = m.mean.transpose(), sd = m.stddev.transpose();
  const auto standardize = [&](const auto& part) -> DataMatrix<T> {
    const DataMatrix<double> z = (part.rowwise() - mu).array().rowwise() / sd.array();  // MAF: (x - mu) / s
    return z.template cast<T>();
  };
  MinibooneData<T> out;
  out.train = standardize(train);
  out.val = standardize(val);
  out.test = standardize(test);
  out.paper_split = true;
  out.description = source + " (" + shape_text(data.rows(), data.cols()) + ", unnormalized): MAF's split, train " +
                    std::to_string(s.train) + " / validation " + std::to_string(s.val) + " / test " +
                    std::to_string(s.test) + " rows (last 10 % test, last 10 % of the rest validation), " +
                    "standardized by the train + validation mean and std";
  return out;
}

// (a) MAF's data.npy: 36,488 x 43 float64, unnormalized.
template <class T>
MinibooneData<T> load_miniboone_maf_npy(const std::string& path) {
  return maf_split_normalized<T>(read_npy<double>(path), "MAF data.npy " + path);
}

// (b) Pre-split, already normalized files; checked for matching columns and finite values, used as they are.
template <class T>
MinibooneData<T> load_miniboone_presplit(const std::string& train_path, const std::string& val_path,
                                         const std::string& test_path) {
  using miniboone_detail::shape_text;
  const DataMatrix<double> train = read_npy<double>(train_path), val = read_npy<double>(val_path),
                           test = read_npy<double>(test_path);
  if (train.rows() == 0) throw DataError(train_path, "no rows");
  for (const auto& [m, path] : {std::pair{&val, val_path}, std::pair{&test, test_path}})
    if (m->cols() != train.cols())
      throw DataError(path, std::to_string(m->cols()) + " columns, but " + train_path + " has " +
                                std::to_string(train.cols()));
  miniboone_detail::require_finite(train, train_path);
  miniboone_detail::require_finite(val, val_path);
  miniboone_detail::require_finite(test, test_path);
  MinibooneData<T> out{train.template cast<T>(), val.template cast<T>(), test.template cast<T>(), true, false, ""};
  out.description = "pre-split normalized files: train " + train_path + " (" + shape_text(train.rows(), train.cols()) +
                    "), validation " + val_path + " (" + shape_text(val.rows(), val.cols()) + "), test " + test_path +
                    " (" + shape_text(test.rows(), test.cols()) + "), used as they are";
  return out;
}

// (c) UCI's MiniBooNE_PID.txt preprocessed as MAF did, giving MAF's unnormalized data.npy. Steps:
//  1. The first line holds two integers, the numbers of signal and background events (UCI's file
//     description; 36499 and 93565 in the real file); then one event per line, 50 numbers each.
//  2. Only the signal events are kept, the first n_signal rows: MAF's data.npy has 36,488 = 36,499 - 11 rows,
//     and the reconstruction of MAF's script "Code to recreate dataset used in MAF paper" keeps the first
//     36,500 lines minus the count line. The background rows are still checked to be present.
//  3. Outliers: rows whose first feature is below -100 are dropped (MAF datasets/miniboone.py, commented
//     "to remember how the pre-processing was done": data[:, 0] < -100; in UCI's file these are the events
//     whose features are the -999 placeholder).
//  4. Features with "too many re-occurring values" are dropped: for each column, MAF sorts the value counts
//     by value and takes the FIRST, i.e. the number of times the column's SMALLEST value occurs (the
//     variable is named max_count but is not a maximum); a column is dropped when that count exceeds 5.
//     This runs after step 3. On the real file it leaves 43 of the 50 columns.
// Numbers are parsed as correctly rounded doubles. MAF's parser (pandas) was not: on the 1523 rows of its
// data.npy available here, 24.8 % of the values lie 1 ulp (3 values 2 ulp) from the correctly rounded
// parse of their 6-digit text, so this reproduces MAF's data.npy to within 2 ulp, not bit for bit.
inline DataMatrix<double> read_miniboone_pid(const std::string& path) {
  constexpr std::size_t features = 50;
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string_view line;
  std::size_t line_no = 0, pos = 0;
  const auto next_nonblank = [&]() {
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!miniboone_detail::tokens(line).empty()) return true;
    }
    return false;
  };
  if (!next_nonblank()) throw DataError(path, "empty file, expected the signal/background count line");
  const auto head = miniboone_detail::tokens(line);
  unsigned long long n_signal = 0, n_background = 0;
  if (head.size() != 2 || !miniboone_detail::parse_whole(head[0], n_signal) ||
      !miniboone_detail::parse_whole(head[1], n_background))
    throw DataError(path, "line " + std::to_string(line_no) +
                              ": expected two integers (signal and background event counts), got '" + std::string(line) + "'");
  std::vector<double> signal;
  std::vector<double> row(features);
  const auto read_row = [&](const char* kind, unsigned long long index, unsigned long long count) {
    if (!next_nonblank())
      throw DataError(path, "truncated: the count line announces " + std::to_string(count) + " " + kind +
                                " events, the file ends after " + std::to_string(index));
    const auto toks = miniboone_detail::tokens(line);
    if (toks.size() != features)
      throw DataError(path, "line " + std::to_string(line_no) + ": " + std::to_string(toks.size()) +
                                " numbers, expected " + std::to_string(features));
    for (std::size_t j = 0; j < features; ++j)
      if (!miniboone_detail::parse_whole(toks[j], row[j]) || !std::isfinite(row[j]))
        throw DataError(path, "line " + std::to_string(line_no) + ", column " + std::to_string(j) + ": '" +
                                  std::string(toks[j]) + "' is not a finite number");
  };
  for (unsigned long long i = 0; i < n_signal; ++i) {
    read_row("signal", i, n_signal);
    if (row[0] < -100) continue;  // step 3
    signal.insert(signal.end(), row.begin(), row.end());
  }
  for (unsigned long long i = 0; i < n_background; ++i) read_row("background", i, n_background);
  if (next_nonblank())
    throw DataError(path, "line " + std::to_string(line_no) + ": more events than the count line announces (" +
                              std::to_string(n_signal) + " + " + std::to_string(n_background) + ")");

  const Eigen::Index n = Eigen::Index(signal.size() / features);
  if (n == 0) throw DataError(path, "no signal events left after the outlier filter");
  const Eigen::Map<const DataMatrix<double>> all(signal.data(), n, Eigen::Index(features));
  std::vector<Eigen::Index> kept;
  for (Eigen::Index j = 0; j < all.cols(); ++j) {  // step 4
    const double smallest = all.col(j).minCoeff();
    if ((all.col(j).array() == smallest).count() <= 5) kept.push_back(j);
  }
  if (kept.empty()) throw DataError(path, "every feature was dropped by MAF's repeated-value filter");
  DataMatrix<double> data(n, Eigen::Index(kept.size()));
  for (std::size_t k = 0; k < kept.size(); ++k) data.col(Eigen::Index(k)) = all.col(kept[k]);
  return data;
}

template <class T>
MinibooneData<T> load_miniboone_uci(const std::string& path) {
  return maf_split_normalized<T>(read_miniboone_pid(path), "UCI " + path + " with MAF's preprocessing");
}

// Looks in `dir` for, in this order: MAF's data.npy (a); UCI's MiniBooNE_PID.txt (c); train.npy, val.npy and
// test.npy (b); and else val.npy + test.npy alone, the stand-in this project's shared folder holds (MAF's
// training split missing): then the model trains on the validation split, which also serves as validation,
// and is tested on the test split. A file that is present but bad raises its error; nothing falls back past it.
template <class T>
MinibooneData<T> load_miniboone(const std::string& dir) {
  namespace fs = std::filesystem;
  const auto file = [&](const char* name) { return (fs::path(dir) / name).string(); };
  const auto has = [&](const char* name) { return fs::is_regular_file(fs::path(dir) / name); };
  if (has("data.npy")) return load_miniboone_maf_npy<T>(file("data.npy"));
  if (has("MiniBooNE_PID.txt")) return load_miniboone_uci<T>(file("MiniBooNE_PID.txt"));
  if (has("train.npy") && has("val.npy") && has("test.npy"))
    return load_miniboone_presplit<T>(file("train.npy"), file("val.npy"), file("test.npy"));
  if (has("val.npy") && has("test.npy")) {
    MinibooneData<T> out = load_miniboone_presplit<T>(file("val.npy"), file("val.npy"), file("test.npy"));
    out.paper_split = false;
    out.validation_is_training = true;
    out.description = "STAND-IN for MAF's split (no data.npy, MiniBooNE_PID.txt or train.npy in " + dir +
                      "): trains on MAF's validation split " + file("val.npy") + " (" +
                      miniboone_detail::shape_text(out.train.rows(), out.train.cols()) +
                      "), which also serves as validation, and tests on MAF's test split " + file("test.npy") + " (" +
                      miniboone_detail::shape_text(out.test.rows(), out.test.cols()) +
                      "); both already standardized by MAF's train + validation statistics";
    return out;
  }
  throw DataError(dir, "no MINIBOONE data found: expected data.npy (MAF), MiniBooNE_PID.txt (UCI), "
                       "train.npy + val.npy + test.npy, or val.npy + test.npy");
}

}  // namespace taynode
