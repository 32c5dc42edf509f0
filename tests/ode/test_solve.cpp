// solve(): call shapes, output times, directions, fixed grids, statistics, state types,
// augmented integrands and every failure mode. Truth comes from closed-form solutions and from
// the evaluation counts that the methods' definitions imply.
#include <catch2/catch.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/jet.hpp"
#include "taynode/ode.hpp"

using namespace taynode;

namespace {

auto decay = [](double, double y) { return -y; };

// Harmonic oscillator y'' = −y: y = (cos t, −sin t) from (1, 0).
struct Oscillator {
  template <class V>
  void operator()(double, const V& y, V& f) const {
    f(0) = y(1);
    f(1) = -y(0);
  }
};

template <class F>
SolveErrorKind failure_kind(F&& run) {
  try {
    run();
  } catch (const SolveError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).rfind("taynode::solve: ", 0) == 0);
    return e.kind();
  }
  FAIL("no SolveError thrown");
  return SolveErrorKind::invalid_argument;
}

}  // namespace

TEST_CASE("output at requested times, forward and backward", "[ode][solve]") {
  SolveOptions<double> opt;
  opt.rtol = 1e-10;
  opt.atol = 1e-12;
  const std::vector<double> fwd{0.0, 0.3, 1.1, 2.0};
  const auto s = solve(decay, 1.0, fwd, Dopri5{}, opt);
  REQUIRE(s.y.size() == fwd.size());
  REQUIRE(s.t == fwd);
  for (std::size_t i = 0; i < fwd.size(); ++i) CHECK(std::abs(s.y[i] - std::exp(-fwd[i])) < 1e-9);

  const std::vector<double> bwd{2.0, 1.0, 0.5, 0.0};
  const auto b = solve(decay, std::exp(-2.0), bwd, Dop853{}, opt);
  for (std::size_t i = 0; i < bwd.size(); ++i) CHECK(std::abs(b.y[i] - std::exp(-bwd[i])) < 1e-9);
  CHECK(b.stats.accepted_steps > 0);
}

TEST_CASE("many output times use dense output, not extra steps", "[ode][solve]") {
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-8;
  std::vector<double> times;
  for (int i = 0; i <= 1000; ++i) times.push_back(10.0 * i / 1000);
  const Eigen::Vector2d y0(1, 0);
  const auto many = solve(Oscillator{}, y0, times, Dopri5{}, opt);
  const auto two = solve(Oscillator{}, y0, {0.0, 10.0}, Dopri5{}, opt);
  CHECK(many.stats.attempted_steps == two.stats.attempted_steps);
  CHECK(many.stats.nfe == two.stats.nfe);  // Dopri5's interpolant is free
  for (std::size_t i = 0; i < times.size(); ++i)
    CHECK(std::abs(many.y[i](0) - std::cos(times[i])) < 2e-7);
}

TEST_CASE("NFE accounting follows the methods' stage counts", "[ode][solve][nfe]") {
  SolveOptions<double> fixed;
  fixed.fixed_steps = 10;
  CHECK(solve(decay, 1.0, {0.0, 1.0}, RK4{}, fixed).stats.nfe == 40);  // 4 per step
  CHECK(solve(decay, 1.0, {0.0, 1.0}, Euler{}, fixed).stats.nfe == 10);
  CHECK(solve(decay, 1.0, {0.0, 1.0}, Midpoint{}, fixed).stats.nfe == 20);
  CHECK(solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, fixed).stats.nfe == 1 + 6 * 10);  // FSAL
  CHECK(solve(decay, 1.0, {0.0, 1.0}, BogackiShampine{}, fixed).stats.nfe == 1 + 3 * 10);

  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-9;
  const Eigen::Vector2d y0(1, 0);
  // f(t0, y0) + initial-step probe + 6 per attempt (FSAL) for Dopri5.
  const auto d5 = solve(Oscillator{}, y0, {0.0, 20.0}, Dopri5{}, opt).stats;
  CHECK(d5.nfe == 2 + 6 * d5.attempted_steps);
  CHECK(d5.attempted_steps == d5.accepted_steps + d5.rejected_steps);
  // DOP853: 11 per attempt + f(t+h, y1) per accepted step.
  const auto d8 = solve(Oscillator{}, y0, {0.0, 20.0}, Dop853{}, opt).stats;
  CHECK(d8.nfe == 2 + 11 * d8.attempted_steps + d8.accepted_steps);
  // Its interpolant costs 3 more evaluations, only on steps that contain an output time.
  const auto d8o = solve(Oscillator{}, y0, {0.0, 5.0, 20.0}, Dop853{}, opt).stats;
  CHECK(d8o.nfe == d8.nfe + 3);
  // Fehlberg (not FSAL): 5 new stages per attempt, k1 once per accepted step.
  const auto f45 = solve(Oscillator{}, y0, {0.0, 20.0}, Fehlberg45{}, opt).stats;
  CHECK(f45.nfe == 2 + 5 * f45.attempted_steps + f45.accepted_steps - 1);

  // The count is of real calls.
  std::size_t calls = 0;
  auto counted = [&](double, double y) {
    ++calls;
    return -y;
  };
  const auto s = solve(counted, 1.0, {0.0, 3.0}, Tsit5{}, opt);
  CHECK(s.stats.nfe == calls);
}

TEST_CASE("fixed grids: number of steps or step size", "[ode][solve]") {
  SolveOptions<double> opt;
  opt.fixed_step_size = 0.3;
  opt.record_step_sizes = true;
  const auto s = solve(decay, 1.0, {0.0, 1.0}, RK4{}, opt);
  REQUIRE(s.stats.step_sizes.size() == 4);  // 0.3, 0.3, 0.3, 0.1
  CHECK(s.stats.step_sizes.back() == Approx(0.1));
  opt.fixed_step_size = 0.25;  // divides the span: exactly 4 steps, no sliver
  CHECK(solve(decay, 1.0, {0.0, 1.0}, RK4{}, opt).stats.accepted_steps == 4);
  opt.fixed_step_size = 0.1;
  CHECK(solve(decay, 1.0, {0.0, 1.0}, RK4{}, opt).stats.accepted_steps == 10);
  // Backward fixed grid with outputs inside steps (Hermite dense output).
  SolveOptions<double> back;
  back.fixed_steps = 16;
  const auto b = solve(decay, std::exp(-1.0), {1.0, 0.55, 0.0}, RK4{}, back);
  CHECK(std::abs(b.y[1] - std::exp(-0.55)) < 1e-6);
  CHECK(std::abs(b.y[2] - 1.0) < 1e-6);
}

TEST_CASE("step-size statistics and limits", "[ode][solve]") {
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-8;
  opt.record_step_sizes = true;
  opt.max_step = 0.1;
  const auto s = solve(Oscillator{}, Eigen::Vector2d(1, 0), {0.0, 3.0}, Dopri5{}, opt);
  CHECK(s.stats.step_sizes.size() == s.stats.accepted_steps);
  double total = 0;
  for (double h : s.stats.step_sizes) {
    total += h;
    CHECK(h <= 0.1 + 1e-15);
  }
  CHECK(total == Approx(3.0).epsilon(1e-12));
}

TEST_CASE("controllers: integral and PI reach the tolerance", "[ode][solve][controller]") {
  const Eigen::Vector2d y0(1, 0);
  for (int which = 0; which < 3; ++which) {
    SolveOptions<double> opt;
    opt.rtol = opt.atol = 1e-8;
    if (which == 1) opt.controller = IntegralController<double>{};
    if (which == 2) opt.controller = PIController<double>{0.8, 0.25, 4.0, 0.08, 0.0, true};
    const auto s = solve(Oscillator{}, y0, {0.0, 10.0}, Dopri5{}, opt);
    CHECK(std::abs(s.final_state()(0) - std::cos(10.0)) < 1e-6);
    CHECK(std::abs(s.final_state()(1) + std::sin(10.0)) < 1e-6);
  }
  SolveOptions<double> bad;
  bad.controller = IntegralController<double>{1.5, 0.2, 10.0, true};
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, bad); }) ==
        SolveErrorKind::invalid_argument);
}

TEST_CASE("state types: scalars, fixed and dynamic vectors, batch matrices", "[ode][solve][state]") {
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-9;
  const auto fixed = solve(Oscillator{}, Eigen::Vector2d(1, 0), {0.0, 5.0}, Dopri5{}, opt);
  Eigen::VectorXd y0(2);
  y0 << 1, 0;
  const auto dyn = solve(Oscillator{}, y0, {0.0, 5.0}, Dopri5{}, opt);
  CHECK(fixed.stats.nfe == dyn.stats.nfe);
  CHECK(std::abs(dyn.final_state()(0) - std::cos(5.0)) < 1e-7);
  CHECK(fixed.final_state()(0) == dyn.final_state()(0));

  // f may return its value instead of writing it.
  auto returning = [](double, const Eigen::VectorXd& y) {
    Eigen::VectorXd f(2);
    f << y(1), -y(0);
    return f;
  };
  const auto ret = solve(returning, y0, {0.0, 5.0}, Dopri5{}, opt);
  CHECK(ret.final_state()(0) == dyn.final_state()(0));

  // float
  SolveOptions<float> optf;
  optf.rtol = optf.atol = 1e-5f;
  const auto f = solve([](float, float y) { return -y; }, 1.0f, {0.0f, 2.0f}, Dopri5{}, optf);
  CHECK(std::abs(f.final_state() - std::exp(-2.0f)) < 1e-4f);

  // A batch (rows) × features (cols) matrix is one system with one step size: its step sequence
  // equals that of the flattened vector, and every entry follows its own exact solution.
  Eigen::MatrixXd rates(3, 2);
  rates << 1, 2, 0.5, 3, 4, 0.25;
  auto batch_rhs = [&](double, const Eigen::MatrixXd& y, Eigen::MatrixXd& dy) {
    dy = -(rates.array() * y.array()).matrix();
  };
  const Eigen::MatrixXd m0 = Eigen::MatrixXd::Ones(3, 2);
  const auto mb = solve(batch_rhs, m0, {0.0, 1.0}, Dopri5{}, opt);
  const Eigen::VectorXd flat_rates = Eigen::Map<const Eigen::VectorXd>(rates.data(), 6);
  auto flat_rhs = [&](double, const Eigen::VectorXd& y, Eigen::VectorXd& dy) {
    dy = -(flat_rates.array() * y.array()).matrix();
  };
  const auto fb = solve(flat_rhs, Eigen::VectorXd::Ones(6).eval(), {0.0, 1.0}, Dopri5{}, opt);
  CHECK(mb.stats.attempted_steps == fb.stats.attempted_steps);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j)
      CHECK(std::abs(mb.final_state()(i, j) - std::exp(-rates(i, j))) < 1e-8);
}

TEST_CASE("Jet-valued states", "[ode][solve][jet]") {
  // y' = −y with y(0) = 1 + s (a first-order path in a parameter s): y(t) = (1 + s)·e^{−t}, so
  // both Taylor coefficients equal e^{−t}.
  using J = Jet<double, 2>;
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-10;
  const J y0 = J::variable(1.0);
  const auto s = solve([](double, const J& y) { return J(-y); }, y0, {0.0, 1.5}, Dopri5{}, opt);
  CHECK(std::abs(s.final_state()[0] - std::exp(-1.5)) < 1e-9);
  CHECK(std::abs(s.final_state()[1] - std::exp(-1.5)) < 1e-9);
  CHECK(std::abs(s.final_state()[2]) < 1e-12);

  // A vector of jets: the oscillator from (1 + s, 0): y = (1 + s)(cos t, −sin t).
  using VJ = Eigen::Matrix<J, 2, 1>;
  VJ v0;
  v0(0) = J::variable(1.0);
  v0(1) = J(0.0);
  const auto v = solve(Oscillator{}, v0, {0.0, 2.0}, Dop853{}, opt);
  CHECK(std::abs(v.final_state()(0)[0] - std::cos(2.0)) < 1e-8);
  CHECK(std::abs(v.final_state()(0)[1] - std::cos(2.0)) < 1e-8);
  CHECK(std::abs(v.final_state()(1)[1] + std::sin(2.0)) < 1e-8);
}

TEST_CASE("per-component tolerances", "[ode][solve]") {
  SolveOptions<double> scalar;
  scalar.rtol = 1e-7;
  scalar.atol = 1e-9;
  SolveOptions<double> vec = scalar;
  vec.rtol_per_component = {1e-7, 1e-7};
  vec.atol_per_component = {1e-9, 1e-9};
  const Eigen::Vector2d y0(1, 0);
  const auto a = solve(Oscillator{}, y0, {0.0, 10.0}, Dopri5{}, scalar);
  const auto b = solve(Oscillator{}, y0, {0.0, 10.0}, Dopri5{}, vec);
  CHECK(a.stats.nfe == b.stats.nfe);
  CHECK(a.final_state() == b.final_state());
  vec.rtol_per_component = {1e-7, 1e-3};
  vec.atol_per_component = {1e-9, 1e-3};
  CHECK(solve(Oscillator{}, y0, {0.0, 10.0}, Dopri5{}, vec).stats.nfe < a.stats.nfe);
}

TEST_CASE("augmented integrands", "[ode][solve][augmented]") {
  // z' = −z, r' = z²: r(t) = (1 − e^{−2t})/2.
  auto f = [](double, const Eigen::VectorXd& z, Eigen::VectorXd& dz) { dz = -z; };
  auto g = [](double, const Eigen::VectorXd& z) { return z.squaredNorm(); };
  const Eigen::VectorXd z0 = Eigen::VectorXd::Ones(1);
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-9;
  const auto in = solve_augmented(f, g, z0, 0.0, {0.0, 1.0}, Dopri5{}, opt, true);
  const auto out = solve_augmented(f, g, z0, 0.0, {0.0, 1.0}, Dopri5{}, opt, false);
  const auto plain = solve(f, z0, {0.0, 1.0}, Dopri5{}, opt);
  const double r_exact = (1 - std::exp(-2.0)) / 2;
  CHECK(std::abs(in.final_state().r - r_exact) < 1e-8);
  CHECK(std::abs(out.final_state().r - r_exact) < 1e-7);
  CHECK(std::abs(in.final_state().z(0) - std::exp(-1.0)) < 1e-8);
  // Excluding r from error control leaves the step sequence of the plain ODE.
  CHECK(out.stats.attempted_steps == plain.stats.attempted_steps);
  CHECK(out.final_state().z(0) == plain.final_state()(0));
}

TEST_CASE("failure modes raise clear errors", "[ode][solve][errors]") {
  using K = SolveErrorKind;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  SolveOptions<double> opt;

  // NaN / Inf in the derivative during the solve, at the start, or in the state.
  CHECK(failure_kind([&] {
          solve([&](double t, double y) { return t > 0.5 ? nan : -y; }, 1.0, {0.0, 1.0}, Dopri5{});
        }) == K::non_finite);
  CHECK(failure_kind([&] {
          solve([&](double t, double y) { return t > 0.5 ? inf : -y; }, 1.0, {0.0, 1.0}, Dop853{});
        }) == K::non_finite);
  CHECK(failure_kind([&] { solve([&](double, double) { return nan; }, 1.0, {0.0, 1.0}, Dopri5{}); }) ==
        K::non_finite);
  CHECK(failure_kind([&] { solve(decay, nan, {0.0, 1.0}, Dopri5{}); }) == K::non_finite);
  SolveOptions<double> grid;
  grid.fixed_steps = 10;
  CHECK(failure_kind([&] {
          solve([&](double t, double y) { return t > 0.5 ? nan : -y; }, 1.0, {0.0, 1.0}, RK4{}, grid);
        }) == K::non_finite);

  // y' = y² blows up at t = 1: the step size underflows (no hang, no garbage).
  CHECK(failure_kind([&] { solve([](double, double y) { return y * y; }, 1.0, {0.0, 2.0}, Dopri5{}); }) ==
        K::step_size_underflow);

  SolveOptions<double> few;
  few.max_steps = 5;
  CHECK(failure_kind([&] {
          solve(Oscillator{}, Eigen::Vector2d(1, 0), {0.0, 100.0}, Dopri5{}, few);
        }) == K::max_steps_exceeded);
  SolveOptions<double> few_fixed;
  few_fixed.max_steps = 5;
  few_fixed.fixed_steps = 6;
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, RK4{}, few_fixed); }) == K::max_steps_exceeded);

  // Invalid tolerances.
  for (auto [rtol, atol] : {std::pair{-1.0, 1e-6}, std::pair{1e-6, nan}, std::pair{0.0, 0.0},
                            std::pair{inf, 1e-6}}) {
    SolveOptions<double> o;
    o.rtol = rtol;
    o.atol = atol;
    CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, o); }) == K::invalid_argument);
  }
  SolveOptions<double> wrong_size;
  wrong_size.rtol_per_component = {1e-6, 1e-6, 1e-6};
  CHECK(failure_kind([&] {
          solve(Oscillator{}, Eigen::Vector2d(1, 0), {0.0, 1.0}, Dopri5{}, wrong_size);
        }) == K::invalid_argument);

  // Invalid spans and output times.
  CHECK(failure_kind([&] { solve(decay, 1.0, {1.0, 1.0}, Dopri5{}); }) == K::invalid_argument);
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0}, Dopri5{}); }) == K::invalid_argument);
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 2.0, 1.0, 3.0}, Dopri5{}); }) == K::invalid_argument);
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, nan}, Dopri5{}); }) == K::invalid_argument);

  // Methods without an error estimate need a grid; grid options are exclusive.
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, RK4{}); }) == K::invalid_argument);
  SolveOptions<double> both;
  both.fixed_steps = 4;
  both.fixed_step_size = 0.1;
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, RK4{}, both); }) == K::invalid_argument);
  SolveOptions<double> neg;
  neg.fixed_step_size = -0.1;
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, RK4{}, neg); }) == K::invalid_argument);
}

// The vector-space operations of fixed-size double states are written out in SSE2 packets (and
// the error norm sums in Eigen's reduction order); they must give exactly the bits of the Eigen
// expressions they replace, or Hairer's step sequences would change. Random data, every size
// class (2 and 4: Eigen unrolls the sum; 28, 30: two accumulators, an odd last packet; 64), 1, 3
// and 6 stages, and Hairer's ratio near the rounding boundaries (tolerances from 1e-3 to 1e-14).
namespace {

template <int Size, std::size_t N>
void check_bitwise_vector_ops(std::mt19937_64& rng) {
  using V = Eigen::Matrix<double, Size, 1>;
  using VS = VectorSpace<V>;
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  auto random_vec = [&] {
    V v;
    for (int i = 0; i < Size; ++i) v(i) = u(rng) * std::pow(10.0, std::floor(3 * u(rng)));
    return v;
  };
  for (int trial = 0; trial < 200; ++trial) {
    std::array<V, N> k;
    std::array<double, N> c;
    for (std::size_t j = 0; j < N; ++j) {
      k[j] = random_vec();
      c[j] = u(rng);
    }
    const V y = random_vec();
    const double h = std::abs(u(rng)) * 0.1 + 1e-3;
    V out;
    std::apply([&](const auto&... kj) { VS::add_scaled(out, y, h, c, kj...); }, k);
    V ref;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      if constexpr (N == 1)
        ref.array() = y.array() + (h * c[0]) * k[0].array();
      else
        ref.array() = y.array() + h * (... + (c[I] * k[I].array()));
    }(std::make_index_sequence<N>{});
    for (int i = 0; i < Size; ++i) REQUIRE(std::bit_cast<std::uint64_t>(out(i)) == std::bit_cast<std::uint64_t>(ref(i)));

    const double tol_value = std::pow(10.0, -3.0 - 11.0 * std::abs(u(rng)) / 2.0);
    const Tolerances<double> tol{tol_value, 0.5 * tol_value};
    const double sum =
        std::apply([&](const auto&... kj) { return VS::error_sq_sum(y, out, h, tol, c, kj...); }, k);
    const double ref_sum = [&]<std::size_t... I>(std::index_sequence<I...>) {
      const auto err = (... + (c[I] * k[I].array())) * h;
      const auto m = y.array().abs().max(out.array().abs());
      return (err / (tol.atol + tol.rtol * m)).square().sum();
    }(std::make_index_sequence<N>{});
    REQUIRE(std::bit_cast<std::uint64_t>(sum) == std::bit_cast<std::uint64_t>(ref_sum));
  }
}

}  // namespace

TEST_CASE("fixed-size vector operations are bitwise equal to the Eigen expressions",
          "[ode][solve][state]") {
#if defined(__FMA__) && !defined(__clang__)
  // With FMA instructions available GCC contracts a·b + c in both codes, but not at the same
  // places: the bits then differ (as they already differ from a build without FMA).
  WARN("built with FMA contraction: bitwise equality is not claimed, test skipped");
  return;
#endif
  std::mt19937_64 rng(12345);
  check_bitwise_vector_ops<2, 1>(rng);
  check_bitwise_vector_ops<2, 6>(rng);
  check_bitwise_vector_ops<4, 1>(rng);
  check_bitwise_vector_ops<4, 3>(rng);
  check_bitwise_vector_ops<4, 6>(rng);
  check_bitwise_vector_ops<6, 6>(rng);
  check_bitwise_vector_ops<8, 6>(rng);
  check_bitwise_vector_ops<28, 3>(rng);
  check_bitwise_vector_ops<28, 6>(rng);
  check_bitwise_vector_ops<30, 6>(rng);
  check_bitwise_vector_ops<64, 6>(rng);
  check_bitwise_vector_ops<66, 6>(rng);
}

// Defects found by attacking solve() as a user would (issue 10, defects 3 and 6): each raises a
// SolveError that names the actual problem.
namespace {
std::string error_message(auto&& run) {
  try {
    run();
  } catch (const SolveError& e) {
    return e.what();
  }
  return "no SolveError thrown";
}
}  // namespace

TEST_CASE("a fixed step far below the span raises max_steps_exceeded", "[ode][solve][errors]") {
  // 1e300 steps: the step count was a double → size_t cast that overflowed (one RK4 step taken).
  SolveOptions<double> tiny;
  tiny.fixed_step_size = 1e-300;
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, RK4{}, tiny); }) == SolveErrorKind::max_steps_exceeded);
  tiny.fixed_step_size = 1e-9;  // 1e9 steps: representable, still more than max_steps
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, RK4{}, tiny); }) == SolveErrorKind::max_steps_exceeded);
}

TEST_CASE("tolerances too small for the norms are reported as such", "[ode][solve][errors]") {
  using K = SolveErrorKind;
  // The weighted norms overflow; f is fine and the message must not blame it.
  SolveOptions<double> small;
  small.rtol = small.atol = 1e-300;
  std::string what = error_message([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, small); });
  INFO(what);
  CHECK(what.find("tolerances") != std::string::npos);
  CHECK(what.find("non-finite") == std::string::npos);
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, small); }) == K::invalid_argument);
  small.step_control = StepControl::jax;
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, small); }) == K::invalid_argument);
  // With a given first step the error estimate overflows instead.
  small.step_control = StepControl::hairer;
  small.first_step = 0.1;
  what = error_message([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, small); });
  INFO(what);
  CHECK(what.find("tolerances") != std::string::npos);
  CHECK(failure_kind([&] { solve(decay, 1.0, {0.0, 1.0}, Dopri5{}, small); }) == K::invalid_argument);
  // A derivative that is not finite at the initial step's probe is still reported as such.
  CHECK(failure_kind([&] {
          solve([](double t, double y) { return t > 0 ? std::numeric_limits<double>::quiet_NaN() : -y; },
                1.0, {0.0, 1.0}, Dopri5{});
        }) == K::non_finite);
}

TEST_CASE("a non-finite initial state is refused before f sees it", "[ode][solve][errors]") {
  int calls = 0;
  auto counted = [&](double, double y) {
    ++calls;
    return -y;
  };
  CHECK(failure_kind([&] { solve(counted, std::numeric_limits<double>::quiet_NaN(), {0.0, 1.0}, Dopri5{}); }) ==
        SolveErrorKind::non_finite);
  CHECK(calls == 0);
}

TEST_CASE("an f whose result has the wrong size raises", "[ode][solve][errors]") {
  const Eigen::VectorXd y3 = Eigen::VectorXd::Ones(3);
  auto returns_two = [](double, const Eigen::VectorXd&) { return Eigen::VectorXd(Eigen::VectorXd::Zero(2)); };
  CHECK(failure_kind([&] { solve(returns_two, y3, {0.0, 1.0}, Dopri5{}); }) == SolveErrorKind::invalid_argument);
  auto resizes = [](double, const Eigen::VectorXd& y, Eigen::VectorXd& dy) {
    dy = -y;
    if (y(0) != 1.0) dy.resize(2);  // wrong from the second stage on
  };
  SolveOptions<double> grid;
  grid.fixed_steps = 4;
  CHECK(failure_kind([&] { solve(resizes, y3, {0.0, 1.0}, RK4{}, grid); }) == SolveErrorKind::invalid_argument);
}
