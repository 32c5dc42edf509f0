#pragma once
// The gradient of a training loss through a network ODE solve, by either method, with the loss
// head in the middle: forward solve → cotangents(z1, r1) from the caller's loss → backward pass.
//
//   L = loss(z(t1)) + Σ_b r̄_b r_b(t1),  r_b(t1) = ∫ (1/D)·||d^K z_b/dt^K||² dt   (K = 0: no r)
//
// GradientMethod::backprop  discretize-then-optimize (solve_backprop.hpp): the forward sweep keeps
//                           one checkpoint per step; adaptive methods record their accepted steps
//                           first and replay them with plain evaluations to get the checkpoints.
// GradientMethod::adjoint   the continuous adjoint (adjoint_solve.hpp), same method and tolerances
//                           both ways.
// ForwardPass::augmented    the forward integrates [z, r] (r1 computed; r in the error norm, as the
//                           reference code's full solve).
// ForwardPass::plain        the reference's "aux" trick: the forward integrates z only (no Taylor
//                           passes, fewer steps), r1 is reported as 0, so a loss value built from it
//                           excludes λR; the gradient still contains the R_K term (the backward pass
//                           is the augmented one either way).
//
// Unlike backprop_solve/adjoint_solve, the cotangents need not be known before the solve: the
// callback `cotangents(z1, r1, z1_bar, r1_bar)` runs once between the two passes, so the forward
// runs once.

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/adjoint_solve.hpp"
#include "taynode/ad/solve_backprop.hpp"

namespace taynode::ad {

enum class GradientMethod { backprop, adjoint };
enum class ForwardPass { augmented, plain };

inline const char* to_string(GradientMethod m) { return m == GradientMethod::backprop ? "backprop" : "adjoint"; }
inline const char* to_string(ForwardPass f) { return f == ForwardPass::augmented ? "augmented" : "plain"; }

struct GradientOptions {
  GradientMethod method = GradientMethod::backprop;
  ForwardPass forward = ForwardPass::augmented;
  // backprop: keep the state of every m-th step (m = checkpoint_every) and recompute the others a
  // segment at a time in the backward pass: memory N/m + m states instead of N, for one more plain
  // evaluation of each step. 0 picks m = ⌈√N⌉ (memory ~2√N). 1: every state (fastest).
  std::size_t checkpoint_every = 1;
};

template <class T>
struct SolveGradient {
  nn::RowMatrix<T> z1;          // batch × D, the forward solve's
  nn::Vector<T> r1;             // R_K per example; 0 for K = 0 and ForwardPass::plain
  nn::RowMatrix<T> z0_bar;      // dL/dz0
  nn::Sequential<T> theta_bar;  // dL/dθ, shaped like the network
  std::size_t nfe_forward = 0;  // evaluations of the forward solve (rejected attempts included)
  // backprop: plain evaluations replaying/recomputing stage inputs + one per stage VJP;
  // adjoint: evaluations of the backward RHS (each one Taylor pass and its VJP).
  std::size_t nfe_backward = 0;
  std::size_t forward_steps = 0;   // accepted steps of the forward solve
  std::size_t backward_steps = 0;  // backprop: the same steps; adjoint: the backward solve's accepted steps
};

// The same for any integrand of regularizer.hpp: RnodeRegularizer (RNODE's kinetic + Frobenius
// terms, weights inside, so r̄ = 1/B for their batch mean) or TaylorRegularizer.
template <class T, class DZ, class Reg, class Method, class Cotangents>
  requires requires(const Reg& r) { r.workspace_order(); }
SolveGradient<T> solve_gradient(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, const Eigen::MatrixBase<DZ>& z0, T t0,
                                T t1, const Reg& regularizer, Method method, const SolveOptions<T>& options,
                                GradientOptions g, Cotangents&& cotangents) {
  using Mat = nn::RowMatrix<T>;
  using Vec = nn::Vector<T>;
  namespace bp = solve_backprop_detail;
  const int K = regularizer.workspace_order();
  bp::check_shape(ws, z0, K, "solve_gradient");
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::solve_gradient: fixed_step_size unsupported; use fixed_steps");
  const Index B = ws.batch(), D = ws.dim();
  Mat z1_bar = Mat::Zero(B, D);
  Vec r1_bar = Vec::Zero(B);
  SolveGradient<T> out;

  if (g.method == GradientMethod::adjoint) {
    adjoint_detail::check_arguments(ws, z0, K, options);
    AdjointResult<T> ar;
    const auto variant = g.forward == ForwardPass::plain ? AdjointVariant::aux : AdjointVariant::full;
    adjoint_detail::forward(ws, z0, t0, t1, regularizer, method, options, variant, ar);
    cotangents(std::as_const(ar.z1), std::as_const(ar.r1), z1_bar, r1_bar);
    adjoint_detail::backward(ws, adj, t0, t1, regularizer, method, options, z1_bar, r1_bar, ar);
    out.z1 = std::move(ar.z1);
    out.r1 = std::move(ar.r1);
    out.z0_bar = std::move(ar.z0_bar);
    out.theta_bar = std::move(ar.theta_bar);
    out.nfe_forward = ar.nfe_forward;
    out.nfe_backward = ar.nfe_backward;
    out.forward_steps = ar.forward_stats.accepted_steps;
    out.backward_steps = ar.backward_stats.accepted_steps;
    return out;
  }

  // Backprop. The forward integrates the integrand only when its value is wanted.
  const bool integrate = g.forward == ForwardPass::augmented && regularizer.active();
  auto forward = [&](const Mat& y0, const StepSequence<T>& s, std::vector<Mat>* cp, std::size_t m, bool with_r) {
    return with_r ? bp::forward<Method, T>(ws, y0, regularizer, s, cp, m)
                  : bp::forward<Method, T>(ws, y0, TaylorRegularizer<T>{0}, s, cp, m);
  };
  StepSequence<T> steps;
  std::vector<Mat> checkpoints;
  auto every = [&](std::size_t n) {
    if (g.checkpoint_every > 0) return g.checkpoint_every;
    std::size_t m = 1;
    while (m * m < n) ++m;
    return m;
  };
  std::size_t m = 1;
  if (options.fixed_steps > 0) {
    steps = fixed_grid(t0, t1, int(options.fixed_steps));
    m = every(steps.size());
    auto fwd = forward(Mat(z0), steps, &checkpoints, m, integrate);
    out.z1 = std::move(fwd.z1);
    out.r1 = std::move(fwd.r1);
    out.nfe_forward = fwd.nfe;
  } else {
    // r takes part in error control only when it is integrated (an r ≡ 0 would dilute the RMS norm).
    auto rec = integrate ? bp::record(ws, z0, t0, t1, regularizer, method, options, true)
                         : bp::record(ws, z0, t0, t1, TaylorRegularizer<T>{0}, method, options, false);
    steps = std::move(rec.steps);
    out.z1 = std::move(rec.z1);
    out.r1 = std::move(rec.r1);
    out.nfe_forward = rec.stats.nfe;
    // Checkpoints by replaying the accepted steps with plain evaluations (z does not depend on r).
    m = every(steps.size());
    auto replay = forward(Mat(z0), steps, &checkpoints, m, false);
    out.nfe_backward += replay.nfe;
  }
  out.forward_steps = out.backward_steps = steps.size();
  cotangents(std::as_const(out.z1), std::as_const(out.r1), z1_bar, r1_bar);
  BackpropResult<T> br;
  bp::backward<Method>(ws, adj, checkpoints, regularizer, steps, z1_bar, r1_bar, br, m);
  out.z0_bar = std::move(br.z0_bar);
  out.theta_bar = std::move(br.theta_bar);
  out.nfe_backward += br.backward_evaluations + br.vjps;
  return out;
}

// R_K (K = 0: unregularized).
template <class T, class DZ, class Method, class Cotangents>
SolveGradient<T> solve_gradient(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, const Eigen::MatrixBase<DZ>& z0, T t0,
                                T t1, int K, Method method, const SolveOptions<T>& options, GradientOptions g,
                                Cotangents&& cotangents) {
  return solve_gradient(ws, adj, z0, t0, t1, TaylorRegularizer<T>{K}, method, options, g,
                        std::forward<Cotangents>(cotangents));
}

}  // namespace taynode::ad
