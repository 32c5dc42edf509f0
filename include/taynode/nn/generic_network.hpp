#pragma once
// GenericNetwork<T>: an nn::Sequential evaluated as dynamics f(t, z) on ANY scalar type — plain
// numbers, Jet, nested Dual, IncrementalJet — so the generic paths (ode_taylor_coefficients,
// ode_taylor_coefficients_incremental, ode_taylor_coefficients_nested, forward mode on Dual) run
// on a library network. It is the reference and the baseline for the batched fast path
// (NetworkTaylor, series/), not a replacement: each example is evaluated with plain loops, and
// the weights stay plain numbers T, so W·x costs one S × T product per weight.

#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "taynode/jet/scalar.hpp"
#include "taynode/nn/layers.hpp"

namespace taynode::nn {

template <class T>
class GenericNetwork {
 public:
  // Keeps a reference: the network must outlive this object.
  explicit GenericNetwork(const Sequential<T>& net) : net_(&net) { (void)net.in_features(); }

  const Sequential<T>& network() const { return *net_; }

  // f(t, z). z is a batch × features matrix (rows = examples, as NetworkTaylor takes them) or a
  // column vector (one example); the result has the same shape. Its scalar S is what every
  // intermediate is computed in; t is converted to S.
  template <class Time, class Z>
  Z operator()(const Time& t, const Z& z) const {
    static_assert(std::is_base_of_v<Eigen::MatrixBase<Z>, Z>,
                  "taynode::nn::GenericNetwork: the state must be an Eigen matrix or vector");
    using S = typename Z::Scalar;
    using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    constexpr bool one_example = Z::ColsAtCompileTime == 1;
    M x;
    if constexpr (one_example)
      x = z.transpose();
    else
      x = z;
    const S ts(t);
    for (std::size_t l = 0; l < net_->layers.size(); ++l) {
      M y;
      std::visit([&](const auto& layer) { y = apply(layer, l, ts, x); }, net_->layers[l]);
      x = std::move(y);
    }
    if constexpr (one_example)
      return Z(x.transpose());
    else
      return Z(x);
  }

 private:
  template <class M>
  static void check_features(const char* kind, std::size_t l, Eigen::Index expected, const M& x) {
    if (x.cols() != expected)
      throw std::invalid_argument("taynode::nn::GenericNetwork: layer " + std::to_string(l) + " (" + kind + ") takes " +
                                  std::to_string(expected) + " features, its input has " + std::to_string(x.cols()));
  }
  // Linear:        y = W x + b
  // ConcatLinear:  y = W [t; x] + b   (time first)
  // ConcatSquash:  y = (W x + b) ⊙ σ(w_g t + b_g) + w_b t
  template <class L, class S, class M>
    requires(requires(const L& layer) { layer.weight; })
  static M apply(const L& layer, std::size_t l, const S& t, const M& x) {
    constexpr bool concat = std::is_same_v<L, ConcatLinear<T>>;
    constexpr bool squash = std::is_same_v<L, ConcatSquash<T>>;
    using taynode::sigmoid;
    check_features(concat ? "ConcatLinear" : squash ? "ConcatSquash" : "Linear", l, layer.in(), x);
    std::vector<S> gate;
    if constexpr (squash)
      for (Eigen::Index o = 0; o < layer.out(); ++o) gate.push_back(sigmoid(S(layer.gate_weight(o) * t + layer.gate_bias(o))));
    M y(x.rows(), layer.out());
    for (Eigen::Index r = 0; r < x.rows(); ++r)
      for (Eigen::Index o = 0; o < layer.out(); ++o) {
        S acc = S(layer.bias(o));
        if constexpr (concat) acc = acc + layer.weight(o, 0) * t;
        for (Eigen::Index i = 0; i < layer.in(); ++i) acc = acc + layer.weight(o, i + (concat ? 1 : 0)) * x(r, i);
        if constexpr (squash) acc = acc * gate[std::size_t(o)] + layer.time_weight(o) * t;
        y(r, o) = acc;
      }
    return y;
  }
  template <class S, class M>
  static M apply(Sigmoid, std::size_t, const S&, const M& x) {
    using taynode::sigmoid;
    return x.unaryExpr([](const S& v) { return S(sigmoid(v)); });
  }
  template <class S, class M>
  static M apply(Tanh, std::size_t, const S&, const M& x) {
    using std::tanh;
    return x.unaryExpr([](const S& v) { return S(tanh(v)); });
  }
  template <class S, class M>
  static M apply(Softplus, std::size_t, const S&, const M& x) {
    using taynode::softplus;
    return x.unaryExpr([](const S& v) { return S(softplus(v)); });
  }

  const Sequential<T>* net_;
};

}  // namespace taynode::nn
