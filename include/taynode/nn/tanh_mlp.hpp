#pragma once
// The two-layer perceptron the latent ODE's recognition network is made of (REFERENCE.md §2: the
// GRU's update gate, reset gate and candidate, and rec_to_gen are each one of these):
//
//   a = x W1ᵀ + b1,   h = tanh(a),   y = h W2ᵀ + b2.
//
// Backward (hand-derived): W̄2 += ȳᵀ h, b̄2 += Σ ȳ, h̄ = ȳ W2, ā = h̄ ⊙ (1 − h²),
// W̄1 += āᵀ x, b̄1 += Σ ā, x̄ = ā W1. Gradients are accumulated into a TanhMlp of the same shape.

#include <stdexcept>

#include <Eigen/Core>

#include "dense.hpp"
#include "layers.hpp"

namespace taynode::nn {

template <class T>
struct TanhMlp {
  Linear<T> hidden;  // in → units
  Linear<T> output;  // units → out
  TanhMlp(Eigen::Index in, Eigen::Index units, Eigen::Index out) : hidden(in, units), output(units, out) {
    if (in < 1 || units < 1 || out < 1) throw std::invalid_argument("taynode::nn::TanhMlp: sizes must be >= 1");
  }
  Eigen::Index in() const { return hidden.in(); }
  Eigen::Index units() const { return hidden.out(); }
  Eigen::Index out() const { return output.out(); }
  std::size_t parameter_count() const {
    return std::size_t(hidden.weight.size() + hidden.bias.size() + output.weight.size() + output.bias.size());
  }
};

// What the backward pass needs besides the input (which the caller keeps): h = tanh(a), and y.
template <class T>
struct TanhMlpForward {
  RowMatrix<T> hidden;  // batch × units
  RowMatrix<T> output;  // batch × out
};

template <class T, class DX>
TanhMlpForward<T> tanh_mlp_forward(const TanhMlp<T>& mlp, const Eigen::MatrixBase<DX>& x) {
  TanhMlpForward<T> f;
  f.hidden = linear_forward(mlp.hidden, x).array().tanh().matrix();
  f.output = linear_forward(mlp.output, f.hidden);
  return f;
}

// Adds ∂(ȳ·y)/∂θ into `grad`; returns x̄. `x` is the input of the forward pass `fwd`.
template <class T, class DX, class DY>
RowMatrix<T> tanh_mlp_backward(const TanhMlp<T>& mlp, const Eigen::MatrixBase<DX>& x, const TanhMlpForward<T>& fwd,
                               const Eigen::MatrixBase<DY>& y_bar, TanhMlp<T>& grad) {
  if (fwd.hidden.rows() != x.rows())
    throw std::invalid_argument("taynode::nn::tanh_mlp_backward: the input's batch differs from the forward pass's");
  RowMatrix<T> a_bar = linear_backward(mlp.output, fwd.hidden, y_bar, grad.output);
  a_bar.array() *= T(1) - fwd.hidden.array().square();
  return linear_backward(mlp.hidden, x, a_bar, grad.hidden);
}

}  // namespace taynode::nn
