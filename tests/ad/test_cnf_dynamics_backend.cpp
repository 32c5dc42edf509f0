// ad::CnfDynamics on the guarded test backend (tests/backend/guarded_backend.hpp: poisoned,
// guard-checked memory touched only through the backend) against backend::Cpu, BITWISE: the
// exact and Hutchinson evaluations, and ad::solve_gradient with the CnfLoss head (z1, r1, dL/dz0,
// dL/dθ, the loss terms) by backprop on RK4's grid and by the adjoint, without a regularizer, with
// R_2 and with RNODE sharing the trace's ε (Hutchinson), and with the exact trace (none, R_2). The guarded memory must stay intact and nothing leak.

#include <random>

#include <catch2/catch.hpp>

#include "../backend/compare.hpp"
#include "../series/generic_network.hpp"
#include "taynode/ad.hpp"
#include "taynode/ode.hpp"

using namespace taynode;
using taynode_test::Guarded;
using taynode_test::guarded_stats;
using taynode_test::same_bits;
using taynode_test::same_bits_as_guarded;
using RowMatrix = nn::RowMatrix<double>;
using Vec = nn::Vector<double>;
using GMat = Guarded::Matrix<double>;

namespace {

template <class Cpu, class Dev>
void check_same_gradient(const Cpu& cpu, const Dev& g) {
  CHECK(same_bits_as_guarded(cpu.z1, g.z1));
  CHECK(same_bits_as_guarded(cpu.r1, g.r1));
  CHECK(same_bits_as_guarded(cpu.z0_bar, g.z0_bar));
  std::vector<const double*> a, b;
  std::vector<Index> n;
  nn::for_each_parameter(cpu.theta_bar, [&](const auto& p) {
    a.push_back(p.data());
    n.push_back(p.size());
  });
  nn::for_each_parameter(g.theta_bar, [&](const auto& p) { b.push_back(p.data()); });
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(same_bits(a[i], b[i], n[i]));
}

// Both backends' dynamics through the same solves.
template <class Reg, class RegG>
void compare(NetworkTaylor<double>& ws, ad::NetworkAdjoint<double>& adj, NetworkTaylor<double, Guarded>& wsg,
             ad::NetworkAdjoint<double, Guarded>& adjg, const Reg& reg, const RegG& regg, const RowMatrix& z0,
             const RowMatrix& eps, const GMat& epsg, ad::TraceEstimator mode = ad::TraceEstimator::hutchinson) {
  const GMat z0g = backend::to_backend<Guarded>(z0);
  ad::CnfDynamics<double, backend::Cpu, Reg> d(ws, adj, reg, mode);
  ad::CnfDynamics<double, Guarded, RegG> dg(wsg, adjg, regg, mode);
  d.set_noise(eps);
  dg.set_noise(epsg);
  SolveOptions<double> grid;
  grid.fixed_steps = 3;
  SolveOptions<double> tol;
  tol.rtol = tol.atol = 1e-7;
  {
    ad::CnfLoss<double> loss;
    ad::CnfLoss<double, Guarded> lossg;
    check_same_gradient(ad::solve_gradient(d, z0, 0.0, 1.0, RK4{}, grid, ad::Backprop{}, loss),
                        ad::solve_gradient(dg, z0g, 0.0, 1.0, RK4{}, grid, ad::Backprop{}, lossg));
    CHECK(loss.nll == lossg.nll);
    CHECK(loss.penalty == lossg.penalty);
  }
  {
    ad::CnfLoss<double> loss;
    ad::CnfLoss<double, Guarded> lossg;
    check_same_gradient(ad::solve_gradient(d, z0, 0.0, 1.0, Dopri5{}, tol, ad::Adjoint{}, loss),
                        ad::solve_gradient(dg, z0g, 0.0, 1.0, Dopri5{}, tol, ad::Adjoint{}, lossg));
    CHECK(loss.nll == lossg.nll);
  }
}

}  // namespace

TEST_CASE("CnfDynamics on the guarded backend equals backend::Cpu bit for bit", "[ad][cnf][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  {
    auto net = nn::ffjord_dynamics<double>(3, {5, 4});
    taynode_test::fill_parameters(net, 21);
    const Index B = 3, D = 3;
    const RowMatrix z0 = taynode_test::random_state<double>(B, D, 22);
    std::mt19937_64 rng(23);
    const RowMatrix eps = ad::hutchinson_noise<double>(rng, B, D);
    const GMat epsg = backend::to_backend<Guarded>(eps);
    NetworkTaylor<double> ws(net, 2, B);
    NetworkTaylor<double, Guarded> wsg(net, 2, B);
    ad::NetworkAdjoint<double> adj(ws);
    ad::NetworkAdjoint<double, Guarded> adjg(wsg);

    // Evaluations: the exact trace (its own D·B workspace) and Hutchinson.
    for (auto mode : {ad::TraceEstimator::exact, ad::TraceEstimator::hutchinson}) {
      INFO(ad::to_string(mode));
      ad::CnfDynamics<double> d(ws, ad::TaylorRegularizer<double>{2, 0.5}, mode);
      ad::CnfDynamics<double, Guarded> dg(wsg, ad::TaylorRegularizer<double>{2, 0.5}, mode);
      d.set_noise(eps);
      dg.set_noise(epsg);
      const GMat z0g = backend::to_backend<Guarded>(z0);
      RowMatrix f(B, D);
      Vec r = d.zero_integrand();
      GMat fg(B, D);
      GMat rg = dg.zero_integrand();
      d.evaluate(0.3, z0, f, r);
      dg.evaluate(0.3, z0g, fg, rg);
      CHECK(same_bits_as_guarded(f, fg));
      CHECK(same_bits_as_guarded(r, rg));
    }

    INFO("none");
    compare(ws, adj, wsg, adjg, ad::TaylorRegularizer<double>{}, ad::TaylorRegularizer<double>{}, z0, eps, epsg);
    INFO("R_2");
    compare(ws, adj, wsg, adjg, ad::TaylorRegularizer<double>{2, 0.5}, ad::TaylorRegularizer<double>{2, 0.5}, z0, eps,
            epsg);
    INFO("RNODE");
    compare(ws, adj, wsg, adjg, ad::RnodeRegularizer<double>{&eps, 0.3, 0.2},
            ad::RnodeRegularizer<double, Guarded>{&epsg, 0.3, 0.2}, z0, eps, epsg);
    INFO("R_2, exact trace");
    compare(ws, adj, wsg, adjg, ad::TaylorRegularizer<double>{2, 0.5}, ad::TaylorRegularizer<double>{2, 0.5}, z0, eps,
            epsg, ad::TraceEstimator::exact);
    INFO("none, exact trace");
    compare(ws, adj, wsg, adjg, ad::TaylorRegularizer<double>{}, ad::TaylorRegularizer<double>{}, z0, eps, epsg,
            ad::TraceEstimator::exact);

    // An optimizer step changes the host parameters: refresh_parameters() updates the exact
    // trace's own workspace as well as ws.
    ad::CnfDynamics<double> d(ws, {}, ad::TraceEstimator::exact);
    ad::CnfDynamics<double, Guarded> dg(wsg, {}, ad::TraceEstimator::exact);
    const GMat z0g = backend::to_backend<Guarded>(z0);
    RowMatrix f(B, D);
    Vec r(B), r_before(B);
    GMat fg(B, D), rg(B, 1);
    d.evaluate(0.3, z0, f, r_before);
    nn::for_each_parameter(net, [](auto& p) { p *= 1.1; });
    d.refresh_parameters();
    dg.refresh_parameters();
    d.evaluate(0.3, z0, f, r);
    dg.evaluate(0.3, z0g, fg, rg);
    CHECK((r - r_before).norm() > 1e-3);
    CHECK(same_bits_as_guarded(f, fg));
    CHECK(same_bits_as_guarded(r, rg));
  }
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}
