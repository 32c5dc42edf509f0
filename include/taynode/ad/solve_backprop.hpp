#pragma once
// Discretize-then-optimize: reverse mode through the steps of an explicit Runge–Kutta solve of the
// augmented state [z, r], z' = f(t, z; θ) (a network evaluated by NetworkTaylor), r' = (1/D)·||z^(K)||²
// (the R_K integrand per example; K = 0: no integrand, r stays 0). Given the cotangents (z̄1, r̄1)
// of a loss L(z(t1), r(t1)) it returns dL/dz0 and dL/dθ of the DISCRETE map z0 ↦ (z1, r1).
//
// Step sizes are constants of that map: a fixed grid, or the accepted steps (t_n, h_n) of an
// adaptive solve recorded in the forward pass (the standard discretize-then-optimize convention;
// the step-size controller is not differentiated — d h_n / d z0 is taken as 0, so the gradient is
// exact for "the same step sequence", not for the tolerance-driven map).
//
// Memory: one checkpoint z_n per step (N + 1 states). The backward sweep recomputes the stage
// inputs of one step from its checkpoint (plain f evaluations), then reverses the step:
//   y1 = y0 + h Σ b_i k_i,  k_i = F(t0 + c_i h, Y_i),  Y_i = y0 + h Σ_{j<i} a_ij k_j
//   k̄_i = h b_i ȳ1 (+ h a_ji Ȳ_j from later stages),  Ȳ_i = VJP of F at Y_i,  ȳ0 = ȳ1 + Σ Ȳ_i.
// The r part of k̄_i is h b_i r̄1 (nothing depends on r, so r̄ is constant along the solve); the VJP
// of F at a stage is ad::vjp_taylor_integrand(…, f̄ = k̄_i, r̄ = h b_i r̄1) (vjp_dynamics for K = 0),
// θ̄ accumulated over all stages and steps. Stages that no later stage and no b_i use (Dopri5's
// FSAL stage 7) are skipped in both sweeps. Cost: forward s Taylor passes of order K per step;
// backward s plain evaluations + s (Taylor pass + reverse) per step.
//
// API (docs/ad.md, "Backpropagation through a solve"):
//   StepSequence<T>          t (N + 1 times) and h (N signed steps); fixed_grid(), from_step_sizes()
//   record_steps(ws, z0, t0, t1, K, Method{}, options)    adaptive solve → its accepted steps
//   solve_steps<Method>(ws, z0, K, steps)                 forward only → {z1, r1}
//   backprop_steps<Method>(ws, adj, z0, K, steps, z̄1, r̄1) → BackpropResult
//   backprop_solve(ws, adj, z0, t0, t1, K, Method{}, options, z̄1, r̄1)  fixed_steps grid, or record
//                                                          the adaptive steps first, then as above.

#include <algorithm>
#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/regularizer.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/ode/augmented.hpp"
#include "taynode/ode/solve.hpp"
#include "taynode/reg/integrands.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

// A step sequence: step n runs from t[n] with step size h[n] (t.size() == h.size() + 1).
template <class T>
struct StepSequence {
  std::vector<T> t;
  std::vector<T> h;
  std::size_t size() const { return h.size(); }
};

// The fixed grid of taynode::solve with options.fixed_steps = n (the same times, bit for bit).
template <class T>
StepSequence<T> fixed_grid(T t0, T t1, int n) {
  if (n < 1) throw std::invalid_argument("taynode::ad::fixed_grid: n >= 1");
  StepSequence<T> s;
  const T span = t1 - t0;
  s.t.push_back(t0);
  for (int i = 1; i <= n; ++i) {
    const T t_new = i == n ? t1 : t0 + span * (T(i) / T(n));
    s.h.push_back(t_new - s.t.back());
    s.t.push_back(t_new);
  }
  return s;
}

// Accepted step sizes of an adaptive solve (stats.step_sizes) → times as that solver forms them:
// t_{n+1} = t_n + h_n, the last one t1 exactly.
template <class T>
StepSequence<T> from_step_sizes(T t0, T t1, const std::vector<T>& sizes) {
  StepSequence<T> s;
  s.t.push_back(t0);
  for (std::size_t n = 0; n < sizes.size(); ++n) {
    s.h.push_back(sizes[n]);
    s.t.push_back(n + 1 == sizes.size() ? t1 : s.t.back() + sizes[n]);
  }
  return s;
}

template <class T>
struct ForwardResult {
  nn::RowMatrix<T> z1;
  nn::Vector<T> r1;
  std::size_t nfe = 0;  // evaluations of the augmented dynamics
};

template <class T>
struct RecordedSolve {
  StepSequence<T> steps;
  SolveStatistics<T> stats;
  nn::RowMatrix<T> z1;  // the adaptive solver's own final state
  nn::Vector<T> r1;
};

template <class T>
struct BackpropResult {
  nn::RowMatrix<T> z1;      // batch × D
  nn::Vector<T> r1;         // batch (0 for K = 0)
  nn::RowMatrix<T> z0_bar;  // dL/dz0
  nn::Sequential<T> theta_bar;  // dL/dθ, shaped like the network
  std::size_t nfe = 0;  // forward evaluations of [f, r'] (recording solve included)
  std::size_t backward_evaluations = 0;  // plain f evaluations recomputing stage inputs
  std::size_t vjps = 0;                  // VJP calls (one per used stage and step)
  std::size_t steps = 0;
  StepSequence<T> step_sequence;
};

namespace solve_backprop_detail {

template <class T>
using Mat = nn::RowMatrix<T>;

// Which stages matter: needed (contributes to y1, directly or through a later needed stage) and
// feeds (its k enters a later needed stage's input).
template <class Method>
struct StageUse {
  static constexpr std::size_t s = Method::stages;
  std::array<bool, s> needed{}, feeds{};
  StageUse() {
    for (std::size_t i = s; i-- > 0;) {
      bool f = false;
      for (std::size_t j = i + 1; j < s; ++j)
        if (needed[j] && !Method::a[j][i].is_zero()) f = true;
      feeds[i] = f;
      needed[i] = f || !Method::b[i].is_zero();
    }
  }
};

// Y_i = y + h Σ_{j<i} a_ij k_j (the same operations in both sweeps, so the same bits).
template <class Method, class T>
void stage_input(std::size_t i, const Mat<T>& y, T h, const std::vector<Mat<T>>& k, Mat<T>& out) {
  out = y;
  for (std::size_t j = 0; j < i; ++j)
    if (!Method::a[i][j].is_zero()) out += (h * Method::a[i][j].template as<T>()) * k[j];
}

template <class T, class DZ>
void check_shape(const NetworkTaylor<T>& ws, const Eigen::MatrixBase<DZ>& z, int K, const char* what) {
  if (z.rows() != ws.batch() || z.cols() != ws.dim())
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": z0 must be batch × dim of the workspace");
  if (K < 0 || K > ws.max_order())
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": 0 <= K <= ws.max_order()");
}

// Forward sweep over the steps; `checkpoints` (if not null) receives z_n for n = 0, m, 2m, … < N
// (m = `every`; 1: every state).
template <class Method, class T, class Reg>
ForwardResult<T> forward(NetworkTaylor<T>& ws, const Mat<T>& z0, const Reg& g, const StepSequence<T>& steps,
                         std::vector<Mat<T>>* checkpoints, std::size_t every = 1) {
  constexpr std::size_t s = Method::stages;
  static const StageUse<Method> use;
  const Index B = ws.batch(), D = ws.dim();
  ForwardResult<T> res;
  res.z1 = z0;
  res.r1 = nn::Vector<T>::Zero(B);
  std::vector<Mat<T>> k(s, Mat<T>(B, D));
  std::vector<nn::Vector<T>> kr(s, nn::Vector<T>::Zero(B));
  Mat<T> Y(B, D);
  if (checkpoints) checkpoints->clear();
  for (std::size_t n = 0; n < steps.size(); ++n) {
    const T t = steps.t[n], h = steps.h[n];
    if (checkpoints && n % every == 0) checkpoints->push_back(res.z1);
    for (std::size_t i = 0; i < s; ++i) {
      if (!use.needed[i]) continue;
      stage_input<Method>(i, res.z1, h, k, Y);
      const T ti = t + Method::c[i].template as<T>() * h;
      g.evaluate(ws, ti, Y, k[i], kr[i]);
      ++res.nfe;
    }
    for (std::size_t i = 0; i < s; ++i) {
      if (Method::b[i].is_zero()) continue;
      const T hb = h * Method::b[i].template as<T>();
      res.z1 += hb * k[i];
      if (g.active()) res.r1 += hb * kr[i];
    }
  }
  return res;
}

}  // namespace solve_backprop_detail

// Forward only: [z1, r1] after the given steps of Method (r0 = 0).
template <class Method, class T, class DZ>
ForwardResult<T> solve_steps(NetworkTaylor<T>& ws, const Eigen::MatrixBase<DZ>& z0, int K,
                             const StepSequence<T>& steps, Method = {}) {
  solve_backprop_detail::check_shape(ws, z0, K, "solve_steps");
  return solve_backprop_detail::forward<Method, T>(ws, nn::RowMatrix<T>(z0), TaylorRegularizer<T>{K}, steps, nullptr);
}

namespace solve_backprop_detail {
template <class T, class DZ, class Method, class Reg>
RecordedSolve<T> record(NetworkTaylor<T>& ws, const Eigen::MatrixBase<DZ>& z0, T t0, T t1, const Reg& g, Method method,
                        SolveOptions<T> options, bool r_in_error_control) {
  using A = Augmented<nn::RowMatrix<T>, nn::Vector<T>>;
  options.record_step_sizes = true;
  auto rhs = [&](T t, const A& y, A& dy) {
    dy.z.resize(y.z.rows(), y.z.cols());
    dy.r.resize(y.r.size());
    g.evaluate(ws, t, y.z, dy.z, dy.r);
  };
  auto sol = solve(rhs, A{nn::RowMatrix<T>(z0), nn::Vector<T>::Zero(z0.rows()), r_in_error_control}, std::vector<T>{t0, t1},
                   method, options);
  RecordedSolve<T> rec;
  rec.steps = from_step_sizes(t0, t1, sol.stats.step_sizes);
  rec.z1 = sol.final_state().z;
  rec.r1 = sol.final_state().r;
  rec.stats = std::move(sol.stats);
  return rec;
}
}  // namespace solve_backprop_detail

// Adaptive solve of [z, r] with taynode::solve (record_step_sizes forced on); its accepted steps.
template <class T, class DZ, class Method>
RecordedSolve<T> record_steps(NetworkTaylor<T>& ws, const Eigen::MatrixBase<DZ>& z0, T t0, T t1, int K, Method method,
                              SolveOptions<T> options = {}, bool r_in_error_control = true) {
  solve_backprop_detail::check_shape(ws, z0, K, "record_steps");
  return solve_backprop_detail::record(ws, z0, t0, t1, TaylorRegularizer<T>{K}, method, std::move(options),
                                       r_in_error_control);
}

namespace solve_backprop_detail {

// The reverse sweep along `steps` from the checkpoints z_n (n = 0, m, 2m, … with m = `every`) of a
// forward sweep: fills res.z0_bar, res.theta_bar, res.backward_evaluations, res.vjps. With m > 1 the
// states of one segment [jm, jm + m) are recomputed from z_jm by plain evaluations when the sweep
// enters it (memory N/m + m states instead of N; each step's plain evaluations once more).
template <class Method, class T, class Reg, class DZB, class DRB>
void backward(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, const std::vector<Mat<T>>& checkpoints, const Reg& g,
              const StepSequence<T>& steps, const Eigen::MatrixBase<DZB>& z1_bar, const Eigen::MatrixBase<DRB>& r1_bar,
              BackpropResult<T>& res, std::size_t every = 1) {
  constexpr std::size_t s = Method::stages;
  static const StageUse<Method> use;
  const Index B = ws.batch(), D = ws.dim();
  if (z1_bar.rows() != B || z1_bar.cols() != D || r1_bar.size() != B)
    throw std::invalid_argument("taynode::ad::backprop_steps: z1_bar is batch × dim, r1_bar has batch entries");
  const nn::Vector<T> rbar = r1_bar;
  Mat<T> zbar = z1_bar;  // ȳ_{n+1}, then ȳ_n
  std::vector<Mat<T>> k(s, Mat<T>(B, D)), Y(s, Mat<T>(B, D)), kbar(s, Mat<T>(B, D));
  nn::Vector<T> krbar(B);
  std::vector<Mat<T>> segment;  // z_b … z_{b+m−1} of the current segment (every > 1)
  std::size_t segment_begin = steps.size();
  auto state = [&](std::size_t n) -> const Mat<T>& {
    if (every == 1) return checkpoints[n];
    const std::size_t b = n / every * every, e = std::min(b + every, steps.size());
    if (b != segment_begin) {  // z_b is stored; steps b … e−2 give z_{b+1} … z_{e−1}
      StepSequence<T> part;
      part.t.assign(steps.t.begin() + std::ptrdiff_t(b), steps.t.begin() + std::ptrdiff_t(e));
      part.h.assign(steps.h.begin() + std::ptrdiff_t(b), steps.h.begin() + std::ptrdiff_t(e - 1));
      auto fwd = forward<Method, T>(ws, checkpoints[b / every], TaylorRegularizer<T>{0}, part, &segment);
      segment.push_back(std::move(fwd.z1));
      res.backward_evaluations += fwd.nfe;
      segment_begin = b;
    }
    return segment[n - b];
  };
  bool first = true;
  for (std::size_t n = steps.size(); n-- > 0;) {
    const T t = steps.t[n], h = steps.h[n];
    const Mat<T>& y0 = state(n);
    // Recompute the stage inputs (and the k's that later stage inputs use).
    for (std::size_t i = 0; i < s; ++i) {
      if (!use.needed[i]) continue;
      stage_input<Method>(i, y0, h, k, Y[i]);
      if (use.feeds[i]) {
        k[i] = ws.evaluate(t + Method::c[i].template as<T>() * h, Y[i]);
        ++res.backward_evaluations;
      }
    }
    for (std::size_t i = 0; i < s; ++i)
      if (use.needed[i]) kbar[i] = (h * Method::b[i].template as<T>()) * zbar;
    // ȳ_n = ȳ_{n+1} + Σ Ȳ_i; stages last to first, each passing h a_ij Ȳ_i on to k̄_j.
    for (std::size_t i = s; i-- > 0;) {
      if (!use.needed[i]) continue;
      const T ti = t + Method::c[i].template as<T>() * h;
      krbar = (h * Method::b[i].template as<T>()) * rbar;
      g.vjp(ws, adj, ti, Y[i], kbar[i], krbar, !first);
      first = false;
      ++res.vjps;
      const auto Ybar = adj.z_bar();
      zbar += Ybar;
      for (std::size_t j = 0; j < i; ++j)
        if (!Method::a[i][j].is_zero()) kbar[j] += (h * Method::a[i][j].template as<T>()) * Ybar;
    }
  }
  res.z0_bar = std::move(zbar);
  res.theta_bar = adj.gradient();
  if (first) nn::for_each_parameter(res.theta_bar, [](auto& p) { p.setZero(); });
}

template <class T>
void check_steps(const StepSequence<T>& steps, const char* what) {
  if (steps.t.size() != steps.h.size() + 1)
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": steps.t needs one more entry than steps.h");
}

}  // namespace solve_backprop_detail

// Reverse of the discrete solve along `steps`: L's cotangents z̄1 (batch × D) and r̄1 (batch) →
// dL/dz0, dL/dθ. adj must belong to ws (NetworkAdjoint(ws)); both are reused, not reallocated.
template <class Method, class T, class DZ, class DZB, class DRB>
BackpropResult<T> backprop_steps(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, const Eigen::MatrixBase<DZ>& z0, int K,
                                 const StepSequence<T>& steps, const Eigen::MatrixBase<DZB>& z1_bar,
                                 const Eigen::MatrixBase<DRB>& r1_bar, Method = {}) {
  namespace d = solve_backprop_detail;
  using Mat = nn::RowMatrix<T>;
  d::check_shape(ws, z0, K, "backprop_steps");
  d::check_steps(steps, "backprop_steps");
  if (z1_bar.rows() != ws.batch() || z1_bar.cols() != ws.dim() || r1_bar.size() != ws.batch())
    throw std::invalid_argument("taynode::ad::backprop_steps: z1_bar is batch × dim, r1_bar has batch entries");
  std::vector<Mat> checkpoints;
  auto fwd = d::forward<Method, T>(ws, Mat(z0), TaylorRegularizer<T>{K}, steps, &checkpoints);
  BackpropResult<T> res;
  res.z1 = std::move(fwd.z1);
  res.r1 = std::move(fwd.r1);
  res.nfe = fwd.nfe;
  res.steps = steps.size();
  res.step_sequence = steps;
  d::backward<Method>(ws, adj, checkpoints, TaylorRegularizer<T>{K}, steps, z1_bar, r1_bar, res);
  return res;
}

// One call: options.fixed_steps > 0 → taynode::solve's fixed grid (no separate solve); otherwise
// an adaptive solve records its accepted steps (record_steps), then backprop_steps replays them.
// The replayed z1, r1 agree with the adaptive solver's to rounding (the stage sums are formed in a
// different order); the gradients are those of the replayed map. options.fixed_step_size is not
// supported here (build a StepSequence).
template <class T, class DZ, class Method, class DZB, class DRB>
BackpropResult<T> backprop_solve(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, const Eigen::MatrixBase<DZ>& z0, T t0,
                                 T t1, int K, Method method, const SolveOptions<T>& options,
                                 const Eigen::MatrixBase<DZB>& z1_bar, const Eigen::MatrixBase<DRB>& r1_bar,
                                 bool r_in_error_control = true) {
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::backprop_solve: fixed_step_size unsupported; use fixed_steps or a StepSequence");
  if (options.fixed_steps > 0)
    return backprop_steps<Method>(ws, adj, z0, K, fixed_grid(t0, t1, int(options.fixed_steps)), z1_bar, r1_bar);
  auto rec = record_steps(ws, z0, t0, t1, K, method, options, r_in_error_control);
  auto res = backprop_steps<Method>(ws, adj, z0, K, rec.steps, z1_bar, r1_bar);
  res.nfe += rec.stats.nfe;
  return res;
}

}  // namespace taynode::ad
