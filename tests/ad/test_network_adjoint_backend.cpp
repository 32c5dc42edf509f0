// NetworkAdjoint<T, Guarded> and the regularizers on the guarded test backend
// (tests/backend/guarded_backend.hpp) against backend::Cpu, BITWISE: the VJPs of f, of the R_K
// integrand (K = 1..3), of the kinetic and of the Jacobian-Frobenius integrands — z̄, ε̄, every
// parameter gradient and t̄ — on the MNIST-shaped, latent-ODE and FFJORD networks, batch 1 and 3,
// with and without `accumulate`; TaylorRegularizer (weight 1 and 0.3) and RnodeRegularizer
// evaluate and vjp. The guarded memory must be intact, touched only through the backend, and
// the weight gradients must come from the backend's GEMMs.

#include <catch2/catch.hpp>

#include "../backend/compare.hpp"
#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/regularizer.hpp"

using namespace taynode;
using taynode_test::Guarded;
using taynode_test::guarded_stats;
using taynode_test::same_bits;
using taynode_test::same_bits_as_guarded;
using taynode_test::same_series;
using RowMatrix = nn::RowMatrix<double>;
using Vec = nn::Vector<double>;
using GMat = Guarded::Matrix<double>;

namespace {

bool same_gradient(const ad::NetworkAdjoint<double>& cpu, const ad::NetworkAdjoint<double, Guarded>& g) {
  std::vector<const double*> a, b;
  std::vector<Index> n;
  nn::for_each_parameter(cpu.gradient(), [&](const auto& p) {
    a.push_back(p.data());
    n.push_back(p.size());
  });
  nn::for_each_parameter(g.gradient(), [&](const auto& p) { b.push_back(p.data()); });
  if (a.size() != b.size() || g.gradient_arrays() != a.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i], n[i])) return false;
  return cpu.t_bar() == g.t_bar() || (std::isnan(cpu.t_bar()) && std::isnan(g.t_bar()));
}

struct Case {
  RowMatrix z, eps, f_bar;
  Vec r_bar;
  GMat zg, epsg, f_barg, r_barg;
  Case(Index batch, Index D, unsigned seed)
      : z(taynode_test::random_state<double>(batch, D, seed)),
        eps(taynode_test::random_state<double>(batch, D, seed + 1)),
        f_bar(taynode_test::random_state<double>(batch, D, seed + 2)),
        r_bar(taynode_test::random_state<double>(batch, 1, seed + 3).col(0)),
        zg(backend::to_backend<Guarded>(z)),
        epsg(backend::to_backend<Guarded>(eps)),
        f_barg(backend::to_backend<Guarded>(f_bar)),
        r_barg(backend::to_backend<Guarded>(r_bar)) {}
};

}  // namespace

TEST_CASE("NetworkAdjoint on the guarded backend equals backend::Cpu bit for bit", "[ad][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  for (auto& [name, net] : taynode_test::three_dynamics_networks(5))
    for (Index batch : {1, 3}) {
      INFO(name << " batch " << batch);
      const Index D = net.in_features();
      const Case c(batch, D, 40 + unsigned(batch));
      NetworkTaylor<double> ws(net, 3, batch);
      NetworkTaylor<double, Guarded> wsg(net, 3, batch);
      ad::NetworkAdjoint<double> adj(ws);
      adj.compute_t_bar(true);
      ad::NetworkAdjoint<double, Guarded> adjg(wsg);
      adjg.compute_t_bar(true);
      for (bool accumulate : {false, true}) {
        INFO("accumulate " << accumulate);
        ad::vjp_dynamics(ws, adj, 0.4, c.z, c.f_bar, accumulate);
        ad::vjp_dynamics(wsg, adjg, 0.4, c.zg, c.f_barg, accumulate);
        CHECK(same_bits_as_guarded(adj.z_bar(), adjg.z_bar()));
        CHECK(same_gradient(adj, adjg));
        for (int K = 1; K <= 3; ++K) {
          INFO("R_K, K = " << K);
          ad::vjp_taylor_integrand(ws, adj, 0.4, c.z, K, c.f_bar, c.r_bar, accumulate);
          ad::vjp_taylor_integrand(wsg, adjg, 0.4, c.zg, K, c.f_barg, c.r_barg, accumulate);
          CHECK(same_bits_as_guarded(adj.z_bar(), adjg.z_bar()));
          CHECK(same_gradient(adj, adjg));
        }
        ad::vjp_kinetic_integrand(ws, adj, 0.4, c.z, c.f_bar, c.r_bar, accumulate);
        ad::vjp_kinetic_integrand(wsg, adjg, 0.4, c.zg, c.f_barg, c.r_barg, accumulate);
        CHECK(same_bits_as_guarded(adj.z_bar(), adjg.z_bar()));
        CHECK(same_gradient(adj, adjg));
        ad::vjp_jacobian_frobenius_integrand(ws, adj, 0.4, c.z, c.eps, c.f_bar, c.r_bar, accumulate);
        ad::vjp_jacobian_frobenius_integrand(wsg, adjg, 0.4, c.zg, c.epsg, c.f_barg, c.r_barg, accumulate);
        CHECK(same_series(adj.input_bar(), adjg.input_bar(), 1));  // z̄ and ε̄
        CHECK(same_gradient(adj, adjg));
      }
    }
  CHECK(guarded_stats().count("gemm_nn") > 0);  // x̄ += ȳ W
  CHECK(guarded_stats().count("gemm_tn") > 0);  // W̄ += Ȳᵀ X
  CHECK(guarded_stats().count("column_sums") > 0);
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

TEST_CASE("Regularizers on the guarded backend equal backend::Cpu bit for bit", "[ad][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  for (auto& [name, net] : taynode_test::three_dynamics_networks(5)) {
    INFO(name);
    const Index batch = 3, D = net.in_features();
    const Case c(batch, D, 90);
    NetworkTaylor<double> ws(net, 3, batch);
    NetworkTaylor<double, Guarded> wsg(net, 3, batch);
    ad::NetworkAdjoint<double> adj(ws);
    adj.compute_t_bar(true);
    ad::NetworkAdjoint<double, Guarded> adjg(wsg);
    adjg.compute_t_bar(true);
    RowMatrix f(batch, D), f_vjp;
    Vec r(batch);
    GMat fg(batch, D), rg(batch), f_vjpg;
    auto compare = [&](const auto& cpu_reg, const auto& g_reg) {
      cpu_reg.evaluate(ws, 0.7, c.z, f, r);
      g_reg.evaluate(wsg, 0.7, c.zg, fg, rg);
      CHECK(same_bits_as_guarded(f, fg));
      CHECK(same_bits_as_guarded(r, rg));
      cpu_reg.vjp(ws, adj, 0.7, c.z, c.f_bar, c.r_bar, false, &f_vjp);
      g_reg.vjp(wsg, adjg, 0.7, c.zg, c.f_barg, c.r_barg, false, &f_vjpg);
      CHECK(same_bits_as_guarded(f_vjp, f_vjpg));
      CHECK(same_bits_as_guarded(adj.z_bar(), adjg.z_bar()));
      CHECK(same_gradient(adj, adjg));
    };
    for (int K = 0; K <= 3; ++K)
      for (double weight : {1.0, 0.3}) {
        INFO("TaylorRegularizer K = " << K << " weight " << weight);
        compare(ad::TaylorRegularizer<double>{K, weight}, ad::TaylorRegularizer<double>{K, weight});
      }
    INFO("RnodeRegularizer");
    compare(ad::RnodeRegularizer<double>{&c.eps, 0.3, 0.7}, ad::RnodeRegularizer<double, Guarded>{&c.epsg, 0.3, 0.7});
  }
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

TEST_CASE("TaylorRegularizer's weight scales r and its cotangent", "[ad]") {
  // g = λ·R_K: r is λ times the unweighted one, and the VJP with r̄ equals the unweighted VJP with λ r̄.
  auto net = nn::latent_ode_dynamics<double>(4, 6, 2);
  taynode_test::fill_parameters(net, 3);
  const Index batch = 3, D = 4;
  const Case c(batch, D, 120);
  NetworkTaylor<double> ws(net, 2, batch);
  ad::NetworkAdjoint<double> adj(ws);
  adj.compute_t_bar(true);
  RowMatrix f(batch, D);
  Vec r1(batch), r2(batch);
  ad::TaylorRegularizer<double>{2}.evaluate(ws, 0.1, c.z, f, r1);
  ad::TaylorRegularizer<double>{2, 0.25}.evaluate(ws, 0.1, c.z, f, r2);
  CHECK((r2 - 0.25 * r1).norm() <= 1e-15 * r1.norm());
  ad::TaylorRegularizer<double>{2, 0.25}.vjp(ws, adj, 0.1, c.z, c.f_bar, c.r_bar, false);
  const RowMatrix weighted = adj.z_bar();
  const Vec scaled = 0.25 * c.r_bar;
  ad::TaylorRegularizer<double>{2}.vjp(ws, adj, 0.1, c.z, c.f_bar, scaled, false);
  CHECK(weighted == RowMatrix(adj.z_bar()));
}
