// ad::solve_gradient with a loss that reads the state at many output times,
//   L = Σ_i w_i ‖z(t_i) − y_i‖² + λ Σ_b r_b(t_n),   t_0 = 0 < t_1 < … < t_n = 1,
// t_0's term included (its cotangent belongs to z0_bar), output times inside steps (and, on the
// fixed grid, one on a grid point), R_2 active (λ > 0) and inactive (K = 0):
//  * backprop on RK4's fixed grid against central finite differences of an RK4 written here
//    (cubic Hermite output between grid points; tests/ad/fd.hpp: h = 1e-5, bound 1e-6 normwise
//    per tensor), checkpoint_every 1 and 3;
//  * backprop with Dopri5, Tsit5 and Dop853 (adaptive) against central differences of the map with
//    the step sequence frozen: the unperturbed solve's accepted steps are recorded once
//    (record_step_sizes) and every evaluation of L replays them with taynode::solve and a
//    StepReplayController, output times by its dense output; checkpoint_every 1 and 2;
//  * the states the gradient's forward reports equal taynode::solve's at the same times bit for bit;
//  * the continuous adjoint (Dopri5, rtol = atol = 1e-10) against central differences of a
//    200-step RK4 (bound 1e-6: both approximate the exact flow's gradient to ~1e-9) and against
//    backprop through Dopri5's steps at the same tolerance;
//  * decreasing times (a backward solve) on RK4's grid against central differences of taynode::solve;
//  * n = 1 (times {t0, t1}) is the single-time overload bit for bit, and that one equals
//    backprop_solve / adjoint_solve (the drivers without a loss head) bit for bit;
//  * repeated, unsorted, too few or non-finite times and cotangents of the wrong shape raise
//    std::invalid_argument.

#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::fd_tolerance;
using taynode_test::flat;
using taynode_test::flat_gradients;
using taynode_test::relative_error;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;
using Aug = Augmented<RowMatrix, Vec>;
using Dyn = ad::NetworkDynamics<double>;

namespace {

constexpr double lambda = 0.7;
// Output times inside the steps of every solve below; 0.5 is a point of the 8-step grid.
const std::vector<double> times{0.0, 0.13, 0.37, 0.5, 0.71, 0.86, 1.0};

nn::Sequential<double> small_network() {
  std::vector<taynode_test::NamedNet> nets;
  nets.push_back({"latent", nn::latent_ode_dynamics<double>(3, 5, 2)});
  return taynode_test::seeded(std::move(nets), 41)[0].net;
}

// L = Σ_i w_i ‖z_i − y_i‖² + λ Σ r and its cotangents.
struct TimesLoss {
  std::vector<double> w;
  std::vector<RowMatrix> y;
  double value(const std::vector<RowMatrix>& z, const Vec& r) const {
    double l = lambda * r.sum();
    for (std::size_t i = 0; i < z.size(); ++i) l += w[i] * (z[i] - y[i]).squaredNorm();
    return l;
  }
  void operator()(const std::vector<RowMatrix>& z, const Vec& r, std::vector<RowMatrix>& z_bar, Vec& r_bar) {
    REQUIRE(z.size() == y.size());
    REQUIRE(z_bar.size() == y.size());
    REQUIRE(r_bar.size() == r.size());
    for (std::size_t i = 0; i < z.size(); ++i) {
      REQUIRE(z_bar[i].isZero(0));
      z_bar[i] = 2 * w[i] * (z[i] - y[i]);
    }
    r_bar.setConstant(lambda);
    ++calls;
  }
  int calls = 0;
};

TimesLoss make_loss(Index B, Index D) {
  TimesLoss loss;
  for (std::size_t i = 0; i < times.size(); ++i) {
    loss.w.push_back(0.5 + 0.25 * double(i % 3));
    loss.y.push_back(taynode_test::random_state<double>(B, D, 100 + unsigned(i)));
  }
  return loss;
}

// The network's dynamics with R_K (K = 0: none) on a batch of 2, an initial state and the loss.
// Holds ws by reference in adj and d: construct in place.
struct Problem {
  NetworkTaylor<double> ws;
  ad::NetworkAdjoint<double> adj;
  Dyn d;
  RowMatrix z0;
  TimesLoss loss;
  Problem(const nn::Sequential<double>& net, int K, unsigned seed)
      : ws(net, std::max(K, 1), 2),
        adj(ws),
        d(ws, adj, ad::TaylorRegularizer<double>{K}),
        z0(taynode_test::random_state<double>(2, net.in_features(), seed)),
        loss(make_loss(2, net.in_features())) {}
};

// z0_bar and θ̄ against central differences of L; returns the largest relative error.
template <class G>
double check_against_fd(const std::function<double()>& L, const G& g, nn::Sequential<double>& net, RowMatrix& z0,
                        double bound = fd_tolerance) {
  double worst = relative_error(Eigen::Map<const Vec>(g.z0_bar.data(), z0.size()), fd_gradient(L, z0.data(), z0.size()));
  CHECK(worst <= bound);
  const auto grads = flat_gradients(g.theta_bar);
  std::size_t i = 0;
  nn::for_each_parameter(net, [&](auto& p) {
    const double e = relative_error(grads[i], fd_gradient(L, p.data(), p.size()));
    INFO("parameter tensor " << i << ": rel err " << e);
    CHECK(e <= bound);
    worst = std::max(worst, e);
    ++i;
  });
  return worst;
}

// RK4 on [z, r] over n equal steps of [times.front(), times.back()], written out here; z at an
// output time inside a step by cubic Hermite interpolation through (z, f) at the step's ends.
std::pair<std::vector<RowMatrix>, Vec> rk4_at_times(const Dyn& d, const RowMatrix& z0, int n) {
  const Index B = z0.rows(), D = z0.cols();
  auto F = [&](double t, const RowMatrix& z, RowMatrix& fz, Vec& fr) {
    fz.resize(B, D);
    fr.resize(B);
    if (d.integrand_active())
      d.evaluate(t, z, fz, fr);
    else {
      d.evaluate(t, z, fz);
      fr.setZero();
    }
  };
  std::vector<RowMatrix> out{z0};
  RowMatrix z = z0, k1, k2, k3, k4, f1;
  Vec r = Vec::Zero(B), q1, q2, q3, q4, unused;
  const double t0 = times.front(), span = times.back() - t0;
  std::size_t next = 1;
  for (int s = 0; s < n; ++s) {
    const double t = t0 + span * (double(s) / n), te = s + 1 == n ? times.back() : t0 + span * (double(s + 1) / n);
    const double h = te - t;
    F(t, z, k1, q1);
    F(t + h / 2, z + h / 2 * k1, k2, q2);
    F(t + h / 2, z + h / 2 * k2, k3, q3);
    F(t + h, z + h * k3, k4, q4);
    const RowMatrix z1 = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
    r += h / 6 * (q1 + 2 * q2 + 2 * q3 + q4);
    F(te, z1, f1, unused);
    for (; next < times.size() && times[next] < te; ++next) {
      const double th = (times[next] - t) / h, th2 = th * th, th3 = th2 * th;
      out.push_back((2 * th3 - 3 * th2 + 1) * z + (th3 - 2 * th2 + th) * h * k1 + (3 * th2 - 2 * th3) * z1 +
                    (th3 - th2) * h * f1);
    }
    if (next < times.size() && times[next] == te) {
      out.push_back(z1);
      ++next;
    }
    z = z1;
  }
  return {out, r};
}

// The right-hand side of [z, r] as the gradient's forward evaluates it.
auto augmented_rhs(const Dyn& d) {
  return [&d](double t, const Aug& y, Aug& dy) {
    if (d.integrand_active()) {
      d.evaluate(t, y.z, dy.z, dy.r);
    } else {
      d.evaluate(t, y.z, dy.z);
      dy.r.setZero();
    }
  };
}

bool same_bits(const RowMatrix& a, const RowMatrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * std::size_t(a.size())) == 0;
}
bool same_bits(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(double) * std::size_t(a.size())) == 0;
}
bool same_bits(const nn::Sequential<double>& a, const nn::Sequential<double>& b) {
  const auto x = flat_gradients(a), y = flat_gradients(b);
  bool same = x.size() == y.size();
  for (std::size_t i = 0; same && i < x.size(); ++i)
    same = x[i].size() == y[i].size() && std::memcmp(x[i].data(), y[i].data(), sizeof(double) * std::size_t(x[i].size())) == 0;
  return same;
}

}  // namespace

TEST_CASE("solve_gradient at many times: backprop on RK4's fixed grid against finite differences", "[ad][solve][times]") {
  auto net = small_network();
  const Index B = 2;
  for (int K : {0, 2})
    for (std::size_t every : {std::size_t(1), std::size_t(3)}) {
      INFO("K = " << K << ", checkpoint_every = " << every);
      Problem p(net, K, 5);
      Dyn& d = p.d;
      RowMatrix& z0 = p.z0;
      TimesLoss& loss = p.loss;
      SolveOptions<double> o;
      o.fixed_steps = 8;
      ad::Backprop bp;
      bp.checkpoint_every = every;
      const auto g = ad::solve_gradient(d, z0, times, RK4{}, o, bp, loss);
      CHECK(loss.calls == 1);
      REQUIRE(g.z.size() == times.size());
      // The states as taynode::solve reports them on the same grid, bit for bit.
      const auto sol = solve(augmented_rhs(d), Aug{z0, Vec::Zero(B)}, times, RK4{}, o);
      for (std::size_t i = 0; i < times.size(); ++i) CHECK(same_bits(g.z[i], sol.y[i].z));
      CHECK(same_bits(g.r, sol.y.back().r));
      // … and as the RK4 written here computes them.
      const auto ref = rk4_at_times(d, z0, 8);
      for (std::size_t i = 0; i < times.size(); ++i) CHECK(relative_error(g.z[i], ref.first[i]) <= 1e-14);
      if (K > 0) CHECK(g.r.minCoeff() > 0);
      auto L = [&]() {
        const auto f = rk4_at_times(d, z0, 8);
        return loss.value(f.first, f.second);
      };
      const double e = check_against_fd(L, g, net, z0);
      WARN("RK4 grid, K = " << K << ", m = " << every << ": max rel err vs FD " << e);
      CHECK(g.forward_steps == 8);
    }
}

TEMPLATE_TEST_CASE("solve_gradient at many times: adaptive backprop against finite differences of the frozen steps",
                   "[ad][solve][times]", Dopri5, Tsit5, Dop853) {
  auto net = small_network();
  const Index B = 2;
  for (int K : {0, 2})
    for (std::size_t every : {std::size_t(1), std::size_t(2)}) {
      INFO(TestType::name << " K = " << K << ", checkpoint_every = " << every);
      Problem p(net, K, 7);
      Dyn& d = p.d;
      RowMatrix& z0 = p.z0;
      TimesLoss& loss = p.loss;
      SolveOptions<double> o;
      o.rtol = o.atol = std::is_same_v<TestType, Dop853> ? 1e-13 : 1e-9;  // ≥ 5 steps
      ad::Backprop bp;
      bp.checkpoint_every = every;
      const auto g = ad::solve_gradient(d, z0, times, TestType{}, o, bp, loss);
      REQUIRE(g.z.size() == times.size());
      REQUIRE(g.forward_steps >= 5);
      // taynode::solve with the output times (r in the error norm when integrated, as the gradient's
      // forward): the same states, bit for bit, and its accepted steps.
      SolveOptions<double> rec = o;
      rec.record_step_sizes = true;
      const auto sol = solve(augmented_rhs(d), Aug{z0, Vec::Zero(B), K > 0}, times, TestType{}, rec);
      REQUIRE(sol.stats.accepted_steps == g.forward_steps);
      for (std::size_t i = 0; i < times.size(); ++i) CHECK(same_bits(g.z[i], sol.y[i].z));
      CHECK(same_bits(g.r, sol.y.back().r));
      // The output times fall inside steps, not on their ends.
      const auto steps = ad::from_step_sizes(times.front(), times.back(), sol.stats.step_sizes);
      for (std::size_t i = 1; i + 1 < times.size(); ++i)
        for (double t : steps.t) CHECK(t != times[i]);
      // Frozen steps: every evaluation of L replays the recorded steps.
      auto L = [&]() {
        const auto s = solve(augmented_rhs(d), Aug{z0, Vec::Zero(B), false}, times, TestType{},
                             StepReplayController<double>(steps.t, steps.h));
        std::vector<RowMatrix> z;
        for (const auto& y : s.y) z.push_back(y.z);
        return loss.value(z, s.y.back().r);
      };
      const double e = check_against_fd(L, g, net, z0);
      WARN(TestType::name << ", K = " << K << ", m = " << every << ", " << g.forward_steps
                          << " steps: max rel err vs FD of the frozen steps " << e);
    }
}

TEST_CASE("solve_gradient at many times: the continuous adjoint against finite differences of a fine RK4 and "
          "against backprop", "[ad][solve][times]") {
  auto net = small_network();
  const Index B = 2;
  for (int K : {0, 2})
    for (auto fp : {ad::ForwardPass::augmented, ad::ForwardPass::plain}) {
      INFO("K = " << K << " forward " << ad::to_string(fp));
      Problem p(net, K, 9);
      Dyn& d = p.d;
      RowMatrix& z0 = p.z0;
      TimesLoss& loss = p.loss;
      SolveOptions<double> o;
      o.rtol = o.atol = 1e-10;
      const auto aj = ad::solve_gradient(d, z0, times, Dopri5{}, o, ad::Adjoint{fp}, loss);
      REQUIRE(aj.z.size() == times.size());
      const bool integrated = fp == ad::ForwardPass::augmented && K > 0;
      const auto sol = solve(augmented_rhs(d), Aug{z0, Vec::Zero(B), integrated}, times, Dopri5{}, o);
      for (std::size_t i = 0; i + 1 < times.size(); ++i) CHECK(same_bits(aj.z[i], sol.y[i].z));
      CHECK(aj.backward_steps > times.size() - 1);
      const auto bp = ad::solve_gradient(d, z0, times, Dopri5{}, o, ad::Backprop{fp}, loss);
      double worst = relative_error(aj.z0_bar, bp.z0_bar);
      CHECK(worst <= 1e-7);
      const auto a = flat_gradients(aj.theta_bar), b = flat_gradients(bp.theta_bar);
      for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(relative_error(a[i], b[i]) <= 1e-7);
        worst = std::max(worst, relative_error(a[i], b[i]));
      }
      WARN("adjoint vs backprop (Dopri5, 1e-10), K = " << K << ", " << ad::to_string(fp) << ": " << worst);
      if (fp == ad::ForwardPass::augmented) {
        // The gradient of the exact flow to ~1e-9: central differences of a 200-step RK4.
        auto L = [&]() {
          const auto f = rk4_at_times(d, z0, 200);
          return loss.value(f.first, f.second);
        };
        const double e = check_against_fd(L, aj, net, z0);
        WARN("adjoint vs FD of RK4 (200 steps), K = " << K << ": " << e);
      }
    }
}

TEST_CASE("solve_gradient at many times, integrating backward (decreasing times)", "[ad][solve][times]") {
  auto net = small_network();
  const Index B = 2;
  Problem p(net, 2, 13);
  const std::vector<double> down{1.0, 0.83, 0.5, 0.21, 0.07, -0.4, -0.5};
  SolveOptions<double> o;
  o.fixed_steps = 6;
  const auto g = ad::solve_gradient(p.d, p.z0, down, RK4{}, o, ad::Backprop{}, p.loss);
  auto forward = [&]() { return solve(augmented_rhs(p.d), Aug{p.z0, Vec::Zero(B)}, down, RK4{}, o); };
  const auto sol = forward();
  for (std::size_t i = 0; i < down.size(); ++i) CHECK(same_bits(g.z[i], sol.y[i].z));
  auto L = [&]() {
    const auto s = forward();
    std::vector<RowMatrix> z;
    for (const auto& y : s.y) z.push_back(y.z);
    return p.loss.value(z, s.y.back().r);
  };
  WARN("RK4 grid, decreasing times: max rel err vs FD " << check_against_fd(L, g, net, p.z0));
}

TEST_CASE("solve_gradient at times {t0, t1} is the single-time overload bit for bit", "[ad][solve][times]") {
  auto net = small_network();
  const Index B = 2, D = net.in_features();
  const int K = 2;
  const RowMatrix z0 = taynode_test::random_state<double>(B, D, 11);
  const RowMatrix w = taynode_test::random_state<double>(B, D, 12);
  NetworkTaylor<double> ws(net, K, B);
  ad::NetworkAdjoint<double> adj(ws);
  Dyn d(ws, adj, ad::TaylorRegularizer<double>{K});
  auto single = [&](const RowMatrix& z1, const Vec&, RowMatrix& z1_bar, Vec& r1_bar) {
    z1_bar = w.array() * z1.array().cos();
    r1_bar.setConstant(lambda);
  };
  auto multi = [&](const std::vector<RowMatrix>& z, const Vec& r, std::vector<RowMatrix>& z_bar, Vec& r_bar) {
    single(z.back(), r, z_bar.back(), r_bar);
  };
  auto same = [&](const auto& one, const auto& many) {
    CHECK(same_bits(one.z1, many.z.back()));
    CHECK(same_bits(one.r1, many.r));
    CHECK(same_bits(one.z0_bar, many.z0_bar));
    CHECK(same_bits(one.theta_bar, many.theta_bar));
    CHECK(one.nfe_forward == many.nfe_forward);
    CHECK(one.nfe_backward == many.nfe_backward);
    CHECK(one.forward_steps == many.forward_steps);
    CHECK(one.backward_steps == many.backward_steps);
  };
  SolveOptions<double> grid, tol;
  grid.fixed_steps = 5;
  tol.rtol = tol.atol = 1e-7;
  for (std::size_t every : {std::size_t(1), std::size_t(2)}) {
    ad::Backprop bp;
    bp.checkpoint_every = every;
    same(ad::solve_gradient(d, z0, 0.0, 1.0, RK4{}, grid, bp, single),
         ad::solve_gradient(d, z0, std::vector<double>{0.0, 1.0}, RK4{}, grid, bp, multi));
    same(ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tol, bp, single),
         ad::solve_gradient(d, z0, std::vector<double>{0.0, 1.0}, Dopri5{}, tol, bp, multi));
  }
  same(ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tol, ad::Adjoint{}, single),
       ad::solve_gradient(d, z0, std::vector<double>{0.0, 1.0}, Dopri5{}, tol, ad::Adjoint{}, multi));
  // And the drivers without a loss head, given the same cotangents.
  const auto g = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tol, ad::Backprop{}, single);
  RowMatrix z1_bar;
  Vec r1_bar(B);
  single(g.z1, g.r1, z1_bar, r1_bar);
  const auto b = ad::backprop_solve(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, tol, z1_bar, r1_bar);
  CHECK(same_bits(b.z0_bar, g.z0_bar));
  CHECK(same_bits(b.theta_bar, g.theta_bar));
  const auto ga = ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tol, ad::Adjoint{}, single);
  single(ga.z1, ga.r1, z1_bar, r1_bar);
  const auto a = ad::adjoint_solve(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, tol, z1_bar, r1_bar);
  CHECK(same_bits(a.z0_bar, ga.z0_bar));
  CHECK(same_bits(a.theta_bar, ga.theta_bar));
}

TEST_CASE("solve_gradient at many times: bad times and cotangents raise", "[ad][solve][times]") {
  auto net = small_network();
  const Index B = 2, D = net.in_features();
  NetworkTaylor<double> ws(net, 2, B);
  ad::NetworkAdjoint<double> adj(ws);
  Dyn d(ws, adj, ad::TaylorRegularizer<double>{2});
  const RowMatrix z0 = RowMatrix::Zero(B, D);
  SolveOptions<double> o;
  o.fixed_steps = 4;
  int calls = 0;
  auto loss = [&](const std::vector<RowMatrix>&, const Vec&, std::vector<RowMatrix>&, Vec&) { ++calls; };
  auto raises = [&](const std::vector<double>& ts, const std::string& what) {
    INFO(what);
    for (int method = 0; method < 2; ++method) {
      try {
        if (method == 0)
          ad::solve_gradient(d, z0, ts, RK4{}, o, ad::Backprop{}, loss);
        else
          ad::solve_gradient(d, z0, ts, Dopri5{}, SolveOptions<double>{}, ad::Adjoint{}, loss);
        FAIL("no exception");
      } catch (const std::invalid_argument& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(what) != std::string::npos);
      }
    }
  };
  raises({0.0}, "at least one output time");
  raises({0.0, 0.5, 0.5, 1.0}, "times[2] = 0.500000 repeats times[1]");
  raises({0.0, 0.6, 0.3, 1.0}, "times must be sorted");
  raises({0.0, NAN, 1.0}, "times[1] is not finite");
  CHECK(calls == 0);
  // Cotangents of the wrong shape or number are caught before the backward pass.
  auto resized = [&](const std::vector<RowMatrix>&, const Vec&, std::vector<RowMatrix>& zb, Vec&) { zb[1].resize(1, 1); };
  CHECK_THROWS_AS(ad::solve_gradient(d, z0, times, RK4{}, o, ad::Backprop{}, resized), std::invalid_argument);
  CHECK_THROWS_AS(ad::solve_gradient(d, z0, times, Dopri5{}, SolveOptions<double>{}, ad::Adjoint{}, resized),
                  std::invalid_argument);
  auto dropped = [&](const std::vector<RowMatrix>&, const Vec&, std::vector<RowMatrix>& zb, Vec&) { zb.pop_back(); };
  CHECK_THROWS_AS(ad::solve_gradient(d, z0, times, RK4{}, o, ad::Backprop{}, dropped), std::invalid_argument);
}
