#pragma once
// The latent ODE's recognition network (REFERENCE.md §2; latent_ode.py's `rnn` + `rec_to_gen`): the
// LatentGru run BACKWARDS in time over a padded batch, then a TanhMlp to the posterior q(z0) =
// N(mean, std²). On a batch over the sorted times t_0 < … < t_{T−1} with per-time values and masks
// (batch × F each, the layout of data/physionet.hpp's PhysionetBatch):
//
//   x_i = [values_i, mask_i, Δt_i],  Δt_i = t_{i+1} − t_i  (Δt_{T−1} = 0)      (batch × (2F + 1))
//   (μ, s) = (0, 0);  for i = T−1 down to 0: (μ, s) = gru(μ, s, x_i)
//   [m, ŝ] = rec_to_gen([μ, s]),  mean = m,  std = |ŝ|                         (batch × L each)
//
// The Δt column holds the same value for every example: the reference computes it from the batch's
// shared time grid, not from each example's own observation times.
//
// Skip rule (which examples a step updates). The reference means to keep the state of an example
// with nothing observed at t_i, but tests the slice x[F:] = [mask_i, Δt_i] (it takes half the input
// width, ⌊(2F+1)/2⌋ = F, as the data width), so a step is skipped only when nothing is observed AND
// Δt_i = 0, i.e. only at the last time: SkipRule::reference (the default) does exactly that;
// SkipRule::unobserved skips every step with nothing observed (what the reference's comment says).
//
// Backward (backprop through time): from (mean̄, std̄), [m̄, ŝ̄] = [mean̄, std̄ ⊙ sgn(ŝ)] through
// rec_to_gen to (μ̄, s̄), then latent_gru_step_backward for i = 0 … T−1 (the reverse of the forward
// order), accumulating the parameter gradient. The initial state is a constant (no gradient).

#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "latent_gru.hpp"
#include "layers.hpp"
#include "tanh_mlp.hpp"

namespace taynode::nn {

enum class SkipRule { reference, unobserved };

// A padded batch as the functions here take it: the sorted times, and per time one batch × F matrix
// (values, or mask entries 0/1). std::vector<RowMatrix<T>> (PhysionetBatch's members) converts.
template <class T>
using TimeGrid = std::span<const std::type_identity_t<T>>;
template <class T>
using Frames = std::span<const std::type_identity_t<RowMatrix<T>>>;

template <class T>
struct RecognitionNetwork {
  LatentGru<T> gru;      // state H, input 2F + 1
  TanhMlp<T> rec_to_gen;  // 2H → units → 2L
  // Reference: features 37, state 40, latent 20, gru_units 50, rec_to_gen_units 50.
  RecognitionNetwork(Eigen::Index features, Eigen::Index state, Eigen::Index latent, Eigen::Index gru_units,
                     Eigen::Index rec_to_gen_units)
      : gru(state, 2 * features + 1, gru_units), rec_to_gen(2 * state, rec_to_gen_units, 2 * latent) {
    if (features < 1 || state < 1 || latent < 1)
      throw std::invalid_argument("taynode::nn::RecognitionNetwork: sizes must be >= 1");
  }
  Eigen::Index features() const { return (gru.input() - 1) / 2; }
  Eigen::Index state() const { return gru.state(); }
  Eigen::Index latent() const { return rec_to_gen.out() / 2; }
  std::size_t parameter_count() const { return gru.parameter_count() + rec_to_gen.parameter_count(); }
};

template <class T>
struct RecognitionForward {
  RowMatrix<T> mean, std;           // q(z0) (batch × L)
  std::vector<LatentGruStep<T>> steps;  // in processing order: steps[j] handled time T−1−j
  RowMatrix<T> final_state;         // [μ, s] after the last step (rec_to_gen's input)
  TanhMlpForward<T> rec_to_gen_fwd;
};

// Checks a padded batch (times strictly increasing and finite; T value and mask matrices, each
// batch × features; values finite; mask entries 0 or 1) and returns the batch size.
template <class T>
Eigen::Index check_padded_batch(TimeGrid<T> times, Frames<T> values, Frames<T> mask, Eigen::Index features,
                                const char* what) {
  const std::string fn = std::string("taynode::nn::") + what + ": ";
  if (times.empty()) throw std::invalid_argument(fn + "no time points");
  if (values.size() != times.size() || mask.size() != times.size())
    throw std::invalid_argument(fn + std::to_string(times.size()) + " times but " + std::to_string(values.size()) +
                                " value and " + std::to_string(mask.size()) + " mask matrices");
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(double(times[i])))
      throw std::invalid_argument(fn + "time " + std::to_string(i) + " is not finite");
    if (i > 0 && !(times[i] > times[i - 1]))
      throw std::invalid_argument(fn + "times must be strictly increasing (time " + std::to_string(i) + ")");
  }
  const Eigen::Index B = values[0].rows();
  if (B < 1) throw std::invalid_argument(fn + "empty batch");
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (values[i].rows() != B || values[i].cols() != features || mask[i].rows() != B || mask[i].cols() != features)
      throw std::invalid_argument(fn + "values and mask at time index " + std::to_string(i) + " must be " +
                                  std::to_string(B) + " x " + std::to_string(features) + " (values " +
                                  std::to_string(values[i].rows()) + " x " + std::to_string(values[i].cols()) +
                                  ", mask " + std::to_string(mask[i].rows()) + " x " + std::to_string(mask[i].cols()) +
                                  ")");
    for (Eigen::Index r = 0; r < B; ++r)
      for (Eigen::Index c = 0; c < features; ++c) {
        const double m = double(mask[i](r, c)), v = double(values[i](r, c));
        if (m != 0.0 && m != 1.0)
          throw std::invalid_argument(fn + "mask entry at time index " + std::to_string(i) + " (row " +
                                      std::to_string(r) + ", column " + std::to_string(c) + ") is not 0 or 1");
        if (!std::isfinite(v))
          throw std::invalid_argument(fn + "value at time index " + std::to_string(i) + " (row " +
                                      std::to_string(r) + ", column " + std::to_string(c) + ") is not finite");
      }
  }
  return B;
}

template <class T>
RecognitionForward<T> recognition_forward(const RecognitionNetwork<T>& net, TimeGrid<T> times, Frames<T> values,
                                          Frames<T> mask, SkipRule skip = SkipRule::reference) {
  const Eigen::Index F = net.features(), H = net.state(), L = net.latent();
  const Eigen::Index B = check_padded_batch<T>(times, values, mask, F, "recognition_forward");
  const std::size_t T_ = times.size();
  RecognitionForward<T> out;
  out.steps.reserve(T_);
  RowMatrix<T> mean = RowMatrix<T>::Zero(B, H), std_ = RowMatrix<T>::Zero(B, H);
  RowMatrix<T> x(B, 2 * F + 1);
  for (std::size_t j = 0; j < T_; ++j) {
    const std::size_t i = T_ - 1 - j;
    const T dt = i + 1 < T_ ? T(times[i + 1] - times[i]) : T(0);
    x.leftCols(F) = values[i];
    x.middleCols(F, F) = mask[i];
    x.col(2 * F).setConstant(dt);
    std::vector<char> active(static_cast<std::size_t>(B));
    for (Eigen::Index b = 0; b < B; ++b) {
      const double observed = double(mask[i].row(b).template cast<double>().sum());
      active[std::size_t(b)] = skip == SkipRule::reference ? (observed + double(dt) > 0) : (observed > 0);
    }
    out.steps.push_back(latent_gru_step(net.gru, mean, std_, x, std::move(active)));
    mean = out.steps.back().mean_out;
    std_ = out.steps.back().std_out;
  }
  out.final_state.resize(B, 2 * H);
  out.final_state << mean, std_;
  out.rec_to_gen_fwd = tanh_mlp_forward(net.rec_to_gen, out.final_state);
  out.mean = out.rec_to_gen_fwd.output.leftCols(L);
  out.std = out.rec_to_gen_fwd.output.rightCols(L).cwiseAbs();
  return out;
}

// Adds ∂(mean̄·mean + std̄·std)/∂θ into `grad` (a RecognitionNetwork of zeros to start).
template <class T, class DM, class DS>
void recognition_backward(const RecognitionNetwork<T>& net, const RecognitionForward<T>& fwd,
                          const Eigen::MatrixBase<DM>& mean_bar, const Eigen::MatrixBase<DS>& std_bar,
                          RecognitionNetwork<T>& grad) {
  const Eigen::Index B = fwd.mean.rows(), H = net.state(), L = net.latent();
  if (mean_bar.rows() != B || mean_bar.cols() != L || std_bar.rows() != B || std_bar.cols() != L)
    throw std::invalid_argument("taynode::nn::recognition_backward: the cotangents must be " + std::to_string(B) +
                                " x " + std::to_string(L) + " (mean " + std::to_string(mean_bar.rows()) + " x " +
                                std::to_string(mean_bar.cols()) + ", std " + std::to_string(std_bar.rows()) + " x " +
                                std::to_string(std_bar.cols()) + ")");
  RowMatrix<T> z_bar(B, 2 * L);
  z_bar.leftCols(L) = mean_bar.template cast<T>();
  z_bar.rightCols(L) = std_bar.template cast<T>().cwiseProduct(
      fwd.rec_to_gen_fwd.output.rightCols(L).unaryExpr([](T v) { return latent_gru_detail::abs_slope(v); }));
  const RowMatrix<T> h_bar = tanh_mlp_backward(net.rec_to_gen, fwd.final_state, fwd.rec_to_gen_fwd, z_bar, grad.rec_to_gen);
  RowMatrix<T> m_bar = h_bar.leftCols(H), s_bar = h_bar.rightCols(H);
  for (auto it = fwd.steps.rbegin(); it != fwd.steps.rend(); ++it)
    latent_gru_step_backward(net.gru, *it, m_bar, s_bar, grad.gru);
}

}  // namespace taynode::nn
