#pragma once
// Forward and hand-derived backward of a Linear layer (layers.hpp) on a batch, rows = examples:
//
//   y = x Wᵀ + b,    W̄ += ȳᵀ x,   b̄ += Σ_rows ȳ,   x̄ = ȳ W.
//
// The backward ADDS into a gradient shaped like the layer (a Linear<T> of zeros to start), so a
// layer used at many time steps accumulates its gradient over them.

#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "layers.hpp"

namespace taynode::nn {

namespace dense_detail {
template <class T>
void check_input(const Linear<T>& layer, Eigen::Index cols, const char* what) {
  if (cols != layer.in())
    throw std::invalid_argument(std::string("taynode::nn::") + what + ": the input has " + std::to_string(cols) +
                                " columns, the layer expects " + std::to_string(layer.in()));
}
}  // namespace dense_detail

template <class T, class DX>
RowMatrix<T> linear_forward(const Linear<T>& layer, const Eigen::MatrixBase<DX>& x) {
  dense_detail::check_input(layer, x.cols(), "linear_forward");
  RowMatrix<T> y(x.rows(), layer.out());
  y.noalias() = x * layer.weight.transpose();
  y.rowwise() += layer.bias.transpose();
  return y;
}

// Adds ∂(ȳ·y)/∂(W, b) into `grad` and returns x̄ = ȳ W (x: the forward input).
template <class T, class DX, class DY>
RowMatrix<T> linear_backward(const Linear<T>& layer, const Eigen::MatrixBase<DX>& x, const Eigen::MatrixBase<DY>& y_bar,
                             Linear<T>& grad) {
  dense_detail::check_input(layer, x.cols(), "linear_backward");
  if (y_bar.rows() != x.rows() || y_bar.cols() != layer.out())
    throw std::invalid_argument("taynode::nn::linear_backward: the cotangent is " + std::to_string(y_bar.rows()) + " x " +
                                std::to_string(y_bar.cols()) + ", expected " + std::to_string(x.rows()) + " x " +
                                std::to_string(layer.out()));
  if (grad.weight.rows() != layer.weight.rows() || grad.weight.cols() != layer.weight.cols() ||
      grad.bias.size() != layer.bias.size())
    throw std::invalid_argument("taynode::nn::linear_backward: the gradient is not shaped like the layer");
  grad.weight.noalias() += y_bar.transpose() * x;
  grad.bias += y_bar.colwise().sum().transpose();
  RowMatrix<T> x_bar(x.rows(), layer.in());
  x_bar.noalias() = y_bar * layer.weight;
  return x_bar;
}

}  // namespace taynode::nn
