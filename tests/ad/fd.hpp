#pragma once
// Central finite differences for the adjoint tests.
//
// Step h = 1e-5 on inputs of magnitude ≤ ~2: the truncation error of the central difference is
// h²/6·|L'''| ≈ 1e-11·|L'''| and the rounding error ≈ ε·|L|/h ≈ 1e-11·|L| (ε = 2.2e-16), so for
// the smooth, O(1)-scaled objectives used here the FD gradient is good to ~1e-9 relative, three
// orders below the 1e-6 bound; an adjoint that drops or mis-weights one term of a recurrence is
// off by O(1) relative in some component (see docs/ad.md, "How the tests can fail").

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "../series/generic_network.hpp"
#include "taynode/nn/layers.hpp"

namespace taynode_test {

constexpr double fd_step = 1e-5;
constexpr double fd_tolerance = 1e-6;

// ∂L/∂p_i for i < n by central differences (p is perturbed in place and restored).
inline Eigen::VectorXd fd_gradient(const std::function<double()>& L, double* p, Eigen::Index n, double h = fd_step) {
  Eigen::VectorXd g(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double p0 = p[i];
    p[i] = p0 + h;
    const double lp = L();
    p[i] = p0 - h;
    const double lm = L();
    p[i] = p0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

// max_i |got_i − want_i| / max_i |want_i| (normwise relative error, per tensor).
// (Plain loops: Eigen's vectorized reductions on small vectors trip GCC 12's -Warray-bounds.)
template <class A, class B>
double relative_error(const A& got, const B& want) {
  double scale = 0, diff = 0;
  for (Eigen::Index i = 0; i < want.rows(); ++i)
    for (Eigen::Index j = 0; j < want.cols(); ++j) {
      scale = std::max(scale, std::abs(double(want(i, j))));
      diff = std::max(diff, std::abs(double(got(i, j)) - double(want(i, j))));
    }
  return diff / std::max(scale, 1e-300);
}

// A test network with a name for the messages.
struct NamedNet {
  std::string name;
  taynode::nn::Sequential<double> net;
};
// Fills every parameter (biases too) with deterministic values, seed, seed+1, … per network.
inline std::vector<NamedNet> seeded(std::vector<NamedNet> nets, unsigned seed) {
  for (auto& n : nets) fill_parameters(n.net, seed++);
  return nets;
}
// Small MNIST-, latent- and FFJORD-shaped dynamics (nn/layers.hpp), seeded, biases nonzero too.
inline std::vector<NamedNet> three_dynamics_networks(unsigned seed) {
  std::vector<NamedNet> nets;
  nets.push_back({"mnist", taynode::nn::mnist_dynamics<double>(5, 4)});
  nets.push_back({"latent", taynode::nn::latent_ode_dynamics<double>(4, 6, 2)});
  nets.push_back({"ffjord", taynode::nn::ffjord_dynamics<double>(3, {5, 4})});
  return seeded(std::move(nets), seed);
}

// A parameter tensor as one column vector.
template <class D>
Eigen::Map<const Eigen::VectorXd> flat(const Eigen::PlainObjectBase<D>& p) {
  return {p.data(), p.size()};
}

// Every parameter tensor of a network-shaped gradient as a column vector, in
// nn::for_each_parameter order.
inline std::vector<Eigen::VectorXd> flat_gradients(const taynode::nn::Sequential<double>& g) {
  std::vector<Eigen::VectorXd> out;
  taynode::nn::for_each_parameter(g, [&](const auto& p) { out.push_back(flat(p)); });
  return out;
}

}  // namespace taynode_test
