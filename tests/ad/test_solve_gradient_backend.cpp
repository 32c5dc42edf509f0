// ad::solve_gradient — the training step — on the guarded test backend (tests/backend/
// guarded_backend.hpp: memory that is not std::vector, poisoned on allocation and release, guard
// regions checked, every call counted) against backend::Cpu, BITWISE: z1, r1, dL/dz0, dL/dθ and
// the evaluation counts, by backprop (RK4 grid, Dopri5's recorded steps, sparse checkpoints) and
// by the adjoint (both forward passes), for R_K (K = 0..3) and RNODE, and a few SGD iterations of
// a training loop whose parameters must stay identical. The guarded memory must be intact and
// touched only through the backend, and nothing may leak.

#include <cmath>

#include <catch2/catch.hpp>

#include "../backend/compare.hpp"
#include "../series/generic_network.hpp"
#include "fd.hpp"
#include "taynode/ad.hpp"
#include "taynode/nn.hpp"
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

bool same_parameters(const nn::Sequential<double>& a, const nn::Sequential<double>& b) {
  std::vector<const double*> pa, pb;
  std::vector<Index> n;
  nn::for_each_parameter(a, [&](const auto& p) {
    pa.push_back(p.data());
    n.push_back(p.size());
  });
  nn::for_each_parameter(b, [&](const auto& p) { pb.push_back(p.data()); });
  if (pa.size() != pb.size()) return false;
  for (std::size_t i = 0; i < pa.size(); ++i)
    if (!same_bits(pa[i], pb[i], n[i])) return false;
  return true;
}

// A nonlinear loss L = Σ w ⊙ tanh(z1) + λ Σ r1: the cotangent depends on the forward's z1. The
// guarded variant computes it on the host from a download, as a user's host-side head would.
struct Loss {
  RowMatrix w;
  double lambda = 0.7;
  RowMatrix z1_bar_of(const RowMatrix& z1) const { return w.cwiseProduct((1 - z1.array().tanh().square()).matrix()); }
  void operator()(const RowMatrix& z1, const Vec&, RowMatrix& z1_bar, Vec& r1_bar) const {
    z1_bar = z1_bar_of(z1);
    r1_bar.setConstant(lambda);
  }
  void operator()(const GMat& z1, const GMat&, GMat& z1_bar, GMat& r1_bar) const {
    const RowMatrix zb = z1_bar_of(backend::to_host<Guarded>(z1));
    Guarded::upload(zb.size(), zb.data(), z1_bar.data());
    const Vec rb = Vec::Constant(r1_bar.size(), lambda);
    Guarded::upload(rb.size(), rb.data(), r1_bar.data());
  }
};

template <class G1, class G2>
void check_same(const G1& cpu, const G2& g) {
  CHECK(same_bits_as_guarded(cpu.z1, g.z1));
  CHECK(same_bits_as_guarded(cpu.r1, g.r1));
  CHECK(same_bits_as_guarded(cpu.z0_bar, g.z0_bar));
  CHECK(same_parameters(cpu.theta_bar, g.theta_bar));
  CHECK(cpu.nfe_forward == g.nfe_forward);
  CHECK(cpu.nfe_backward == g.nfe_backward);
  CHECK(cpu.forward_steps == g.forward_steps);
  CHECK(cpu.backward_steps == g.backward_steps);
}

}  // namespace

TEST_CASE("solve_gradient on the guarded backend equals backend::Cpu bit for bit", "[ad][backend]") {
  guarded_stats().reset_counts();
  const long live = guarded_stats().live;
  for (auto& [name, net] : taynode_test::three_dynamics_networks(7)) {
    const Index batch = 3, D = net.in_features();
    const RowMatrix z0 = taynode_test::random_state<double>(batch, D, 11);
    const GMat z0g = backend::to_backend<Guarded>(z0);
    const Loss loss{taynode_test::random_state<double>(batch, D, 12)};
    NetworkTaylor<double> ws(net, 3, batch);
    NetworkTaylor<double, Guarded> wsg(net, 3, batch);
    ad::NetworkAdjoint<double> adj(ws);
    ad::NetworkAdjoint<double, Guarded> adjg(wsg);
    SolveOptions<double> grid;
    grid.fixed_steps = 3;
    SolveOptions<double> tol;
    tol.rtol = tol.atol = 1e-7;
    for (int K = 0; K <= 3; ++K) {
      INFO(name << ", R_" << K);
      const ad::TaylorRegularizer<double> reg{K, 0.5};
      for (auto fp : {ad::ForwardPass::augmented, ad::ForwardPass::plain}) {
        INFO("forward " << ad::to_string(fp));
        check_same(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{fp}, loss),
                   ad::solve_gradient(wsg, adjg, z0g, 0.0, 1.0, reg, RK4{}, grid, ad::Backprop{fp}, loss));
        check_same(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, Dopri5{}, tol, ad::Backprop{fp, 2}, loss),
                   ad::solve_gradient(wsg, adjg, z0g, 0.0, 1.0, reg, Dopri5{}, tol, ad::Backprop{fp, 2}, loss));
        check_same(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, Dopri5{}, tol, ad::Adjoint{fp}, loss),
                   ad::solve_gradient(wsg, adjg, z0g, 0.0, 1.0, reg, Dopri5{}, tol, ad::Adjoint{fp}, loss));
      }
    }
    INFO(name << ", RNODE");
    const RowMatrix eps = taynode_test::random_state<double>(batch, D, 13);
    const GMat epsg = backend::to_backend<Guarded>(eps);
    const ad::RnodeRegularizer<double> rnode{&eps, 0.3, 0.2};
    const ad::RnodeRegularizer<double, Guarded> rnodeg{&epsg, 0.3, 0.2};
    check_same(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, rnode, RK4{}, grid, ad::Backprop{}, loss),
               ad::solve_gradient(wsg, adjg, z0g, 0.0, 1.0, rnodeg, RK4{}, grid, ad::Backprop{}, loss));
    check_same(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, rnode, Dopri5{}, tol, ad::Adjoint{}, loss),
               ad::solve_gradient(wsg, adjg, z0g, 0.0, 1.0, rnodeg, Dopri5{}, tol, ad::Adjoint{}, loss));
  }
  CHECK(guarded_stats().count("gemm_nt") > 0);
  CHECK(guarded_stats().count("gemm_tn") > 0);
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}

TEST_CASE("Training on the guarded backend keeps the parameters identical to backend::Cpu", "[ad][backend]") {
  const long live = guarded_stats().live;
  {
  auto nets = taynode_test::three_dynamics_networks(7);
  nn::Sequential<double> net_cpu = nets[0].net, net_g = nets[0].net;
  const Index batch = 4, D = net_cpu.in_features();
  NetworkTaylor<double> ws(net_cpu, 2, batch);
  NetworkTaylor<double, Guarded> wsg(net_g, 2, batch);
  ad::NetworkAdjoint<double> adj(ws);
  ad::NetworkAdjoint<double, Guarded> adjg(wsg);
  auto refs = nn::parameter_refs(net_cpu), refs_g = nn::parameter_refs(net_g);
  nn::SgdMomentum<double> opt(nn::constant(0.05), 0.9), opt_g(nn::constant(0.05), 0.9);
  SolveOptions<double> tol;
  tol.rtol = tol.atol = 1e-6;
  const ad::TaylorRegularizer<double> reg{2, 0.1};
  for (int it = 0; it < 4; ++it) {
    INFO("iteration " << it);
    const RowMatrix z0 = taynode_test::random_state<double>(batch, D, 100 + unsigned(it));
    const Loss loss{taynode_test::random_state<double>(batch, D, 200 + unsigned(it))};
    auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, reg, Dopri5{}, tol, ad::Backprop{}, loss);
    auto gg = ad::solve_gradient(wsg, adjg, backend::to_backend<Guarded>(z0), 0.0, 1.0, reg, Dopri5{}, tol,
                                       ad::Backprop{}, loss);
    check_same(g, gg);
    auto grads = nn::parameter_refs(g.theta_bar);
    auto grads_g = nn::parameter_refs(gg.theta_bar);
    opt.step(refs, grads);
    opt_g.step(refs_g, grads_g);
    wsg.refresh_parameters();  // the guarded copies of the parameters take the new values
    CHECK(same_parameters(net_cpu, net_g));
  }
  CHECK(guarded_stats().count("Mirror::update") > 0);
  }
  taynode_test::check_guards();
  taynode_test::check_no_leak(live);
}
