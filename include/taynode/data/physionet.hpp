#pragma once
// PhysioNet/CinC Challenge 2012 ICU records (Silva et al. 2012), read and binned as the latent-ODE
// experiment of Kelly et al. (2020) does (reference: physionet_data.py; docs/physionet.md lists every
// point where this loader deviates from it).
//
// A record is a text file `<RecordID>.txt`: the header `Time,Parameter,Value`, then one line
// `HH:MM,<parameter>,<number>` per measurement, times counted from ICU admission. The loader keeps the
// 37 time-varying parameters (Weight … WBC, the reference's list), drops RecordID and the static
// descriptors Age, Gender, Height, ICUType, rounds each time to the nearest 1 h bin (ties to even, as
// Python's round), averages repeated measurements of a parameter in a bin and marks observed entries.
//
//   parse_physionet_record(bytes, name)  one record from memory (the fuzzing entry point)
//   read_physionet_record(path)          one record from a file
//   load_physionet({dirs}, options, cache)  every *.txt of the directories, optionally via a cache
//   split_patients(n, seed)              seeded 80/20 train / held-out test split
//   fit_feature_scaling(data, train)     per-feature normalization fitted on the given patients only
//   make_physionet_batch(data, idx, ...) a padded batch over the union of the patients' times
//
// Every malformed input raises a DataError naming the file, the line and the problem.

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/data/errors.hpp"
#include "taynode/data/read_file.hpp"
#include "taynode/nn/checkpoint.hpp"  // fnv1a64, the little-endian Writer/Reader and atomic_write

namespace taynode {

// The reference's 41 parameters minus the four static descriptors, in the reference's order: the
// columns of PhysionetPatient::values. Weight is both a descriptor (at 00:00) and a time series; the
// reference keeps it as a time-varying feature, and so do we.
inline constexpr std::array<std::string_view, 37> physionet_features = {
    "Weight",   "Albumin",  "ALP",       "ALT",     "AST",     "Bilirubin", "BUN",      "Cholesterol",
    "Creatinine", "DiasABP", "FiO2",     "GCS",     "Glucose", "HCO3",      "HCT",      "HR",
    "K",        "Lactate",  "Mg",        "MAP",     "MechVent", "Na",       "NIDiasABP", "NIMAP",
    "NISysABP", "PaCO2",    "PaO2",      "pH",      "Platelets", "RespRate", "SaO2",     "SysABP",
    "Temp",     "TroponinI", "TroponinT", "Urine",  "WBC"};
inline constexpr std::size_t physionet_feature_count = physionet_features.size();
// Parameters a record may hold that are not features: the record id and the static descriptors.
inline constexpr std::array<std::string_view, 5> physionet_dropped_parameters = {"RecordID", "Age", "Gender",
                                                                                 "Height", "ICUType"};

struct PhysionetOptions {
  // Bin width: a time of m minutes goes to bin round(m / bin_minutes), ties to even (the reference's
  // Python round); the bin's time is bin · bin_minutes / 60 hours. The reference uses 60.
  int bin_minutes = 60;
  // The challenge writes -1 for a missing value (673 Weight entries at 00:00 in sets A+B). true: such
  // an entry is missing (not observed); false: it is an observation of value -1, as in the reference.
  bool minus_one_is_missing = true;
};

// One patient: the sorted unique bin times and the binned values with their mask.
struct PhysionetPatient {
  using Values = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Mask = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  std::string record_id;      // the file name without ".txt", as the reference takes it
  std::vector<double> times;  // hours, strictly increasing; times[0] == 0 always (the reference's first row)
  Values values;              // times.size() × 37: the mean of the bin's measurements, 0 where unobserved
  Mask mask;                  // times.size() × 37: 1 where the bin holds a measurement, else 0

  std::size_t observed() const { return std::size_t(mask.cast<std::size_t>().sum()); }
  friend bool operator==(const PhysionetPatient& a, const PhysionetPatient& b) {
    return a.record_id == b.record_id && a.times == b.times && a.values == b.values && a.mask == b.mask;
  }
};

struct PhysionetData {
  std::vector<PhysionetPatient> patients;
  std::size_t size() const { return patients.size(); }
};

namespace physionet_detail {

// `s` for an error message: at most 40 characters, anything unprintable as \xNN.
inline std::string quoted(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  const std::size_t n = std::min<std::size_t>(s.size(), 40);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > n) out += "...";
  return out + "'";
}

// Index of a parameter name: 0..36 a feature, 37..41 a dropped parameter, -1 unknown.
inline int parameter_index(std::string_view name) {
  for (std::size_t i = 0; i < physionet_features.size(); ++i)
    if (physionet_features[i] == name) return int(i);
  for (std::size_t i = 0; i < physionet_dropped_parameters.size(); ++i)
    if (physionet_dropped_parameters[i] == name) return int(physionet_feature_count + i);
  return -1;
}

// "H…H:MM" (1 to 6 digits of hours, two of minutes below 60) → minutes; an empty string when it
// parses, else what is wrong.
inline std::string parse_time(std::string_view s, std::int64_t& minutes) {
  const std::size_t colon = s.find(':');
  const auto digits = [](std::string_view d) {
    return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (colon == std::string_view::npos || !digits(s.substr(0, colon)) || s.size() != colon + 3 ||
      !digits(s.substr(colon + 1)))
    return "bad time " + quoted(s) + " (expected HH:MM)";
  if (colon > 6) return "bad time " + quoted(s) + " (more than 6 digits of hours)";
  std::int64_t h = 0;
  for (std::size_t i = 0; i < colon; ++i) h = 10 * h + (s[i] - '0');
  const int m = 10 * (s[colon + 1] - '0') + (s[colon + 2] - '0');
  if (m >= 60) return "bad time " + quoted(s) + " (minutes must be below 60)";
  minutes = 60 * h + m;
  return {};
}

// round(minutes / width) with ties to even, exactly (integers; the reference's float round agrees
// for width 60 because no HH:MM other than HH:30 lies within 1e-9 of a tie).
inline std::int64_t bin_of(std::int64_t minutes, std::int64_t width) {
  std::int64_t q = minutes / width;
  const std::int64_t twice_r = 2 * (minutes % width);
  if (twice_r > width || (twice_r == width && (q & 1))) ++q;
  return q;
}

struct Observation {
  std::int64_t bin;
  std::uint32_t feature;
  double value;
};

inline std::string record_id_of(const std::string& name) {
  const std::filesystem::path p(name);
  return p.extension() == ".txt" ? p.stem().string() : p.filename().string();
}

}  // namespace physionet_detail

// Parses one record held in `text`; `name` (a path or file name) names it in errors, and its file name
// without ".txt" becomes the record id. Throws DataError on: an empty file, a header other than
// `Time,Parameter,Value`, a line without exactly three comma-separated fields (an empty line
// included), a bad time, an unknown parameter, a value that is not a finite number. A trailing
// '\r' on a line is ignored. Memory grows with the text only: one 37-wide row per line at most
// (about 40 bytes per byte of text at worst), never sized from a number in it.
inline PhysionetPatient parse_physionet_record(std::string_view text, const std::string& name,
                                               const PhysionetOptions& options = {}) {
  using namespace physionet_detail;
  if (options.bin_minutes < 1) throw std::invalid_argument("PhysionetOptions::bin_minutes must be at least 1");
  if (text.empty()) throw DataError(name, "empty file (expected the header Time,Parameter,Value)");

  std::vector<Observation> obs;
  std::size_t line_no = 0, pos = 0;
  bool sorted = true;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1) {
      if (line != "Time,Parameter,Value")
        throw DataError(name, 1, "bad header " + quoted(line) + " (expected 'Time,Parameter,Value')");
      continue;
    }
    const std::size_t c1 = line.find(','), c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos) {
      const auto fields = 1 + std::count(line.begin(), line.end(), ',');
      throw DataError(name, line_no,
                      "expected 3 comma-separated fields Time,Parameter,Value, found " + std::to_string(fields) +
                          (line.empty() ? " (empty line)" : " in " + quoted(line)));
    }
    const std::string_view time = line.substr(0, c1), param = line.substr(c1 + 1, c2 - c1 - 1),
                           value_text = line.substr(c2 + 1);
    std::int64_t minutes = 0;
    if (std::string bad = parse_time(time, minutes); !bad.empty()) throw DataError(name, line_no, bad);
    const int index = parameter_index(param);
    if (index < 0) throw DataError(name, line_no, "unknown parameter " + quoted(param));
    double value = 0;
    const auto [ptr, ec] = std::from_chars(value_text.data(), value_text.data() + value_text.size(), value);
    if (ec != std::errc() || ptr != value_text.data() + value_text.size() || !std::isfinite(value))
      throw DataError(name, line_no,
                      "value " + quoted(value_text) + " of " + std::string(param) + " is not a finite number");
    if (std::size_t(index) >= physionet_feature_count) continue;        // record id or static descriptor
    if (options.minus_one_is_missing && value == -1.0) continue;        // the challenge's "missing"
    const std::int64_t bin = bin_of(minutes, options.bin_minutes);
    if (!obs.empty() && bin < obs.back().bin) sorted = false;
    obs.push_back({bin, std::uint32_t(index), value});
  }
  // The records are in time order; should one not be, its bins are still merged (the reference would
  // start a second row for a repeated time). Stable: a bin's measurements keep their file order.
  if (!sorted) std::stable_sort(obs.begin(), obs.end(), [](const auto& a, const auto& b) { return a.bin < b.bin; });

  // Rows: bin 0 always (the reference's first row), then every bin holding a measurement.
  std::size_t rows = 1;
  for (std::size_t i = 0; i < obs.size(); ++i)
    if (obs[i].bin != 0 && (i == 0 || obs[i].bin != obs[i - 1].bin)) ++rows;
  PhysionetPatient p;
  p.record_id = record_id_of(name);
  p.times.assign(rows, 0.0);
  p.values.setZero(Eigen::Index(rows), Eigen::Index(physionet_feature_count));
  p.mask.setZero(Eigen::Index(rows), Eigen::Index(physionet_feature_count));
  std::array<double, physionet_feature_count> count{};
  Eigen::Index row = 0;
  for (std::size_t i = 0; i < obs.size(); ++i) {
    if (obs[i].bin != 0 && (i == 0 || obs[i].bin != obs[i - 1].bin)) {
      ++row;
      p.times[std::size_t(row)] = double(obs[i].bin) * double(options.bin_minutes) / 60.0;
      count.fill(0.0);
    }
    const Eigen::Index f = obs[i].feature;
    // The reference's running mean, same operations in the same order (bit-identical averages).
    double& v = p.values(row, f);
    v = count[std::size_t(f)] > 0 ? (v * count[std::size_t(f)] + obs[i].value) / (count[std::size_t(f)] + 1)
                                  : obs[i].value;
    count[std::size_t(f)] += 1;
    p.mask(row, f) = 1;
  }
  return p;
}

// Reads a whole file (as many bytes as it holds; nothing sized from its contents). Every failure is
// a DataError naming the file (read_file.hpp).
inline std::string read_text_file(const std::filesystem::path& path) {
  const std::vector<unsigned char> bytes = read_whole_file<DataError>(path.string());
  return std::string(bytes.begin(), bytes.end());
}

inline PhysionetPatient read_physionet_record(const std::filesystem::path& path, const PhysionetOptions& options = {}) {
  return parse_physionet_record(read_text_file(path), path.string(), options);
}

// The patient files of the directories, in the given directory order, each directory's *.txt files
// sorted by name (the reference takes os.listdir's arbitrary order).
inline std::vector<std::filesystem::path> physionet_files(const std::vector<std::filesystem::path>& dirs) {
  std::vector<std::filesystem::path> all;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) throw DataError(dir.string(), "not a directory");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      if (entry.path().extension() == ".txt" && entry.is_regular_file()) files.push_back(entry.path());
    if (ec) throw DataError(dir.string(), "cannot list the directory: " + ec.message());
    if (files.empty()) throw DataError(dir.string(), "holds no .txt patient files");
    std::sort(files.begin(), files.end());
    all.insert(all.end(), files.begin(), files.end());
  }
  return all;
}

// ---------------------------------------------------------------------------------------------------
// Cache of parsed records (format in docs/physionet.md): a key over the settings and every input
// file's path, size and modification time; the payload with its FNV-1a 64 checksum. Written atomically;
// any mismatch or damage makes the loader parse the files again and rewrite the cache.

namespace physionet_detail {

inline constexpr std::array<char, 8> cache_magic{'T', 'N', 'P', 'H', 'Y', 'S', 'I', 'O'};
inline constexpr std::uint32_t cache_version = 1;
inline constexpr std::size_t cache_header_size = 8 + 4 + 8 + 8;  // magic, version, key, payload length

inline std::uint64_t cache_key(const std::vector<std::filesystem::path>& files, const PhysionetOptions& options) {
  nn::detail::ckpt::Writer w;
  w.put<std::uint32_t>(cache_version);
  w.put<std::int32_t>(options.bin_minutes);
  w.put<std::uint8_t>(options.minus_one_is_missing ? 1 : 0);
  for (const auto& f : files) {
    std::error_code ec;
    const std::string s = f.string();
    w.put<std::uint64_t>(s.size());
    w.bytes(s.data(), s.size());
    const auto size = std::filesystem::file_size(f, ec);
    w.put<std::uint64_t>(ec ? ~std::uint64_t(0) : std::uint64_t(size));
    const auto mtime = std::filesystem::last_write_time(f, ec);
    w.put<std::int64_t>(ec ? -1 : std::int64_t(mtime.time_since_epoch().count()));
  }
  return nn::fnv1a64(w.buf.data(), w.buf.size());
}

template <class U>
void put_array(nn::detail::ckpt::Writer& w, const U* p, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little)
    w.bytes(p, n * sizeof(U));
  else
    for (std::size_t i = 0; i < n; ++i) w.put<U>(p[i]);
}

inline std::vector<unsigned char> encode_cache(const PhysionetData& data, std::uint64_t key) {
  nn::detail::ckpt::Writer payload;
  payload.put<std::uint64_t>(data.patients.size());
  for (const auto& p : data.patients) {
    payload.put<std::uint32_t>(std::uint32_t(p.record_id.size()));
    payload.bytes(p.record_id.data(), p.record_id.size());
    payload.put<std::uint32_t>(std::uint32_t(p.times.size()));
    put_array(payload, p.times.data(), p.times.size());
    payload.bytes(p.mask.data(), std::size_t(p.mask.size()));
    for (Eigen::Index i = 0; i < p.mask.size(); ++i)
      if (p.mask.data()[i]) payload.put<double>(p.values.data()[i]);
  }
  nn::detail::ckpt::Writer file;
  file.bytes(cache_magic.data(), cache_magic.size());
  file.put<std::uint32_t>(cache_version);
  file.put<std::uint64_t>(key);
  file.put<std::uint64_t>(payload.buf.size());
  file.bytes(payload.buf.data(), payload.buf.size());
  file.put<std::uint64_t>(nn::fnv1a64(payload.buf.data(), payload.buf.size()));
  return std::move(file.buf);
}

// Decodes a cache; an empty string when it holds data for `key`, else why it cannot be used.
inline std::string decode_cache_unchecked(std::string_view text, const std::filesystem::path& path, std::uint64_t key,
                                          PhysionetData& out);
inline std::string decode_cache(std::string_view text, const std::filesystem::path& path, std::uint64_t key,
                                PhysionetData& out) {
  try {
    return decode_cache_unchecked(text, path, key, out);
  } catch (const nn::CheckpointError& e) {  // a length check of the Reader: keep only its problem
    const std::string what = e.what();
    const std::size_t at = what.find("': ");
    return at == std::string::npos ? what : what.substr(at + 3);
  }
}
// The same, letting the Reader's length checks throw.
inline std::string decode_cache_unchecked(std::string_view text, const std::filesystem::path& path, std::uint64_t key,
                                          PhysionetData& out) {
  using nn::detail::ckpt::Reader;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  if (size < cache_header_size + 8 || !std::equal(cache_magic.begin(), cache_magic.end(), text.begin()))
    return "not a cache file (bad magic or too short)";
  Reader head{path, bytes, size, cache_magic.size()};
  if (head.get<std::uint32_t>("version") != cache_version) return "written by another version";
  if (head.get<std::uint64_t>("key") != key) return "stale (input files or settings changed)";
  const auto length = head.get<std::uint64_t>("payload length");
  if (length != size - cache_header_size - 8) return "truncated or with trailing bytes";
  const unsigned char* payload = bytes + cache_header_size;
  Reader tail{path, payload + length, 8};
  if (tail.get<std::uint64_t>("checksum") != nn::fnv1a64(payload, std::size_t(length)))
    return "checksum mismatch (file corrupted)";
  Reader r{path, payload, std::size_t(length)};
  const auto count = r.get<std::uint64_t>("patient count");
  constexpr std::size_t F = physionet_feature_count;
  if (count > r.n / (4 + 4 + 8 + F)) return "implausible patient count";  // each needs >= 53 bytes
  PhysionetData data;
  data.patients.resize(std::size_t(count));
  for (auto& p : data.patients) {
    const auto id_len = r.get<std::uint32_t>("id length");
    r.need(id_len, "record id");
    p.record_id.assign(reinterpret_cast<const char*>(r.p + r.pos), id_len);
    r.pos += id_len;
    const auto rows = r.get<std::uint32_t>("row count");
    if (rows == 0 || rows > (r.n - r.pos) / (8 + F)) return "bad row count";
    p.times.resize(rows);
    for (auto& t : p.times) t = r.get<double>("times");
    if (p.times[0] != 0.0) return "first time is not 0";
    for (std::size_t i = 1; i < rows; ++i)
      if (!(p.times[i] > p.times[i - 1]) || !std::isfinite(p.times[i])) return "times not increasing";
    r.need(rows * F, "mask");
    p.mask = Eigen::Map<const PhysionetPatient::Mask>(r.p + r.pos, Eigen::Index(rows), Eigen::Index(F));
    r.pos += rows * F;
    p.values.setZero(Eigen::Index(rows), Eigen::Index(F));
    for (Eigen::Index i = 0; i < p.mask.size(); ++i) {
      if (p.mask.data()[i] > 1) return "mask entry other than 0/1";
      if (p.mask.data()[i] == 0) continue;
      p.values.data()[i] = r.get<double>("values");
      if (!std::isfinite(p.values.data()[i])) return "non-finite value";
    }
  }
  if (r.pos != r.n) return "unparsed bytes in the payload";
  out = std::move(data);
  return {};
}

}  // namespace physionet_detail

// What load_physionet did.
struct PhysionetLoadInfo {
  std::size_t files = 0;    // records read (from the files or the cache)
  bool from_cache = false;  // true: the cache was valid and used, no record was parsed
  std::string cache_note;   // why the cache was not used ("" when it was, or when none was asked for)
};

// Reads every *.txt record of `dirs` (e.g. {set-a, set-b}: 8000 patients). With a non-empty
// `cache_path`, a valid cache for these exact files and settings is used instead of parsing; otherwise
// (missing, stale, damaged) the files are parsed and the cache is (re)written atomically. A cache
// that cannot be written raises DataError.
inline PhysionetData load_physionet(const std::vector<std::filesystem::path>& dirs, const PhysionetOptions& options = {},
                                    const std::filesystem::path& cache_path = {}, PhysionetLoadInfo* info = nullptr) {
  using namespace physionet_detail;
  const std::vector<std::filesystem::path> files = physionet_files(dirs);
  PhysionetLoadInfo local;
  PhysionetLoadInfo& report = info ? *info : local;
  report = {};
  report.files = files.size();
  std::uint64_t key = 0;
  if (!cache_path.empty()) {
    key = cache_key(files, options);
    std::error_code ec;
    if (!std::filesystem::exists(cache_path, ec)) {
      report.cache_note = "no cache file";
    } else {
      PhysionetData cached;
      try {
        const std::string text = read_text_file(cache_path);
        report.cache_note = decode_cache(text, cache_path, key, cached);
      } catch (const DataError& e) {  // unreadable
        report.cache_note = e.what();
      }
      if (report.cache_note.empty() && cached.size() == files.size()) {
        report.from_cache = true;
        return cached;
      }
      if (report.cache_note.empty()) report.cache_note = "patient count differs from the file count";
    }
  }
  PhysionetData data;
  data.patients.reserve(files.size());
  for (const auto& f : files) data.patients.push_back(read_physionet_record(f, options));
  if (!cache_path.empty()) {
    try {
      nn::detail::ckpt::atomic_write(cache_path, encode_cache(data, key), {});
    } catch (const nn::CheckpointError& e) {
      throw DataError(cache_path.string(), std::string("cannot write the cache: ") + e.what());
    }
  }
  return data;
}

// ---------------------------------------------------------------------------------------------------
// Split and normalization.

// A seeded partition of patients 0..n-1: the first floor(train_fraction · n) of a Fisher–Yates shuffle
// train, the rest a held-out test set (the reference: Python random.Random(seed).shuffle, int(0.8 n)).
// Each list is returned sorted. mt19937_64 and the bounded draws are fully specified, so a seed gives
// the same split on every platform.
struct PatientSplit {
  std::vector<std::size_t> train, test;
};
inline PatientSplit split_patients(std::size_t n, std::uint64_t seed, double train_fraction = 0.8) {
  if (!(train_fraction >= 0.0 && train_fraction <= 1.0))
    throw std::invalid_argument("split_patients: train_fraction must lie in [0, 1]");
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 gen(seed);
  for (std::size_t i = n; i > 1; --i) {  // draw j uniform in [0, i) by rejection (no modulo bias)
    const std::uint64_t bound = i, limit = std::numeric_limits<std::uint64_t>::max() -
                                           std::numeric_limits<std::uint64_t>::max() % bound;
    std::uint64_t x;
    do x = gen();
    while (x >= limit);
    std::swap(order[i - 1], order[std::size_t(x % bound)]);
  }
  const auto n_train = std::size_t(std::floor(train_fraction * double(n)));
  PatientSplit split{{order.begin(), order.begin() + std::ptrdiff_t(n_train)},
                     {order.begin() + std::ptrdiff_t(n_train), order.end()}};
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.test.begin(), split.test.end());
  return split;
}

enum class PhysionetNormalization {
  reference,    // (x − min) / max over observed bins (max = 0 → 1): Rubanova et al.'s and the paper's code
  min_max,      // (x − min) / (max − min) (a constant feature → 1): observed values land in [0, 1]
  standardize,  // (x − mean) / std, population std over observed bins (std = 0 → 1)
};

// Per-feature affine map x ↦ (x − offset) / scale, fitted on observed entries only.
struct FeatureScaling {
  std::array<double, physionet_feature_count> offset{}, scale{};
  double apply(std::size_t feature, double x) const { return (x - offset[feature]) / scale[feature]; }
};

// Fits the normalization on the patients `indices` (the training split: the reference fits it on all
// 8000, test set included). A feature never observed there gets offset 0, scale 1.
inline FeatureScaling fit_feature_scaling(const PhysionetData& data, std::span<const std::size_t> indices,
                                          PhysionetNormalization kind) {
  constexpr std::size_t F = physionet_feature_count;
  std::array<double, F> lo, hi, mean{}, m2{};
  std::array<std::size_t, F> count{};
  lo.fill(std::numeric_limits<double>::infinity());
  hi.fill(-std::numeric_limits<double>::infinity());
  for (const std::size_t i : indices) {
    if (i >= data.size()) throw std::out_of_range("fit_feature_scaling: patient index out of range");
    const auto& p = data.patients[i];
    for (Eigen::Index r = 0; r < p.mask.rows(); ++r)
      for (std::size_t f = 0; f < F; ++f) {
        if (!p.mask(r, Eigen::Index(f))) continue;
        const double x = p.values(r, Eigen::Index(f));
        lo[f] = std::min(lo[f], x);
        hi[f] = std::max(hi[f], x);
        // Welford's update: no cancellation for features with large values (Urine, Platelets).
        ++count[f];
        const double d = x - mean[f];
        mean[f] += d / double(count[f]);
        m2[f] += d * (x - mean[f]);
      }
  }
  FeatureScaling s;
  for (std::size_t f = 0; f < F; ++f) {
    s.offset[f] = 0.0;
    s.scale[f] = 1.0;
    if (count[f] == 0) continue;
    switch (kind) {
      case PhysionetNormalization::reference:
        s.offset[f] = lo[f];
        s.scale[f] = hi[f] == 0.0 ? 1.0 : hi[f];
        break;
      case PhysionetNormalization::min_max:
        s.offset[f] = lo[f];
        s.scale[f] = hi[f] == lo[f] ? 1.0 : hi[f] - lo[f];
        break;
      case PhysionetNormalization::standardize: {
        const double sd = std::sqrt(m2[f] / double(count[f]));
        s.offset[f] = mean[f];
        s.scale[f] = sd == 0.0 ? 1.0 : sd;
        break;
      }
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Batches.

// Patients on the union of their times, one B × 37 matrix per time (row b: patient indices[b]).
template <class T = double>
struct PhysionetBatch {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<std::size_t> patients;  // the data's indices, in batch order
  std::vector<double> hours;          // the union of their times, sorted, in hours
  std::vector<T> times;               // hours / time unit (the model's time axis)
  std::vector<Matrix> values;         // per time: normalized values, 0 where unobserved
  std::vector<Matrix> mask;           // per time: 1 observed, 0 not (also 0 where the patient has no row)
  std::size_t observed() const {
    std::size_t n = 0;
    for (const auto& m : mask) n += std::size_t((m.array() != T(0)).count());
    return n;
  }
};

// Forms a batch of `indices` over the union of their times (the reference's process_batch, which it
// runs once over the whole training set). Values are normalized by `scaling` (nullptr: raw values).
// times = hours / time_unit_hours; time_unit_hours = 0 divides by the union's largest time, as the
// reference does (48 h on the real training set; a per-batch maximum would give each batch its own
// time axis, hence the fixed default 48 h: the challenge's window).
template <class T = double>
PhysionetBatch<T> make_physionet_batch(const PhysionetData& data, std::span<const std::size_t> indices,
                                       const FeatureScaling* scaling = nullptr, double time_unit_hours = 48.0) {
  constexpr std::size_t F = physionet_feature_count;
  if (!(time_unit_hours >= 0.0) || !std::isfinite(time_unit_hours))
    throw std::invalid_argument("make_physionet_batch: time_unit_hours must be finite and >= 0");
  PhysionetBatch<T> batch;
  batch.patients.assign(indices.begin(), indices.end());
  for (const std::size_t i : indices) {
    if (i >= data.size()) throw std::out_of_range("make_physionet_batch: patient index out of range");
    const auto& t = data.patients[i].times;
    batch.hours.insert(batch.hours.end(), t.begin(), t.end());
  }
  std::sort(batch.hours.begin(), batch.hours.end());
  batch.hours.erase(std::unique(batch.hours.begin(), batch.hours.end()), batch.hours.end());
  const double unit = time_unit_hours > 0.0 ? time_unit_hours
                      : (batch.hours.empty() || batch.hours.back() == 0.0) ? 1.0 : batch.hours.back();
  for (const double h : batch.hours) batch.times.push_back(T(h / unit));
  const auto B = Eigen::Index(indices.size());
  using Matrix = typename PhysionetBatch<T>::Matrix;
  batch.values.assign(batch.hours.size(), Matrix::Zero(B, Eigen::Index(F)));
  batch.mask.assign(batch.hours.size(), Matrix::Zero(B, Eigen::Index(F)));
  for (Eigen::Index b = 0; b < B; ++b) {
    const auto& p = data.patients[indices[std::size_t(b)]];
    std::size_t k = 0;  // position of the patient's time in the union (both sorted)
    for (std::size_t r = 0; r < p.times.size(); ++r) {
      while (batch.hours[k] != p.times[r]) ++k;
      for (std::size_t f = 0; f < F; ++f) {
        if (!p.mask(Eigen::Index(r), Eigen::Index(f))) continue;
        const double x = p.values(Eigen::Index(r), Eigen::Index(f));
        batch.values[k](b, Eigen::Index(f)) = T(scaling ? scaling->apply(f, x) : x);
        batch.mask[k](b, Eigen::Index(f)) = T(1);
      }
    }
  }
  return batch;
}

}  // namespace taynode
