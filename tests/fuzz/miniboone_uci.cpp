// Fuzz harness: UCI's MiniBooNE_PID.txt reader with MAF's preprocessing (read_miniboone_pid in
// data/miniboone.hpp). Invariants of an accepted file: at least one row, 1 to 50 columns (the
// format's 50 features less those MAF drops), finite values only, fewer rows than the file has
// lines, and no event the outlier filter removes (column 0 < −100) when no column was dropped.
// Every rejection is a DataError naming the file.
#include <algorithm>
#include <cmath>

#include <taynode/data/miniboone.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  const std::string& path = taynode_fuzz::write_scratch(data, size);
  taynode::DataMatrix<double> m;
  if (!taynode_fuzz::accepts<taynode::DataError>(path, [&] { m = taynode::read_miniboone_pid(path); })) return 0;
  require(m.rows() > 0 && m.cols() > 0 && m.cols() <= 50, "accepted a matrix of impossible shape");
  const auto lines = std::size_t(std::count(data, data + size, std::uint8_t('\n'))) + 1;
  require(std::size_t(m.rows()) < lines, "more events than the file has lines after the count line");
  for (Eigen::Index i = 0; i < m.size(); ++i) require(std::isfinite(m.data()[i]), "accepted a non-finite value");
  if (m.cols() == 50) require(m.col(0).minCoeff() >= -100, "kept a signal event the outlier filter removes");
  return 0;
}
