#pragma once
// Reparameterized samples of the latent ODE's initial state z0 ~ N(mean, std²) (REFERENCE.md §2):
//
//   z0_k = mean + std ⊙ ε_k,   ε_k ~ N(0, I),   k = 0 … S−1   (the reference: S = 3)
//   mean̄ += Σ_k z̄0_k,   std̄ += Σ_k z̄0_k ⊙ ε_k
//
// Layout: the S samples stacked sample-major, row k·B + b = sample k of example b ((S·B) × L), the
// reference's (S, B, L) array flattened; the ODE integrates the S·B rows as one batch.
//
// Deviation from the reference: `sample_z0(mean, std, S, rng)` draws FRESH noise from the caller's
// seeded engine at every call (std::normal_distribution<double>, row-major order), so a training
// loop calling it once per iteration gets new ε each time. The reference draws ε from its fixed
// global key, i.e. the SAME ε at every iteration; `sample_z0(mean, std, noise)` with one saved noise
// matrix reproduces that.

#include <cstddef>
#include <random>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "layers.hpp"

namespace taynode::nn {

template <class T>
struct Z0Samples {
  RowMatrix<T> z0;     // (S·B) × L
  RowMatrix<T> noise;  // ε, same layout
  Eigen::Index samples = 0;
};

// With given noise ((S·B) × L for a batch of B).
template <class T, class DM, class DS, class DE>
Z0Samples<T> sample_z0(const Eigen::MatrixBase<DM>& mean, const Eigen::MatrixBase<DS>& std_,
                       const Eigen::MatrixBase<DE>& noise) {
  const Eigen::Index B = mean.rows(), L = mean.cols();
  if (std_.rows() != B || std_.cols() != L)
    throw std::invalid_argument("taynode::nn::sample_z0: the mean is " + std::to_string(B) + " x " + std::to_string(L) +
                                " but the std is " + std::to_string(std_.rows()) + " x " + std::to_string(std_.cols()));
  if (B < 1 || L < 1) throw std::invalid_argument("taynode::nn::sample_z0: empty mean");
  if (noise.cols() != L || noise.rows() < B || noise.rows() % B != 0)
    throw std::invalid_argument("taynode::nn::sample_z0: the noise is " + std::to_string(noise.rows()) + " x " +
                                std::to_string(noise.cols()) + ", expected (samples * " + std::to_string(B) + ") x " +
                                std::to_string(L));
  Z0Samples<T> s;
  s.samples = noise.rows() / B;
  s.noise = noise.template cast<T>();
  s.z0.resize(s.noise.rows(), L);
  for (Eigen::Index k = 0; k < s.samples; ++k)
    s.z0.middleRows(k * B, B) =
        (mean.template cast<T>().array() + std_.template cast<T>().array() * s.noise.middleRows(k * B, B).array())
            .matrix();
  return s;
}

// With fresh noise ε ~ N(0, I) from `rng`.
template <class T, class DM, class DS, class Rng>
Z0Samples<T> sample_z0(const Eigen::MatrixBase<DM>& mean, const Eigen::MatrixBase<DS>& std_, Eigen::Index samples,
                       Rng& rng) {
  if (samples < 1) throw std::invalid_argument("taynode::nn::sample_z0: samples must be >= 1");
  RowMatrix<T> noise(samples * mean.rows(), mean.cols());
  std::normal_distribution<double> n01(0.0, 1.0);
  for (Eigen::Index i = 0; i < noise.rows(); ++i)
    for (Eigen::Index j = 0; j < noise.cols(); ++j) noise(i, j) = T(n01(rng));
  return sample_z0<T>(mean, std_, noise);
}

// Adds the sampling's backward into mean_bar and std_bar (batch × L each).
template <class T, class DZ>
void sample_z0_backward(const Z0Samples<T>& s, const Eigen::MatrixBase<DZ>& z0_bar, RowMatrix<T>& mean_bar,
                        RowMatrix<T>& std_bar) {
  if (z0_bar.rows() != s.z0.rows() || z0_bar.cols() != s.z0.cols())
    throw std::invalid_argument("taynode::nn::sample_z0_backward: the cotangent is " + std::to_string(z0_bar.rows()) +
                                " x " + std::to_string(z0_bar.cols()) + ", the samples " +
                                std::to_string(s.z0.rows()) + " x " + std::to_string(s.z0.cols()));
  const Eigen::Index B = s.z0.rows() / s.samples;
  if (mean_bar.rows() != B || mean_bar.cols() != s.z0.cols() || std_bar.rows() != B || std_bar.cols() != s.z0.cols())
    throw std::invalid_argument("taynode::nn::sample_z0_backward: mean_bar and std_bar must be " + std::to_string(B) +
                                " x " + std::to_string(s.z0.cols()));
  for (Eigen::Index k = 0; k < s.samples; ++k) {
    const auto zb = z0_bar.middleRows(k * B, B).template cast<T>();
    mean_bar += zb;
    std_bar += zb.cwiseProduct(s.noise.middleRows(k * B, B));
  }
}

}  // namespace taynode::nn
