// Fuzz harness: one PhysioNet 2012 patient record (read_physionet_record in data/physionet.hpp),
// with the default options and with 1-minute bins keeping −1 as a value. Invariants of an accepted
// record: times[0] = 0, strictly increasing and finite; one row per time, 37 features; the mask is
// 0/1, values are finite and 0 where unobserved; no more rows than the file has lines; the record id
// is the file name without ".txt". Every rejection is a DataError naming the file.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <taynode/data/physionet.hpp>

#include "fuzz_support.hpp"

namespace {

void check(const taynode::PhysionetPatient& p, const std::string& path, std::size_t lines) {
  using taynode_fuzz::require;
  require(!p.times.empty() && p.times[0] == 0.0, "the first time is not 0");
  for (std::size_t i = 1; i < p.times.size(); ++i)
    require(std::isfinite(p.times[i]) && p.times[i] > p.times[i - 1], "times not finite and increasing");
  require(std::size_t(p.values.rows()) == p.times.size() && std::size_t(p.mask.rows()) == p.times.size() &&
              std::size_t(p.values.cols()) == taynode::physionet_feature_count &&
              std::size_t(p.mask.cols()) == taynode::physionet_feature_count,
          "values or mask shaped unlike times x 37");
  require(p.times.size() <= lines, "more rows than the file has lines");
  for (Eigen::Index i = 0; i < p.mask.size(); ++i) {
    require(p.mask.data()[i] <= 1, "mask entry other than 0/1");
    require(std::isfinite(p.values.data()[i]), "non-finite value");
    require(p.mask.data()[i] == 1 || p.values.data()[i] == 0.0, "a value where nothing was observed");
  }
  const std::filesystem::path file(path);  // the scratch file: <name>.bin, so the whole name is the id
  require(p.record_id == (file.extension() == ".txt" ? file.stem() : file.filename()).string(),
          "record id is not the file name without .txt");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = taynode_fuzz::write_scratch(data, size);
  const auto lines = std::size_t(std::count(data, data + size, std::uint8_t('\n'))) + 1;
  taynode::PhysionetOptions fine;
  fine.bin_minutes = 1;
  fine.minus_one_is_missing = false;
  for (const auto& options : {taynode::PhysionetOptions{}, fine}) {
    taynode::PhysionetPatient p;
    if (taynode_fuzz::accepts<taynode::DataError>(path, [&] { p = taynode::read_physionet_record(path, options); }))
      check(p, path, lines);
  }
  return 0;
}
