// nn::GenericNetwork (an nn::Sequential as f(t, z) on any scalar) against outside truth:
//  * plain evaluation against the layer formulas written out by hand with Eigen, for tiny
//    versions of the paper's three dynamics (MNIST, latent ODE, FFJORD ConcatSquash);
//  * z'' from the Jet path against a central finite difference of plain evaluations along the
//    trajectory, z'' = d/dt f(t, z(t)) ≈ (f(t+h, z+h f) − f(t−h, z−h f)) / 2h;
//  * all derivatives up to K = 6 from the Jet, IncrementalJet and nested-Dual paths against the
//    closed form of z' = tanh z (Linear(1 → 1, w = 1) → tanh): with y = tanh z, y' = (1 − y²) z',
//    so z^(k) = P_k(y) with P_1 = y, P_{k+1} = P_k'(y)·y(1 − y²) (exact integer polynomials);
//  * the Jet path against NetworkTaylor's coefficients on the three tiny networks.

#include <cmath>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "taynode/nn/generic_network.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/taylor.hpp"

using namespace taynode;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

double normwise_error(const RowMatrix& got, const RowMatrix& want) {
  const double scale = want.cwiseAbs().maxCoeff();
  return (got - want).cwiseAbs().maxCoeff() / (scale > 0 ? scale : 1.0);
}

Eigen::ArrayXXd sigmoid_of(const Eigen::ArrayXXd& a) { return 1.0 / (1.0 + (-a).exp()); }

// The three tiny networks and their formulas written out with Eigen (row-major batch z).
struct Case {
  const char* name;
  nn::Sequential<double> net;
};
std::vector<Case> tiny_networks() {
  std::vector<Case> cases;
  cases.push_back({"mnist", nn::mnist_dynamics<double>(3, 4)});
  cases.push_back({"latent", nn::latent_ode_dynamics<double>(3, 4, 2)});
  cases.push_back({"ffjord", nn::ffjord_dynamics<double>(3, {4})});
  unsigned seed = 11;
  for (auto& c : cases) taynode_test::fill_parameters(c.net, seed++);
  return cases;
}
RowMatrix by_hand(const nn::Sequential<double>& net, double t, const RowMatrix& z) {
  Eigen::ArrayXXd x = z.array();
  for (const auto& l : net.layers) {
    if (const auto* a = std::get_if<nn::Linear<double>>(&l)) {
      x = ((x.matrix() * a->weight.transpose()).rowwise() + a->bias.transpose()).array();
    } else if (const auto* c = std::get_if<nn::ConcatLinear<double>>(&l)) {
      const RowMatrix w = c->weight.rightCols(c->in());
      x = ((x.matrix() * w.transpose()).rowwise() + (c->bias + t * c->weight.col(0)).transpose()).array();
    } else if (const auto* s = std::get_if<nn::ConcatSquash<double>>(&l)) {
      const Eigen::ArrayXd gate = 1.0 / (1.0 + (-(s->gate_weight * t + s->gate_bias).array()).exp());
      Eigen::ArrayXXd h = ((x.matrix() * s->weight.transpose()).rowwise() + s->bias.transpose()).array();
      h.rowwise() *= gate.transpose();
      h.rowwise() += (t * s->time_weight).array().transpose();
      x = h;
    } else if (std::holds_alternative<nn::Sigmoid>(l)) {
      x = sigmoid_of(x);
    } else if (std::holds_alternative<nn::Tanh>(l)) {
      x = x.tanh();
    } else {
      x = (1.0 + x.exp()).log();  // softplus; arguments here are O(1)
    }
  }
  return x.matrix();
}

}  // namespace

TEST_CASE("GenericNetwork: plain evaluation equals the layer formulas", "[nn][generic]") {
  for (const auto& c : tiny_networks()) {
    INFO(c.name);
    const RowMatrix z = taynode_test::random_state<double>(2, 3, 5);
    const nn::GenericNetwork<double> f(c.net);
    // the library's σ and tanh are other (equally accurate) formulas than these: a few ulps
    REQUIRE(normwise_error(f(0.3, z), by_hand(c.net, 0.3, z)) <= 1e-14);
    // One example as a column vector: the same numbers as its row of the batch.
    const Eigen::VectorXd z1 = z.row(1).transpose();
    const Eigen::VectorXd f1 = f(0.3, z1);
    REQUIRE(normwise_error(RowMatrix(f1.transpose()), RowMatrix(f(0.3, z).row(1))) == 0.0);
  }
}

TEST_CASE("GenericNetwork on Jet: z'' equals a central difference along the trajectory", "[nn][generic]") {
  for (const auto& c : tiny_networks()) {
    INFO(c.name);
    const RowMatrix z = taynode_test::random_state<double>(2, 3, 6);
    const double t = 0.3, h = 1e-4;
    const nn::GenericNetwork<double> f(c.net);
    const auto d = ode_taylor_coefficients<2>(f, z, t);
    const RowMatrix f0 = f(t, z);
    const RowMatrix fd = (f(t + h, RowMatrix(z + h * f0)) - f(t - h, RowMatrix(z - h * f0))) / (2 * h);
    REQUIRE(normwise_error(d[1], f0) <= 1e-14);  // Jet's tanh(u_0) is not std::tanh: ulps
    // truncation O(h²·z'''') ≈ 1e-8, rounding 1e-16/h ≈ 1e-12
    REQUIRE(normwise_error(d[2], fd) <= 1e-7);
  }
}

TEST_CASE("GenericNetwork: z' = tanh z, all paths against the closed form to K = 6", "[nn][generic][closed-form]") {
  constexpr int K = 6;
  nn::Sequential<double> net;
  net.layers = {nn::Linear<double>(1, 1), nn::Tanh{}};
  std::get<nn::Linear<double>>(net.layers[0]).weight(0, 0) = 1.0;
  const nn::GenericNetwork<double> f(net);
  RowMatrix z0(3, 1);
  z0 << 0.4, -1.3, 2.1;
  // P_k as coefficient vectors in y: P_1 = y; P_{k+1} = P_k'(y)·(y − y³).
  std::vector<std::vector<double>> P(K + 1);
  P[1] = {0.0, 1.0};
  for (int k = 1; k < K; ++k) {
    std::vector<double> next(P[k].size() + 2, 0.0);
    for (std::size_t j = 1; j < P[k].size(); ++j) {
      next[j] += double(j) * P[k][j];      // P_k' · y
      next[j + 2] -= double(j) * P[k][j];  // P_k' · (−y³)
    }
    P[k + 1] = next;
  }
  const auto jet = ode_taylor_coefficients<K>(f, z0, 0.25);
  const auto incremental = ode_taylor_coefficients_incremental<K>(f, z0, 0.25);
  const auto nested = ode_taylor_coefficients_nested<4>(f, z0, 0.25);
  for (Eigen::Index r = 0; r < 3; ++r) {
    const double y = std::tanh(z0(r, 0));
    for (int k = 1; k <= K; ++k) {
      double want = 0.0, power = 1.0;
      for (double p : P[k]) want += p * power, power *= y;
      INFO("z0 = " << z0(r, 0) << ", derivative " << k);
      // P_k has coefficients up to ~1e3 at k = 6 that cancel: 1e-13 relative to max(1, |want|)
      const double tol = 1e-13 * std::max(1.0, std::abs(want));
      REQUIRE(std::abs(jet[k](r, 0) - want) <= tol);
      REQUIRE(std::abs(incremental[k](r, 0) - want) <= tol);
      if (k <= 4) REQUIRE(std::abs(nested[k](r, 0) - want) <= tol);
    }
  }
}

TEST_CASE("GenericNetwork on Jet agrees with NetworkTaylor's coefficients", "[nn][generic]") {
  constexpr int K = 4;
  for (const auto& c : tiny_networks()) {
    INFO(c.name);
    const RowMatrix z0 = taynode_test::random_state<double>(5, 3, 7);
    NetworkTaylor<double> ws(c.net, K, 5);
    ws.ode_coefficients(0.3, z0, K);
    const auto ref = ode_taylor_coefficients<K>(nn::GenericNetwork<double>(c.net), z0, 0.3);
    for (int k = 0; k <= K; ++k) {
      INFO("derivative " << k);
      REQUIRE(normwise_error(ws.derivative(k), ref[k]) <= 1e-13);  // sums in other orders
    }
  }
}

TEST_CASE("GenericNetwork: shape errors name the layer", "[nn][generic]") {
  auto net = nn::mnist_dynamics<double>(3, 4);
  const nn::GenericNetwork<double> f(net);
  REQUIRE_THROWS_AS(f(0.0, taynode_test::random_state<double>(2, 4, 1)), std::invalid_argument);
  nn::Sequential<double> bad;
  bad.layers = {nn::Linear<double>(3, 5), nn::Sigmoid{}, nn::Linear<double>(6, 3)};
  REQUIRE_THROWS_WITH(nn::GenericNetwork<double>(bad)(0.0, taynode_test::random_state<double>(1, 3, 1)),
                      Catch::Contains("layer 2 (Linear) takes 6 features, its input has 5"));
  nn::Sequential<double> empty;
  empty.layers = {nn::Tanh{}};
  REQUIRE_THROWS_AS(nn::GenericNetwork<double>(empty), std::logic_error);
}
