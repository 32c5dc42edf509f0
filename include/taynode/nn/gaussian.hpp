#pragma once
// The latent ODE's two Gaussian terms (REFERENCE.md §2; latent_ode.py's _likelihood and _kl_div),
// each with its hand-derived backward, on batch × features matrices:
//
// Masked Gaussian log-likelihood of data d under predictions p with fixed σ, summed over EVERY entry
// as the reference does (its −log σ − ½ log 2π constant is added for unobserved entries too, an
// offset only; the data term vanishes there because both sides are multiplied by the mask m):
//   G(p) = Σ_entries [ −(m d − m p)² / (2σ²) − log σ − ½ log 2π ]
//   ∂G/∂p = m ⊙ (m d − m p) / σ²
//
// KL(N(μ, σ²) ‖ N(0, 1)), averaged over every entry (the reference's jnp.mean over batch and latent):
//   KL = mean_entries ½ (σ² + μ² − 1 − log σ²)
//   ∂KL/∂μ = μ / n,   ∂KL/∂σ = (σ − 1/σ) / n      (n = number of entries)
// Sums are accumulated in double.

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "layers.hpp"

namespace taynode::nn {

// −log σ − ½ log 2π: log N(x | x, σ²), the per-entry constant of the likelihood.
inline double gaussian_log_normalizer(double sigma) {
  if (!(sigma > 0.0) || !std::isfinite(sigma))
    throw std::invalid_argument("taynode::nn::gaussian_log_normalizer: sigma must be positive and finite");
  return -std::log(sigma) - 0.5 * std::log(2.0 * std::numbers::pi);
}

namespace gaussian_detail {
template <class A, class B>
void check_same_shape(const A& a, const B& b, const char* what, const char* a_name, const char* b_name) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw std::invalid_argument(std::string("taynode::nn::") + what + ": " + a_name + " is " + std::to_string(a.rows()) +
                                " x " + std::to_string(a.cols()) + " but " + b_name + " is " +
                                std::to_string(b.rows()) + " x " + std::to_string(b.cols()));
}
}  // namespace gaussian_detail

// Σ_entries (m d − m p)²: the masked squared error (the reference's MSE numerator).
template <class DP, class DD, class DM>
double masked_squared_error(const Eigen::MatrixBase<DP>& pred, const Eigen::MatrixBase<DD>& data,
                            const Eigen::MatrixBase<DM>& mask) {
  gaussian_detail::check_same_shape(pred, data, "masked_squared_error", "the prediction", "the data");
  gaussian_detail::check_same_shape(pred, mask, "masked_squared_error", "the prediction", "the mask");
  double s = 0;
  for (Eigen::Index i = 0; i < pred.rows(); ++i)
    for (Eigen::Index j = 0; j < pred.cols(); ++j) {
      const double m = double(mask(i, j));
      const double r = m * double(data(i, j)) - m * double(pred(i, j));
      s += r * r;
    }
  return s;
}

// G(p) above.
template <class DP, class DD, class DM>
double masked_gaussian_log_likelihood(const Eigen::MatrixBase<DP>& pred, const Eigen::MatrixBase<DD>& data,
                                      const Eigen::MatrixBase<DM>& mask, double sigma) {
  const double c = gaussian_log_normalizer(sigma);
  const double sse = masked_squared_error(pred, data, mask);
  return -sse / (2 * sigma * sigma) + double(pred.size()) * c;
}

// scale · ∂G/∂p.
template <class DP, class DD, class DM>
RowMatrix<typename DP::Scalar> masked_gaussian_log_likelihood_backward(const Eigen::MatrixBase<DP>& pred,
                                                                       const Eigen::MatrixBase<DD>& data,
                                                                       const Eigen::MatrixBase<DM>& mask, double sigma,
                                                                       double scale = 1.0) {
  using T = typename DP::Scalar;
  gaussian_log_normalizer(sigma);  // validates sigma
  gaussian_detail::check_same_shape(pred, data, "masked_gaussian_log_likelihood_backward", "the prediction", "the data");
  gaussian_detail::check_same_shape(pred, mask, "masked_gaussian_log_likelihood_backward", "the prediction", "the mask");
  const T k = T(scale / (sigma * sigma));
  const auto m = mask.template cast<T>().array();
  return (k * m * (m * data.template cast<T>().array() - m * pred.array())).matrix();
}

// KL above. σ must be positive (σ = 0 gives an infinite KL).
template <class DM, class DS>
double kl_to_standard_normal(const Eigen::MatrixBase<DM>& mean, const Eigen::MatrixBase<DS>& std_) {
  gaussian_detail::check_same_shape(mean, std_, "kl_to_standard_normal", "the mean", "the std");
  if (mean.size() == 0) throw std::invalid_argument("taynode::nn::kl_to_standard_normal: empty input");
  double s = 0;
  for (Eigen::Index i = 0; i < mean.rows(); ++i)
    for (Eigen::Index j = 0; j < mean.cols(); ++j) {
      const double mu = double(mean(i, j)), sd = double(std_(i, j));
      if (!(sd > 0.0) || !std::isfinite(sd) || !std::isfinite(mu))
        throw std::invalid_argument("taynode::nn::kl_to_standard_normal: entry (" + std::to_string(i) + ", " +
                                    std::to_string(j) + ") needs a finite mean and a positive finite std (mean " +
                                    std::to_string(mu) + ", std " + std::to_string(sd) + ")");
      const double var = sd * sd;
      s += 0.5 * (var + mu * mu - 1.0 - std::log(var));
    }
  return s / double(mean.size());
}

template <class T>
struct KlGradient {
  RowMatrix<T> mean_bar, std_bar;
};

// scale · ∂KL/∂(μ, σ).
template <class DM, class DS>
KlGradient<typename DM::Scalar> kl_to_standard_normal_backward(const Eigen::MatrixBase<DM>& mean,
                                                               const Eigen::MatrixBase<DS>& std_, double scale = 1.0) {
  using T = typename DM::Scalar;
  gaussian_detail::check_same_shape(mean, std_, "kl_to_standard_normal_backward", "the mean", "the std");
  if (mean.size() == 0) throw std::invalid_argument("taynode::nn::kl_to_standard_normal_backward: empty input");
  const T k = T(scale / double(mean.size()));
  KlGradient<T> g;
  g.mean_bar = k * mean;
  g.std_bar = (k * (std_.template cast<T>().array() - std_.template cast<T>().array().inverse())).matrix();
  return g;
}

}  // namespace taynode::nn
