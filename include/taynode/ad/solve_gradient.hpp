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
//
// Losses at many output times: solve_gradient(d, z0, times, Method{}, options, Backprop|Adjoint,
// cotangents) with times = t_0 < t_1 < … < t_n and cotangents(z, r, z_bar, r_bar) over z(t_i) for
// every i → SolveGradientAtTimes (docs/ad.md, "Losses at many output times"). The single-time
// overloads are its n = 1 case.

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
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
  // With checkpoint_every = 1, also keep every step's stage derivatives (those a later stage reads:
  // RK4 3, Dopri5 5 per step): the backward pass rebuilds the stage inputs from them instead of
  // evaluating f again, that many plain evaluations per step fewer, for memory of (1 + that many)·N
  // states. false: re-evaluate (memory N states).
  bool keep_stages = true;
  // false: θ̄ stays where the dynamics accumulates it, in backend memory (for NetworkDynamics,
  // NetworkAdjoint::backend_gradient()), and theta_bar is left empty — on a device, no copy to the
  // host, so a training step on a fixed grid (with an optimizer on the device) runs without a host
  // synchronization and can be captured as one graph (docs/cuda.md, "Graphs").
  bool theta_bar_to_host = true;
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

// The same for a loss that reads z at many output times t_0 < t_1 < … < t_n.
template <class T, class B = backend::Cpu>
struct SolveGradientAtTimes {
  std::vector<typename B::template Matrix<T>> z;  // z(t_i), batch × D, i = 0 … n (z[0] = z0)
  typename B::template Vector<T> r;       // the integrand at t_n; 0 when inactive or plain
  typename B::template Matrix<T> z0_bar;  // dL/dz0, the cotangent at t_0 included
  nn::Sequential<T> theta_bar;            // dL/dθ, shaped like the network (host)
  std::size_t nfe_forward = 0;     // as SolveGradient's
  std::size_t nfe_backward = 0;
  std::size_t forward_steps = 0;
  std::size_t backward_steps = 0;  // adjoint: summed over the backward segments
};

namespace solve_gradient_detail {

// The caller's cotangents of z at every time (zero on entry) and of r at t_n.
template <class D>
struct LossCotangents {
  std::vector<typename D::Matrix> z_bar;
  typename D::Vector r_bar;
  LossCotangents(const D& d, std::size_t times) : z_bar(times), r_bar(solve_backprop_detail::zero_vector(d)) {
    for (auto& zb : z_bar) {
      zb.resize(d.batch(), d.dim());
      D::Backend::fill(zb.size(), typename D::Real(0), zb.data());
    }
    D::Backend::fill(r_bar.size(), typename D::Real(0), r_bar.data());
  }
  // The shapes, after the caller's callback: it may have resized what it was given.
  void check(const D& d, std::size_t times) const {
    if (z_bar.size() != times)
      throw std::invalid_argument("taynode::ad::solve_gradient: the cotangents need one matrix per time (" +
                                  std::to_string(times) + "), got " + std::to_string(z_bar.size()));
    for (std::size_t i = 0; i < times; ++i)
      solve_backprop_detail::check_state(d, z_bar[i], "solve_gradient", ("z_bar[" + std::to_string(i) + "]").c_str());
    solve_backprop_detail::check_integrand(d, r_bar, "solve_gradient");
  }
};

// z0_bar += the cotangent at t_0.
template <class D>
void add_initial_cotangent(const D&, typename D::Matrix& z0_bar, const typename D::Matrix& z0_direct) {
  D::Backend::axpy(Index(z0_direct.size()), typename D::Real(1), z0_direct.data(), z0_bar.data());
}

// times: t_0 (the initial time) and the output times, strictly monotone and finite.
template <class T>
void check_times(const std::vector<T>& times) {
  using std::isfinite;
  const std::string what = "taynode::ad::solve_gradient: ";
  if (times.size() < 2)
    throw std::invalid_argument(what + "times needs t_0 and at least one output time, got " +
                                std::to_string(times.size()) + " time(s)");
  for (std::size_t i = 0; i < times.size(); ++i)
    if (!isfinite(times[i]))
      throw std::invalid_argument(what + "times[" + std::to_string(i) + "] is not finite");
  const bool increasing = times[1] > times[0];
  for (std::size_t i = 1; i < times.size(); ++i) {
    if (times[i] == times[i - 1])
      throw std::invalid_argument(what + "times[" + std::to_string(i) + "] = " + std::to_string(times[i]) +
                                  " repeats times[" + std::to_string(i - 1) + "]");
    if ((times[i] > times[i - 1]) != increasing)
      throw std::invalid_argument(what + "times must be sorted (strictly " +
                                  (increasing ? "increasing" : "decreasing") + "), but times[" +
                                  std::to_string(i - 1) + "] = " + std::to_string(times[i - 1]) + " and times[" +
                                  std::to_string(i) + "] = " + std::to_string(times[i]));
  }
}

// The steps of Backprop: options.fixed_steps > 0 → that grid over the span; otherwise Method's
// adaptive solve (recorded, then replayed for the checkpoints). Every output time is reported as
// taynode::solve reports it (dense output inside a step) and its cotangent pulled back the same
// way. `add_initial`: z0_bar += ∂L/∂z(t_0) (the single-time overloads have none to add).
template <GradientDynamics D, class Method, class Cotangents>
SolveGradientAtTimes<typename D::Real, typename D::Backend> backprop(
    D& d, const typename D::Matrix& z0, const std::vector<typename D::Real>& times,
    const SolveOptions<typename D::Real>& options, const Backprop& method, Cotangents& cotangents, bool add_initial) {
  using T = typename D::Real;
  using Mat = typename D::Matrix;
  namespace bp = solve_backprop_detail;
  bp::check_state(d, z0, "solve_gradient");
  check_times(times);
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::solve_gradient: fixed_step_size unsupported; use fixed_steps");
  // The forward integrates the integrand only when its value is wanted.
  const bool integrate = method.forward == ForwardPass::augmented && d.integrand_active();
  const bool inside = times.size() > 2;
  SolveGradientAtTimes<T, typename D::Backend> out;
  StepSequence<T> steps;
  std::vector<Mat> checkpoints, z_inside;
  auto every = [&](std::size_t n) {
    if (method.checkpoint_every > 0) return method.checkpoint_every;
    std::size_t m = 1;
    while (m * m < n) ++m;
    return m;
  };
  std::size_t m = 1;
  Mat z1;
  std::vector<bp::State<D>> kept;
  auto kept_if = [&](std::size_t every_m) { return method.keep_stages && every_m == 1 ? &kept : nullptr; };
  if (options.fixed_steps > 0) {
    steps = fixed_grid(times.front(), times.back(), int(options.fixed_steps));
    m = every(steps.size());
    auto fwd = bp::forward<Method>(d, z0, integrate, steps, &checkpoints, m, inside ? &times : nullptr, kept_if(m));
    z1 = std::move(fwd.z1);
    out.r = std::move(fwd.r1);
    z_inside = std::move(fwd.z_inside);
    out.nfe_forward = fwd.nfe;
  } else if constexpr (Method::error_estimate == ErrorEstimate::none) {
    throw std::invalid_argument(std::string("taynode::ad::solve_gradient: method ") + Method::name +
                                " has no error estimate: set options.fixed_steps");
  } else {
    auto rec = bp::record<Method>(d, z0, times, integrate, true, options);
    steps = std::move(rec.steps);
    z1 = std::move(rec.z1);
    out.r = std::move(rec.r1);
    z_inside = std::move(rec.z_inside);
    out.nfe_forward = rec.stats.nfe;
    // Checkpoints by replaying the accepted steps with plain evaluations (z does not depend on r).
    m = every(steps.size());
    auto replay = bp::forward<Method>(d, z0, false, steps, &checkpoints, m, nullptr, kept_if(m));
    out.nfe_backward += replay.nfe;
  }
  out.forward_steps = out.backward_steps = steps.size();
  out.z.reserve(times.size());
  out.z.push_back(z0);
  for (auto& z : z_inside) out.z.push_back(std::move(z));
  out.z.push_back(std::move(z1));
  LossCotangents<D> c(d, times.size());
  cotangents(std::as_const(out.z), std::as_const(out.r), c.z_bar, c.r_bar);
  c.check(d, times.size());
  // The cotangents at the output times inside the span, where the loop reported those states.
  bp::OutputCotangents<bp::State<D>, T> outputs;
  bp::place_outputs(
      times, steps,
      [&](std::size_t i, std::size_t n, T theta) {
        outputs.inside.push_back({n, theta, bp::State<D>{c.z_bar[i], bp::zero_vector(d), false}});
      },
      [&](std::size_t i, std::size_t n) {
        outputs.at_end.push_back({n, bp::State<D>{c.z_bar[i], bp::zero_vector(d), false}});
      });
  std::size_t evaluations = 0, vjps = 0;
  const bool any = bp::backward<Method>(d, checkpoints, steps, c.z_bar.back(), c.r_bar, out.z0_bar, evaluations, vjps,
                                        m, inside ? &outputs : nullptr, kept_if(m));
  if (add_initial) add_initial_cotangent(d, out.z0_bar, c.z_bar.front());
  if (method.theta_bar_to_host)
    out.theta_bar = bp::parameter_gradient(d, any);
  else if (!any)  // (not reached: the checked times give at least one step)
    throw std::logic_error("taynode::ad::solve_gradient: no step was differentiated, θ̄ was not written");
  out.nfe_backward += evaluations + vjps;
  return out;
}

// The continuous adjoint with Method and `options` both ways: the forward solves through the
// output times (dense output, as taynode::solve), the backward in segments between them
// (adjoint_detail::backward).
template <GradientDynamics D, class Method, class Cotangents>
SolveGradientAtTimes<typename D::Real, typename D::Backend> adjoint(
    D& d, const typename D::Matrix& z0, const std::vector<typename D::Real>& times,
    const SolveOptions<typename D::Real>& options, const Adjoint& method, Cotangents& cotangents, bool add_initial) {
  using T = typename D::Real;
  using Mat = typename D::Matrix;
  solve_backprop_detail::check_state(d, z0, "solve_gradient");
  check_times(times);
  adjoint_detail::check_options(options);
  AdjointResult<T, typename D::Backend> ar;
  const auto variant = method.forward == ForwardPass::plain ? AdjointVariant::aux : AdjointVariant::full;
  std::vector<Mat> z_inside;
  adjoint_detail::forward<Method>(d, z0, times, options, variant, ar, &z_inside);
  SolveGradientAtTimes<T, typename D::Backend> out;
  out.z.reserve(times.size());
  out.z.push_back(z0);
  for (auto& z : z_inside) out.z.push_back(std::move(z));
  out.z.push_back(std::move(ar.z1));
  out.r = std::move(ar.r1);
  LossCotangents<D> c(d, times.size());
  cotangents(std::as_const(out.z), std::as_const(out.r), c.z_bar, c.r_bar);
  c.check(d, times.size());
  ar.z1 = out.z.back();  // the backward starts from it
  const std::vector<Mat> z_at(out.z.begin() + 1, out.z.end() - 1), z_bar_at(c.z_bar.begin() + 1, c.z_bar.end() - 1);
  adjoint_detail::backward<Method>(d, times, options, c.z_bar.back(), c.r_bar, ar, z_at, z_bar_at);
  out.z0_bar = std::move(ar.z0_bar);
  if (add_initial) add_initial_cotangent(d, out.z0_bar, c.z_bar.front());
  out.theta_bar = std::move(ar.theta_bar);
  out.nfe_forward = ar.nfe_forward;
  out.nfe_backward = ar.nfe_backward;
  out.forward_steps = ar.forward_stats.accepted_steps;
  out.backward_steps = ar.backward_stats.accepted_steps;
  return out;
}

// The gradient method's driver.
template <GradientDynamics D, class Method, class GradientMethod, class Cotangents>
SolveGradientAtTimes<typename D::Real, typename D::Backend> run(
    D& d, const typename D::Matrix& z0, const std::vector<typename D::Real>& times,
    const SolveOptions<typename D::Real>& options, const GradientMethod& method, Cotangents& cotangents,
    bool add_initial) {
  if constexpr (std::is_same_v<GradientMethod, Backprop>)
    return backprop<D, Method>(d, z0, times, options, method, cotangents, add_initial);
  else
    return adjoint<D, Method>(d, z0, times, options, method, cotangents, add_initial);
}

// The single-time result from the multi-time one (n = 1).
template <class T, class B>
SolveGradient<T, B> at_end(SolveGradientAtTimes<T, B>&& g) {
  SolveGradient<T, B> out;
  out.z1 = std::move(g.z.back());
  out.r1 = std::move(g.r);
  out.z0_bar = std::move(g.z0_bar);
  out.theta_bar = std::move(g.theta_bar);
  out.nfe_forward = g.nfe_forward;
  out.nfe_backward = g.nfe_backward;
  out.forward_steps = g.forward_steps;
  out.backward_steps = g.backward_steps;
  return out;
}

// A single-time loss head cotangents(z1, r1, z̄1, r̄1) as a multi-time one over {t0, t1}.
template <class Cotangents>
auto at_end(Cotangents& cotangents) {
  return [&cotangents](const auto& z, const auto& r, auto& z_bar, auto& r_bar) {
    cotangents(z.back(), r, z_bar.back(), r_bar);
  };
}

}  // namespace solve_gradient_detail

// z(t1) and r(t1) only: Backprop through the steps of Method (options.fixed_steps > 0 → that fixed
// grid; otherwise the accepted steps of an adaptive solve with `options`), or the continuous
// Adjoint with Method and `options` both ways. The n = 1 case of the overload below.
template <GradientDynamics D, class Method, class GradientMethod, class Cotangents>
  requires(std::is_same_v<GradientMethod, Backprop> || std::is_same_v<GradientMethod, Adjoint>)
SolveGradient<typename D::Real, typename D::Backend> solve_gradient(
    D& d, const typename D::Matrix& z0, typename D::Real t0, typename D::Real t1, Method,
    const SolveOptions<typename D::Real>& options, const GradientMethod& method, Cotangents&& cotangents) {
  auto head = solve_gradient_detail::at_end(cotangents);
  return solve_gradient_detail::at_end(solve_gradient_detail::run<D, Method>(
      d, z0, std::vector<typename D::Real>{t0, t1}, options, method, head, false));
}

// A loss that reads z at every time of `times` = t_0 (the initial time), t_1, …, t_n (strictly
// increasing, or strictly decreasing to integrate backward; std::invalid_argument otherwise):
//   L = loss(z(t_0), …, z(t_n)) + Σ_b r̄_b r_b(t_n).
// `cotangents(z, r, z_bar, r_bar)` gets z(t_i) for every i (z[0] = z0) and r(t_n), and fills
// z_bar[i] = ∂L/∂z(t_i) (zero on entry, batch × D each) and r̄. The solver does not stop at the
// output times: they are served by the method's dense output inside the step that contains them,
// bit for bit as taynode::solve(f, z0, times, …) reports them. Backprop pulls each z̄(t_i) back
// through that interpolation (linear in the step's start and its stages); Adjoint jumps
// a += z̄(t_i) at each t_i (adjoint_detail::backward). z0_bar includes z̄(t_0).
template <GradientDynamics D, class Method, class GradientMethod, class Cotangents>
  requires(std::is_same_v<GradientMethod, Backprop> || std::is_same_v<GradientMethod, Adjoint>)
SolveGradientAtTimes<typename D::Real, typename D::Backend> solve_gradient(
    D& d, const typename D::Matrix& z0, const std::vector<typename D::Real>& times, Method,
    const SolveOptions<typename D::Real>& options, const GradientMethod& method, Cotangents&& cotangents) {
  return solve_gradient_detail::run<D, Method>(d, z0, times, options, method, cotangents, true);
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

// The same over many output times (the multi-time overload above).
template <class T, class B, class Reg, class Method, class GradientMethod, class Cotangents>
  requires(requires(const Reg& r) { r.workspace_order(); } &&
           (std::is_same_v<GradientMethod, Backprop> || std::is_same_v<GradientMethod, Adjoint>))
SolveGradientAtTimes<T, B> solve_gradient(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                          const typename B::template Matrix<T>& z0,
                                          const std::vector<std::type_identity_t<T>>& times, const Reg& regularizer,
                                          Method method, const SolveOptions<T>& options,
                                          const GradientMethod& gradient, Cotangents&& cotangents) {
  NetworkDynamics<T, B, Reg> d(ws, adj, regularizer);
  return solve_gradient(d, z0, times, method, options, gradient, std::forward<Cotangents>(cotangents));
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

template <class T, class B, class Method, class GradientMethod, class Cotangents>
  requires(std::is_same_v<GradientMethod, Backprop> || std::is_same_v<GradientMethod, Adjoint>)
SolveGradientAtTimes<T, B> solve_gradient(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                          const typename B::template Matrix<T>& z0,
                                          const std::vector<std::type_identity_t<T>>& times, int K, Method method,
                                          const SolveOptions<T>& options, const GradientMethod& gradient,
                                          Cotangents&& cotangents) {
  return solve_gradient(ws, adj, z0, times, TaylorRegularizer<T>{K}, method, options, gradient,
                        std::forward<Cotangents>(cotangents));
}

}  // namespace taynode::ad

#if defined(TAYNODE_EXTERN_INSTANCES) || defined(TAYNODE_EXTERN_INSTANCES_DOUBLE) || defined(TAYNODE_EXTERN_INSTANCES_FLOAT)
#include "taynode/ad/instances.hpp"  // the sweeps compiled once elsewhere (taynode/instantiate.hpp)
#endif
