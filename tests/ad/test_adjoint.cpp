// The continuous adjoint (ad/adjoint_solve.hpp) of [z, r], z' = f(t, z; θ), r' = (1/D)||z^(K)||²,
// for L = Σ w ⊙ z1 + λ Σ r1 (random fixed w, λ = 0.7), batch 2, K = 0..2, on a tanh MLP 3→5→3
// and the MNIST-shaped net (time columns, D = 4, hidden 3):
//  * against discretize-then-optimize (ad::backprop_solve) at rtol = atol = 1e-10, Dopri5: both are
//    gradients of O(1) objectives computed to the solver's accuracy — the adjoint's error is the
//    global error of the backward solve (≈ tol·|gradient|·O(1..10) for these short, non-stiff
//    spans), the discrete gradient differs from the exact one by the derivative of the forward
//    global error (same order). So they agree to ~1e-9; the bound is 1e-6 (normwise relative,
//    per tensor), which an adjoint term dropped or mis-signed would miss by O(1);
//  * against central finite differences (h = 1e-5) of the adaptive forward solve at rtol = atol =
//    1e-12: FD truncation/rounding ≈ 1e-11 relative (tests/ad/fd.hpp); the adaptive map's
//    non-smoothness (step sequence changes with the inputs) contributes ≈ tol/h = 1e-7; the
//    adjoint itself is accurate to ~1e-11. Bound 1e-5;
//  * the aux variant (plain forward) gives r1 = 0 and the full variant's gradient (the backward
//    systems coincide; they start from z1 that differ at the tolerance level) to 1e-7;
//  * linear f = W z (bias 0, no time), λ = 0: z̄0 = exp(Wᵀ(t1 − t0)) z̄1 per example (row form
//    z̄1 exp(W(t1 − t0))), Eigen's MatrixFunctions exp as outside truth, at rtol = atol = 1e-12:
//    error ≤ 1e-8.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <unsupported/Eigen/MatrixFunctions>

#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::relative_error;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;

namespace {

using taynode_test::NamedNet;
std::vector<NamedNet> small_networks() {
  std::vector<NamedNet> nets;
  nn::Sequential<double> mlp;
  mlp.layers.emplace_back(std::in_place_type<nn::Linear<double>>, 3, 5);
  mlp.layers.emplace_back(std::in_place_type<nn::Tanh>);
  mlp.layers.emplace_back(std::in_place_type<nn::Linear<double>>, 5, 3);
  nets.push_back({"tanh mlp 3-5-3", std::move(mlp)});
  nets.push_back({"mnist", nn::mnist_dynamics<double>(4, 3)});
  return taynode_test::seeded(std::move(nets), 31);
}

using taynode_test::flat;

std::vector<Vec> tensors(const nn::Sequential<double>& g) {
  std::vector<Vec> out;
  nn::for_each_parameter(g, [&](const auto& p) { out.push_back(flat(p)); });
  return out;
}

constexpr double lambda = 0.7, t0 = 0.0, t1 = 1.0;
double max_bp = 0, max_fd = 0, max_aux = 0;

SolveOptions<double> tol(double t) {
  SolveOptions<double> o;
  o.rtol = t;
  o.atol = t;
  return o;
}

}  // namespace

TEST_CASE("continuous adjoint agrees with discretize-then-optimize at tol 1e-10, K = 0..2", "[ad][adjoint]") {
  for (auto& [name, net] : small_networks())
    for (int K = 0; K <= 2; ++K) {
      INFO(name << " K = " << K);
      const Index B = 2, D = net.in_features();
      const RowMatrix z0 = taynode_test::random_state<double>(B, D, 5);
      const RowMatrix w = taynode_test::random_state<double>(B, D, 6);
      const Vec rbar = Vec::Constant(B, lambda);
      NetworkTaylor<double> ws(net, std::max(K, 1), B);
      ad::NetworkAdjoint<double> adj(ws);
      const auto o = tol(1e-10);
      const auto a = ad::adjoint_solve(ws, adj, z0, t0, t1, K, Dopri5{}, o, w, rbar);
      const auto d = ad::backprop_solve(ws, adj, z0, t0, t1, K, Dopri5{}, o, w, rbar);
      CHECK(a.nfe_forward > 0);
      CHECK(a.nfe_backward > 0);
      std::printf("  %s K=%d: nfe forward %zu, backward %zu; backprop_solve nfe %zu\n", name.c_str(), K,
                  a.nfe_forward, a.nfe_backward, d.nfe);
      CHECK(relative_error(a.z1, d.z1) <= 1e-8);
      if (K > 0) CHECK(relative_error(a.r1, d.r1) <= 1e-8);
      const double ez = relative_error(a.z0_bar, d.z0_bar);
      max_bp = std::max(max_bp, ez);
      INFO("z0_bar rel diff " << ez);
      CHECK(ez <= 1e-6);
      const auto ga = tensors(a.theta_bar), gd = tensors(d.theta_bar);
      REQUIRE(ga.size() == gd.size());
      for (std::size_t i = 0; i < ga.size(); ++i) {
        const double e = relative_error(ga[i], gd[i]);
        max_bp = std::max(max_bp, e);
        INFO("tensor " << i << " rel diff " << e);
        CHECK(e <= 1e-6);
      }
    }
  std::printf("adjoint vs backprop_solve (tol 1e-10): max rel diff = %.3g\n", max_bp);
}

TEST_CASE("continuous adjoint against finite differences of the adaptive solve at tol 1e-12", "[ad][adjoint]") {
  for (auto& [name, net] : small_networks())
    for (int K = 0; K <= 2; ++K) {
      INFO(name << " K = " << K);
      const Index B = 2, D = net.in_features();
      RowMatrix z0 = taynode_test::random_state<double>(B, D, 7);
      const RowMatrix w = taynode_test::random_state<double>(B, D, 8);
      const Vec rbar = Vec::Constant(B, lambda);
      NetworkTaylor<double> ws(net, std::max(K, 1), B);
      ad::NetworkAdjoint<double> adj(ws);
      const auto o = tol(1e-12);
      const auto a = ad::adjoint_solve(ws, adj, z0, t0, t1, K, Dopri5{}, o, w, rbar);
      auto L = [&]() {
        using A = Augmented<RowMatrix, Vec>;
        auto rhs = [&](double t, const A& y, A& dy) {
          dy.z.resize(B, D);
          dy.r.resize(B);
          if (K > 0) {
            reg::taylor_integrand(ws, t, y.z, K, dy.z, dy.r);
          } else {
            dy.z = ws.evaluate(t, y.z);
            dy.r.setZero();
          }
        };
        const auto sol = solve(rhs, A{z0, Vec::Zero(B)}, {t0, t1}, Dopri5{}, o);
        return (w.array() * sol.final_state().z.array()).sum() + lambda * sol.final_state().r.sum();
      };
      const Vec gz = fd_gradient(L, z0.data(), z0.size());
      const double ez = relative_error(Eigen::Map<const Vec>(a.z0_bar.data(), z0.size()), gz);
      max_fd = std::max(max_fd, ez);
      {
        INFO("z0: rel err " << ez);
        CHECK(ez <= 1e-5);
      }
      const auto ga = tensors(a.theta_bar);
      std::size_t i = 0;
      nn::for_each_parameter(net, [&](auto& p) {
        const Vec gp = fd_gradient(L, p.data(), p.size());
        const double e = relative_error(ga[i], gp);
        max_fd = std::max(max_fd, e);
        INFO("parameter tensor " << i << ": rel err " << e);
        CHECK(e <= 1e-5);
        ++i;
      });
    }
  std::printf("adjoint vs FD (tol 1e-12): max rel err = %.3g\n", max_fd);
}

TEST_CASE("aux variant: plain forward (r1 = 0), same gradient as the full variant", "[ad][adjoint]") {
  for (auto& [name, net] : small_networks())
    for (int K = 1; K <= 2; ++K) {
      INFO(name << " K = " << K);
      const Index B = 2, D = net.in_features();
      const RowMatrix z0 = taynode_test::random_state<double>(B, D, 9);
      const RowMatrix w = taynode_test::random_state<double>(B, D, 10);
      const Vec rbar = Vec::Constant(B, lambda);
      NetworkTaylor<double> ws(net, K, B);
      ad::NetworkAdjoint<double> adj(ws);
      const auto o = tol(1e-10);
      const auto full = ad::adjoint_solve(ws, adj, z0, t0, t1, K, Dopri5{}, o, w, rbar, ad::AdjointVariant::full);
      const auto aux = ad::adjoint_solve(ws, adj, z0, t0, t1, K, Dopri5{}, o, w, rbar, ad::AdjointVariant::aux);
      CHECK(aux.r1.isZero(0.0));
      CHECK(full.r1.norm() > 0);
      CHECK(relative_error(aux.z1, full.z1) <= 1e-8);
      double e = relative_error(aux.z0_bar, full.z0_bar);
      const auto ga = tensors(aux.theta_bar), gf = tensors(full.theta_bar);
      for (std::size_t i = 0; i < ga.size(); ++i) e = std::max(e, relative_error(ga[i], gf[i]));
      max_aux = std::max(max_aux, e);
      INFO("max rel diff " << e);
      CHECK(e <= 1e-7);
    }
  std::printf("aux vs full: max rel diff = %.3g\n", max_aux);
}

TEST_CASE("linear f = W z: z̄0 = exp(Wᵀ T) z̄1", "[ad][adjoint]") {
  const Index D = 4, B = 2;
  nn::Sequential<double> net;
  net.layers.emplace_back(std::in_place_type<nn::Linear<double>>, D, D);
  taynode_test::fill_parameters(net, 41);
  std::get<nn::Linear<double>>(net.layers[0]).bias.setZero();
  const Eigen::MatrixXd W = std::get<nn::Linear<double>>(net.layers[0]).weight;
  const RowMatrix z0 = taynode_test::random_state<double>(B, D, 42);
  const RowMatrix z1_bar = taynode_test::random_state<double>(B, D, 43);
  const Vec r1_bar = Vec::Zero(B);
  const double ta = 0.0, tb = 1.3;
  const Eigen::MatrixXd E = (W * (tb - ta)).exp();
  const RowMatrix want = z1_bar * E;  // rows: (exp(Wᵀ T) z̄1)ᵀ
  const RowMatrix want_z1 = z0 * E.transpose();
  double emax = 0;
  for (int K = 0; K <= 2; ++K) {
    INFO("K = " << K);
    NetworkTaylor<double> ws(net, std::max(K, 1), B);
    ad::NetworkAdjoint<double> adj(ws);
    const auto res = ad::adjoint_solve(ws, adj, z0, ta, tb, K, Dopri5{}, tol(1e-12), z1_bar, r1_bar);
    const double e = relative_error(res.z0_bar, want);
    emax = std::max(emax, e);
    INFO("rel err " << e);
    CHECK(e <= 1e-8);
    CHECK(relative_error(res.z1, want_z1) <= 1e-8);
  }
  std::printf("linear closed form: max rel err = %.3g\n", emax);
}
