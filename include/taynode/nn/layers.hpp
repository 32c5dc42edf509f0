#pragma once
// Parameter structs of the layers a neural ODE's dynamics are built from, and the three
// dynamics of the paper's experiments. Plain data (Eigen matrices, host memory); evaluation and
// Taylor propagation live in taylor/network_taylor.hpp. Conventions (as Haiku / PyTorch):
// weights are out × in, row-major; a layer maps a batch (rows = examples) x ↦ x Wᵀ + b.

#include <cmath>
#include <cstddef>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "init.hpp"

namespace taynode::nn {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// y = W x + b
template <class T>
struct Linear {
  RowMatrix<T> weight;  // out × in
  Vector<T> bias;       // out
  Linear(Eigen::Index in, Eigen::Index out) : weight(RowMatrix<T>::Zero(out, in)), bias(Vector<T>::Zero(out)) {}
  Eigen::Index in() const { return weight.cols(); }
  Eigen::Index out() const { return weight.rows(); }
};

// y = W [t; x] + b: the time concatenated as the LEADING input feature (as the reference's
// MNIST dynamics do), so column 0 of W multiplies t.
template <class T>
struct ConcatLinear {
  RowMatrix<T> weight;  // out × (1 + in)
  Vector<T> bias;       // out
  ConcatLinear(Eigen::Index in, Eigen::Index out)
      : weight(RowMatrix<T>::Zero(out, in + 1)), bias(Vector<T>::Zero(out)) {}
  Eigen::Index in() const { return weight.cols() - 1; }
  Eigen::Index out() const { return weight.rows(); }
};

// FFJORD's ConcatSquash: y = (W x + b) ⊙ σ(w_g t + b_g) + w_b t (per output unit; w_b has no bias).
template <class T>
struct ConcatSquash {
  RowMatrix<T> weight;  // out × in
  Vector<T> bias, gate_weight, gate_bias, time_weight;  // out each
  ConcatSquash(Eigen::Index in, Eigen::Index out)
      : weight(RowMatrix<T>::Zero(out, in)),
        bias(Vector<T>::Zero(out)),
        gate_weight(Vector<T>::Zero(out)),
        gate_bias(Vector<T>::Zero(out)),
        time_weight(Vector<T>::Zero(out)) {}
  Eigen::Index in() const { return weight.cols(); }
  Eigen::Index out() const { return weight.rows(); }
};

struct Sigmoid {};
struct Tanh {};
struct Softplus {};

template <class T>
using Layer = std::variant<Linear<T>, ConcatLinear<T>, ConcatSquash<T>, Sigmoid, Tanh, Softplus>;

// A feed-forward network f(t, x), layers applied in order.
template <class T>
struct Sequential {
  std::vector<Layer<T>> layers;

  // Input and output features (the state dimension for ODE dynamics: equal).
  Eigen::Index in_features() const {
    for (const auto& l : layers)
      if (auto n = features(l, true); n >= 0) return n;
    throw std::logic_error("taynode::nn::Sequential: no layer with a weight matrix");
  }
  Eigen::Index out_features() const {
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
      if (auto n = features(*it, false); n >= 0) return n;
    throw std::logic_error("taynode::nn::Sequential: no layer with a weight matrix");
  }
  std::size_t parameter_count() const {
    std::size_t n = 0;
    for_each_parameter(*this, [&](const auto& p) { n += std::size_t(p.size()); });
    return n;
  }

 private:
  static Eigen::Index features(const Layer<T>& l, bool in) {
    return std::visit(
        [&](const auto& layer) -> Eigen::Index {
          if constexpr (requires { layer.in(); }) return in ? layer.in() : layer.out();
          else return -1;
        },
        l);
  }
};

// f(array) for every parameter array (Eigen matrix or vector, by reference) of every layer.
template <class Net, class F>
void for_each_parameter(Net& net, F&& f) {
  for (auto& l : net.layers)
    std::visit(
        [&](auto& layer) {
          using L = std::remove_cvref_t<decltype(layer)>;
          if constexpr (requires { layer.weight; }) {
            f(layer.weight);
            f(layer.bias);
          }
          if constexpr (requires { layer.gate_weight; }) {
            f(layer.gate_weight);
            f(layer.gate_bias);
            f(layer.time_weight);
          }
          (void)sizeof(L);
        },
        l);
}

// Layers are emplaced in place (a temporary variant holding an activation trips GCC 12's
// -Wmaybe-uninitialized on the inactive Eigen alternatives at -O1).
namespace detail {
template <class L, class T, class... A>
void append(Sequential<T>& net, A... args) {
  net.layers.emplace_back(std::in_place_type<L>, args...);
}
}  // namespace detail

// The paper's MNIST dynamics: σ(z) → [t, ·] → Linear(dim+1 → hidden) → σ → [t, ·] → Linear(hidden+1 → dim).
template <class T>
Sequential<T> mnist_dynamics(Eigen::Index dim = 784, Eigen::Index hidden = 100) {
  Sequential<T> net;
  net.layers.reserve(4);
  detail::append<Sigmoid>(net);
  detail::append<ConcatLinear<T>>(net, dim, hidden);
  detail::append<Sigmoid>(net);
  detail::append<ConcatLinear<T>>(net, hidden, dim);
  return net;
}

// The latent-ODE dynamics (time-independent): tanh → Linear(latent → hidden) → (tanh → Linear(hidden →
// hidden)) × (hidden_layers − 1) → tanh → Linear(hidden → latent). Defaults: 20 → 50 ×4 → 20.
template <class T>
Sequential<T> latent_ode_dynamics(Eigen::Index latent = 20, Eigen::Index hidden = 50, int hidden_layers = 4) {
  Sequential<T> net;
  net.layers.reserve(std::size_t(2 * hidden_layers + 2));
  detail::append<Tanh>(net);
  detail::append<Linear<T>>(net, latent, hidden);
  for (int i = 1; i < hidden_layers; ++i) {
    detail::append<Tanh>(net);
    detail::append<Linear<T>>(net, hidden, hidden);
  }
  detail::append<Tanh>(net);
  detail::append<Linear<T>>(net, hidden, latent);
  return net;
}

// FFJORD dynamics: ConcatSquash layers dim → hidden[0] → … → dim, softplus between layers.
// MINIBOONE: ffjord_dynamics<float>(43, {860, 860}).
template <class T>
Sequential<T> ffjord_dynamics(Eigen::Index dim, const std::vector<Eigen::Index>& hidden) {
  Sequential<T> net;
  net.layers.reserve(2 * hidden.size() + 1);
  Eigen::Index in = dim;
  for (Eigen::Index h : hidden) {
    detail::append<ConcatSquash<T>>(net, in, h);
    detail::append<Softplus>(net);
    in = h;
  }
  detail::append<ConcatSquash<T>>(net, in, dim);
  return net;
}

// init_haiku (Haiku's default initialization) and the other initializers: init.hpp.

}  // namespace taynode::nn
