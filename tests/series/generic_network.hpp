#pragma once
// The same networks as nn::Sequential, written as a generic f(t, z) templated on its scalar
// (plain numbers, Jet, Dual), so the generic paths of the foundation issue
// (ode_taylor_coefficients, ode_total_derivative_nested) can serve as the reference for the
// batched series. The state is a batch × dim row-major matrix; each example is evaluated with
// plain loops (weights stay plain numbers, so W·x costs K+1 multiplications per term on a Jet).

#include <cmath>
#include <random>
#include <variant>

#include <Eigen/Core>

#include "taynode/jet.hpp"
#include "taynode/nn/layers.hpp"

namespace taynode_test {

template <class T>
struct GenericNetwork {
  const taynode::nn::Sequential<T>* net;

  template <class S, class Z>
  Z operator()(const S& t, const Z& z) const {
    using taynode::sigmoid;
    using taynode::softplus;
    using std::tanh;
    using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    M x = z;
    for (const auto& l : net->layers) {
      M y;
      std::visit(
          [&](const auto& layer) {
            using L = std::remove_cvref_t<decltype(layer)>;
            if constexpr (std::is_same_v<L, taynode::nn::Linear<T>> || std::is_same_v<L, taynode::nn::ConcatLinear<T>> ||
                          std::is_same_v<L, taynode::nn::ConcatSquash<T>>) {
              constexpr bool concat = std::is_same_v<L, taynode::nn::ConcatLinear<T>>;
              y.resize(x.rows(), layer.out());
              for (Eigen::Index r = 0; r < x.rows(); ++r)
                for (Eigen::Index o = 0; o < layer.out(); ++o) {
                  S acc = S(layer.bias(o));
                  if constexpr (concat) acc = acc + layer.weight(o, 0) * t;
                  for (Eigen::Index i = 0; i < layer.in(); ++i) acc = acc + layer.weight(o, i + (concat ? 1 : 0)) * x(r, i);
                  if constexpr (std::is_same_v<L, taynode::nn::ConcatSquash<T>>) {
                    const S gate = sigmoid(S(layer.gate_weight(o) * t + layer.gate_bias(o)));
                    acc = acc * gate + layer.time_weight(o) * t;
                  }
                  y(r, o) = acc;
                }
            } else if constexpr (std::is_same_v<L, taynode::nn::Sigmoid>) {
              y = x.unaryExpr([](const S& v) { return S(sigmoid(v)); });
            } else if constexpr (std::is_same_v<L, taynode::nn::Tanh>) {
              y = x.unaryExpr([](const S& v) { return S(tanh(v)); });
            } else {
              y = x.unaryExpr([](const S& v) { return S(softplus(v)); });
            }
          },
          l);
      x = std::move(y);
    }
    return Z(x);
  }
};

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
