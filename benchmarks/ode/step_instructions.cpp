// Deterministic per-step cost of taynode's Dopri5 and Boost.Odeint's runge_kutta_dopri5, for
// instruction counting under valgrind (scripts: see the "Per-step overhead beyond f" section of
// benchmarks/RESULTS.md).
//
//   bench_ode_step_instructions <problem> <solver> <reps> [tol] [inline]
//
// problem: arenstorf | brusselator | pleiades | kepler;  solver: taynode | taynode-jax |
// boost-eigen | boost-array | f (the right-hand side alone, 6 calls per "attempt" on a chain).
// Runs the solve `reps` times and prints the attempted steps of one solve. Instructions per
// attempted step = (Ir(reps = R) − Ir(reps = 0)) / (R · attempts), so start-up cancels.
// Both solvers get the same f object. inline: "asis" (default; the compiler decides per call
// site, on both sides), "never" (f behind a noinline call on both sides, so callgrind's inclusive
// count of f is exactly the f cost) or "always" (f flattened into every call site on both sides).
// Built with -DTAYNODE_STEP_ONLY=k (1 kepler, 2 arenstorf, 3 brusselator, 4 pleiades) it contains
// only that problem in the "never" mode: GCC's inlining depends on the size of the whole
// translation unit, which moves both solvers' counts by a few percent between builds.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "problems.hpp"
#include "taynode/ode.hpp"

#ifdef TAYNODE_HAVE_BOOST_ODEINT
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>
#endif

using namespace taynode;
using namespace taynode_test;

#ifndef TAYNODE_STEP_ONLY
#define TAYNODE_STEP_ONLY 0
#endif

namespace {

volatile double g_sink = 0.0;

template <class F>
struct NeverInline {
  F f;
  template <class V>
  __attribute__((noinline)) void operator()(double t, const V& y, V& dy) const {
    f(t, y, dy);
  }
};
template <class F>
struct AlwaysInline {
  F f;
  template <class V>
  __attribute__((always_inline, flatten)) inline void operator()(double t, const V& y,
                                                                   V& dy) const {
    f(t, y, dy);
  }
};

template <class Vec, class F>
int run(const std::string& solver, F f, const Vec& y0, double t1, int reps, double tol) {
  std::size_t attempts = 0;
  if (solver == "taynode" || solver == "taynode-jax") {
    SolveOptions<double> opt;
    opt.rtol = opt.atol = tol;
    opt.max_steps = 10000000;
    if (solver == "taynode-jax") opt.step_control = StepControl::jax;
    attempts = solve(f, y0, {0.0, t1}, Dopri5{}, opt).stats.attempted_steps;
    for (int r = 0; r < reps; ++r) g_sink = g_sink + solve(f, y0, {0.0, t1}, Dopri5{}, opt).final_state()(0);
  } else if (solver == "f") {
    attempts = 1;
    Vec y = y0, dy = y0;
    for (int r = 0; r < reps; ++r)
      for (int i = 0; i < 6; ++i) {
        f(0.0, y, dy);
        y(0) += g_sink * dy(dy.size() - 1);
      }
    g_sink = g_sink + y(0);
  }
#ifdef TAYNODE_HAVE_BOOST_ODEINT
  else if (solver == "boost-eigen" || solver == "boost-array") {
    namespace odeint = boost::numeric::odeint;
    constexpr int N = Vec::RowsAtCompileTime;
    std::size_t nfe = 0;
    auto once = [&] {
      if (solver == "boost-eigen") {
        Vec x = y0;
        auto sys = [&](const Vec& xx, Vec& dxdt, double t) {
          ++nfe;
          f(t, xx, dxdt);
        };
        auto st = odeint::make_controlled(
            tol, tol,
            odeint::runge_kutta_dopri5<Vec, double, Vec, double, odeint::vector_space_algebra>());
        odeint::integrate_adaptive(st, sys, x, 0.0, t1, 1e-3);
        return x(0);
      }
      using S = std::array<double, N>;
      S x;
      for (int i = 0; i < N; ++i) x[i] = y0(i);
      auto sys = [&](const S& xx, S& dxdt, double t) {
        ++nfe;
        const Eigen::Map<const Vec> xv(xx.data());
        Vec dv;
        f(t, Vec(xv), dv);
        std::copy(dv.data(), dv.data() + N, dxdt.begin());
      };
      auto st = odeint::make_controlled(tol, tol, odeint::runge_kutta_dopri5<S>());
      odeint::integrate_adaptive(st, sys, x, 0.0, t1, 1e-3);
      return x[0];
    };
    (void)once();
    attempts = (nfe - 1) / 6;  // f(x0), then 6 per attempt (FSAL)
    for (int r = 0; r < reps; ++r) g_sink = g_sink + once();
  }
#endif
  else {
    std::fprintf(stderr, "unknown solver %s\n", solver.c_str());
    return 2;
  }
  std::printf("%zu\n", attempts);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <problem> <solver> <reps> [tol]\n", argv[0]);
    return 2;
  }
  const std::string problem = argv[1], solver = argv[2];
  const int reps = std::atoi(argv[3]);
  const double tol = argc > 4 ? std::atof(argv[4]) : 1e-10;
  const std::string mode = argc > 5 ? argv[5] : "asis";
  auto dispatch = [&]<class Vec>(auto f, const Vec& y0, double t1) {
    if (mode == "never") return run<Vec>(solver, NeverInline<decltype(f)>{f}, y0, t1, reps, tol);
#if TAYNODE_STEP_ONLY == 0
    if (mode == "always") return run<Vec>(solver, AlwaysInline<decltype(f)>{f}, y0, t1, reps, tol);
    return run<Vec>(solver, f, y0, t1, reps, tol);
#else
    std::fprintf(stderr, "built with TAYNODE_STEP_ONLY: inline mode \"never\" only\n");
    return 2;
#endif
  };
#if TAYNODE_STEP_ONLY == 0 || TAYNODE_STEP_ONLY == 2
  if (problem == "arenstorf") return dispatch(Arenstorf{}, Arenstorf::y0(), Arenstorf::period);
#endif
#if TAYNODE_STEP_ONLY == 0 || TAYNODE_STEP_ONLY == 3
  if (problem == "brusselator") return dispatch(Brusselator{}, Vec2(1.5, 3.0), 20.0);
#endif
#if TAYNODE_STEP_ONLY == 0 || TAYNODE_STEP_ONLY == 4
  if (problem == "pleiades") return dispatch(Pleiades{}, Pleiades::y0(), 3.0);
#endif
#if TAYNODE_STEP_ONLY == 0 || TAYNODE_STEP_ONLY == 1
  if (problem == "kepler") {
    const Kepler kep{0.5};
    return dispatch(kep, kep.y0(), 20.0);
  }
#endif
  std::fprintf(stderr, "unknown problem %s\n", problem.c_str());
  return 2;
}
