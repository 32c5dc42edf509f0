// Accuracy against outside truth: convergence orders on a problem with a closed-form solution,
// the DETEST non-stiff problems A1–A4 and D1–D5 (Hull, Enright, Fellen & Sedgwick, SIAM J. Numer.
// Anal. 9, 1972) with exact solutions, and Hairer's problems with published reference values:
// Arenstorf orbit (periodic: y(T) = y(0)), Brusselator at t = 20 and Pleiades at t = 3.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

#include "problems.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using namespace taynode_test;

namespace {

// Least-squares slope of log(err) against log(h).
double fitted_slope(const std::vector<double>& h, const std::vector<double>& err) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = double(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    const double x = std::log(h[i]), y = std::log(err[i]);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

// y' = y cos t, y(0) = 1 on [0, 2]: y = exp(sin t) (DETEST A3, smooth).
auto a3 = [](double t, double y) { return y * std::cos(t); };

template <class M>
void check_convergence(std::vector<std::size_t> steps) {
  std::vector<double> h, err;
  for (std::size_t n : steps) {
    SolveOptions<double> opt;
    opt.fixed_steps = n;
    const double y = solve(a3, 1.0, {0.0, 2.0}, M{}, opt).final_state();
    h.push_back(2.0 / double(n));
    err.push_back(std::abs(y - std::exp(std::sin(2.0))));
  }
  const double slope = fitted_slope(h, err);
  INFO(M::name << ": fitted order " << slope << ", nominal " << M::order);
  CHECK(std::abs(slope - M::order) <= 0.2);
}

// Largest error relative to max(1, |exact|) over components.
template <class V>
double scaled_error(const V& y, const V& exact) {
  return ((y - exact).array().abs() / exact.array().abs().max(1.0)).maxCoeff();
}

}  // namespace

TEST_CASE("every method shows its nominal order", "[ode][accuracy][order]") {
  check_convergence<Euler>({64, 128, 256, 512});
  check_convergence<Midpoint>({32, 64, 128, 256});
  check_convergence<Heun>({32, 64, 128, 256});
  check_convergence<RK4>({16, 32, 64, 128});
  check_convergence<HeunEuler>({32, 64, 128, 256});
  check_convergence<BogackiShampine>({16, 32, 64, 128});
  check_convergence<Fehlberg45>({64, 128, 256, 512});
  check_convergence<CashKarp45>({16, 32, 64, 128});
  check_convergence<Dopri5>({8, 16, 32, 64});
  // Tsit5 is built to have a tiny 5th-order error constant, so on smooth problems its 6th-order
  // term dominates until double rounding sets in. In long double on DETEST A4 over [0, 20] its
  // asymptotic order is visible before the floor set by its 16-digit decimal coefficients.
  {
    std::vector<double> h, err;
    for (std::size_t n : {64, 128, 256}) {
      SolveOptions<long double> opt;
      opt.fixed_steps = n;
      auto a4 = [](long double, long double y) { return y / 4 * (1 - y / 20); };
      const long double y = solve(a4, 1.0L, {0.0L, 20.0L}, Tsit5{}, opt).final_state();
      h.push_back(20.0 / double(n));
      err.push_back(double(std::abs(y - 20 / (1 + 19 * std::exp(-20.0L / 4)))));
    }
    const double slope = fitted_slope(h, err);
    INFO("Tsit5: fitted order " << slope << ", nominal 5");
    CHECK(std::abs(slope - 5) <= 0.2);
  }
  check_convergence<Dop853>({4, 6, 8, 12});
}

TEST_CASE("dense output has the interpolant's order", "[ode][accuracy][dense]") {
  // One step of size h from t = 0 and output at h/2: the error of the interpolant is
  // O(h^(q+1)) for an interpolant of order q (Hairer's DP5: 4, DOP853: 7, Tsit5: 4, cubic
  // Hermite: 3).
  auto check = [](auto method, double q, std::vector<double> hs) {
    using M = decltype(method);
    std::vector<double> err;
    for (double h : hs) {
      SolveOptions<double> opt;
      opt.fixed_steps = 1;
      const auto s = solve(a3, 1.0, {0.0, 0.5 * h, h}, M{}, opt);
      err.push_back(std::abs(s.y[1] - std::exp(std::sin(0.5 * h))));
    }
    const double slope = fitted_slope(hs, err);
    INFO(M::name << ": dense local order " << slope << ", expected " << q + 1);
    // Local order q + 1, not more (the next term, h^(q+2), may still contribute at these h).
    CHECK(slope >= q + 1 - 0.3);
    CHECK(slope <= q + 2 - 0.3);
  };
  check(Dopri5{}, 4, {0.2, 0.1, 0.05, 0.025});
  check(Dop853{}, 7, {0.4, 0.3, 0.2, 0.15});
  check(Tsit5{}, 4, {0.2, 0.1, 0.05, 0.025});
  check(RK4{}, 3, {0.2, 0.1, 0.05, 0.025});
  check(BogackiShampine{}, 3, {0.2, 0.1, 0.05, 0.025});
}

TEST_CASE("dense output is as accurate as the steps", "[ode][accuracy][dense]") {
  // DETEST A3 (y = exp(sin t)) on [0, 20] with output at 400 times: the interpolated values meet
  // the same bound as the step endpoints (DETEST A below).
  auto f = [](double t, double y) { return y * std::cos(t); };
  std::vector<double> times;
  for (int i = 0; i <= 400; ++i) times.push_back(20.0 * i / 400);
  for (double tol : {1e-6, 1e-9}) {
    SolveOptions<double> opt;
    opt.rtol = opt.atol = tol;
    const auto s5 = solve(f, 1.0, times, Dopri5{}, opt);
    const auto s8 = solve(f, 1.0, times, Dop853{}, opt);
    double e5 = 0, e8 = 0;
    for (std::size_t i = 0; i < times.size(); ++i) {
      const double exact = std::exp(std::sin(times[i]));
      e5 = std::max(e5, std::abs(s5.y[i] - exact) / std::max(1.0, exact));
      e8 = std::max(e8, std::abs(s8.y[i] - exact) / std::max(1.0, exact));
    }
    INFO("tol " << tol << " dense error Dopri5 " << e5 << " Dop853 " << e8);
    CHECK(e5 <= 20 * tol);
    CHECK(e8 <= 20 * tol);
  }
}

TEST_CASE("Tsit5 dense output is as accurate as its steps", "[ode][accuracy][dense]") {
  // Output at 401 times on [0, 20], most of them inside steps, for problems with closed-form
  // solutions (DETEST A1–A4, and the harmonic oscillator): the interpolant's error stays within
  // 50 times the tolerance (with cubic Hermite interpolation it reached hundreds of times).
  struct Scalar {
    const char* name;
    double (*f)(double, double);
    double (*exact)(double);
  };
  const Scalar problems[] = {
      {"A1", [](double, double y) { return -y; }, [](double t) { return std::exp(-t); }},
      {"A2", [](double, double y) { return -y * y * y / 2; },
       [](double t) { return 1 / std::sqrt(t + 1); }},
      {"A3", [](double t, double y) { return y * std::cos(t); },
       [](double t) { return std::exp(std::sin(t)); }},
      {"A4", [](double, double y) { return y / 4 * (1 - y / 20); },
       [](double t) { return 20 / (1 + 19 * std::exp(-t / 4)); }},
  };
  std::vector<double> times;
  for (int i = 0; i <= 400; ++i) times.push_back(20.0 * i / 400);
  for (double tol : {1e-6, 1e-8, 1e-10}) {
    SolveOptions<double> opt;
    opt.rtol = opt.atol = tol;
    for (const auto& p : problems) {
      const auto s = solve(p.f, 1.0, times, Tsit5{}, opt);
      double err = 0;
      for (std::size_t i = 0; i < times.size(); ++i) {
        const double exact = p.exact(times[i]);
        err = std::max(err, std::abs(s.y[i] - exact) / std::max(1.0, std::abs(exact)));
      }
      INFO(p.name << " tol " << tol << ": max dense error / tol = " << err / tol << " (" << s.stats.accepted_steps
                  << " steps)");
      CHECK(err <= 50 * tol);
    }
    // y'' = −y, y(0) = (1, 0): y = (cos t, −sin t).
    auto osc = [](double, const Vec2& y) { return Vec2(y[1], -y[0]); };
    const auto s = solve(osc, Vec2(1.0, 0.0), times, Tsit5{}, opt);
    double err = 0;
    for (std::size_t i = 0; i < times.size(); ++i)
      err = std::max(err, (s.y[i] - Vec2(std::cos(times[i]), -std::sin(times[i]))).cwiseAbs().maxCoeff());
    INFO("oscillator tol " << tol << ": max dense error / tol = " << err / tol);
    CHECK(err <= 50 * tol);
  }
}

TEST_CASE("DETEST A1–A4: global error within a small factor of the tolerance", "[ode][accuracy][detest]") {
  struct Scalar {
    const char* name;
    double (*f)(double, double);
    double (*exact)(double);
  };
  const Scalar problems[] = {
      {"A1", [](double, double y) { return -y; }, [](double t) { return std::exp(-t); }},
      {"A2", [](double, double y) { return -y * y * y / 2; },
       [](double t) { return 1 / std::sqrt(t + 1); }},
      {"A3", [](double t, double y) { return y * std::cos(t); },
       [](double t) { return std::exp(std::sin(t)); }},
      {"A4", [](double, double y) { return y / 4 * (1 - y / 20); },
       [](double t) { return 20 / (1 + 19 * std::exp(-t / 4)); }},
  };
  for (const auto& p : problems) {
    for (double tol : {1e-4, 1e-6, 1e-8, 1e-10}) {
      SolveOptions<double> opt;
      opt.rtol = opt.atol = tol;
      const double exact = p.exact(20.0);
      const double e5 = std::abs(solve(p.f, 1.0, {0.0, 20.0}, Dopri5{}, opt).final_state() - exact) /
                        std::max(1.0, std::abs(exact));
      const double e8 = std::abs(solve(p.f, 1.0, {0.0, 20.0}, Dop853{}, opt).final_state() - exact) /
                        std::max(1.0, std::abs(exact));
      INFO(p.name << " tol " << tol << " Dopri5 " << e5 << " Dop853 " << e8);
      CHECK(e5 <= 20 * tol);
      CHECK(e8 <= 20 * tol);
    }
  }
}

TEST_CASE("DETEST D1–D5 (Kepler): global error within a small factor of the tolerance",
          "[ode][accuracy][detest]") {
  for (double e : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    const Kepler k{e};
    for (double tol : {1e-6, 1e-8, 1e-10}) {
      SolveOptions<double> opt;
      opt.rtol = opt.atol = tol;
      const auto exact = k.exact(20.0);
      const double e5 = scaled_error(solve(k, k.y0(), {0.0, 20.0}, Dopri5{}, opt).final_state(), exact);
      const double e8 = scaled_error(solve(k, k.y0(), {0.0, 20.0}, Dop853{}, opt).final_state(), exact);
      INFO("eccentricity " << e << " tol " << tol << " Dopri5 " << e5 << " Dop853 " << e8);
      // Local error control over ~3 revolutions: the phase error accumulates, and the global
      // error of both codes is 10–1000 times the (local) tolerance on these orbits.
      CHECK(e5 <= 1000 * tol);
      CHECK(e8 <= 1000 * tol);
    }
  }
}

TEST_CASE("Hairer's problems against published reference values", "[ode][accuracy][hairer]") {
  // Arenstorf: the orbit is periodic, y(T) = y(0) (HNW I, II.0).
  // Brusselator y(20) (HNW I, II.10, (10.2)); reference from russell_ode
  // (data/reference/brusselator_mathematica.json, Mathematica NDSolve at high precision).
  // Pleiades y(3): the IVP Test Set reference solution (Mazzia & Magherini, plei.pdf).
  const Pleiades::Vec plei_ref = Pleiades::reference_at_3();
  const Vec2 bruss_ref = Brusselator::reference_at_20();
  for (double tol : {1e-6, 1e-8, 1e-10}) {
    SolveOptions<double> opt;
    opt.rtol = opt.atol = tol;
    // Positions only: the velocities after the close approach to the moon amplify the local
    // error by another two orders of magnitude (Hairer's own run at tol 1e-7 ends 2e-6 and 9e-6
    // away from y(0) in the positions, see test_hairer.cpp).
    const Vec4 y0 = Arenstorf::y0();
    const Vec4 a5 =
        solve(Arenstorf{}, y0, {0.0, Arenstorf::period}, Dopri5{}, opt).final_state();
    const Vec4 a8 =
        solve(Arenstorf{}, y0, {0.0, Arenstorf::period}, Dop853{}, opt).final_state();
    const double ea5 = (a5.head<2>() - y0.head<2>()).cwiseAbs().maxCoeff();
    const double ea8 = (a8.head<2>() - y0.head<2>()).cwiseAbs().maxCoeff();
    const double eb5 = scaled_error(
        solve(Brusselator{}, Vec2(1.5, 3.0), {0.0, 20.0}, Dopri5{}, opt).final_state(), bruss_ref);
    const double eb8 = scaled_error(
        solve(Brusselator{}, Vec2(1.5, 3.0), {0.0, 20.0}, Dop853{}, opt).final_state(), bruss_ref);
    const double ep5 = scaled_error(
        solve(Pleiades{}, Pleiades::y0(), {0.0, 3.0}, Dopri5{}, opt).final_state(), plei_ref);
    const double ep8 = scaled_error(
        solve(Pleiades{}, Pleiades::y0(), {0.0, 3.0}, Dop853{}, opt).final_state(), plei_ref);
    INFO("tol " << tol << " Arenstorf " << ea5 << " / " << ea8 << ", Brusselator " << eb5 << " / "
                << eb8 << ", Pleiades " << ep5 << " / " << ep8);
    CHECK(ea5 <= 1000 * tol);
    CHECK(ea8 <= 1000 * tol);
    CHECK(eb5 <= 20 * tol);
    CHECK(eb8 <= 20 * tol);
    // Seven bodies with close encounters: the global error is 100–2000 times the local tolerance.
    CHECK(ep5 <= 2000 * tol);
    CHECK(ep8 <= 2000 * tol);
  }
}
