#pragma once
// Test helpers around the library's scalar-generic network (taynode/nn/generic_network.hpp), which
// lets the generic paths (ode_taylor_coefficients, ode_total_derivative_nested, Dual) serve as the
// reference for the batched series: deterministic parameters and states.

#include <cmath>
#include <random>

#include <Eigen/Core>

#include "taynode/jet.hpp"
#include "taynode/nn/generic_network.hpp"
#include "taynode/nn/layers.hpp"

namespace taynode_test {

using taynode::nn::GenericNetwork;

// Deterministic, non-trivial parameters (biases and gates included) of a scale that keeps the
// activations in their nonlinear range: weights ~ U(−1, 1)/√fan_in, vectors ~ U(−0.5, 0.5).
template <class T>
void fill_parameters(taynode::nn::Sequential<T>& net, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  taynode::nn::for_each_parameter(net, [&](auto& p) {
    const double scale = p.cols() > 1 ? 1.0 / std::sqrt(double(p.cols())) : 0.5;
    for (Eigen::Index i = 0; i < p.size(); ++i) p.data()[i] = T(scale * u(rng));
  });
}

template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> random_state(Eigen::Index rows, Eigen::Index cols,
                                                                              unsigned seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-scale, scale);
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> z(rows, cols);
  for (Eigen::Index i = 0; i < z.size(); ++i) z.data()[i] = T(u(rng));
  return z;
}

}  // namespace taynode_test
