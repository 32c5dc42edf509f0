// The PhysioNet 2012 loader: hand-written records with binning, averaging, masks, normalization and
// batches worked out by hand; every malformed-input error; the real sets A and B against numbers
// computed independently with awk; the cache's round trip and invalidation.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <taynode/data.hpp>

namespace fs = std::filesystem;
using taynode::DataError;
using taynode::PhysionetOptions;
using taynode::PhysionetPatient;

namespace {

fs::path physionet_dir() {
  const char* shared = std::getenv("TAYNODE_SHARED_DATA");
  return fs::path(shared ? shared : "../shared/data") / "physionet2012";
}

// A fresh scratch directory for one test case.
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("taynode_physionet_tests_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::size_t feature(std::string_view name) {
  for (std::size_t i = 0; i < taynode::physionet_feature_count; ++i)
    if (taynode::physionet_features[i] == name) return i;
  FAIL("no feature " << name);
  return 0;
}

// Row of `hours` in a patient (fails the test when absent).
Eigen::Index row_at(const PhysionetPatient& p, double hours) {
  for (std::size_t r = 0; r < p.times.size(); ++r)
    if (p.times[r] == hours) return Eigen::Index(r);
  FAIL("no row at " << hours << " h in record " << p.record_id);
  return -1;
}
bool observed(const PhysionetPatient& p, double hours, std::string_view name) {
  for (std::size_t r = 0; r < p.times.size(); ++r)
    if (p.times[r] == hours) return p.mask(Eigen::Index(r), Eigen::Index(feature(name))) == 1;
  return false;
}
double value(const PhysionetPatient& p, double hours, std::string_view name) {
  const Eigen::Index r = row_at(p, hours), f = Eigen::Index(feature(name));
  REQUIRE(p.mask(r, f) == 1);
  return p.values(r, f);
}

// A small record: ties at HH:30 (round half to even), repeated measurements, the -1 marker, the
// static descriptors, a CRLF line ending, and nothing observed in bin 0 besides the -1 Weight.
const std::string hand_record =
    "Time,Parameter,Value\n"
    "00:00,RecordID,900001\n"
    "00:00,Age,54\n"
    "00:00,Gender,0\n"
    "00:00,Height,-1\n"
    "00:00,ICUType,4\n"
    "00:00,Weight,-1\n"
    "00:31,HR,80\n"        // 0.517 h -> bin 1
    "01:29,HR,90\n"        // 1.483 h -> bin 1: HR(1) = (80 + 90) / 2 = 85
    "01:30,Temp,36.5\n"    // 1.5 h, tie -> 2 (even)
    "00:30,HR,100\r\n"     // 0.5 h, tie -> 0 (even); out of time order, and a CRLF ending
    "02:30,Temp,37.5\n"    // 2.5 h, tie -> 2 (even): Temp(2) = (36.5 + 37.5) / 2 = 37
    "02:31,Weight,70\n"    // 2.517 h -> 3
    "03:29,Weight,72.5\n"  // 3.483 h -> 3: Weight(3) = 71.25
    "47:59,Urine,0\n"      // 47.98 h -> 48: an observed zero
    "48:00,Urine,35\n";    // bin 48: Urine(48) = 17.5

}  // namespace

TEST_CASE("PhysioNet record: bins rounded half to even, bin averages, masks, dropped descriptors",
          "[data][physionet]") {
  const PhysionetPatient p = taynode::parse_physionet_record(hand_record, "some/dir/900001.txt");
  CHECK(p.record_id == "900001");
  // Bins by hand: 0 (00:30 HR, a tie going down to even 0), 1 (00:31, 01:29 HR), 2 (01:30, 02:30
  // Temp: ties to the even 2), 3 (02:31, 03:29 Weight), 48 (47:59, 48:00 Urine).
  REQUIRE(p.times == std::vector<double>{0, 1, 2, 3, 48});
  REQUIRE(p.values.rows() == 5);
  REQUIRE(p.values.cols() == 37);
  CHECK(value(p, 0, "HR") == 100);
  CHECK(value(p, 1, "HR") == 85);  // (80 + 90) / 2
  CHECK(value(p, 2, "Temp") == 37);
  CHECK(value(p, 3, "Weight") == 71.25);
  CHECK(value(p, 48, "Urine") == 17.5);
  // Weight -1 at 00:00 is the challenge's "missing": not observed.
  CHECK_FALSE(observed(p, 0, "Weight"));
  // Exactly these 5 entries are observed; every other value is 0.
  CHECK(p.observed() == 5);
  CHECK(p.values.cwiseAbs().sum() == 100 + 85 + 37 + 71.25 + 17.5);
  // Time-0 row present even when empty (the reference's first row): a record of descriptors only.
  const PhysionetPatient d = taynode::parse_physionet_record(
      "Time,Parameter,Value\n00:00,RecordID,7\n00:00,Age,60\n00:00,Weight,-1\n", "7.txt");
  CHECK(d.times == std::vector<double>{0});
  CHECK(d.observed() == 0);
  // A header-only file is a patient without measurements, too.
  CHECK(taynode::parse_physionet_record("Time,Parameter,Value\n", "8.txt").observed() == 0);
}

TEST_CASE("PhysioNet record: the reference's treatment of -1 and other bin widths are options", "[data][physionet]") {
  PhysionetOptions ref;
  ref.minus_one_is_missing = false;  // the reference counts -1 as an observation
  const PhysionetPatient p = taynode::parse_physionet_record(hand_record, "900001.txt", ref);
  REQUIRE(p.times == std::vector<double>{0, 1, 2, 3, 48});
  CHECK(value(p, 0, "Weight") == -1);
  CHECK(p.observed() == 6);
  // 30-minute bins: 00:30 -> 1 (0.5 h); 00:31, 01:29 -> bins 1, 3 (0.5 h, 1.5 h); 01:30 -> 3
  // (1.5 h); 02:30 -> 5, 02:31 -> 5 (2.5 h); 03:29 -> 7 (3.5 h); 47:59 -> 96, 48:00 -> 96 (48 h).
  PhysionetOptions half_hour;
  half_hour.bin_minutes = 30;
  const PhysionetPatient h = taynode::parse_physionet_record(hand_record, "900001.txt", half_hour);
  CHECK(h.times == std::vector<double>{0, 0.5, 1.5, 2.5, 3.5, 48});
  CHECK(value(h, 0.5, "HR") == 90);   // (80 + 100) / 2
  CHECK(value(h, 1.5, "HR") == 90);
  CHECK(value(h, 1.5, "Temp") == 36.5);
  CHECK(value(h, 2.5, "Temp") == 37.5);
  CHECK(value(h, 2.5, "Weight") == 70);
  CHECK(value(h, 3.5, "Weight") == 72.5);
  PhysionetOptions bad;
  bad.bin_minutes = 0;
  CHECK_THROWS_AS(taynode::parse_physionet_record(hand_record, "x.txt", bad), std::invalid_argument);
}

TEST_CASE("PhysioNet record: malformed input names the file, the line and the problem", "[data][physionet]") {
  using Catch::Contains;
  const std::string header = "Time,Parameter,Value\n", id = "00:00,RecordID,1\n";
  struct Case {
    std::string text;
    std::size_t line;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"", 0, "empty file"},
      {"Time,Parameter,Valu\n" + id, 1, "bad header 'Time,Parameter,Valu'"},
      {"\xef\xbb\xbfTime,Parameter,Value\n", 1, "bad header '\\xef\\xbb\\xbfTime"},
      {header + id + "00:07,Pulse,80\n", 3, "unknown parameter 'Pulse'"},
      {header + id + "00:07,hr,80\n", 3, "unknown parameter 'hr'"},  // names are case-sensitive
      {header + id + "00:07,HR,eighty\n", 3, "value 'eighty' of HR is not a finite number"},
      {header + id + "00:07,HR,80x\n", 3, "value '80x' of HR"},
      {header + id + "00:07,HR,\n", 3, "value '' of HR"},
      {header + id + "00:07,HR,nan\n", 3, "value 'nan' of HR is not a finite number"},
      {header + id + "00:07,HR,1e999\n", 3, "value '1e999' of HR"},
      {header + id + "0:7,HR,80\n", 3, "bad time '0:7' (expected HH:MM)"},
      {header + id + "00:60,HR,80\n", 3, "bad time '00:60' (minutes must be below 60)"},
      {header + id + "-1:00,HR,80\n", 3, "bad time '-1:00'"},
      {header + id + "0007,HR,80\n", 3, "bad time '0007'"},
      {header + id + "1234567:00,HR,80\n", 3, "more than 6 digits of hours"},
      {header + id + "00:07,HR\n", 3, "expected 3 comma-separated fields Time,Parameter,Value, found 2"},
      {header + id + "00:07,HR,80,1\n", 3, "found 4"},
      {header + id + "\n00:07,HR,80\n", 3, "found 1 (empty line)"},
  };
  for (const auto& c : cases) {
    INFO("record text: " << c.text);
    const std::string path = "/data/set-x/123456.txt";
    try {
      taynode::parse_physionet_record(c.text, path);
      FAIL("no error raised");
    } catch (const DataError& e) {
      CHECK(e.path() == path);
      CHECK(e.line() == c.line);
      CHECK_THAT(e.what(), Contains(path) && Contains(c.problem));
      if (c.line) CHECK_THAT(e.what(), Contains("line " + std::to_string(c.line) + ": "));
    }
  }
  // The same through the file reader and the directory loader (which names the offending file).
  const fs::path dir = scratch("malformed");
  write_file(dir / "1.txt", header + id + "00:07,HR,80\n");
  write_file(dir / "2.txt", header + id + "00:07,HR,80\n01:00,Glucose,high\n");
  CHECK_THROWS_WITH(taynode::read_physionet_record(dir / "2.txt"),
                    Contains((dir / "2.txt").string() + ": line 4: value 'high' of Glucose"));
  CHECK_THROWS_WITH(taynode::load_physionet({dir}),
                    Contains((dir / "2.txt").string() + ": line 4: value 'high' of Glucose"));
  CHECK_THROWS_WITH(taynode::read_physionet_record(dir / "missing.txt"), Contains("cannot open"));
  CHECK_THROWS_WITH(taynode::load_physionet({dir / "nope"}), Contains("not a directory"));
  CHECK_THROWS_WITH(taynode::load_physionet({scratch("empty-dir")}), Contains("holds no .txt patient files"));
}

TEST_CASE("PhysioNet normalization is fitted on the given patients only, in three kinds", "[data][physionet]") {
  const std::string h = "Time,Parameter,Value\n00:00,RecordID,1\n";
  taynode::PhysionetData data;
  // Training patients 0 and 1; patient 2 (held out) has an extreme HR that must not enter the fit.
  data.patients.push_back(taynode::parse_physionet_record(h + "00:10,HR,60\n01:00,HR,80\n01:00,HR,100\n", "a.txt"));
  data.patients.push_back(taynode::parse_physionet_record(h + "02:00,HR,120\n02:00,Temp,37\n03:00,Temp,37\n", "b.txt"));
  data.patients.push_back(taynode::parse_physionet_record(h + "00:00,HR,400\n00:00,pH,7.4\n", "c.txt"));
  const std::vector<std::size_t> train = {0, 1};
  const std::size_t hr = feature("HR"), temp = feature("Temp"), ph = feature("pH");
  // HR bin values in training: 60, 90 (mean of 80, 100), 120. Temp: 37, 37. pH never observed.
  using N = taynode::PhysionetNormalization;
  const auto ref = taynode::fit_feature_scaling(data, train, N::reference);
  CHECK(ref.offset[hr] == 60);
  CHECK(ref.scale[hr] == 120);  // (x - min) / max
  CHECK(ref.apply(hr, 90) == 0.25);
  CHECK(ref.offset[temp] == 37);
  CHECK(ref.scale[temp] == 37);
  CHECK(ref.offset[ph] == 0);  // unobserved: identity
  CHECK(ref.scale[ph] == 1);
  const auto mm = taynode::fit_feature_scaling(data, train, N::min_max);
  CHECK(mm.scale[hr] == 60);
  CHECK(mm.apply(hr, 90) == 0.5);
  CHECK(mm.scale[temp] == 1);  // constant feature
  CHECK(mm.apply(temp, 37) == 0);
  const auto z = taynode::fit_feature_scaling(data, train, N::standardize);
  CHECK(z.offset[hr] == Approx(90).epsilon(1e-15));
  CHECK(z.scale[hr] == Approx(std::sqrt(600.0)).epsilon(1e-15));  // ((30² + 0² + 30²) / 3)^½
  CHECK(z.scale[temp] == 1);
  // Fitting on all three patients instead (what the reference does) moves HR's max to 400.
  const std::vector<std::size_t> all = {0, 1, 2};
  CHECK(taynode::fit_feature_scaling(data, all, N::reference).scale[hr] == 400);
}

TEST_CASE("PhysioNet batch: the union of the patients' times, normalized values and masks", "[data][physionet]") {
  const std::string h = "Time,Parameter,Value\n00:00,RecordID,1\n";
  taynode::PhysionetData data;
  data.patients.push_back(taynode::parse_physionet_record(h + "00:10,HR,60\n02:00,HR,90\n", "a.txt"));
  data.patients.push_back(taynode::parse_physionet_record(h + "01:00,HR,120\n01:00,pH,7\n24:00,pH,7.5\n", "b.txt"));
  const std::size_t hr = feature("HR"), ph = feature("pH");
  const std::vector<std::size_t> idx = {1, 0};
  const auto scaling = taynode::fit_feature_scaling(data, idx, taynode::PhysionetNormalization::reference);
  const auto batch = taynode::make_physionet_batch(data, idx, &scaling);
  // Union of {0, 2} and {0, 1, 24}.
  REQUIRE(batch.hours == std::vector<double>{0, 1, 2, 24});
  CHECK(batch.times == std::vector<double>{0, 1.0 / 48, 2.0 / 48, 0.5});
  CHECK(batch.patients == idx);
  REQUIRE(batch.values.size() == 4);
  CHECK(batch.values[0].rows() == 2);
  CHECK(batch.values[0].cols() == 37);
  CHECK(batch.observed() == 5);
  // Row 0 is patient 1 ("b"), row 1 patient 0 ("a"). HR: min 60, max 120; pH: min 7, max 7.5.
  CHECK(batch.mask[1](0, Eigen::Index(hr)) == 1);
  CHECK(batch.values[1](0, Eigen::Index(hr)) == 0.5);  // (120 - 60) / 120
  CHECK(batch.values[0](1, Eigen::Index(hr)) == 0);    // (60 - 60) / 120, observed
  CHECK(batch.mask[0](1, Eigen::Index(hr)) == 1);
  CHECK(batch.values[2](1, Eigen::Index(hr)) == 0.25);  // (90 - 60) / 120
  CHECK(batch.values[3](0, Eigen::Index(ph)) == Approx(0.5 / 7.5).epsilon(1e-15));
  CHECK(batch.mask[3](1, Eigen::Index(ph)) == 0);  // patient "a" has no row at 24 h
  CHECK(batch.mask[2](0, Eigen::Index(hr)) == 0);
  // Raw values and the reference's division by the union's largest time.
  const auto raw = taynode::make_physionet_batch<float>(data, idx, nullptr, 0.0);
  CHECK(raw.times == std::vector<float>{0, 1.0f / 24, 2.0f / 24, 1});
  CHECK(raw.values[1](0, Eigen::Index(hr)) == 120);
}

TEST_CASE("PhysioNet split: a seeded 80/20 partition", "[data][physionet]") {
  const auto a = taynode::split_patients(8000, 7);
  CHECK(a.train.size() == 6400);
  CHECK(a.test.size() == 1600);
  std::set<std::size_t> all(a.train.begin(), a.train.end());
  all.insert(a.test.begin(), a.test.end());
  CHECK(all.size() == 8000);
  CHECK(*all.rbegin() == 7999);
  CHECK(std::is_sorted(a.train.begin(), a.train.end()));
  const auto b = taynode::split_patients(8000, 7), c = taynode::split_patients(8000, 8);
  CHECK(a.test == b.test);
  CHECK(a.test != c.test);
  // The held-out set is spread over the whole range, not a block (a shuffle happened).
  CHECK(a.test.front() < 100);
  CHECK(a.test.back() > 7900);
  CHECK(taynode::split_patients(7, 1).train.size() == 5);  // floor(0.8 · 7), as the reference's int()
  CHECK_THROWS_AS(taynode::split_patients(10, 1, 1.5), std::invalid_argument);
}

TEST_CASE("PhysioNet sets A and B: counts and binned values checked independently with awk", "[data][physionet]") {
  const fs::path root = physionet_dir();
  const auto a = taynode::load_physionet({root / "set-a"});
  const auto b = taynode::load_physionet({root / "set-b"});
  REQUIRE(a.size() == 4000);
  REQUIRE(b.size() == 4000);
  CHECK(a.patients.front().record_id == "132539");  // SOURCE.md: 132539.txt … 142673.txt
  CHECK(a.patients.back().record_id == "142673");
  CHECK(b.patients.front().record_id == "142675");  // 142675.txt … 152864.txt
  CHECK(b.patients.back().record_id == "152864");

  // Totals over all 8000 records, computed with awk independently of this loader:
  //   awk -F, 'FNR>1{split($1,a,":"); m=a[1]*60+a[2]; q=int(m/60); r=m%60;
  //     if(r>30||(r==30&&q%2==1))q++; if($2=="RecordID"||$2=="Age"||$2=="Gender"||$2=="Height"||
  //     $2=="ICUType") next; if($3==-1) next; c[FILENAME" "q" "$2]=1; if(q) b[FILENAME" "q]=1; u[q]=1}
  //     END{...count keys of c, of b (+8000 time-0 rows), of u}' set-a/*.txt set-b/*.txt
  // gives 2875395 observed (bin, feature) entries, 363009 rows, 49 distinct bins. Without the
  // `$3==-1` filter (the reference) 2876036 entries. (An independent Python re-implementation of the
  // reference's parser also agrees with this loader on every binned value of all 8000 records.)
  std::size_t rows = 0, entries = 0;
  std::set<double> all_hours;
  for (const auto* set : {&a, &b})
    for (const auto& p : set->patients) {
      rows += p.times.size();
      entries += p.observed();
      all_hours.insert(p.times.begin(), p.times.end());
    }
  CHECK(rows == 363009);
  CHECK(entries == 2875395);
  PhysionetOptions ref;
  ref.minus_one_is_missing = false;
  std::size_t ref_entries = 0;
  for (const auto& p : taynode::load_physionet({root / "set-a", root / "set-b"}, ref).patients)
    ref_entries += p.observed();
  CHECK(ref_entries == 2876036);
  // The union of all bins is 0…48 h (REFERENCE.md §8: 49 grid points).
  CHECK(all_hours.size() == 49);
  CHECK(*all_hours.rbegin() == 48);

  // Record 132539 (set A), by awk with the same rounding: 48 rows; 266 observed entries (267 with
  // the reference's -1 Weight at 00:00); Urine in bin 28 = mean(400, 0) (both at 27:37); HR bin 2 =
  // 60 (01:37); HR bin 48 = 86; Urine bin 1 = 60 (00:37).
  const PhysionetPatient& p = a.patients.front();
  CHECK(p.times.size() == 48);
  CHECK(p.observed() == 266);
  CHECK_FALSE(observed(p, 0, "Weight"));
  CHECK(value(p, 28, "Urine") == 200);
  CHECK(value(p, 2, "HR") == 60);
  CHECK(value(p, 48, "HR") == 86);
  CHECK(value(p, 1, "Urine") == 60);
  CHECK(taynode::read_physionet_record(root / "set-a" / "132539.txt", ref).observed() == 267);

  // Record 142675 (set B), by awk: 49 rows, 452 entries; Weight 85 at 00:00; Urine bin 1 =
  // mean(1030, 400) = 715 (both at 01:18); bin 2 means of 7 measurements 01:33…02:18: HR 77, MAP
  // 636/7; Temp of 4: 35.775; pH at 32:30 (a tie) in bin 32, not 33; Lactate at 33:30 in bin 34,
  // 32:16 Lactate in bin 32; HR bin 47 = mean(..) 21 over 2 measurements.
  const PhysionetPatient& q = b.patients.front();
  CHECK(q.times.size() == 49);
  CHECK(q.observed() == 452);
  CHECK(value(q, 0, "Weight") == 85);
  CHECK(value(q, 1, "Urine") == 715);
  CHECK(value(q, 2, "HR") == 77);
  CHECK(value(q, 2, "MAP") == Approx(636.0 / 7).epsilon(1e-15));
  CHECK(value(q, 2, "Temp") == Approx(35.775).epsilon(1e-15));
  CHECK(value(q, 32, "pH") == 7.39);
  CHECK(value(q, 33, "pH") == 7.39);  // 33:20 alone: a round-half-up loader would average two here
  CHECK(value(q, 32, "Lactate") == 4.1);
  CHECK(value(q, 34, "Lactate") == 3.3);
  CHECK_FALSE(observed(q, 33, "Lactate"));
  CHECK(value(q, 47, "HR") == 21);
}

TEST_CASE("PhysioNet cache: round trip, invalidation by inputs and settings, corruption rebuilt",
          "[data][physionet]") {
  // A directory of 30 real records (copies, so they can be touched).
  const fs::path dir = scratch("cache-inputs"), cache = scratch("cache") / "physionet.cache";
  std::size_t copied = 0;
  for (const auto& f : taynode::physionet_files({physionet_dir() / "set-a"})) {
    fs::copy_file(f, dir / f.filename());
    if (++copied == 30) break;
  }
  taynode::PhysionetLoadInfo info;
  const auto parsed = taynode::load_physionet({dir});
  const auto first = taynode::load_physionet({dir}, {}, cache, &info);
  CHECK_FALSE(info.from_cache);
  CHECK(info.cache_note == "no cache file");
  REQUIRE(fs::exists(cache));
  const auto second = taynode::load_physionet({dir}, {}, cache, &info);
  CHECK(info.from_cache);
  CHECK(info.files == 30);
  CHECK(info.cache_note.empty());
  CHECK(second.patients == parsed.patients);
  CHECK(first.patients == parsed.patients);
  // No stray temporaries next to the cache.
  CHECK(std::distance(fs::directory_iterator(cache.parent_path()), fs::directory_iterator()) == 1);

  SECTION("settings change") {
    PhysionetOptions ref;
    ref.minus_one_is_missing = false;
    const auto r = taynode::load_physionet({dir}, ref, cache, &info);
    CHECK_FALSE(info.from_cache);
    CHECK(info.cache_note == "stale (input files or settings changed)");
    CHECK(r.patients == taynode::load_physionet({dir}, ref).patients);
    taynode::load_physionet({dir}, ref, cache, &info);
    CHECK(info.from_cache);
  }
  SECTION("an input file rewritten (new contents and time)") {
    const fs::path file = dir / (parsed.patients[3].record_id + ".txt");
    std::ofstream(file, std::ios::app) << "48:00,pH,6.5\n";
    fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
    const auto r = taynode::load_physionet({dir}, {}, cache, &info);
    CHECK_FALSE(info.from_cache);
    CHECK(info.cache_note == "stale (input files or settings changed)");
    CHECK(r.patients[3] == taynode::read_physionet_record(file));  // the new data, not the cache's
    CHECK_FALSE(r.patients[3] == parsed.patients[3]);
  }
  SECTION("an input file only touched") {
    const fs::path file = dir / (parsed.patients[0].record_id + ".txt");
    fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
    taynode::load_physionet({dir}, {}, cache, &info);
    CHECK_FALSE(info.from_cache);
  }
  SECTION("a file added") {
    write_file(dir / "999999.txt", "Time,Parameter,Value\n00:00,RecordID,999999\n");
    CHECK(taynode::load_physionet({dir}, {}, cache, &info).size() == 31);
    CHECK_FALSE(info.from_cache);
  }
  SECTION("corrupted, truncated or foreign cache files are rebuilt, never trusted") {
    std::string bytes;
    {
      std::ifstream in(cache, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    struct Damage {
      std::string bytes, note;
    };
    std::string flipped = bytes;
    flipped[bytes.size() / 2] = char(flipped[bytes.size() / 2] ^ 0x10);
    const std::vector<Damage> damages = {
        {flipped, "checksum mismatch (file corrupted)"},
        {bytes.substr(0, bytes.size() - 9), "truncated or with trailing bytes"},
        {bytes + "x", "truncated or with trailing bytes"},
        {"hello", "not a cache file (bad magic or too short)"},
        {std::string(), "not a cache file (bad magic or too short)"},
    };
    for (const auto& d : damages) {
      write_file(cache, d.bytes);
      const auto r = taynode::load_physionet({dir}, {}, cache, &info);
      CHECK_FALSE(info.from_cache);
      CHECK(info.cache_note == d.note);
      CHECK(r.patients == parsed.patients);
      taynode::load_physionet({dir}, {}, cache, &info);  // rewritten: valid again
      CHECK(info.from_cache);
    }
  }
}

TEST_CASE("PhysioNet cache of all 8000 records equals the parsed records", "[data][physionet]") {
  const fs::path root = physionet_dir(), cache = scratch("cache-full") / "physionet.cache";
  const auto parsed = taynode::load_physionet({root / "set-a", root / "set-b"});
  taynode::PhysionetLoadInfo info;
  taynode::load_physionet({root / "set-a", root / "set-b"}, {}, cache, &info);
  REQUIRE_FALSE(info.from_cache);
  const auto cached = taynode::load_physionet({root / "set-a", root / "set-b"}, {}, cache, &info);
  REQUIRE(info.from_cache);
  REQUIRE(cached.size() == 8000);
  CHECK(cached.patients == parsed.patients);
  fs::remove_all(cache.parent_path());
}

// Timing, not run by ctest (hidden tag): `data_tests "[.physionet-timing]"`. "Cold" evicts the files
// from the page cache first (posix_fadvise DONTNEED, which needs no privileges for clean pages).
TEST_CASE("PhysioNet load timing, cold and warm", "[.physionet-timing]") {
  const fs::path root = physionet_dir(), cache = scratch("timing") / "physionet.cache";
  const std::vector<fs::path> dirs = {root / "set-a", root / "set-b"};
  auto evict = [](const fs::path& f) {
    const int fd = ::open(f.c_str(), O_RDONLY);
    if (fd < 0) return;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  };
  // Wall-clock seconds, and the process's CPU seconds in brackets (the wall time on a shared machine
  // includes waiting for a core).
  auto timed = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    f();
    const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::to_string(wall) + " s (cpu " + std::to_string(cpu) + " s)";
  };
  taynode::PhysionetLoadInfo info;
  for (const auto& f : taynode::physionet_files(dirs)) evict(f);
  const std::string cold = timed([&] { taynode::load_physionet(dirs); });
  const std::string warm = timed([&] { taynode::load_physionet(dirs); });
  const std::string write = timed([&] { taynode::load_physionet(dirs, {}, cache, &info); });
  evict(cache);
  for (const auto& f : taynode::physionet_files(dirs)) evict(f);
  const std::string cache_cold = timed([&] { taynode::load_physionet(dirs, {}, cache, &info); });
  REQUIRE(info.from_cache);
  const std::string cache_warm = timed([&] { taynode::load_physionet(dirs, {}, cache, &info); });
  WARN("8000 records: parse cold " << cold << ", warm " << warm << "; parse + cache write " << write
                                   << "; from cache cold " << cache_cold << ", warm " << cache_warm << " ("
                                   << fs::file_size(cache) << " bytes)");
  fs::remove_all(cache.parent_path());
}

TEST_CASE("PhysioNet cache: counts larger than the file are rejected before anything is allocated",
          "[data][physionet]") {
  // A well-formed cache of one record whose counts are then inflated and the checksum re-sealed, so
  // that only the bounds checks stand between the counts and an allocation.
  taynode::PhysionetData data;
  data.patients.push_back(taynode::parse_physionet_record(hand_record, "900001.txt"));
  const std::vector<unsigned char> good = taynode::physionet_detail::encode_cache(data, 7);
  auto reseal = [](std::vector<unsigned char> b) {
    const std::uint64_t h = taynode::nn::fnv1a64(b.data() + 28, b.size() - 36);
    std::memcpy(b.data() + b.size() - 8, &h, 8);
    return std::string(b.begin(), b.end());
  };
  auto decode = [](const std::string& bytes, std::uint64_t key) {
    taynode::PhysionetData out;
    return taynode::physionet_detail::decode_cache(bytes, "c", key, out);
  };
  CHECK(decode(reseal(good), 7).empty());
  CHECK(decode(reseal(good), 8) == "stale (input files or settings changed)");
  // Payload starts at byte 28: u64 patient count, u32 id length (6), "900001", u32 row count.
  auto with = [&](std::size_t at, std::uint64_t v, std::size_t width) {
    std::vector<unsigned char> b = good;
    std::memcpy(b.data() + at, &v, width);  // little-endian host, as the test machines are
    return reseal(b);
  };
  CHECK(decode(with(28, std::uint64_t(1) << 60, 8), 7) == "implausible patient count");
  CHECK(decode(with(36, 0xffffffffu, 4), 7) == "truncated payload while reading record id");
  CHECK(decode(with(46, 0xffffffffu, 4), 7) == "bad row count");
  CHECK(decode(with(46, 0, 4), 7) == "bad row count");
  CHECK(decode(with(50, 0x3ff0000000000000ull, 8), 7) == "first time is not 0");  // times[0] = 1.0
}
