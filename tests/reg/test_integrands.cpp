// The integrands of reg/integrands.hpp against outside truth:
//  * R_K: (1/D)||z^(K)||² with z^(K) from the generic Jet path (ode_taylor_coefficients), and f
//    from a plain evaluation of the generic network;
//  * Frobenius: J ε against a forward-mode Dual evaluation of the generic network (same
//    derivative, independent code: bound 1e-12 normwise) and against central finite differences
//    (O(h²) truncation + O(eps/h) rounding ≈ 1e-9 at h = 1e-5: bound 1e-7);
//  * kinetic: (1/D)||f||².

#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "../series/generic_network.hpp"
#include "taynode/reg.hpp"
#include "taynode/taylor.hpp"

using namespace taynode;
using taynode_test::GenericNetwork;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
template <class A, class B>
double normwise_error(const A& got, const B& want) {
  return double((got - want).cwiseAbs().maxCoeff()) / double(want.cwiseAbs().maxCoeff());
}
template <int K>
void check_taylor_integrand(const nn::Sequential<double>& net, Index batch) {
  const Index D = net.in_features();
  const RowMatrix z = taynode_test::random_state<double>(batch, D, 40 + K);
  const double t = 0.45;
  NetworkTaylor<double> ws(net, 6, batch);
  RowMatrix f(batch, D);
  Eigen::VectorXd r(batch);
  reg::taylor_integrand(ws, t, z, K, f, r);
  const auto ref = ode_taylor_coefficients<K>(GenericNetwork<double>{net}, z, t);
  const Eigen::VectorXd r_ref = ref[K].rowwise().squaredNorm() / double(D);
  INFO("K = " << K);
  REQUIRE(normwise_error(r, r_ref) <= 1e-12);  // the acceptance bound of the coefficients, squared norm adds ~1e-16
  REQUIRE(normwise_error(f, ref[1]) <= 1e-14);  // one plain evaluation, sums in different order
}
}  // namespace

TEST_CASE("R_K integrand (1/D)||d^K z/dt^K||^2 and f from one pass", "[reg]") {
  auto net = nn::mnist_dynamics<double>(30, 12);
  taynode_test::fill_parameters(net, 41);
  check_taylor_integrand<1>(net, 5);
  check_taylor_integrand<2>(net, 5);
  check_taylor_integrand<3>(net, 5);
  check_taylor_integrand<6>(net, 5);
  // K = 1 is the kinetic integrand
  const RowMatrix z = taynode_test::random_state<double>(5, 30, 42);
  NetworkTaylor<double> ws(net, 2, 5);
  RowMatrix f(5, 30), f2(5, 30);
  Eigen::VectorXd r1(5), kin(5);
  reg::taylor_integrand(ws, 0.2, z, 1, f, r1);
  reg::kinetic_integrand(ws, 0.2, z, f2, kin);
  REQUIRE(normwise_error(r1, kin) <= 1e-15);
  REQUIRE(normwise_error(kin, Eigen::VectorXd(f2.rowwise().squaredNorm() / 30.0)) <= 1e-15);
}

TEST_CASE("Jacobian-Frobenius integrand: J eps against Dual forward mode and finite differences", "[reg]") {
  for (int which = 0; which < 3; ++which) {
    nn::Sequential<double> net = which == 0   ? nn::mnist_dynamics<double>(30, 12)
                                 : which == 1 ? nn::latent_ode_dynamics<double>()
                                              : nn::ffjord_dynamics<double>(7, {16, 16});
    taynode_test::fill_parameters(net, 50 + which);
    const Index D = net.in_features(), batch = 6;
    const RowMatrix z = taynode_test::random_state<double>(batch, D, 60 + which);
    std::mt19937_64 rng(70 + which);
    const RowMatrix eps = which == 1 ? reg::gaussian_noise<double>(rng, batch, D) : reg::rademacher_noise<double>(rng, batch, D);
    const double t = 0.6;

    NetworkTaylor<double> ws(net, 1, batch);
    RowMatrix f(batch, D);
    Eigen::VectorXd fro(batch), kin(batch);
    reg::jacobian_frobenius_integrand(ws, t, z, eps, f, fro);
    const RowMatrix jv = ws.output().matrix(1);

    // Dual: tangent ε on z, none on t.
    using Dl = Dual<double>;
    Eigen::Matrix<Dl, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> zd(batch, D);
    for (Index i = 0; i < zd.size(); ++i) zd.data()[i] = Dl(z.data()[i], eps.data()[i]);
    const auto fd = GenericNetwork<double>{net}(Dl(t, 0.0), zd);
    RowMatrix jv_dual(batch, D), f_dual(batch, D);
    for (Index i = 0; i < fd.size(); ++i) {
      jv_dual.data()[i] = fd.data()[i].tangent;
      f_dual.data()[i] = fd.data()[i].primal;
    }
    INFO("network " << which);
    REQUIRE(normwise_error(jv, jv_dual) <= 1e-12);
    REQUIRE(normwise_error(f, f_dual) <= 1e-14);
    REQUIRE(normwise_error(fro, Eigen::VectorXd(jv_dual.rowwise().squaredNorm() / double(D))) <= 1e-12);

    const double h = 1e-5;
    const GenericNetwork<double> g{net};
    const RowMatrix zp = z + h * eps, zm = z - h * eps;
    const RowMatrix jv_fd = (g(t, zp) - g(t, zm)) / (2 * h);
    REQUIRE(normwise_error(jv, jv_fd) <= 1e-7);

    // RNODE's pair from the same push
    Eigen::VectorXd kin2(batch), fro2(batch);
    reg::rnode_integrands(ws, t, z, eps, f, kin2, fro2);
    REQUIRE(normwise_error(fro2, fro) == 0.0);
    REQUIRE(normwise_error(kin2, Eigen::VectorXd(f_dual.rowwise().squaredNorm() / double(D))) <= 1e-14);
  }
}

TEST_CASE("Hutchinson noise: Rademacher is ±1, Gaussian has unit variance", "[reg]") {
  std::mt19937_64 rng(3);
  const RowMatrix r = reg::rademacher_noise<double>(rng, 50, 40);
  REQUIRE((r.array().abs() == 1.0).all());
  REQUIRE(std::abs(r.mean()) < 0.1);  // 2000 signs: σ of the mean ≈ 0.022
  const RowMatrix g = reg::gaussian_noise<double>(rng, 50, 40);
  const double var = (g.array() - g.mean()).square().mean();
  REQUIRE(std::abs(var - 1.0) < 0.15);  // σ of the sample variance ≈ √(2/2000) ≈ 0.032
}
