// VJPs through a NetworkTaylor pass (ad/network_adjoint.hpp) against central finite differences in
// double (tests/ad/fd.hpp: h = 1e-5, normwise relative error ≤ 1e-6 per tensor), on small
// MNIST-shaped, latent-ODE (tanh MLP) and FFJORD (ConcatSquash + softplus) networks, batch 1 and 3:
//  * the R_K integrand (1/D)||z^(K)||² together with f, K = 1..4: gradient w.r.t. z, every
//    parameter tensor and t;
//  * f alone, the kinetic and the Jacobian-Frobenius integrands;
//  * K = 1 consistency: ∇_z of (1/D)||f||² equals (2/D)·Jᵀf, with J e_i from forward mode (jvp);
//  * workspace reuse (bitwise equal to a fresh workspace) and `accumulate`.

#include <functional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/reg.hpp"

using namespace taynode;
using taynode_test::fd_gradient;
using taynode_test::fd_tolerance;
using taynode_test::relative_error;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXd;

namespace {

using taynode_test::NamedNet;
using taynode_test::flat;

// Checks ∇L w.r.t. z, every parameter tensor and t, for L given as a function of the (mutable)
// network and inputs, against the adjoint's results.
void check_gradients(nn::Sequential<double>& net, RowMatrix& z, double& t, const std::function<double()>& L,
                     const ad::NetworkAdjoint<double>& adj) {
  const Vec gz = fd_gradient(L, z.data(), z.size());
  {
    INFO("z");
    REQUIRE(relative_error(Eigen::Map<const Vec>(adj.z_bar().data(), z.size()), gz) <= fd_tolerance);
  }
  std::vector<Vec> grads;
  nn::for_each_parameter(adj.gradient(), [&](const auto& p) { grads.push_back(flat(p)); });
  std::size_t i = 0;
  nn::for_each_parameter(net, [&](auto& p) {
    const Vec gp = fd_gradient(L, p.data(), p.size());
    INFO("parameter tensor " << i);
    REQUIRE(relative_error(grads[i], gp) <= fd_tolerance);
    ++i;
  });
  const double gt = fd_gradient(L, &t, 1)[0];
  INFO("t: adjoint " << adj.t_bar() << " fd " << gt);
  REQUIRE(std::abs(adj.t_bar() - gt) <= fd_tolerance * std::max(std::abs(gt), 1e-3));
}

}  // namespace

TEST_CASE("VJP of the R_K integrand and f through the Taylor pass, K = 1..4", "[ad]") {
  for (auto& [name, net] : taynode_test::three_dynamics_networks(3))
    for (Index batch : {1, 3})
      for (int K = 1; K <= 4; ++K) {
        INFO(name << " batch " << batch << " K = " << K);
        const Index D = net.in_features();
        RowMatrix z = taynode_test::random_state<double>(batch, D, 10 * K + unsigned(batch));
        const RowMatrix f_bar = taynode_test::random_state<double>(batch, D, 20 * K + unsigned(batch));
        const Vec r_bar = taynode_test::random_state<double>(batch, 1, 30 * K + unsigned(batch)).col(0);
        double t = 0.37;
        NetworkTaylor<double> ws(net, 4, batch);
        ad::NetworkAdjoint<double> adj(ws);
        adj.compute_t_bar(true);
        RowMatrix f(batch, D);
        Vec r(batch);
        auto L = [&] {
          reg::taylor_integrand(ws, t, z, K, f, r);
          return (f_bar.array() * f.array()).sum() + r_bar.dot(r);
        };
        ad::vjp_taylor_integrand(ws, adj, t, z, K, f_bar, r_bar);
        check_gradients(net, z, t, L, adj);
      }
}

TEST_CASE("VJP of f, the kinetic and the Jacobian-Frobenius integrands", "[ad]") {
  for (auto& [name, net] : taynode_test::three_dynamics_networks(3))
    for (Index batch : {1, 3}) {
      INFO(name << " batch " << batch);
      const Index D = net.in_features();
      RowMatrix z = taynode_test::random_state<double>(batch, D, 50 + unsigned(batch));
      const RowMatrix f_bar = taynode_test::random_state<double>(batch, D, 60 + unsigned(batch));
      const RowMatrix eps = taynode_test::random_state<double>(batch, D, 70 + unsigned(batch));
      const Vec r_bar = taynode_test::random_state<double>(batch, 1, 80 + unsigned(batch)).col(0);
      double t = 0.61;
      NetworkTaylor<double> ws(net, 1, batch);
      ad::NetworkAdjoint<double> adj(ws);
      adj.compute_t_bar(true);
      RowMatrix f(batch, D);
      Vec r(batch);
      {
        INFO("f");
        auto L = [&] { return (f_bar.array() * ws.evaluate(t, z).array()).sum(); };
        ad::vjp_dynamics(ws, adj, t, z, f_bar);
        check_gradients(net, z, t, L, adj);
      }
      {
        INFO("kinetic");
        auto L = [&] {
          reg::kinetic_integrand(ws, t, z, f, r);
          return (f_bar.array() * f.array()).sum() + r_bar.dot(r);
        };
        ad::vjp_kinetic_integrand(ws, adj, t, z, f_bar, r_bar);
        check_gradients(net, z, t, L, adj);
      }
      {
        INFO("Jacobian Frobenius");
        auto L = [&] {
          reg::jacobian_frobenius_integrand(ws, t, z, eps, f, r);
          return (f_bar.array() * f.array()).sum() + r_bar.dot(r);
        };
        ad::vjp_jacobian_frobenius_integrand(ws, adj, t, z, eps, f_bar, r_bar);
        check_gradients(net, z, t, L, adj);
      }
    }
}

TEST_CASE("K = 1: the R_1 gradient w.r.t. z is (2/D) J^T f (forward-mode J)", "[ad]") {
  for (auto& [name, net] : taynode_test::three_dynamics_networks(3)) {
    INFO(name);
    const Index batch = 3, D = net.in_features();
    const RowMatrix z = taynode_test::random_state<double>(batch, D, 90);
    const Vec r_bar = Vec::Ones(batch);
    const double t = 0.2;
    NetworkTaylor<double> ws(net, 1, batch);
    ad::NetworkAdjoint<double> adj(ws);
    adj.compute_t_bar(true);
    ad::vjp_taylor_integrand(ws, adj, t, z, 1, RowMatrix::Zero(batch, D), r_bar);
    const RowMatrix z_bar = adj.z_bar();
    const RowMatrix f = ws.evaluate(t, z);
    RowMatrix want(batch, D);
    for (Index i = 0; i < D; ++i) {
      RowMatrix e = RowMatrix::Zero(batch, D);
      e.col(i).setOnes();
      const RowMatrix je = ws.jvp(t, z, e);  // row b: J_b e_i
      want.col(i) = (2.0 / double(D)) * (je.array() * f.array()).rowwise().sum().matrix();
    }
    // two exact computations of the same derivative: rounding-level agreement
    REQUIRE(relative_error(z_bar, want) <= 1e-13);
  }
}

namespace {
// A state and cotangents (f̄, r̄) of a VJP for `batch` examples of net's dynamics.
struct VjpInputs {
  RowMatrix z, f_bar;
  Vec r_bar;
};
VjpInputs vjp_inputs(const nn::Sequential<double>& net, Index batch) {
  const Index D = net.in_features();
  return {taynode_test::random_state<double>(batch, D, 95), taynode_test::random_state<double>(batch, D, 96),
          taynode_test::random_state<double>(batch, 1, 97).col(0)};
}
// θ̄ of adj, one flat vector per parameter tensor.
std::vector<Vec> parameter_cotangents(const ad::NetworkAdjoint<double>& adj) {
  std::vector<Vec> g;
  nn::for_each_parameter(adj.gradient(), [&](const auto& p) { g.push_back(flat(p)); });
  return g;
}
}  // namespace

TEST_CASE("NetworkAdjoint reuse: results do not depend on earlier calls; accumulate adds", "[ad]") {
  for (auto& [name, net] : taynode_test::three_dynamics_networks(3)) {
    INFO(name);
    const Index batch = 3;
    const auto [z, f_bar, r_bar] = vjp_inputs(net, batch);
    NetworkTaylor<double> ws(net, 4, batch);
    ad::NetworkAdjoint<double> fresh(ws), reused(ws);
    fresh.compute_t_bar(true);
    reused.compute_t_bar(true);
    ad::vjp_taylor_integrand(ws, reused, 0.1, z, 4, f_bar, r_bar);  // dirties orders 0..4
    ad::vjp_taylor_integrand(ws, reused, 0.3, z, 2, f_bar, r_bar);
    ad::vjp_taylor_integrand(ws, fresh, 0.3, z, 2, f_bar, r_bar);
    REQUIRE(reused.z_bar() == fresh.z_bar());
    REQUIRE(reused.t_bar() == fresh.t_bar());
    const std::vector<Vec> a = parameter_cotangents(reused), b = parameter_cotangents(fresh);
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == b[i]);
    // accumulate: the R_2 gradient plus the f gradient, against the two separately
    ad::vjp_dynamics(ws, reused, 0.3, z, f_bar, /*accumulate=*/true);
    ad::vjp_dynamics(ws, fresh, 0.3, z, f_bar);
    std::size_t i = 0;
    std::vector<Vec> c;
    nn::for_each_parameter(reused.gradient(), [&](const auto& p) { c.push_back(flat(p)); });
    nn::for_each_parameter(fresh.gradient(), [&](const auto& p) {
      REQUIRE(relative_error(c[i], Vec(a[i] + flat(p))) <= 1e-15);
      ++i;
    });
  }
}

TEST_CASE("NetworkAdjoint computes t̄ only when asked; the other cotangents are the same bits either way", "[ad]") {
  for (auto& [name, net] : taynode_test::three_dynamics_networks(3)) {
    INFO(name);
    const Index batch = 3;
    const auto [z, f_bar, r_bar] = vjp_inputs(net, batch);
    NetworkTaylor<double> ws(net, 2, batch);
    ad::NetworkAdjoint<double> with(ws), without(ws);
    with.compute_t_bar(true);
    CHECK(with.computes_t_bar());
    CHECK_FALSE(without.computes_t_bar());
    ad::vjp_taylor_integrand(ws, with, 0.3, z, 2, f_bar, r_bar);
    ad::vjp_taylor_integrand(ws, without, 0.3, z, 2, f_bar, r_bar);
    CHECK(with.z_bar() == without.z_bar());
    const std::vector<Vec> a = parameter_cotangents(with), b = parameter_cotangents(without);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);
    CHECK(std::isfinite(with.t_bar()));
    CHECK_THROWS_WITH(without.t_bar(), Catch::Matchers::Contains("compute_t_bar(true)"));
  }
}
