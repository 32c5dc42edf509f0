#pragma once
// The latent ODE's training objective (REFERENCE.md §2; latent_ode.py's loss_fn) as a function of the
// latent states at the batch's observation times, with its cotangents: the loss head that
// ad::solve_gradient's callback runs between its forward and backward passes when the loss reads
// the state at many output times.
//
// Inputs: the decoder Linear(L → F); the states z(t_i) at the T sorted batch times t_0 < … < t_{T−1}
// (one (S·B) × L matrix per time, rows sample-major as in reparameterize.hpp: row k·B + b); the
// batch's values and masks (per time, B × F); the posterior q(z0) = N(mean, std²) (B × L each).
//
//   p_{k,i} = z_{k,i} Wᵀ + b                                         (decoder, B × F)
//   ℓ_k = (1/N) Σ_{i,b,f} [ −(m d − m p_{k,i})² / (2σ²) − log σ − ½ log 2π ]    N = Σ m (observed)
//   KL  = mean_{b,l} ½ (std² + mean² − 1 − log std²)
//   loss = −logsumexp_k (ℓ_k − β·KL) + λ·mean_{k,b} R_{k,b}
//
// exactly as the reference: σ = 0.01; the constant is added for every one of the B·T·F entries
// (`log_likelihood_offset` = B·T·F·(−log σ − ½ log 2π)/N, reported apart so logs can show the
// likelihood without it); logsumexp over the S batch-aggregated likelihoods (not per example, no
// −log S); β from kl_annealing_weight(epoch); R the optional R_K integrals per trajectory.
//
// Backward (w = softmax_k(ℓ_k − β KL), so ∂loss/∂ℓ_k = −w_k and ∂loss/∂KL = β Σ w_k = β):
//   p̄_{k,i} = −(w_k / (N σ²)) m ⊙ (m d − m p_{k,i}),   z̄_{k,i} = p̄_{k,i} W,   W̄ = Σ p̄ᵀ z,  b̄ = Σ p̄
//   mean̄ = β·mean/(B·L),  std̄ = β·(std − 1/std)/(B·L)        (the KL path only: the path through
//   z0 = mean + std ⊙ ε is the caller's, sample_z0_backward on the solve's z̄0)
//   R̄_{k,b} = λ/(S·B)
//
// Data-parallel (dist/mpi.hpp): with options.shard the rows given are one shard of a global batch
// of shard->batch patients with shard->observed observed entries in all; B and N above are those
// global counts, and shard->sum adds the S + 2 partial sums (the S squared-error sums, the KL's and
// R's) over the shards in one call. Every value is then the whole batch's on every shard, and every
// cotangent this shard's rows of the whole batch's (decoder_bar: this shard's part, to be summed
// with the other parameter gradients).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "dense.hpp"
#include "gaussian.hpp"
#include "layers.hpp"
#include "recognition.hpp"  // TimeGrid, Frames, check_padded_batch

namespace taynode::nn {

// The reference's KL annealing: β(epoch) = max(0, 1 − 0.99^(epoch − 10)), epochs counted from 0
// (β = 0 for the first 11 epochs, 0.0099 at epoch 11, ≈ 0.58 at epoch 99).
inline double kl_annealing_weight(std::int64_t epoch) {
  return std::max(0.0, 1.0 - std::pow(0.99, double(epoch - 10)));
}

struct LogSumExp {
  double value = 0;             // log Σ exp(x_k)
  std::vector<double> softmax;  // ∂value/∂x_k
};
// Stable for any finite inputs (shifted by the maximum); non-finite inputs are rejected.
inline LogSumExp logsumexp(std::span<const double> x) {
  if (x.empty()) throw std::invalid_argument("taynode::nn::logsumexp: no inputs");
  for (std::size_t k = 0; k < x.size(); ++k)
    if (!std::isfinite(x[k])) throw std::invalid_argument("taynode::nn::logsumexp: input " + std::to_string(k) + " is not finite");
  const double m = *std::max_element(x.begin(), x.end());
  LogSumExp r;
  r.softmax.resize(x.size());
  double s = 0;
  for (std::size_t k = 0; k < x.size(); ++k) s += (r.softmax[k] = std::exp(x[k] - m));
  for (double& w : r.softmax) w /= s;
  r.value = m + std::log(s);
  return r;
}

// The rows of one shard of a global batch (see the header comment).
struct LatentOdeShard {
  Eigen::Index batch = 0;                              // patients in the global batch
  std::size_t observed = 0;                            // observed entries in the global batch
  std::function<void(double*, std::size_t)> sum;       // in place: Σ over the shards
};

struct LatentOdeObjectiveOptions {
  double sigma = 0.01;       // the likelihood's fixed standard deviation
  double kl_weight = 1.0;    // β: kl_annealing_weight(epoch)
  double rk_weight = 0.0;    // λ on the mean R_K (with rk given)
  const LatentOdeShard* shard = nullptr;  // these rows are one shard of a global batch
};

template <class T>
struct LatentOdeObjective {
  double loss = 0;
  std::vector<double> log_likelihood;  // ℓ_k per sample, the reference's (offset included)
  double log_likelihood_offset = 0;    // the constant part of every ℓ_k
  double kl = 0;
  double mse = 0;                      // mean_k Σ (m d − m p_k)² / N (the reference's _mse)
  double rk_mean = 0;                  // mean R_K (0 without rk)
  std::size_t observed = 0;            // N
  std::vector<double> sample_weights;  // w_k
  std::vector<RowMatrix<T>> z_bar;     // ∂loss/∂z(t_i), per time (S·B) × L
  RowMatrix<T> mean_bar, std_bar;      // ∂loss/∂(mean, std) through the KL term
  Vector<T> rk_bar;                    // ∂loss/∂R per trajectory (empty without rk)
  Linear<T> decoder_bar{0, 0};         // ∂loss/∂(W, b)
};

template <class T, class DM, class DS>
LatentOdeObjective<T> latent_ode_objective(const Linear<T>& decoder, Frames<T> states, Frames<T> values,
                                           Frames<T> mask, const Eigen::MatrixBase<DM>& mean,
                                           const Eigen::MatrixBase<DS>& std_,
                                           const LatentOdeObjectiveOptions& options = {},
                                           std::span<const std::type_identity_t<T>> rk = {}) {
  const std::string fn = "taynode::nn::latent_ode_objective: ";
  const Eigen::Index L = decoder.in(), F = decoder.out();
  const std::size_t nt = states.size();
  if (nt == 0) throw std::invalid_argument(fn + "no output times");
  if (values.size() != nt || mask.size() != nt)
    throw std::invalid_argument(fn + std::to_string(nt) + " state matrices but " + std::to_string(values.size()) +
                                " value and " + std::to_string(mask.size()) + " mask matrices");
  // Times are the caller's (the states already sit at them); only the data's shapes are checked here.
  std::vector<T> index_times(nt);
  for (std::size_t i = 0; i < nt; ++i) index_times[i] = T(i);
  const Eigen::Index B = check_padded_batch<T>(index_times, values, mask, F, "latent_ode_objective");
  if (mean.rows() != B || mean.cols() != L || std_.rows() != B || std_.cols() != L)
    throw std::invalid_argument(fn + "mean and std must be " + std::to_string(B) + " x " + std::to_string(L) +
                                " (mean " + std::to_string(mean.rows()) + " x " + std::to_string(mean.cols()) +
                                ", std " + std::to_string(std_.rows()) + " x " + std::to_string(std_.cols()) + ")");
  const Eigen::Index rows = states[0].rows();
  if (rows < B || rows % B != 0)
    throw std::invalid_argument(fn + "the states have " + std::to_string(rows) + " rows, not a multiple of the batch " +
                                std::to_string(B));
  const Eigen::Index S = rows / B;
  for (std::size_t i = 0; i < nt; ++i) {
    if (states[i].rows() != rows || states[i].cols() != L)
      throw std::invalid_argument(fn + "the state at time index " + std::to_string(i) + " is " +
                                  std::to_string(states[i].rows()) + " x " + std::to_string(states[i].cols()) +
                                  ", expected " + std::to_string(rows) + " x " + std::to_string(L));
    if (!states[i].allFinite())
      throw std::invalid_argument(fn + "the state at time index " + std::to_string(i) + " is not finite");
  }
  if (!rk.empty() && rk.size() != std::size_t(rows))
    throw std::invalid_argument(fn + std::to_string(rk.size()) + " R_K values for " + std::to_string(rows) +
                                " trajectories");
  if (!(options.kl_weight >= 0.0) || !std::isfinite(options.kl_weight) || !std::isfinite(options.rk_weight))
    throw std::invalid_argument(fn + "kl_weight must be finite and >= 0, rk_weight finite");

  LatentOdeObjective<T> out;
  const LatentOdeShard* shard = options.shard;
  for (const auto& m : mask) out.observed += std::size_t((m.array() != T(0)).count());
  if (shard && (shard->batch < B || shard->observed < out.observed || !shard->sum))
    throw std::invalid_argument(fn + "the shard's global batch (" + std::to_string(shard->batch) + " patients, " +
                                std::to_string(shard->observed) + " observed) is smaller than its rows (" +
                                std::to_string(B) + ", " + std::to_string(out.observed) + "), or it has no sum");
  const Eigen::Index Bg = shard ? shard->batch : B;  // the global batch
  if (shard) out.observed = shard->observed;
  if (out.observed == 0) throw std::invalid_argument(fn + "no observed entries (the mask is all zero)");
  const double c = gaussian_log_normalizer(options.sigma);
  out.kl = kl_to_standard_normal(mean, std_) * double(B) / double(Bg);  // this shard's part
  const double N = double(out.observed);
  out.log_likelihood_offset = double(Bg) * double(nt) * double(F) * c / N;

  // Residuals m d − m p per time, all samples stacked like the states.
  std::vector<RowMatrix<T>> residual(nt);
  std::vector<double> sse(std::size_t(S), 0.0);
  for (std::size_t i = 0; i < nt; ++i) {
    const RowMatrix<T> pred = linear_forward(decoder, states[i]);
    residual[i].resize(rows, F);
    for (Eigen::Index k = 0; k < S; ++k) {
      auto r = residual[i].middleRows(k * B, B);
      r = (mask[i].array() * values[i].array() - mask[i].array() * pred.middleRows(k * B, B).array()).matrix();
      for (Eigen::Index e = 0; e < B; ++e)
        for (Eigen::Index f = 0; f < F; ++f) sse[std::size_t(k)] += double(r(e, f)) * double(r(e, f));
    }
  }
  const double rows_global = double(S) * double(Bg);
  for (const T r : rk) out.rk_mean += double(r) / rows_global;  // this shard's part
  if (shard) {  // one sum over the shards: [sse_0 … sse_{S−1}, KL, R]
    sse.push_back(out.kl);
    sse.push_back(out.rk_mean);
    shard->sum(sse.data(), sse.size());
    out.rk_mean = sse.back();
    sse.pop_back();
    out.kl = sse.back();
    sse.pop_back();
  }
  const double two_var = 2 * options.sigma * options.sigma;
  std::vector<double> a(static_cast<std::size_t>(S));
  for (std::size_t k = 0; k < std::size_t(S); ++k) {
    out.log_likelihood.push_back(-sse[k] / two_var / N + out.log_likelihood_offset);
    out.mse += sse[k] / N / double(S);
    a[k] = out.log_likelihood[k] - options.kl_weight * out.kl;
  }
  const LogSumExp lse = logsumexp(a);
  out.sample_weights = lse.softmax;
  out.loss = -lse.value;
  if (!rk.empty()) {
    out.loss += options.rk_weight * out.rk_mean;
    out.rk_bar = Vector<T>::Constant(rows, T(options.rk_weight / rows_global));
  }

  out.decoder_bar = Linear<T>(L, F);
  out.z_bar.resize(nt);
  RowMatrix<T> p_bar(rows, F);
  for (std::size_t i = 0; i < nt; ++i) {
    for (Eigen::Index k = 0; k < S; ++k) {
      const T scale = T(-out.sample_weights[std::size_t(k)] / (N * options.sigma * options.sigma));
      p_bar.middleRows(k * B, B) =
          (scale * mask[i].array() * residual[i].middleRows(k * B, B).array()).matrix();
    }
    out.z_bar[i] = linear_backward(decoder, states[i], p_bar, out.decoder_bar);
  }
  // ∂(β·KL)/∂(mean, std) of this shard's rows: KL is the mean over the global B·L entries.
  const auto kl_grad = kl_to_standard_normal_backward(mean.template cast<T>(), std_.template cast<T>(),
                                                      options.kl_weight * double(B) / double(Bg));
  out.mean_bar = kl_grad.mean_bar;
  out.std_bar = kl_grad.std_bar;
  return out;
}

}  // namespace taynode::nn
