// Work–precision of the adaptive Runge–Kutta methods on Hairer's and DETEST problems: global
// error against NFE and against time, and Boost.Odeint's runge_kutta_dopri5 on the same problems
// and tolerances (when built with Boost). Prints markdown tables (benchmarks/RESULTS.md).
//
//   bench_ode_work_precision            all tables
//   bench_ode_work_precision --quick    fewer tolerances and repetitions
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "problems.hpp"
#include "taynode/ode.hpp"

#ifdef TAYNODE_HAVE_BOOST_ODEINT
#include <boost/numeric/odeint.hpp>
#endif

using namespace taynode;
using namespace taynode_test;
using Clock = std::chrono::steady_clock;

namespace {

bool quick = false;

// Seconds per call of fn, repeated until at least `budget` seconds have passed.
template <class Fn>
double time_per_call(Fn&& fn, double budget = 0.05) {
  std::size_t reps = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < (quick ? budget / 5 : budget));
  return elapsed / double(reps);
}

template <int N>
struct Problem {
  using Vec = Eigen::Matrix<double, N, 1>;
  std::string name;
  std::function<void(double, const Vec&, Vec&)> f;  // only for the f-cost measurement
  Vec y0;
  double t1;
  Vec reference;
  int error_components;  // compare the first components (Arenstorf: positions)
};

template <int N, class V>
double error_of(const Problem<N>& p, const V& y) {
  double e = 0;
  for (int i = 0; i < p.error_components; ++i)
    e = std::max(e, std::abs(y[i] - p.reference(i)) / std::max(1.0, std::abs(p.reference(i))));
  return e;
}

struct Row {
  std::string problem, method;
  double tol, error, seconds;
  std::size_t nfe, steps;
};

template <class M, int N, class F>
Row run_taynode(const Problem<N>& p, F f, double tol) {
  SolveOptions<double> opt;
  opt.rtol = opt.atol = tol;
  opt.max_steps = 2000000;
  const auto sol = solve(f, p.y0, {0.0, p.t1}, M{}, opt);
  const double secs = time_per_call([&] { (void)solve(f, p.y0, {0.0, p.t1}, M{}, opt); });
  return {p.name, M::name, tol, error_of(p, sol.final_state()), secs, sol.stats.nfe,
          sol.stats.attempted_steps};
}

#ifdef TAYNODE_HAVE_BOOST_ODEINT
template <int N, class F>
Row run_boost(const Problem<N>& p, F f, double tol) {
  namespace odeint = boost::numeric::odeint;
  using S = std::array<double, N>;
  std::size_t nfe = 0, steps = 0;
  auto sys = [&](const S& x, S& dxdt, double t) {
    ++nfe;
    // Same arithmetic as the taynode run: map the arrays as Eigen vectors.
    Eigen::Map<const typename Problem<N>::Vec> xv(x.data());
    Eigen::Map<typename Problem<N>::Vec> dv(dxdt.data());
    typename Problem<N>::Vec tmp;
    f(t, typename Problem<N>::Vec(xv), tmp);
    dv = tmp;
  };
  auto once = [&] {
    S x;
    for (int i = 0; i < N; ++i) x[i] = p.y0(i);
    auto stepper = odeint::make_controlled(tol, tol, odeint::runge_kutta_dopri5<S>());
    steps = odeint::integrate_adaptive(stepper, sys, x, 0.0, p.t1, 1e-3);
    return x;
  };
  nfe = 0;
  const S x = once();
  const std::size_t nfe_run = nfe;
  Eigen::Map<const typename Problem<N>::Vec> xv(x.data());
  const double secs = time_per_call(once);
  // Attempted steps: Boost's FSAL dopri5 costs 6 evaluations per attempt after the first f.
  (void)steps;
  return {p.name, "Boost dopri5", tol, error_of(p, xv), secs, nfe_run, (nfe_run - 1) / 6};
}
#endif

void print_rows(const std::vector<Row>& rows) {
  std::printf("| problem | method | tol | global error | NFE | steps | time (µs) |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %s | %s | %.0e | %.2e | %zu | %zu | %.1f |\n", r.problem.c_str(),
                r.method.c_str(), r.tol, r.error, r.nfe, r.steps, r.seconds * 1e6);
}

template <int N, class F>
void work_precision(const Problem<N>& p, F f, std::vector<Row>& all, std::vector<Row>& dopri_fine,
                    std::vector<Row>& boost_rows) {
  std::vector<double> tols = quick ? std::vector<double>{1e-4, 1e-8}
                                   : std::vector<double>{1e-4, 1e-6, 1e-8, 1e-10, 1e-12};
  for (double tol : tols) {
    if (tol >= 1e-8) all.push_back(run_taynode<HeunEuler>(p, f, tol));
    all.push_back(run_taynode<BogackiShampine>(p, f, tol));
    all.push_back(run_taynode<Fehlberg45>(p, f, tol));
    all.push_back(run_taynode<CashKarp45>(p, f, tol));
    all.push_back(run_taynode<Dopri5>(p, f, tol));
    all.push_back(run_taynode<Tsit5>(p, f, tol));
    all.push_back(run_taynode<Dop853>(p, f, tol));
#ifdef TAYNODE_HAVE_BOOST_ODEINT
    boost_rows.push_back(run_boost(p, f, tol));
    all.push_back(boost_rows.back());
#endif
  }
  // Dopri5 on a fine tolerance grid (8 per decade) for the equal-error comparison.
  for (int k = 24; k <= (quick ? 72 : 104); ++k)
    dopri_fine.push_back(run_taynode<Dopri5>(p, f, std::pow(10.0, -k / 8.0)));
}

}  // namespace

int main(int argc, char** argv) {
  quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::vector<Row> all, fine, boost_rows;

  const Kepler kep{0.5};
  const Pleiades::Vec plei_ref = Pleiades::reference_at_3();

  Problem<4> aren{"Arenstorf", Arenstorf{}, Arenstorf::y0(), Arenstorf::period, Arenstorf::y0(), 2};
  Problem<2> bruss{"Brusselator", Brusselator{}, Vec2(1.5, 3.0), 20.0,
                   Brusselator::reference_at_20(), 2};
  Problem<28> plei{"Pleiades", Pleiades{}, Pleiades::y0(), 3.0, plei_ref, 28};
  Problem<4> kepler{"Kepler D3", kep, kep.y0(), 20.0, kep.exact(20.0), 4};

  work_precision(aren, Arenstorf{}, all, fine, boost_rows);
  work_precision(bruss, Brusselator{}, all, fine, boost_rows);
  work_precision(plei, Pleiades{}, all, fine, boost_rows);
  work_precision(kepler, kep, all, fine, boost_rows);

  std::printf("## Work–precision (rtol = atol = tol; error: max relative to max(1,|ref|))\n\n");
  print_rows(all);

#ifdef TAYNODE_HAVE_BOOST_ODEINT
  // Equal-or-better error: for each Boost run, the cheapest Dopri5 run (fine tolerance grid)
  // whose error is no larger.
  std::printf("\n## Dopri5 vs Boost.Odeint runge_kutta_dopri5 at equal or better global error\n\n");
  std::printf("| problem | Boost tol | Boost error | Boost NFE | Boost µs | Dopri5 tol | Dopri5 error "
              "| Dopri5 NFE | Dopri5 µs | NFE ≤ Boost |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& b : boost_rows) {
    const Row* best = nullptr;
    for (const auto& r : fine)
      if (r.problem == b.problem && r.error <= b.error && (!best || r.nfe < best->nfe)) best = &r;
    if (!best) {
      std::printf("| %s | %.0e | %.2e | %zu | %.1f | — | — | — | — | no Dopri5 run that accurate |\n",
                  b.problem.c_str(), b.tol, b.error, b.nfe, b.seconds * 1e6);
      continue;
    }
    std::printf("| %s | %.0e | %.2e | %zu | %.1f | %.1e | %.2e | %zu | %.1f | %s |\n",
                b.problem.c_str(), b.tol, b.error, b.nfe, b.seconds * 1e6, best->tol, best->error,
                best->nfe, best->seconds * 1e6, best->nfe <= b.nfe ? "yes" : "NO");
  }

  // Per-step overhead beyond f: (time − NFE·t_f) / steps, same problem, same tolerance.
  std::printf("\n## Per-step overhead beyond f (ns per attempted step)\n\n");
  std::printf("| problem | tol | t_f (ns) | Dopri5 overhead | Boost overhead |\n|---|---|---|---|---|\n");
  auto overhead = [&](auto& prob, auto f) {
    using V = typename std::decay_t<decltype(prob)>::Vec;
    V y = prob.y0, dy;
    const double tf = time_per_call([&] {
      for (int i = 0; i < 1000; ++i) {
        f(0.0, y, dy);
        y(0) += 1e-300 * dy(0);  // keep the call
      }
    }) / 1000;
    for (double tol : {1e-6, 1e-10}) {
      const Row a = run_taynode<Dopri5>(prob, f, tol);
      const Row b = run_boost(prob, f, tol);
      std::printf("| %s | %.0e | %.1f | %.1f | %.1f |\n", prob.name.c_str(), tol, tf * 1e9,
                  (a.seconds - double(a.nfe) * tf) / double(a.steps) * 1e9,
                  (b.seconds - double(b.nfe) * tf) / double(b.steps) * 1e9);
    }
  };
  overhead(aren, Arenstorf{});
  overhead(bruss, Brusselator{});
  overhead(plei, Pleiades{});
#endif
  return 0;
}
