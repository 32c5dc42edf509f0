// StepControl::jax: the semantics of the paper's reference dopri5 (jax.experimental.ode of 2020,
// REFERENCE.md §5). The library is checked against a small reference implementation written in
// this file directly from the formulas of REFERENCE.md §5 (plain loops over std::vector, its own
// copy of the coefficients, no library code), step by step: the same attempts, accepted and
// rejected steps, step sizes, NFE = 2 + 6·attempts, and outputs from the quartic interpolant.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "problems.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using namespace taynode_test;

namespace {

using V = std::vector<double>;
using Rhs = std::function<V(double, const V&)>;

// ---- reference implementation, transcribed from REFERENCE.md §5 ------------------------------
struct RefResult {
  std::vector<double> attempted_h;   // every attempted step size, in order
  std::vector<bool> accepted;        // whether each attempt was accepted
  std::vector<V> outputs;            // state at each requested time after t0
  std::size_t nfe = 0;
};

// first_step > 0 replaces the initial-step computation (and its probe evaluation).
RefResult reference_dopri5(const Rhs& f_user, V y, const std::vector<double>& ts, double rtol,
                           double atol, double first_step = 0) {
  RefResult res;
  auto f = [&](double t, const V& x) {
    ++res.nfe;
    return f_user(t, x);
  };
  const std::size_t n = y.size();
  // Dormand–Prince nodes, stage matrix, 5th-order weights.
  const double c[7] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
  const double a[7][6] = {{0},
                          {1.0 / 5},
                          {3.0 / 40, 9.0 / 40},
                          {44.0 / 45, -56.0 / 15, 32.0 / 9},
                          {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
                          {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
                          {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
  const double b[7] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0};
  // The alternative embedded solution; error weights b − b̂.
  const double bhat[7] = {1951.0 / 21600, 0, 22642.0 / 50085, 451.0 / 720, -12231.0 / 42400,
                          649.0 / 6300, 1.0 / 60};
  // Midpoint weights ½·(…).
  const double cmid[7] = {6025192743.0 / 30085553152.0 / 2, 0, 51252292925.0 / 65400821598.0 / 2,
                          -2691868925.0 / 45128329728.0 / 2, 187940372067.0 / 1594534317056.0 / 2,
                          -1776094331.0 / 19743644256.0 / 2, 11237099.0 / 235043384.0 / 2};
  auto norm2 = [](const V& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
  };

  // Initial step, order argument 4.
  const double t0 = ts.front();
  V f0 = f(t0, y);
  double h = first_step;
  if (h == 0) {
    V scale(n), tmp(n);
    for (std::size_t i = 0; i < n; ++i) scale[i] = atol + rtol * std::abs(y[i]);
    for (std::size_t i = 0; i < n; ++i) tmp[i] = y[i] / scale[i];
    const double d0 = norm2(tmp);
    for (std::size_t i = 0; i < n; ++i) tmp[i] = f0[i] / scale[i];
    const double d1 = norm2(tmp);
    const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    V yp(n);
    for (std::size_t i = 0; i < n; ++i) yp[i] = y[i] + h0 * f0[i];
    const V f1p = f(t0 + h0, yp);
    for (std::size_t i = 0; i < n; ++i) tmp[i] = (f1p[i] - f0[i]) / scale[i];
    const double d2 = norm2(tmp) / h0;
    const double h1 = (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, 1e-3 * h0)
                                                   : std::pow(0.01 / (d1 + d2), 1.0 / 5);
    h = std::min(100 * h0, h1);
  }

  double t = t0;
  V fy = f0;
  V y_prev, k_store[7];  // the last accepted step: start, stages, step size
  double t_prev = t0, h_prev = 0;
  for (std::size_t target = 1; target < ts.size(); ++target) {
    // Step (accepting or rejecting) until t ≥ target; outputs from the last accepted step.
    while (t < ts[target]) {
      V k[7];
      k[0] = fy;
      for (int s = 1; s < 7; ++s) {
        V yi(n);
        for (std::size_t i = 0; i < n; ++i) {
          double acc = 0;
          for (int j = 0; j < s; ++j) acc += a[s][j] * k[j][i];
          yi[i] = y[i] + h * acc;
        }
        k[s] = f(t + c[s] * h, yi);
      }
      V y1(n);
      double ratio2 = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double acc = 0, err = 0;
        for (int j = 0; j < 7; ++j) acc += b[j] * k[j][i];
        y1[i] = y[i] + h * acc;
        for (int j = 0; j < 7; ++j) err += (b[j] - bhat[j]) * k[j][i];
        err *= h;
        const double tol = atol + rtol * std::max(std::abs(y[i]), std::abs(y1[i]));
        ratio2 += (err / tol) * (err / tol);
      }
      ratio2 /= double(n);
      const double r = std::sqrt(ratio2);
      const double dfac = ratio2 < 1 ? 1.0 : 0.2;
      const double factor = std::max(0.1, std::min(std::pow(r, 1.0 / 5) / 0.9, 1.0 / dfac));
      const double h_new = ratio2 == 0 ? 10 * h : h / factor;
      res.attempted_h.push_back(h);
      res.accepted.push_back(ratio2 <= 1);
      if (ratio2 <= 1) {
        y_prev = y;
        t_prev = t;
        h_prev = h;
        for (int j = 0; j < 7; ++j) k_store[j] = k[j];
        y = y1;
        fy = k[6];
        t = t + h;
      }
      h = h_new;
    }
    // Quartic through y0, y_mid, y1 with slopes h f0, h f1.
    const double theta = (ts[target] - t_prev) / (t - t_prev);
    V out(n);
    for (std::size_t i = 0; i < n; ++i) {
      double acc = 0;
      for (int j = 0; j < 7; ++j) acc += cmid[j] * k_store[j][i];
      const double ymid = y_prev[i] + h_prev * acc;
      const double y0i = y_prev[i], y1i = y[i];
      const double hf0 = h_prev * k_store[0][i], hf1 = h_prev * k_store[6][i];
      const double qa = 2 * (hf1 - hf0) - 8 * (y0i + y1i) + 16 * ymid;
      const double qb = (5 * hf0 - 3 * hf1) + 18 * y0i + 14 * y1i - 32 * ymid;
      const double qc = (hf1 - 4 * hf0) - 11 * y0i - 5 * y1i + 16 * ymid;
      const double qd = hf0, qe = y0i;
      out[i] = (((qa * theta + qb) * theta + qc) * theta + qd) * theta + qe;
    }
    res.outputs.push_back(out);
  }
  return res;
}

// ---- problems ---------------------------------------------------------------------------------
V decay(double, const V& y) { return {-y[0]}; }
V oscillator(double, const V& y) { return {y[1], -y[0]}; }

template <class Vec>
Vec to_eigen(const V& v) {
  Vec out(static_cast<Eigen::Index>(v.size()));
  for (std::size_t i = 0; i < v.size(); ++i) out(static_cast<Eigen::Index>(i)) = v[i];
  return out;
}

// Runs the library in jax mode on an Eigen state and compares with the reference run.
// `step_rtol`: how closely the step sizes must agree. The runs are not bitwise equal: the library
// forms stage 2 as y + (h·a21)·k1 (Hairer's association, which the DOPRI5 reproductions need) and
// the reference as y + h·(a21·k1), and for more than 2 components Eigen sums the error norm in
// another order. The error estimate, a difference of the 5th- and 4th-order solutions, turns
// such last-bit differences into relative changes of order eps/tol in the next step size. Every
// count must still agree exactly.
void compare_with_reference(const Rhs& f, const V& y0, const std::vector<double>& ts, double tol,
                            double step_rtol = 1e-10, double first_step = 0) {
  const RefResult ref = reference_dopri5(f, y0, ts, tol, tol, first_step);
  SolveOptions<double> opt;
  opt.rtol = opt.atol = tol;
  opt.step_control = StepControl::jax;
  opt.record_step_sizes = true;
  opt.first_step = first_step;
  auto fe = [&](double t, const Eigen::VectorXd& y, Eigen::VectorXd& dy) {
    const V d = f(t, V(y.data(), y.data() + y.size()));
    dy = to_eigen<Eigen::VectorXd>(d);
  };
  const auto sol = solve(fe, to_eigen<Eigen::VectorXd>(y0), ts, Dopri5{}, opt);
  const auto& s = sol.stats;

  const std::size_t n_acc = static_cast<std::size_t>(
      std::count(ref.accepted.begin(), ref.accepted.end(), true));
  CHECK(s.attempted_steps == ref.attempted_h.size());
  CHECK(s.accepted_steps == n_acc);
  CHECK(s.rejected_steps == ref.attempted_h.size() - n_acc);
  CHECK(s.nfe == ref.nfe);
  CHECK(s.nfe == (first_step == 0 ? 2 : 1) + 6 * s.attempted_steps);

  // Accepted step sizes, in order.
  std::vector<double> ref_acc;
  for (std::size_t i = 0; i < ref.attempted_h.size(); ++i)
    if (ref.accepted[i]) ref_acc.push_back(ref.attempted_h[i]);
  REQUIRE(s.step_sizes.size() == ref_acc.size());
  double worst = 0;
  for (std::size_t i = 0; i < ref_acc.size(); ++i)
    worst = std::max(worst, std::abs(s.step_sizes[i] / ref_acc[i] - 1));
  INFO("largest relative difference of the accepted step sizes: " << worst);
  CHECK(worst <= step_rtol);

  // Outputs: the quartic interpolant of the step that crossed each time, the last one included.
  REQUIRE(sol.y.size() == ts.size());
  double worst_y = 0;
  for (std::size_t j = 1; j < ts.size(); ++j)
    for (std::size_t i = 0; i < y0.size(); ++i)
      worst_y = std::max(worst_y, std::abs(sol.y[j](static_cast<Eigen::Index>(i)) -
                                           ref.outputs[j - 1][i]) /
                                      std::max(1.0, std::abs(ref.outputs[j - 1][i])));
  INFO("largest difference of the outputs: " << worst_y);
  CHECK(worst_y <= 10 * step_rtol);
}

}  // namespace

TEST_CASE("jax mode reproduces the reference dopri5 step by step: y' = -y", "[ode][jax]") {
  compare_with_reference(decay, {1.0}, {0.0, 1.0}, 1.4e-8);
  compare_with_reference(decay, {1.0}, {0.0, 0.1, 0.35, 0.5, 2.0, 5.0}, 1e-6);
}

TEST_CASE("jax mode reproduces the reference dopri5 step by step: harmonic oscillator",
          "[ode][jax]") {
  compare_with_reference(oscillator, {1.0, 0.0}, {0.0, 10.0}, 1.4e-8);
  std::vector<double> ts;
  for (int i = 0; i <= 40; ++i) ts.push_back(0.25 * i);
  compare_with_reference(oscillator, {1.0, 0.0}, ts, 1e-5);
}

TEST_CASE("jax mode reproduces the reference dopri5 step by step: Arenstorf orbit (rejections)",
          "[ode][jax]") {
  auto f = [](double t, const V& y) {
    Vec4 d;
    Arenstorf{}(t, to_eigen<Vec4>(y), d);
    return V(d.data(), d.data() + 4);
  };
  const Vec4 y0e = Arenstorf::y0();
  const V y0(y0e.data(), y0e.data() + 4);
  // A sensitive orbit over a whole period at tol 1e-6: step sizes agree to about 1e-11 (see
  // compare_with_reference), every count exactly.
  compare_with_reference(f, y0, {0.0, 2.0, 4.0, Arenstorf::period}, 1e-6, 1e-9);
  const RefResult ref = reference_dopri5(f, y0, {0.0, Arenstorf::period}, 1e-6, 1e-6);
  // The orbit forces rejections, so the rejected-step logic is exercised.
  CHECK(std::count(ref.accepted.begin(), ref.accepted.end(), false) > 5);
}

TEST_CASE("jax mode: NFE = 2 + 6 * attempts, steps past every output time", "[ode][jax][nfe]") {
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-7;
  opt.step_control = StepControl::jax;
  opt.record_step_sizes = true;
  std::vector<double> ts{0, 2, 4, 6, 8, 10, 12, 14, 16, Arenstorf::period};
  const auto sol = solve(Arenstorf{}, Arenstorf::y0(), ts, Dopri5{}, opt);
  CHECK(sol.stats.nfe == 2 + 6 * sol.stats.attempted_steps);
  CHECK(sol.stats.attempted_steps == sol.stats.accepted_steps + sol.stats.rejected_steps);
  // No clamping: the accepted steps overshoot the end of the interval.
  double t = 0;
  for (double h : sol.stats.step_sizes) t += h;
  CHECK(t > Arenstorf::period);
  // ...and the output at the end is the interpolant, close to the periodic orbit's start.
  CHECK((sol.final_state().head<2>() - Arenstorf::y0().head<2>()).norm() < 1e-2);

  // Outputs do not change the step sequence (no clamping), unlike Hairer's mode at the end.
  const auto span = solve(Arenstorf{}, Arenstorf::y0(), {0.0, Arenstorf::period}, Dopri5{}, opt);
  CHECK(span.stats.nfe == sol.stats.nfe);
  CHECK(span.stats.step_sizes == sol.stats.step_sizes);

  // With a given first step the initial-step probe is skipped: NFE = 1 + 6 * attempts.
  opt.first_step = 1e-3;
  const auto fs = solve(Arenstorf{}, Arenstorf::y0(), {0.0, Arenstorf::period}, Dopri5{}, opt);
  CHECK(fs.stats.nfe == 1 + 6 * fs.stats.attempted_steps);
  CHECK(fs.stats.step_sizes.front() <= 1e-3);
  if (fs.stats.initial_rejected_steps == 0) CHECK(fs.stats.step_sizes.front() == 1e-3);
}

TEST_CASE("jax mode: the dense output is the quartic through y0, y_mid, y1", "[ode][jax][dense]") {
  // y' = -y with a given first step h = 0.5 that covers all output times: every output comes
  // from the quartic of that one step. Against the reference's a, b, c, d, e polynomial:
  std::vector<double> ts;
  for (int i = 0; i <= 8; ++i) ts.push_back(0.0625 * i);
  compare_with_reference(decay, {1.0}, ts, 1e-3, 1e-10, 0.5);

  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1e-3;  // loose: the first step is accepted
  opt.step_control = StepControl::jax;
  opt.first_step = 0.5;
  auto f = [](double, double y) { return -y; };
  const auto sol = solve(f, 1.0, ts, Dopri5{}, opt);
  REQUIRE(sol.stats.accepted_steps == 1);
  // Through y1, the Dopri5 step (the same step computed by a one-step fixed grid).
  SolveOptions<double> one;
  one.fixed_steps = 1;
  const double y1 = solve(f, 1.0, {0.0, 0.5}, Dopri5{}, one).final_state();
  CHECK(sol.final_state() == Approx(y1).epsilon(1e-15));
  // A quartic: its 5th differences on an equispaced grid vanish.
  std::vector<double> q(sol.y.begin(), sol.y.end());
  for (int order = 0; order < 5; ++order)
    for (std::size_t i = 0; i + 1 < q.size(); ++i) q[i] = q[i + 1] - q[i];
  q.resize(q.size() - 5);
  for (double d5 : q) CHECK(std::abs(d5) < 1e-14);
  // ...but not its 4th differences (not a cubic), and it is a 4th-order accurate interpolant.
  CHECK(std::abs(sol.y[4] - std::exp(-0.25)) < 5e-5);
  // Its slope at the start is f(y0) = -1.
  const double e = 1e-6;
  const auto ends = solve(f, 1.0, {0.0, e, 2 * e}, Dopri5{}, opt);
  CHECK((4 * ends.y[1] - 3 * ends.y[0] - ends.y[2]) / (2 * e) == Approx(-1.0).epsilon(1e-7));
}

TEST_CASE("jax mode: accuracy, backward integration, state types", "[ode][jax]") {
  SolveOptions<double> opt;
  opt.rtol = opt.atol = 1.4e-8;
  opt.step_control = StepControl::jax;
  const Kepler kep{0.5};
  const auto sol = solve(kep, kep.y0(), {0.0, 20.0}, Dopri5{}, opt);
  CHECK((sol.final_state() - kep.exact(20.0)).cwiseAbs().maxCoeff() < 1e-5);
  CHECK(sol.stats.nfe == 2 + 6 * sol.stats.attempted_steps);

  // Backward: y' = y from t = 1 (y = e) to t = 0.
  auto g = [](double, double y) { return y; };
  const auto back = solve(g, std::exp(1.0), {1.0, 0.5, 0.0}, Dopri5{}, opt);
  CHECK(back.y[1] == Approx(std::exp(0.5)).epsilon(1e-6));
  CHECK(back.final_state() == Approx(1.0).epsilon(1e-6));
  CHECK(back.stats.nfe == 2 + 6 * back.stats.attempted_steps);

  // The augmented state of the regularizers counts in the RMS ratio (all components).
  auto z_rhs = [](double, const Eigen::Vector2d& z) { return Eigen::Vector2d(z(1), -z(0)); };
  auto r_rhs = [](double, const Eigen::Vector2d& z) { return z.squaredNorm() / 2; };
  const auto aug = solve_augmented(z_rhs, r_rhs, Eigen::Vector2d(1, 0), 0.0, {0.0, 3.0},
                                   Dopri5{}, opt);
  CHECK(aug.final_state().r == Approx(1.5).epsilon(1e-6));
  CHECK(aug.stats.nfe == 2 + 6 * aug.stats.attempted_steps);
}

TEST_CASE("jax mode: failures raise clear errors", "[ode][jax][errors]") {
  auto f = [](double, double y) { return -y; };
  SolveOptions<double> opt;
  opt.step_control = StepControl::jax;
  auto kind_of = [](auto&& fn) {
    try {
      fn();
    } catch (const SolveError& e) {
      return e.kind();
    }
    return SolveErrorKind(-1);
  };
  CHECK(kind_of([&] { (void)solve(f, 1.0, {0.0, 1.0}, Dop853{}, opt); }) ==
        SolveErrorKind::invalid_argument);
  {
    auto o = opt;
    o.controller = PIController<double>{};
    CHECK_THROWS_WITH(solve(f, 1.0, {0.0, 1.0}, Dopri5{}, o),
                      Catch::Contains("own step-size rule"));
  }
  {
    auto o = opt;
    o.max_step = 0.1;
    CHECK_THROWS_WITH(solve(f, 1.0, {0.0, 1.0}, Dopri5{}, o), Catch::Contains("max_step"));
  }
  {
    auto o = opt;
    o.max_steps = 5;
    CHECK(kind_of([&] { (void)solve(f, 1.0, {0.0, 100.0}, Dopri5{}, o); }) ==
          SolveErrorKind::max_steps_exceeded);
  }
  auto blowup = [](double, double y) { return y * y; };  // y = 1/(1 − t), singular at t = 1
  const auto k = kind_of([&] { (void)solve(blowup, 1.0, {0.0, 2.0}, Dopri5{}, opt); });
  CHECK((k == SolveErrorKind::non_finite || k == SolveErrorKind::step_size_underflow ||
         k == SolveErrorKind::max_steps_exceeded));
  auto nan_rhs = [](double t, double y) { return t > 0.5 ? std::nan("") : -y; };
  CHECK(kind_of([&] { (void)solve(nan_rhs, 1.0, {0.0, 1.0}, Dopri5{}, opt); }) ==
        SolveErrorKind::non_finite);
}
