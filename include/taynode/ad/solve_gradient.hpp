#pragma once
// The gradient of a training loss through an ODE solve, with the loss head in the middle:
// forward solve → cotangents(z1, r1) from the caller's loss → backward pass.
//
//   L = loss(z(t1)) + Σ_b r̄_b r_b(t1),  r_b(t1) = ∫ g_b(t, z) dt   (g: the dynamics' integrand)
//
// The gradient method is a type, as diffrax's adjoint objects: only the method a call names is
// instantiated.
//   Backprop{…}  discretize-then-optimize (solve_backprop.hpp): the forward sweep keeps one
//                checkpoint per step (or every m-th: checkpoint_every); adaptive methods record
//                their accepted steps first and replay them with plain evaluations.
//   Adjoint{…}   the continuous adjoint (adjoint_solve.hpp), same method and tolerances both ways.
// Both take the forward pass:
//   ForwardPass::augmented  the forward integrates [z, r] (r1 computed; r in the error norm, as the
//                           reference code's full solve);
//   ForwardPass::plain      the reference's "aux" trick: the forward integrates z only (no
//                           integrand, fewer steps), r1 is reported as 0, so a loss value built from
//                           it excludes the regularizer; the gradient still contains it (the
//                           backward pass is the augmented one either way).
//
// The dynamics is anything that models GradientDynamics (ad/dynamics.hpp): NetworkDynamics (an
// nn::Sequential through NetworkTaylor with an integrand of regularizer.hpp) on any backend, or a
// type of one's own. `cotangents(z1, r1, z1_bar, r1_bar)` runs once between the two passes and
// fills the cotangents (zero on entry).

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

#include "taynode/ad/adjoint_solve.hpp"
#include "taynode/ad/dynamics.hpp"
#include "taynode/ad/solve_backprop.hpp"

namespace taynode::ad {

enum class ForwardPass { augmented, plain };
inline const char* to_string(ForwardPass f) { return f == ForwardPass::augmented ? "augmented" : "plain"; }

// Discretize-then-optimize.
struct Backprop {
  ForwardPass forward = ForwardPass::augmented;
  // Keep the state of every m-th step (m = checkpoint_every) and recompute the others a segment at
  // a time in the backward pass: memory N/m + m states instead of N, for one more plain evaluation
  // of each step. 0 picks m = ⌈√N⌉ (memory ~2√N). 1: every state (fastest).
  std::size_t checkpoint_every = 1;
};

// Optimize-then-discretize (the continuous adjoint).
struct Adjoint {
  ForwardPass forward = ForwardPass::augmented;
};

template <class T, class B = backend::Cpu>
struct SolveGradient {
  typename B::template Matrix<T> z1;      // batch × D, the forward solve's
  typename B::template Vector<T> r1;      // the integrand per example; 0 when inactive or plain
  typename B::template Matrix<T> z0_bar;  // dL/dz0
  nn::Sequential<T> theta_bar;            // dL/dθ, shaped like the network (host)
  std::size_t nfe_forward = 0;  // evaluations of the forward solve (rejected attempts included)
  // backprop: plain evaluations replaying/recomputing stage inputs + one per stage VJP;
  // adjoint: evaluations of the backward RHS (each one Taylor pass and its VJP).
  std::size_t nfe_backward = 0;
  std::size_t forward_steps = 0;   // accepted steps of the forward solve
  std::size_t backward_steps = 0;  // backprop: the same steps; adjoint: the backward solve's accepted steps
};

namespace solve_gradient_detail {
template <class D>
struct Cotangents {
  typename D::Matrix z1_bar;
  typename D::Vector r1_bar;
  explicit Cotangents(const D& d) : z1_bar(d.batch(), d.dim()), r1_bar(solve_backprop_detail::zero_vector(d)) {
    D::Backend::fill(z1_bar.size(), typename D::Real(0), z1_bar.data());
    D::Backend::fill(r1_bar.size(), typename D::Real(0), r1_bar.data());
  }
};
}  // namespace solve_gradient_detail

// Backprop through the steps of Method: options.fixed_steps > 0 → that fixed grid; otherwise the
// accepted steps of an adaptive solve with `options`.
template <GradientDynamics D, class Method, class Cotangents>
SolveGradient<typename D::Real, typename D::Backend> solve_gradient(
    D& d, const typename D::Matrix& z0, typename D::Real t0, typename D::Real t1, Method,
    const SolveOptions<typename D::Real>& options, const Backprop& method, Cotangents&& cotangents) {
  using T = typename D::Real;
  using Mat = typename D::Matrix;
  namespace bp = solve_backprop_detail;
  bp::check_state(d, z0, "solve_gradient");
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::solve_gradient: fixed_step_size unsupported; use fixed_steps");
  // The forward integrates the integrand only when its value is wanted.
  const bool integrate = method.forward == ForwardPass::augmented && d.integrand_active();
  SolveGradient<T, typename D::Backend> out;
  StepSequence<T> steps;
  std::vector<Mat> checkpoints;
  auto every = [&](std::size_t n) {
    if (method.checkpoint_every > 0) return method.checkpoint_every;
    std::size_t m = 1;
    while (m * m < n) ++m;
    return m;
  };
  std::size_t m = 1;
  if (options.fixed_steps > 0) {
    steps = fixed_grid(t0, t1, int(options.fixed_steps));
    m = every(steps.size());
    auto fwd = bp::forward<Method>(d, z0, integrate, steps, &checkpoints, m);
    out.z1 = std::move(fwd.z1);
    out.r1 = std::move(fwd.r1);
    out.nfe_forward = fwd.nfe;
  } else if constexpr (Method::error_estimate == ErrorEstimate::none) {
    throw std::invalid_argument(std::string("taynode::ad::solve_gradient: method ") + Method::name +
                                " has no error estimate: set options.fixed_steps");
  } else {
    auto rec = bp::record<Method>(d, z0, t0, t1, integrate, true, options);
    steps = std::move(rec.steps);
    out.z1 = std::move(rec.z1);
    out.r1 = std::move(rec.r1);
    out.nfe_forward = rec.stats.nfe;
    // Checkpoints by replaying the accepted steps with plain evaluations (z does not depend on r).
    m = every(steps.size());
    auto replay = bp::forward<Method>(d, z0, false, steps, &checkpoints, m);
    out.nfe_backward += replay.nfe;
  }
  out.forward_steps = out.backward_steps = steps.size();
  solve_gradient_detail::Cotangents<D> c(d);
  cotangents(std::as_const(out.z1), std::as_const(out.r1), c.z1_bar, c.r1_bar);
  std::size_t evaluations = 0, vjps = 0;
  const bool any = bp::backward<Method>(d, checkpoints, steps, c.z1_bar, c.r1_bar, out.z0_bar, evaluations, vjps, m);
  out.theta_bar = bp::parameter_gradient(d, any);
  out.nfe_backward += evaluations + vjps;
  return out;
}

// The continuous adjoint with Method and `options` both ways.
template <GradientDynamics D, class Method, class Cotangents>
SolveGradient<typename D::Real, typename D::Backend> solve_gradient(
    D& d, const typename D::Matrix& z0, typename D::Real t0, typename D::Real t1, Method,
    const SolveOptions<typename D::Real>& options, const Adjoint& method, Cotangents&& cotangents) {
  using T = typename D::Real;
  solve_backprop_detail::check_state(d, z0, "solve_gradient");
  adjoint_detail::check_options(options);
  AdjointResult<T, typename D::Backend> ar;
  const auto variant = method.forward == ForwardPass::plain ? AdjointVariant::aux : AdjointVariant::full;
  adjoint_detail::forward<Method>(d, z0, t0, t1, options, variant, ar);
  solve_gradient_detail::Cotangents<D> c(d);
  cotangents(std::as_const(ar.z1), std::as_const(ar.r1), c.z1_bar, c.r1_bar);
  adjoint_detail::backward<Method>(d, t0, t1, options, c.z1_bar, c.r1_bar, ar);
  SolveGradient<T, typename D::Backend> out;
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

// A network's dynamics on its workspace: ws (NetworkTaylor), adj (NetworkAdjoint(ws)) and the
// integrand `regularizer` (TaylorRegularizer{K, λ}, RnodeRegularizer{…}).
template <class T, class B, class Reg, class Method, class GradientMethod, class Cotangents>
  requires(requires(const Reg& r) { r.workspace_order(); } &&
           (std::is_same_v<GradientMethod, Backprop> || std::is_same_v<GradientMethod, Adjoint>))
SolveGradient<T, B> solve_gradient(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                   const typename B::template Matrix<T>& z0, std::type_identity_t<T> t0,
                                   std::type_identity_t<T> t1, const Reg& regularizer, Method method,
                                   const SolveOptions<T>& options, const GradientMethod& gradient,
                                   Cotangents&& cotangents) {
  NetworkDynamics<T, B, Reg> d(ws, adj, regularizer);
  return solve_gradient(d, z0, t0, t1, method, options, gradient, std::forward<Cotangents>(cotangents));
}

// R_K (K = 0: unregularized) with weight 1: the loss head applies λ through r̄.
template <class T, class B, class Method, class GradientMethod, class Cotangents>
  requires(std::is_same_v<GradientMethod, Backprop> || std::is_same_v<GradientMethod, Adjoint>)
SolveGradient<T, B> solve_gradient(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                   const typename B::template Matrix<T>& z0, std::type_identity_t<T> t0,
                                   std::type_identity_t<T> t1, int K, Method method, const SolveOptions<T>& options,
                                   const GradientMethod& gradient, Cotangents&& cotangents) {
  return solve_gradient(ws, adj, z0, t0, t1, TaylorRegularizer<T>{K}, method, options, gradient,
                        std::forward<Cotangents>(cotangents));
}

}  // namespace taynode::ad
