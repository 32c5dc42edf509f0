// Discretize-then-optimize (ad/solve_backprop.hpp): gradients of the DISCRETE solve of [z, r],
// z' = f(t, z; θ), r' = (1/D)||z^(K)||², for L = Σ w ⊙ z1 + λ Σ r1 (random fixed w, λ = 0.7):
//  * against central finite differences (tests/ad/fd.hpp: h = 1e-5, normwise relative error ≤ 1e-6
//    per tensor) of the same discrete map: RK4 on a fixed grid of 4 steps, Dopri5 along the step
//    sequence recorded by an adaptive solve (held fixed while z0 and θ are perturbed); K = 1..3;
//    a latent tanh MLP and the MNIST-shaped net with time columns; batch 2. w.r.t. z0 and every
//    parameter tensor. The FD objective is O(1) and smooth in each input, so (fd.hpp) truncation
//    h²/6·|L'''| and rounding ε|L|/h are ≈ 1e-11 relative — 1e5 below the bound;
//  * the forward replay reproduces taynode::solve (RK4 fixed grid; Dopri5 adaptive) to rounding;
//  * λ = 0, linear f(z) = W z + b: z̄0 = z̄1 P_{N−1}···P_0 (row vectors) with the methods' stability
//    polynomials P = R(hW): RK4 Σ_{m≤4} (hW)^m/m!, Dopri5 Σ_{m≤5} (hW)^m/m! + (hW)^6/600 (HNW I,
//    II.10) — an outside truth, for every K (the regularizer's cotangent is 0, K must not matter).

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::fd_tolerance;
using taynode_test::relative_error;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;

namespace {

using taynode_test::NamedNet;
std::vector<NamedNet> small_networks() {
  std::vector<NamedNet> nets;
  nets.push_back({"latent", nn::latent_ode_dynamics<double>(3, 5, 2)});
  nets.push_back({"mnist", nn::mnist_dynamics<double>(4, 3)});
  return taynode_test::seeded(std::move(nets), 11);
}

using taynode_test::flat;

double max_fd_error = 0;

template <class Method>
void check_fd(nn::Sequential<double>& net, int K, bool adaptive) {
  const Index B = 2, D = net.in_features();
  const double lambda = 0.7, t0 = 0.0, t1 = 1.0;
  RowMatrix z0 = taynode_test::random_state<double>(B, D, 5);
  const RowMatrix w = taynode_test::random_state<double>(B, D, 6);
  NetworkTaylor<double> ws(net, K, B);
  ad::NetworkAdjoint<double> adj(ws);

  ad::StepSequence<double> steps;
  if (adaptive) {
    SolveOptions<double> o;
    o.rtol = 1e-5;
    o.atol = 1e-8;
    const auto rec = ad::record_steps(ws, z0, t0, t1, K, Method{}, o);
    steps = rec.steps;
    REQUIRE(steps.size() >= 3);
    const auto replay = ad::solve_steps<Method>(ws, z0, K, steps);
    CHECK(relative_error(replay.z1, rec.z1) <= 1e-13);
    CHECK(relative_error(replay.r1, rec.r1) <= 1e-13);
  } else {
    steps = ad::fixed_grid(t0, t1, 4);
    SolveOptions<double> o;
    o.fixed_steps = 4;
    using A = Augmented<RowMatrix, Vec>;
    auto rhs = [&](double t, const A& y, A& dy) {
      dy.z.resize(B, D);
      dy.r.resize(B);
      reg::taylor_integrand(ws, t, y.z, K, dy.z, dy.r);
    };
    const auto sol = solve(rhs, A{z0, Vec::Zero(B)}, {t0, t1}, Method{}, o);
    const auto replay = ad::solve_steps<Method>(ws, z0, K, steps);
    CHECK(relative_error(replay.z1, sol.final_state().z) <= 1e-13);
    CHECK(relative_error(replay.r1, sol.final_state().r) <= 1e-13);
  }

  const RowMatrix z1_bar = w;
  const Vec r1_bar = Vec::Constant(B, lambda);
  const auto res = ad::backprop_steps<Method>(ws, adj, z0, K, steps, z1_bar, r1_bar);
  CHECK(res.steps == steps.size());

  auto L = [&]() {
    const auto f = ad::solve_steps<Method>(ws, z0, K, steps);
    return (w.array() * f.z1.array()).sum() + lambda * f.r1.sum();
  };
  {
    const double L0 = L();
    CHECK(std::abs(L0 - ((w.array() * res.z1.array()).sum() + lambda * res.r1.sum())) <= 1e-14 * std::abs(L0) + 1e-14);
  }
  const Vec gz = fd_gradient(L, z0.data(), z0.size());
  const double ez = relative_error(Eigen::Map<const Vec>(res.z0_bar.data(), z0.size()), gz);
  max_fd_error = std::max(max_fd_error, ez);
  {
    INFO("z0: rel err " << ez);
    REQUIRE(ez <= fd_tolerance);
  }
  std::vector<Vec> grads;
  nn::for_each_parameter(res.theta_bar, [&](const auto& p) { grads.push_back(flat(p)); });
  std::size_t i = 0;
  nn::for_each_parameter(net, [&](auto& p) {
    const Vec gp = fd_gradient(L, p.data(), p.size());
    const double e = relative_error(grads[i], gp);
    max_fd_error = std::max(max_fd_error, e);
    INFO("parameter tensor " << i << ": rel err " << e);
    REQUIRE(e <= fd_tolerance);
    ++i;
  });
}

// R(hW) = Σ_m coeff[m] (hW)^m
RowMatrix stability_matrix(const RowMatrix& W, double h, const std::vector<double>& coeff) {
  const Index D = W.rows();
  RowMatrix P = RowMatrix::Zero(D, D), power = RowMatrix::Identity(D, D);
  for (double c : coeff) {
    P += c * power;
    power = (h * W * power).eval();
  }
  return P;
}

}  // namespace

TEST_CASE("backprop through RK4 (fixed grid, 4 steps) against finite differences, K = 1..3", "[ad][solve]") {
  for (auto& [name, net] : small_networks())
    for (int K = 1; K <= 3; ++K) {
      INFO(name << " K = " << K);
      check_fd<RK4>(net, K, false);
    }
}

TEST_CASE("backprop through Dopri5 along its recorded steps against finite differences, K = 1..3", "[ad][solve]") {
  for (auto& [name, net] : small_networks())
    for (int K = 1; K <= 3; ++K) {
      INFO(name << " K = " << K);
      check_fd<Dopri5>(net, K, true);
    }
  std::printf("solve backprop: max normwise relative error against FD = %.3g\n", max_fd_error);
}

TEST_CASE("linear f: z̄0 is the transposed product of the stability polynomials, any K", "[ad][solve]") {
  const Index D = 4, B = 2;
  nn::Sequential<double> net;
  net.layers.emplace_back(std::in_place_type<nn::Linear<double>>, D, D);
  taynode_test::fill_parameters(net, 21);
  const RowMatrix W = std::get<nn::Linear<double>>(net.layers[0]).weight;
  const RowMatrix z0 = taynode_test::random_state<double>(B, D, 22);
  const RowMatrix z1_bar = taynode_test::random_state<double>(B, D, 23);
  const Vec r1_bar = Vec::Zero(B);
  const double t0 = 0.0, t1 = 1.3;
  for (int K = 0; K <= 3; ++K) {
    INFO("K = " << K);
    NetworkTaylor<double> ws(net, std::max(K, 1), B);
    ad::NetworkAdjoint<double> adj(ws);
    {
      SolveOptions<double> o;
      o.fixed_steps = 4;
      const auto res = ad::backprop_solve(ws, adj, z0, t0, t1, K, RK4{}, o, z1_bar, r1_bar);
      const double h = (t1 - t0) / 4;
      const RowMatrix P = stability_matrix(W, h, {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24});
      RowMatrix want = z1_bar;
      for (int n = 0; n < 4; ++n) want = (want * P).eval();
      INFO("RK4: rel err " << relative_error(res.z0_bar, want));
      CHECK(relative_error(res.z0_bar, want) <= 1e-13);
    }
    {
      SolveOptions<double> o;
      o.rtol = 1e-7;
      o.atol = 1e-10;
      const auto res = ad::backprop_solve(ws, adj, z0, t0, t1, K, Dopri5{}, o, z1_bar, r1_bar);
      REQUIRE(res.steps >= 3);
      RowMatrix want = z1_bar;
      for (std::size_t n = res.steps; n-- > 0;)
        want = (want * stability_matrix(W, res.step_sequence.h[n],
                                        {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 600}))
                   .eval();
      INFO("Dopri5 (" << res.steps << " steps): rel err " << relative_error(res.z0_bar, want));
      CHECK(relative_error(res.z0_bar, want) <= 1e-13);
    }
  }
}
