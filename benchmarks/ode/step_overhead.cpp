// Per-step overhead of taynode's Dopri5 beyond the f evaluations, side by side with
// Boost.Odeint's runge_kutta_dopri5 (controlled, FSAL, integrate_adaptive) on the same right-hand
// sides. Both solvers are timed interleaved, R rounds, and the medians are reported.
//
//   overhead per attempted step = (T_solve − NFE · t_f) / attempts
//
// t_f is the latency of one f call on the solve's own states (a dependency chain, as inside an
// RK step, where each stage's input depends on the previous stage). Both solvers make about 6
// evaluations per attempt, so an error in t_f shifts both overheads by the same amount; the
// comparison column does not depend on it.
//
// t_ctrl is the latency of Hairer's step-size control on the path from the error estimate to the
// next step size (√(Σ/n), err^α, ÷ FACOLD^β, ÷ safety, clamps, h ÷ fac; the second pow,
// FACOLD^β of the accepted step, is off that path but executed), measured as a dependency chain.
// Every step of the next attempt waits for it. Boost's controller leaves h unchanged for
// 0.5 ≤ err ≤ 1 (and calls pow only outside that band), so nothing but a predicted branch
// depends on its error there: its corresponding latency is ≈ 0.
//
//   bench_ode_step_overhead [rounds]
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "problems.hpp"
#include "taynode/ode.hpp"

#ifdef TAYNODE_HAVE_BOOST_ODEINT
// Boost.Odeint copy-constructs its (uninitialized) fixed-size Eigen stage buffers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>
#endif

using namespace taynode;
using namespace taynode_test;
using Clock = std::chrono::steady_clock;

namespace {

volatile double g_zero = 0.0;  // defeats constant folding in the f-latency chain

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// Seconds per call of fn, over at least ~2 ms of repetitions.
template <class Fn>
double time_block(Fn&& fn) {
  std::size_t reps = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < 2e-3);
  return elapsed / double(reps);
}

struct Result {
  std::size_t nfe = 0, attempts = 0;
  double seconds = 0;
};

template <class Vec, class F>
double f_latency(F f, const Vec& y0) {
  Vec y = y0, dy = y0;
  const double z = g_zero;
  const int n = 2000;
  std::vector<double> t;
  for (int r = 0; r < 15; ++r)
    t.push_back(time_block([&] {
      for (int i = 0; i < n; ++i) {
        f(0.0, y, dy);
        y(0) += z * dy(dy.size() - 1);  // chain: next input depends on this output
      }
    }) / n);
  return median(t);
}

// Latency of err → h_new through StepSizeControl (Hairer's DOPRI5 constants), accepted steps with
// errors in [0.45, 0.6] (h then shrinks ≈ 2 % per step: no overflow or denormals in 2000 steps).
double control_latency() {
  const double z = g_zero;
  const int n = 2000;
  std::vector<double> t;
  for (int r = 0; r < 15; ++r)
    t.push_back(time_block([&] {
      StepSizeControl<double> ctrl(PIController<double>::hairer_dopri5(), 5);
      double h = 1e-2;
      for (int i = 0; i < n; ++i) {
        const double sum = 4.0 * (0.2025 + 0.01875 * double(i & 7));  // err² · count
        const double err = std::sqrt((sum + z * h) / 4.0);           // depends on the last h
        h = ctrl.propose(err, h);
      }
      if (h == 42.0) std::printf(" ");
    }) / n);
  return median(t);
}

template <class Vec, class F>
void compare(const char* name, F f, const Vec& y0, double t1, int rounds, double t_ctrl) {
  const double tf = f_latency<Vec>(f, y0);
  for (double tol : {1e-4, 1e-6, 1e-8, 1e-10, 1e-12}) {
    SolveOptions<double> opt;
    opt.rtol = opt.atol = tol;
    opt.max_steps = 10000000;
    Result a;
    {
      const auto sol = solve(f, y0, {0.0, t1}, Dopri5{}, opt);
      a.nfe = sol.stats.nfe;
      a.attempts = sol.stats.attempted_steps;
    }
    Result b;
#ifdef TAYNODE_HAVE_BOOST_ODEINT
    namespace odeint = boost::numeric::odeint;
    constexpr int N = Vec::RowsAtCompileTime;
    std::size_t nfe = 0;
    // Variant 1: std::array state (range_algebra), f reached through a copy into Eigen vectors.
    using S = std::array<double, N>;
    auto sys_arr = [&](const S& x, S& dxdt, double t) {
      ++nfe;
      Vec xv, dv;
      std::copy(x.begin(), x.end(), xv.data());
      f(t, xv, dv);
      std::copy(dv.data(), dv.data() + N, dxdt.begin());
    };
    auto boost_arr = [&] {
      S x;
      for (int i = 0; i < N; ++i) x[i] = y0(i);
      auto stepper = odeint::make_controlled(tol, tol, odeint::runge_kutta_dopri5<S>());
      odeint::integrate_adaptive(stepper, sys_arr, x, 0.0, t1, 1e-3);
      return x[0];
    };
    // Variant 2: the same Eigen vector state as taynode (vector_space_algebra), f called directly.
    auto sys_eig = [&](const Vec& x, Vec& dxdt, double t) {
      ++nfe;
      f(t, x, dxdt);
    };
    auto boost_eig = [&] {
      Vec x = y0;
      auto stepper = odeint::make_controlled(
          tol, tol, odeint::runge_kutta_dopri5<Vec, double, Vec, double, odeint::vector_space_algebra>());
      odeint::integrate_adaptive(stepper, sys_eig, x, 0.0, t1, 1e-3);
      return x[0];
    };
    nfe = 0;
    (void)boost_arr();
    b.nfe = nfe;
    b.attempts = (nfe - 1) / 6;  // one f(x0), then 6 per attempt (FSAL)
    nfe = 0;
    (void)boost_eig();
    if (nfe != b.nfe) std::printf("(Boost variants differ: NFE %zu vs %zu) ", b.nfe, nfe);
#endif
    // The same solver in StepControl::jax (one pow per attempt instead of Hairer's two).
    SolveOptions<double> optj = opt;
    optj.step_control = StepControl::jax;
    Result j;
    {
      const auto sol = solve(f, y0, {0.0, t1}, Dopri5{}, optj);
      j.nfe = sol.stats.nfe;
      j.attempts = sol.stats.attempted_steps;
    }
    std::vector<double> ta, tb, tc, tj;
    double sink = 0;
    for (int r = 0; r < rounds; ++r) {
      ta.push_back(time_block([&] { sink += solve(f, y0, {0.0, t1}, Dopri5{}, opt).final_state()(0); }));
      tj.push_back(time_block([&] { sink += solve(f, y0, {0.0, t1}, Dopri5{}, optj).final_state()(0); }));
#ifdef TAYNODE_HAVE_BOOST_ODEINT
      tb.push_back(time_block([&] { sink += boost_arr(); }));
      tc.push_back(time_block([&] { sink += boost_eig(); }));
#endif
    }
    if (sink == 42.0) std::printf(" ");
    a.seconds = median(ta);
    j.seconds = median(tj);
    auto ov = [&](const Result& r) {
      return (r.seconds - double(r.nfe) * tf) / double(r.attempts) * 1e9;
    };
#ifdef TAYNODE_HAVE_BOOST_ODEINT
    // The faster of the two Boost variants.
    b.seconds = std::min(median(tb), median(tc));
    // The same difference from the fastest round of each (less sensitive to other load).
    Result a_min = a, b_min = b;
    a_min.seconds = minimum(ta);
    b_min.seconds = std::min(minimum(tb), minimum(tc));
    std::printf("| %s | %.0e | %.1f | %zu | %.1f | %.1f | %zu | %.1f | %.1f | %+.1f | %+.1f | %+.1f "
                "| %.1f | %+.1f |\n",
                name, tol, tf * 1e9, a.attempts, a.seconds / double(a.attempts) * 1e9, ov(a),
                b.attempts, b.seconds / double(b.attempts) * 1e9, ov(b), ov(a) - ov(b),
                ov(a_min) - ov(b_min), ov(a) - ov(b) - t_ctrl * 1e9, ov(j), ov(j) - ov(b));
#else
    std::printf("| %s | %.0e | %.1f | %zu | %.1f | %.1f |\n", name, tol, tf * 1e9, a.attempts,
                a.seconds / double(a.attempts) * 1e9, ov(a));
#endif
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 11;
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::printf("Dopri5 per-step overhead, %s, medians of %d interleaved rounds\n\n", date, rounds);
  const double t_ctrl = control_latency();
  std::printf("t_ctrl (latency err -> h_new of Hairer's control) = %.1f ns\n\n", t_ctrl * 1e9);
  std::printf("| problem | tol | t_f (ns) | taynode attempts | taynode ns/attempt | taynode overhead "
              "| Boost attempts | Boost ns/attempt | Boost overhead | taynode − Boost "
              "| same, fastest rounds | taynode − t_ctrl − Boost | jax-mode overhead "
              "| jax − Boost |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  const Kepler kep{0.5};
  compare<Vec4>("Arenstorf", Arenstorf{}, Arenstorf::y0(), Arenstorf::period, rounds, t_ctrl);
  compare<Vec2>("Brusselator", Brusselator{}, Vec2(1.5, 3.0), 20.0, rounds, t_ctrl);
  compare<Pleiades::Vec>("Pleiades", Pleiades{}, Pleiades::y0(), 3.0, rounds, t_ctrl);
  compare<Vec4>("Kepler D3", kep, kep.y0(), 20.0, rounds, t_ctrl);
  return 0;
}
