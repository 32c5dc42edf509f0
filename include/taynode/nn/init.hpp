#pragma once
// Parameter initializers (docs/nn.md). Every sampler draws from a caller-owned random engine in
// row-major element order, so a fixed seed gives a fixed network on every platform whose
// std::normal_distribution agrees (libstdc++ on all of them).
//
// * truncated_normal(a, rng, stddev): a_ij = stddev · X, X ~ N(0, 1) conditioned on |X| ≤ 2 (rejection
//   sampling). This is Haiku's `hk.initializers.TruncatedNormal(stddev)`, the default `w_init` of
//   `hk.Linear` / `hk.ConvND` with stddev = 1/√fan_in. It is NOT rescaled: the sample standard
//   deviation is stddev · 0.8796256610342398 (the std of a unit normal truncated at ±2). Haiku's
//   `VarianceScaling(..., "truncated_normal")` (and jax.nn.initializers.lecun_normal) divide by that
//   constant instead; pass `TruncatedScale::unit_variance` for that variant.
// * normal(a, rng, stddev): N(0, stddev²) (the reference's GRU / heads: stddev = 0.1).
// * zeros(a), constant(a, c).
// * init_haiku(net, rng): the reference's network default (weights truncated_normal with
//   stddev = 1/√fan_in, fan_in = columns of the weight; ConcatSquash's gate/time vectors fan_in = 1;
//   biases zero). init_normal(net, rng, stddev): every weight N(0, stddev²), biases zero.

#include <cmath>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include <Eigen/Core>

namespace taynode::nn {

// Standard deviation of N(0, 1) truncated to [−2, 2] (scipy.stats.truncnorm.std(-2, 2)).
inline constexpr double truncated_normal_std_factor = 0.87962566103423978;

enum class TruncatedScale {
  haiku,          // stddev · X (hk.initializers.TruncatedNormal; actual std = 0.8796·stddev)
  unit_variance,  // stddev · X / 0.8796… (VarianceScaling / lecun_normal; actual std = stddev)
};

// Stateful sampler of a unit normal truncated at ±cut (one std::normal_distribution reused, so the
// stream of a sequence of tensors does not depend on how it is split into calls).
class TruncatedNormalSampler {
 public:
  explicit TruncatedNormalSampler(double cut = 2.0) : cut_(cut) {
    if (!(cut > 0)) throw std::invalid_argument("taynode::nn::TruncatedNormalSampler: cut must be > 0");
  }
  template <class Rng>
  double operator()(Rng& rng) {
    for (;;)
      if (const double x = normal_(rng); std::abs(x) <= cut_) return x;
  }
  double cut() const { return cut_; }

 private:
  std::normal_distribution<double> normal_{0.0, 1.0};
  double cut_;
};

// 1/√fan_in, the Haiku default stddev of a weight with `fan_in` input features.
inline double fan_in_stddev(Eigen::Index fan_in) {
  if (fan_in <= 0) throw std::invalid_argument("taynode::nn::fan_in_stddev: fan_in must be positive");
  return 1.0 / std::sqrt(double(fan_in));
}

template <class Derived, class Rng>
void truncated_normal(Eigen::DenseBase<Derived>& a, Rng& rng, TruncatedNormalSampler& sampler, double stddev,
                      TruncatedScale scale = TruncatedScale::haiku) {
  using T = typename Derived::Scalar;
  const double s = scale == TruncatedScale::haiku ? stddev : stddev / truncated_normal_std_factor;
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) a(i, j) = T(s * sampler(rng));
}
template <class Derived, class Rng>
void truncated_normal(Eigen::DenseBase<Derived>& a, Rng& rng, double stddev,
                      TruncatedScale scale = TruncatedScale::haiku) {
  TruncatedNormalSampler sampler;
  truncated_normal(a, rng, sampler, stddev, scale);
}
template <class Derived, class Rng>
void truncated_normal(Eigen::DenseBase<Derived>&& a, Rng& rng, double stddev,
                      TruncatedScale scale = TruncatedScale::haiku) {
  truncated_normal(a, rng, stddev, scale);
}

template <class Derived, class Rng>
void normal(Eigen::DenseBase<Derived>& a, Rng& rng, double stddev) {
  using T = typename Derived::Scalar;
  std::normal_distribution<double> d(0.0, stddev);
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) a(i, j) = T(d(rng));
}

template <class Derived>
void zeros(Eigen::DenseBase<Derived>& a) {
  a.setZero();
}
template <class Derived>
void constant(Eigen::DenseBase<Derived>& a, typename Derived::Scalar c) {
  a.setConstant(c);
}

// Haiku's default initialization of a network whose `layers` are variants of the layer structs of
// layers.hpp (see the header comment). The random stream is the one of the original layers.hpp version.
template <class Net, class Rng>
void init_haiku(Net& net, Rng& rng) {
  TruncatedNormalSampler sampler;
  for (auto& l : net.layers)
    std::visit(
        [&](auto& layer) {
          if constexpr (requires { layer.weight; }) {
            truncated_normal(layer.weight, rng, sampler, fan_in_stddev(layer.weight.cols()));
            layer.bias.setZero();
          }
          if constexpr (requires { layer.gate_weight; }) {
            truncated_normal(layer.gate_weight, rng, sampler, 1.0);
            truncated_normal(layer.time_weight, rng, sampler, 1.0);
            layer.gate_bias.setZero();
          }
        },
        l);
}

// Every weight (and ConcatSquash gate/time vector) N(0, stddev²), biases zero (the reference's
// latent-ODE GRU, rec_to_gen and decoder: stddev = 0.1).
template <class Net, class Rng>
void init_normal(Net& net, Rng& rng, double stddev) {
  for (auto& l : net.layers)
    std::visit(
        [&](auto& layer) {
          if constexpr (requires { layer.weight; }) {
            normal(layer.weight, rng, stddev);
            layer.bias.setZero();
          }
          if constexpr (requires { layer.gate_weight; }) {
            normal(layer.gate_weight, rng, stddev);
            normal(layer.time_weight, rng, stddev);
            layer.gate_bias.setZero();
          }
        },
        l);
}

}  // namespace taynode::nn
