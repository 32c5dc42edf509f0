// Checkpoints: bit-exact round trip and resumption, rejection of malformed files without touching
// the in-memory state, and atomic saves that never lose the previous checkpoint.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "taynode/nn.hpp"

using namespace taynode::nn;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("taynode_nn_ckpt_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<unsigned char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const fs::path& p, const std::vector<unsigned char>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A deterministic nonconvex-ish gradient: g = θ³ − θ + 0.1·index (elementwise).
template <class T>
ParameterSet<T> grad_of(const ParameterSet<T>& p) {
  auto g = p;
  for (std::size_t i = 0; i < g.size(); ++i)
    g.value(i) = (p.value(i).array().cube() - p.value(i).array() + T(0.1) * T(i)).matrix();
  return g;
}

template <class T>
ParameterSet<T> initial() {
  auto net = mnist_dynamics<T>(6, 5);
  std::mt19937_64 rng(99);
  init_haiku(net, rng);
  return ParameterSet<T>::from_network(net);
}

template <class Opt, class T>
void train(Opt& opt, ParameterSet<T>& p, int steps) {
  for (int s = 0; s < steps; ++s) opt.step(p, grad_of(p));
}

}  // namespace

TEMPLATE_TEST_CASE("checkpoint round trip is bit-exact and resumes identically", "[nn][checkpoint]", float, double) {
  using T = TestType;
  TempDir dir;
  const fs::path file = dir.path / "ckpt.bin";
  const auto schedule = linear_warmup(3, exponential_decay_floor(1e-2, 0.99, 1e-3));

  auto check = [&](auto make) {
    auto p10 = initial<T>();
    auto o10 = make();
    train(o10, p10, 10);

    auto p = initial<T>();
    auto o = make();
    train(o, p, 5);
    save_checkpoint(file, p, &o.state());
    CHECK(fs::exists(file));
    for (const auto& e : fs::directory_iterator(dir.path)) CHECK(e.path() == file);  // no temporaries left

    ParameterSet<T> q;  // empty: adopts the file's tensors
    auto o2 = make();
    load_checkpoint(file, q, &o2.state());
    CHECK(q == p);
    CHECK(o2.state() == o.state());
    train(o2, q, 5);
    CHECK(q == p10);  // operator== is exact (bitwise for non-NaN values)
    CHECK(o2.state() == o10.state());
    CHECK(encode_checkpoint<T>(q, &o2.state()) == encode_checkpoint<T>(p10, &o10.state()));
  };
  check([&] { return SgdMomentum<T>(schedule, 0.9); });
  check([&] { return Adam<T>(schedule); });
  check([&] { return Adamax<T>(schedule); });

  // Parameters only, and loading into network views.
  auto net = mnist_dynamics<T>(6, 5);
  auto p = initial<T>();
  save_checkpoint(file, p);
  auto refs = parameter_refs(net);
  load_checkpoint(file, refs);
  CHECK(ParameterSet<T>::from_network(net) == p);
  Adam<T> adam(constant(1e-3));
  CHECK_THROWS_WITH(load_checkpoint(file, refs, &adam.state()), Catch::Contains("no optimizer state"));
}

TEST_CASE("malformed checkpoints are rejected with a clear message and nothing changes", "[nn][checkpoint]") {
  TempDir dir;
  const fs::path good = dir.path / "good.bin", bad = dir.path / "bad.bin";
  auto p = initial<double>();
  Adam<double> opt(constant(1e-3));
  train(opt, p, 3);
  save_checkpoint(good, p, &opt.state());
  const auto bytes = read_all(good);

  // Targets with different, recognizable contents.
  auto target = initial<double>();
  for (std::size_t i = 0; i < target.size(); ++i) target.value(i).setConstant(7.0);
  Adam<double> target_opt(constant(1e-3));
  train(target_opt, target, 1);
  const auto target_before = target;
  const auto state_before = target_opt.state();

  auto expect_reject = [&](const std::vector<unsigned char>& content, const std::string& problem) {
    write_all(bad, content);
    CHECK_THROWS_AS(load_checkpoint(bad, target, &target_opt.state()), CheckpointError);
    CHECK_THROWS_WITH(load_checkpoint(bad, target, &target_opt.state()),
                      Catch::Contains(bad.string()) && Catch::Contains(problem));
    CHECK(target == target_before);
    CHECK(target_opt.state() == state_before);
  };

  SECTION("truncated") {
    expect_reject({bytes.begin(), bytes.end() - 1}, "truncated");
    expect_reject({bytes.begin(), bytes.begin() + std::ptrdiff_t(bytes.size() / 2)}, "truncated");
    expect_reject({bytes.begin(), bytes.begin() + 12}, "truncated");
    expect_reject({bytes.begin(), bytes.begin() + 3}, "truncated");
    expect_reject({}, "truncated");
  }
  SECTION("wrong magic") {
    auto b = bytes;
    b[0] = 'X';
    expect_reject(b, "bad magic");
  }
  SECTION("flipped payload byte -> checksum") {
    for (std::size_t pos : {checkpoint_header_size + 3, checkpoint_header_size + 40, bytes.size() - 20}) {
      auto b = bytes;
      b[pos] ^= 0x10;
      expect_reject(b, "checksum");
    }
    auto b = bytes;
    b[bytes.size() - 1] ^= 0x01;  // the checksum itself
    expect_reject(b, "checksum");
  }
  SECTION("wrong scalar type") {
    ParameterSet<float> pf = initial<float>();
    save_checkpoint(bad, pf);
    CHECK_THROWS_WITH(load_checkpoint(bad, target), Catch::Contains("wrong scalar type") && Catch::Contains("float32"));
    CHECK(target == target_before);
  }
  SECTION("unsupported version") {
    auto b = bytes;
    b[8] = 9;
    expect_reject(b, "unsupported version 9");
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(load_checkpoint(dir.path / "absent.bin", target), Catch::Contains("cannot open"));
  }
  SECTION("a directory: a CheckpointError naming it, not std::ios_base::failure") {
    CHECK_THROWS_AS(load_checkpoint(dir.path, target), CheckpointError);
    CHECK_THROWS_WITH(load_checkpoint(dir.path, target),
                      Catch::Contains(dir.path.string()) && Catch::Contains("directory"));
    CHECK(target == target_before);
  }
  SECTION("non-finite values (written by hand: save_checkpoint refuses them)") {
    auto nan_params = p;
    nan_params.value(0)(0, 0) = std::numeric_limits<double>::quiet_NaN();
    expect_reject(encode_checkpoint<double>(nan_params, &opt.state()), "non-finite value in the parameters");
  }
  SECTION("shape / optimizer mismatch") {
    ParameterSet<double> other;
    other.add("x", RowMatrix<double>::Zero(2, 2));
    save_checkpoint(bad, other);
    CHECK_THROWS_WITH(load_checkpoint(bad, target), Catch::Contains("names or shapes differ"));
    CHECK(target == target_before);
    // The same names with one tensor of another shape: the message names it and both shapes.
    auto reshaped = initial<double>();
    const std::size_t last = reshaped.size() - 1;
    const auto rows = reshaped.value(last).rows(), cols = reshaped.value(last).cols();
    reshaped.value(last) = RowMatrix<double>::Zero(rows + 1, cols);
    save_checkpoint(bad, reshaped);
    CHECK_THROWS_WITH(load_checkpoint(bad, target),
                      Catch::Contains("'" + reshaped.name(last) + "'") &&
                          Catch::Contains(std::to_string(rows + 1) + " x " + std::to_string(cols) + " in the file") &&
                          Catch::Contains(std::to_string(rows) + " x " + std::to_string(cols) + " in the target"));
    CHECK(target == target_before);
    SgdMomentum<double> sgd(constant(0.1));
    CHECK_THROWS_WITH(load_checkpoint(good, target, &sgd.state()), Catch::Contains("optimizer kind adam"));
    CHECK(target == target_before);
  }
}

TEST_CASE("an interrupted save leaves the previous checkpoint intact", "[nn][checkpoint]") {
  TempDir dir;
  const fs::path file = dir.path / "ckpt.bin";
  auto p = initial<double>();
  SgdMomentum<double> opt(constant(0.1));
  train(opt, p, 2);
  save_checkpoint(file, p, &opt.state());
  const auto before = read_all(file);
  train(opt, p, 2);

  SECTION("write fails midway (simulated I/O error)") {
    for (std::size_t n : {std::size_t(0), std::size_t(10), before.size() / 2}) {
      CHECK_THROWS_WITH(save_checkpoint(file, p, &opt.state(), SaveOptions{n}),
                        Catch::Contains(file.string()) && Catch::Contains("simulated"));
      CHECK(read_all(file) == before);
      std::size_t entries = 0;
      for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
      CHECK(entries == 1);  // the temporary was removed
    }
  }
  SECTION("temporary cannot be created (name too long for the file system)") {
    // A 250-character name is valid, its 263-character temporary is not (NAME_MAX = 255).
    const fs::path longname = dir.path / std::string(250, 'c');
    write_all(longname, before);  // the "previous checkpoint", written directly
    CHECK_THROWS_WITH(save_checkpoint(longname, p, &opt.state()), Catch::Contains("cannot create temporary"));
    CHECK(read_all(longname) == before);
    ParameterSet<double> q;
    SgdMomentum<double> o2(constant(0.1));
    load_checkpoint(longname, q, &o2.state());
    CHECK(o2.state().step == 2);
  }
  SECTION("a successful save replaces it") {
    save_checkpoint(file, p, &opt.state());
    ParameterSet<double> q;
    SgdMomentum<double> o2(constant(0.1));
    load_checkpoint(file, q, &o2.state());
    CHECK(q == p);
    CHECK(o2.state().step == 4);
  }
}

TEST_CASE("a non-finite state is never saved: the last good checkpoint survives", "[nn][checkpoint]") {
  TempDir dir;
  const fs::path file = dir.path / "ckpt.bin";
  auto p = initial<double>();
  SgdMomentum<double> opt(constant(0.1));
  train(opt, p, 2);
  save_checkpoint(file, p, &opt.state());
  const auto before = read_all(file);
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    auto diverged = p;
    diverged.value(1)(0, 0) = bad;
    CHECK_THROWS_WITH(save_checkpoint(file, diverged, &opt.state()),
                      Catch::Contains(file.string()) && Catch::Contains("not saved") &&
                          Catch::Contains("'" + diverged.name(1) + "'"));
    CHECK(read_all(file) == before);
    auto state = opt.state();
    state.slots.at(0).value(0)(0, 0) = bad;
    CHECK_THROWS_WITH(save_checkpoint(file, p, &state), Catch::Contains("non-finite optimizer state"));
    CHECK(read_all(file) == before);
  }
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);  // no temporary left behind
}
