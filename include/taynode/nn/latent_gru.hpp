#pragma once
// The latent ODE's recognition cell (REFERENCE.md §2; latent_ode.py's LatentGRU): a GRU whose state
// is a (mean μ, std s) pair, each H wide, with every gate a TanhMlp on the concatenated input.
// One step on a batch (rows = examples), input x (X wide):
//
//   c  = [μ, s, x]                          u = σ(update(c)),  r = σ(reset(c))     (H each)
//   c′ = [μ⊙r, s⊙r, x]                      n = candidate(c′) = [n_μ, ñ_s],  n_s = |ñ_s|
//   μ′ = (1−u)⊙n_μ + u⊙μ,   s′ = (1−u)⊙n_s + u⊙s
//   an example whose row is not `active` keeps (μ, s) instead;  then s_out = |s′|, μ_out = μ′.
//
// The final |·| is the reference's (a no-op on the value, s′ ≥ 0 whenever s ≥ 0). Its derivative,
// like that of |ñ_s|, is taken as +1 at 0 (JAX's rule: x ≥ 0 ? 1 : −1). Which rows are active is
// the caller's (recognition.hpp applies the reference's skip rule).
//
// Backward, from (μ̄_out, s̄_out): s̄′ = s̄_out ⊙ sgn(s′); inactive rows pass (μ̄_out, s̄′) straight to
// (μ̄, s̄); active rows:
//   ū = μ̄′⊙(μ − n_μ) + s̄′⊙(s − n_s),   n̄_μ = μ̄′⊙(1−u),   n̄_s = s̄′⊙(1−u)⊙sgn(ñ_s)
//   c̄′ = candidate backward(n̄);  r̄ = c̄′_μ⊙μ + c̄′_s⊙s
//   μ̄ = μ̄′⊙u + c̄′_μ⊙r + c̄_μ,  s̄ = s̄′⊙u + c̄′_s⊙r + c̄_s,
//   with c̄ = update backward(ū⊙u⊙(1−u)) + reset backward(r̄⊙r⊙(1−r)).
// (x̄ is not formed: the cell's input is data.)

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "layers.hpp"
#include "tanh_mlp.hpp"

namespace taynode::nn {

template <class T>
struct LatentGru {
  TanhMlp<T> update;     // [μ, s, x] → H, then σ
  TanhMlp<T> reset;      // [μ, s, x] → H, then σ
  TanhMlp<T> candidate;  // [μ⊙r, s⊙r, x] → 2H: new mean, new std (before |·|)
  // Reference: state = 40, input = 75 (37 values, 37 mask entries, Δt), units = 50.
  LatentGru(Eigen::Index state, Eigen::Index input, Eigen::Index units)
      : update(2 * state + input, units, state),
        reset(2 * state + input, units, state),
        candidate(2 * state + input, units, 2 * state) {}
  Eigen::Index state() const { return update.out(); }
  Eigen::Index input() const { return update.in() - 2 * state(); }
  Eigen::Index units() const { return update.units(); }
  std::size_t parameter_count() const {
    return update.parameter_count() + reset.parameter_count() + candidate.parameter_count();
  }
};

// Everything one step's backward pass needs.
template <class T>
struct LatentGruStep {
  RowMatrix<T> mean_in, std_in;  // μ, s (batch × H)
  RowMatrix<T> gate_input;       // c = [μ, s, x]
  RowMatrix<T> candidate_input;  // c′ = [μ⊙r, s⊙r, x]
  TanhMlpForward<T> update_fwd, reset_fwd, candidate_fwd;
  RowMatrix<T> u, r;             // gates (batch × H)
  RowMatrix<T> std_blend;        // s′ before the final |·|
  std::vector<char> active;      // per example: 1 updated, 0 kept
  RowMatrix<T> mean_out, std_out;
};

namespace latent_gru_detail {
template <class T>
T abs_slope(T x) {  // d|x|/dx as JAX takes it
  return x >= T(0) ? T(1) : T(-1);
}
template <class T>
RowMatrix<T> sigmoid(const RowMatrix<T>& a) {
  return a.unaryExpr([](T v) { return T(1) / (T(1) + std::exp(-v)); });
}
}  // namespace latent_gru_detail

// One step. `active[b]` = 0 keeps example b's state; empty `active` updates every example.
template <class T, class DM, class DS, class DX>
LatentGruStep<T> latent_gru_step(const LatentGru<T>& gru, const Eigen::MatrixBase<DM>& mean,
                                 const Eigen::MatrixBase<DS>& std_, const Eigen::MatrixBase<DX>& x,
                                 std::vector<char> active = {}) {
  const Eigen::Index B = mean.rows(), H = gru.state(), X = gru.input();
  if (mean.cols() != H || std_.cols() != H || std_.rows() != B)
    throw std::invalid_argument("taynode::nn::latent_gru_step: the state must be batch x " + std::to_string(H) +
                                " (mean " + std::to_string(mean.rows()) + " x " + std::to_string(mean.cols()) +
                                ", std " + std::to_string(std_.rows()) + " x " + std::to_string(std_.cols()) + ")");
  if (x.rows() != B || x.cols() != X)
    throw std::invalid_argument("taynode::nn::latent_gru_step: the input is " + std::to_string(x.rows()) + " x " +
                                std::to_string(x.cols()) + ", expected " + std::to_string(B) + " x " +
                                std::to_string(X));
  if (active.empty()) active.assign(std::size_t(B), 1);
  if (active.size() != std::size_t(B))
    throw std::invalid_argument("taynode::nn::latent_gru_step: " + std::to_string(active.size()) +
                                " active flags for a batch of " + std::to_string(B));
  LatentGruStep<T> s;
  s.mean_in = mean;
  s.std_in = std_;
  s.active = std::move(active);
  s.gate_input.resize(B, 2 * H + X);
  s.gate_input << s.mean_in, s.std_in, x;
  s.update_fwd = tanh_mlp_forward(gru.update, s.gate_input);
  s.reset_fwd = tanh_mlp_forward(gru.reset, s.gate_input);
  s.u = latent_gru_detail::sigmoid(s.update_fwd.output);
  s.r = latent_gru_detail::sigmoid(s.reset_fwd.output);
  s.candidate_input.resize(B, 2 * H + X);
  s.candidate_input << s.mean_in.cwiseProduct(s.r), s.std_in.cwiseProduct(s.r), x;
  s.candidate_fwd = tanh_mlp_forward(gru.candidate, s.candidate_input);
  const auto n_mean = s.candidate_fwd.output.leftCols(H).array();
  const auto n_std = s.candidate_fwd.output.rightCols(H).array().abs();
  const auto u = s.u.array();
  s.mean_out = ((T(1) - u) * n_mean + u * s.mean_in.array()).matrix();
  s.std_blend = ((T(1) - u) * n_std + u * s.std_in.array()).matrix();
  for (Eigen::Index b = 0; b < B; ++b)
    if (!s.active[std::size_t(b)]) {
      s.mean_out.row(b) = s.mean_in.row(b);
      s.std_blend.row(b) = s.std_in.row(b);
    }
  s.std_out = s.std_blend.cwiseAbs();
  return s;
}

// Backward of one step: adds the parameter gradient into `grad` and overwrites mean_bar / std_bar
// (the cotangents of the step's outputs) with those of its inputs (μ, s).
template <class T>
void latent_gru_step_backward(const LatentGru<T>& gru, const LatentGruStep<T>& s, RowMatrix<T>& mean_bar,
                              RowMatrix<T>& std_bar, LatentGru<T>& grad) {
  const Eigen::Index B = s.mean_in.rows(), H = gru.state();
  if (mean_bar.rows() != B || mean_bar.cols() != H || std_bar.rows() != B || std_bar.cols() != H)
    throw std::invalid_argument("taynode::nn::latent_gru_step_backward: the cotangents must be " + std::to_string(B) +
                                " x " + std::to_string(H));
  using latent_gru_detail::abs_slope;
  RowMatrix<T> sb = std_bar.cwiseProduct(s.std_blend.unaryExpr([](T v) { return abs_slope(v); }));
  RowMatrix<T> mb = mean_bar;
  // Inactive rows: identity; zero them for the gated path so they add nothing to θ̄.
  RowMatrix<T> keep_mean = RowMatrix<T>::Zero(B, H), keep_std = RowMatrix<T>::Zero(B, H);
  for (Eigen::Index b = 0; b < B; ++b)
    if (!s.active[std::size_t(b)]) {
      keep_mean.row(b) = mb.row(b);
      keep_std.row(b) = sb.row(b);
      mb.row(b).setZero();
      sb.row(b).setZero();
    }
  const auto u = s.u.array();
  const auto n_mean = s.candidate_fwd.output.leftCols(H).array();
  const auto n_raw = s.candidate_fwd.output.rightCols(H).array();
  RowMatrix<T> u_bar = (mb.array() * (s.mean_in.array() - n_mean) + sb.array() * (s.std_in.array() - n_raw.abs())).matrix();
  RowMatrix<T> n_bar(B, 2 * H);
  n_bar.leftCols(H) = (mb.array() * (T(1) - u)).matrix();
  n_bar.rightCols(H) = (sb.array() * (T(1) - u) * n_raw.unaryExpr([](T v) { return abs_slope(v); })).matrix();
  const RowMatrix<T> c2_bar = tanh_mlp_backward(gru.candidate, s.candidate_input, s.candidate_fwd, n_bar, grad.candidate);
  const RowMatrix<T> r_bar =
      (c2_bar.leftCols(H).array() * s.mean_in.array() + c2_bar.middleCols(H, H).array() * s.std_in.array()).matrix();
  mean_bar = (mb.array() * u + c2_bar.leftCols(H).array() * s.r.array()).matrix() + keep_mean;
  std_bar = (sb.array() * u + c2_bar.middleCols(H, H).array() * s.r.array()).matrix() + keep_std;
  const RowMatrix<T> au_bar = (u_bar.array() * u * (T(1) - u)).matrix();
  const RowMatrix<T> ar_bar = (r_bar.array() * s.r.array() * (T(1) - s.r.array())).matrix();
  RowMatrix<T> c_bar = tanh_mlp_backward(gru.update, s.gate_input, s.update_fwd, au_bar, grad.update);
  c_bar += tanh_mlp_backward(gru.reset, s.gate_input, s.reset_fwd, ar_bar, grad.reset);
  mean_bar += c_bar.leftCols(H);
  std_bar += c_bar.middleCols(H, H);
}

}  // namespace taynode::nn
