// ad::solve_gradient: the loss head between the forward and the backward pass, by both gradient
// methods and both forward passes, for a NONLINEAR loss L = Σ w ⊙ tanh(z1) + λ Σ r1 (so the
// cotangent depends on the forward's z1 and a callback that ran at the wrong time or on the wrong
// z1 gives a wrong gradient):
//  * backprop on RK4's fixed grid against central finite differences of the discrete map
//    (tests/ad/fd.hpp: h = 1e-5, normwise bound 1e-6 per tensor), K = 0..4;
//  * ForwardPass::plain gives r1 = 0 and the same gradient as ::augmented (on a fixed grid the map
//    is the same, so to rounding);
//  * the continuous adjoint against backprop at rtol = atol = 1e-10 (Dopri5), K = 0..4: both
//    approximate the gradient of the exact flow; bound 1e-6;
//  * NFE accounting against counted calls and against taynode::solve;
//  * bad arguments raise.

#include <cmath>
#include <functional>
#include <stdexcept>
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

namespace {

constexpr double lambda = 0.7;

std::vector<taynode_test::NamedNet> small_networks() {
  std::vector<taynode_test::NamedNet> nets;
  nets.push_back({"latent", nn::latent_ode_dynamics<double>(3, 5, 2)});
  nets.push_back({"mnist", nn::mnist_dynamics<double>(4, 3)});
  return taynode_test::seeded(std::move(nets), 31);
}

// L = Σ w ⊙ tanh(z1) + λ Σ r1 and its cotangents.
struct TanhLoss {
  RowMatrix w;
  double value(const RowMatrix& z1, const Vec& r1) const {
    return (w.array() * z1.array().tanh()).sum() + lambda * r1.sum();
  }
  void operator()(const RowMatrix& z1, const Vec& r1, RowMatrix& z1_bar, Vec& r1_bar) {
    REQUIRE(z1_bar.rows() == z1.rows());
    REQUIRE(r1_bar.size() == r1.size());
    z1_bar = w.array() * (1 - z1.array().tanh().square());
    r1_bar.setConstant(lambda);
    ++calls;
  }
  int calls = 0;
};

// g.z0_bar and g.theta_bar against central differences of L w.r.t. z0 and every parameter of net.
void check_against_fd(const std::function<double()>& L, const ad::SolveGradient<double>& g, nn::Sequential<double>& net,
                      RowMatrix& z0) {
  CHECK(relative_error(Eigen::Map<const Vec>(g.z0_bar.data(), z0.size()), fd_gradient(L, z0.data(), z0.size())) <=
        fd_tolerance);
  const auto grads = flat_gradients(g.theta_bar);
  std::size_t i = 0;
  nn::for_each_parameter(net, [&](auto& p) {
    const double e = relative_error(grads[i], fd_gradient(L, p.data(), p.size()));
    INFO("parameter tensor " << i << ": rel err " << e);
    CHECK(e <= fd_tolerance);
    ++i;
  });
}

}  // namespace

TEST_CASE("solve_gradient, backprop on RK4's fixed grid, against finite differences, K = 0..4", "[ad][solve]") {
  for (auto& [name, net] : small_networks())
    for (int K = 0; K <= 4; ++K) {
      INFO(name << " K = " << K);
      const Index B = 2, D = net.in_features();
      RowMatrix z0 = taynode_test::random_state<double>(B, D, 5);
      TanhLoss loss{taynode_test::random_state<double>(B, D, 6)};
      NetworkTaylor<double> ws(net, std::max(K, 1), B);
      ad::NetworkAdjoint<double> adj(ws);
      SolveOptions<double> o;
      o.fixed_steps = 4;
      const auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, RK4{}, o, ad::Backprop{}, loss);
      CHECK(loss.calls == 1);
      const auto steps = ad::fixed_grid(0.0, 1.0, 4);
      auto L = [&]() {
        const auto f = ad::solve_steps<RK4>(ws, z0, K, steps);
        return loss.value(f.z1, f.r1);
      };
      CHECK(std::abs(L() - loss.value(g.z1, g.r1)) <= 1e-14);
      if (K > 0) CHECK(g.r1.minCoeff() > 0);
      check_against_fd(L, g, net, z0);
      // Accounting: 4 steps × 4 stages forward; backward one VJP per stage (the stage inputs are
      // rebuilt from the stage derivatives the forward kept).
      CHECK(g.nfe_forward == 16);
      CHECK(g.nfe_backward == 16);
      CHECK(g.forward_steps == 4);
      // Without kept stages the backward re-evaluates the 3 stages whose k a later stage reads:
      // the same gradient (the stage inputs differ by rounding at most).
      ad::Backprop again;
      again.keep_stages = false;
      const auto r = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, RK4{}, o, again, loss);
      CHECK(r.nfe_backward == 4 * 3 + 16);
      CHECK(relative_error(r.z0_bar, g.z0_bar) <= 1e-13);
      const auto a = flat_gradients(r.theta_bar), b = flat_gradients(g.theta_bar);
      for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(a[i], b[i]) <= 1e-13);
    }
}

TEST_CASE("solve_gradient: the plain forward reports r1 = 0 and the same gradient", "[ad][solve]") {
  for (auto& [name, net] : small_networks()) {
    INFO(name);
    const Index B = 3, D = net.in_features();
    const RowMatrix z0 = taynode_test::random_state<double>(B, D, 7);
    TanhLoss loss{taynode_test::random_state<double>(B, D, 8)};
    const int K = 2;
    NetworkTaylor<double> ws(net, K, B);
    ad::NetworkAdjoint<double> adj(ws);
    SolveOptions<double> o;
    o.fixed_steps = 3;
    const auto full = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, RK4{}, o, ad::Backprop{}, loss);
    const auto plain = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, RK4{}, o,
                                          ad::Backprop{ad::ForwardPass::plain}, loss);
    CHECK(plain.r1.isZero(0));
    CHECK(full.r1.minCoeff() > 0);
    CHECK(relative_error(plain.z1, full.z1) <= 1e-14);
    CHECK(relative_error(plain.z0_bar, full.z0_bar) <= 1e-13);
    const auto a = flat_gradients(plain.theta_bar), b = flat_gradients(full.theta_bar);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(a[i], b[i]) <= 1e-13);
  }
}

TEST_CASE("solve_gradient: continuous adjoint against backprop at tight tolerance, both forward passes",
          "[ad][solve]") {
  for (auto& [name, net] : small_networks())
    for (int K = 0; K <= 4; ++K)
      for (auto fp : {ad::ForwardPass::augmented, ad::ForwardPass::plain}) {
        INFO(name << " K = " << K << " forward " << ad::to_string(fp));
        const Index B = 2, D = net.in_features();
        const RowMatrix z0 = taynode_test::random_state<double>(B, D, 9);
        TanhLoss loss{taynode_test::random_state<double>(B, D, 10)};
        NetworkTaylor<double> ws(net, std::max(K, 1), B);
        ad::NetworkAdjoint<double> adj(ws);
        SolveOptions<double> o;
        o.rtol = o.atol = 1e-10;
        const auto bp = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, o, ad::Backprop{fp}, loss);
        const auto aj = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, o, ad::Adjoint{fp}, loss);
        CHECK(relative_error(aj.z1, bp.z1) <= 1e-8);
        CHECK(relative_error(aj.z0_bar, bp.z0_bar) <= 1e-6);
        const auto a = flat_gradients(aj.theta_bar), b = flat_gradients(bp.theta_bar);
        for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(a[i], b[i]) <= 1e-6);
        if (fp == ad::ForwardPass::plain || K == 0) {
          CHECK(bp.r1.isZero(0));
          CHECK(aj.r1.isZero(0));
        } else {
          CHECK(relative_error(aj.r1, bp.r1) <= 1e-8);
        }
        CHECK(aj.backward_steps > 0);
        CHECK(aj.nfe_backward >= 6 * aj.backward_steps);
      }
}

TEST_CASE("solve_gradient: the plain adaptive forward takes the steps of taynode::solve on f", "[ad][solve]") {
  auto nets = small_networks();
  auto& net = nets[0].net;
  const Index B = 2, D = net.in_features();
  const RowMatrix z0 = taynode_test::random_state<double>(B, D, 11);
  TanhLoss loss{taynode_test::random_state<double>(B, D, 12)};
  NetworkTaylor<double> ws(net, 3, B);
  ad::NetworkAdjoint<double> adj(ws);
  SolveOptions<double> o;
  o.rtol = o.atol = 1e-6;
  std::size_t calls = 0;
  auto f = [&](double t, const RowMatrix& y, RowMatrix& dy) {
    ++calls;
    dy = ws.evaluate(t, y);
  };
  const auto sol = solve(f, z0, std::vector<double>{0.0, 1.0}, Dopri5{}, o);
  const auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, 3, Dopri5{}, o,
                                    ad::Backprop{ad::ForwardPass::plain}, loss);
  CHECK(g.nfe_forward == calls);
  CHECK(g.forward_steps == sol.stats.accepted_steps);
  CHECK(relative_error(g.z1, sol.final_state()) <= 1e-15);
}

TEST_CASE("solve_gradient: bad arguments raise", "[ad][solve]") {
  auto nets = small_networks();
  auto& net = nets[0].net;
  const Index B = 2, D = net.in_features();
  NetworkTaylor<double> ws(net, 2, B);
  ad::NetworkAdjoint<double> adj(ws);
  TanhLoss loss{RowMatrix::Ones(B, D)};
  SolveOptions<double> o;
  o.fixed_steps = 2;
  const RowMatrix wrong = RowMatrix::Zero(B + 1, D), z0 = RowMatrix::Zero(B, D);
  CHECK_THROWS_AS(ad::solve_gradient(ws, adj, wrong, 0.0, 1.0, 1, RK4{}, o, ad::Backprop{}, loss), std::invalid_argument);
  CHECK_THROWS_AS(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, 3, RK4{}, o, ad::Backprop{}, loss), std::invalid_argument);
  SolveOptions<double> h;
  h.fixed_step_size = 0.1;
  CHECK_THROWS_AS(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, 1, RK4{}, h, ad::Backprop{}, loss), std::invalid_argument);
  // A cotangent of the wrong shape is caught before the backward pass.
  auto bad = [&](const RowMatrix&, const Vec&, RowMatrix& zb, Vec&) { zb.resize(1, 1); };
  CHECK_THROWS_AS(ad::solve_gradient(ws, adj, z0, 0.0, 1.0, 1, RK4{}, o, ad::Backprop{}, bad), std::invalid_argument);
  CHECK(loss.calls == 0);
}

TEST_CASE("solve_gradient: sparse checkpoints give the same gradient and count their recomputation", "[ad][solve]") {
  auto nets = small_networks();
  auto& net = nets[1].net;
  const Index B = 2, D = net.in_features();
  const RowMatrix z0 = taynode_test::random_state<double>(B, D, 13);
  TanhLoss loss{taynode_test::random_state<double>(B, D, 14)};
  const int K = 2;
  NetworkTaylor<double> ws(net, K, B);
  ad::NetworkAdjoint<double> adj(ws);
  SolveOptions<double> grid;
  grid.fixed_steps = 7;
  ad::Backprop re_evaluate;  // every state kept, the stage inputs re-evaluated (as the segments)
  re_evaluate.keep_stages = false;
  const auto dense = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, RK4{}, grid, re_evaluate, loss);
  // m = 3: segments of 3, 3, 1 steps; entering a segment of s steps recomputes s − 1 of them
  // (4 evaluations each): 2·4 + 2·4 + 0 more plain evaluations. m = 0 picks ⌈√7⌉ = 3 too.
  for (std::size_t m : {std::size_t(3), std::size_t(0)}) {
    INFO("checkpoint_every = " << m);
    ad::Backprop o;
    o.checkpoint_every = m;
    const auto sparse = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, RK4{}, grid, o, loss);
    CHECK(relative_error(sparse.z0_bar, dense.z0_bar) <= 1e-13);
    const auto a = flat_gradients(sparse.theta_bar), b = flat_gradients(dense.theta_bar);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(a[i], b[i]) <= 1e-13);
    CHECK(sparse.nfe_backward == dense.nfe_backward + 16);
  }
  // Adaptive: the replay keeps every m-th state as well.
  SolveOptions<double> tol;
  tol.rtol = tol.atol = 1e-9;
  const auto d5 = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, tol, ad::Backprop{}, loss);
  REQUIRE(d5.forward_steps >= 4);
  ad::Backprop o;
  o.checkpoint_every = 2;
  const auto s5 = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, tol, o, loss);
  CHECK(relative_error(s5.z0_bar, d5.z0_bar) <= 1e-13);
  CHECK(s5.nfe_backward > d5.nfe_backward);
  // Every state and the kept stages (the default): the stages whose k a later needed stage reads
  // (Dopri5: stages 1–5 of 7; the FSAL stage 7 is not needed, so stage 6 feeds nothing) are not
  // evaluated again in the backward pass: 5 plain evaluations per step fewer.
  const auto e5 = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, K, Dopri5{}, tol, re_evaluate, loss);
  CHECK(relative_error(e5.z0_bar, d5.z0_bar) <= 1e-13);
  const auto a = flat_gradients(e5.theta_bar), b = flat_gradients(d5.theta_bar);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_error(a[i], b[i]) <= 1e-13);
  CHECK(e5.nfe_backward - d5.nfe_backward == 5 * d5.forward_steps);
}

TEST_CASE("solve_gradient with RNODE's integrand: against finite differences of an independent solve, and "
          "adjoint vs backprop", "[ad][solve][rnode]") {
  const double w_kin = 0.3, w_fro = 0.8;
  for (auto& [name, net] : small_networks()) {
    INFO(name);
    const Index B = 2, D = net.in_features();
    RowMatrix z0 = taynode_test::random_state<double>(B, D, 15);
    const RowMatrix eps = taynode_test::random_state<double>(B, D, 16);
    TanhLoss loss{taynode_test::random_state<double>(B, D, 17)};
    NetworkTaylor<double> ws(net, 1, B);
    ad::NetworkAdjoint<double> adj(ws);
    const ad::RnodeRegularizer<double> rnode{&eps, w_kin, w_fro};
    SolveOptions<double> grid;
    grid.fixed_steps = 4;
    const auto g = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, rnode, RK4{}, grid, ad::Backprop{}, loss);
    // The objective through taynode::solve and reg::rnode_integrands (not the ad/ forward).
    using A = Augmented<RowMatrix, Vec>;
    auto L = [&]() {
      auto rhs = [&](double t, const A& y, A& dy) {
        dy.z.resize(B, D);
        dy.r.resize(B);
        Vec kin(B), fro(B);
        reg::rnode_integrands(ws, t, y.z, eps, dy.z, kin, fro);
        dy.r = w_kin * kin + w_fro * fro;
      };
      const auto sol = solve(rhs, A{z0, Vec::Zero(B)}, std::vector<double>{0.0, 1.0}, RK4{}, grid);
      return loss.value(sol.final_state().z, sol.final_state().r);
    };
    CHECK(std::abs(L() - loss.value(g.z1, g.r1)) <= 1e-13);
    CHECK(g.r1.minCoeff() > 0);
    check_against_fd(L, g, net, z0);
    // Continuous adjoint vs backprop at a tight tolerance, both forward passes.
    SolveOptions<double> tight;
    tight.rtol = tight.atol = 1e-10;
    for (auto fp : {ad::ForwardPass::augmented, ad::ForwardPass::plain}) {
      INFO("forward " << ad::to_string(fp));
      const auto bp = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, rnode, Dopri5{}, tight, ad::Backprop{fp}, loss);
      const auto aj = ad::solve_gradient(ws, adj, z0, 0.0, 1.0, rnode, Dopri5{}, tight, ad::Adjoint{fp}, loss);
      CHECK(relative_error(aj.z0_bar, bp.z0_bar) <= 1e-6);
      const auto a = flat_gradients(aj.theta_bar), b = flat_gradients(bp.theta_bar);
      for (std::size_t j = 0; j < a.size(); ++j) CHECK(relative_error(a[j], b[j]) <= 1e-6);
      if (fp == ad::ForwardPass::augmented) CHECK(relative_error(aj.r1, bp.r1) <= 1e-8);
    }
  }
}
