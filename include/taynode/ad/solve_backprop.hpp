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
// Both sweeps run on the ODE stepper: the forward sweep is taynode's integration loop with the
// step-replay controller (StepReplayController), keeping the state at the start of every m-th
// step; the reverse sweep is RungeKuttaStepAdjoint (ode/stepper.hpp) step by step, last to
// first: it recomputes the stage inputs of one step from its checkpoint (plain f evaluations)
// with the forward's combinations, then reverses the step:
//   y1 = y0 + h Σ b_i k_i,  k_i = F(t0 + c_i h, Y_i),  Y_i = y0 + h Σ_{j<i} a_ij k_j
//   k̄_i = h (b_i ȳ1 + Σ_{j>i} a_ji Ȳ_j),  Ȳ_i = VJP of F at Y_i,  ȳ0 = ȳ1 + Σ Ȳ_i.
// The state is the augmented [z, r]; nothing depends on r, so its cotangent stays r̄1 and the r
// part of k̄_i is h b_i r̄1; the VJP of F at a stage is ad::vjp_taylor_integrand(…, f̄ = k̄_i.z,
// r̄ = k̄_i.r) (vjp_dynamics for K = 0), θ̄ accumulated over all stages and steps. The reverse
// sweep skips stages that no later stage and no b_i use (Dopri5's FSAL stage 7); the forward
// evaluates it, as the solver does (it is the next step's first stage). Cost: forward s Taylor
// passes of order K per step (FSAL: s − 1); backward the plain evaluations of the stages that
// feed later ones + one (Taylor pass + reverse) per used stage and step. The sweeps themselves
// (replay, reverse) are generic over the state and the callables that evaluate a stage and its
// VJP.
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

#include "taynode/ad/dynamics.hpp"
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

template <class T, class B = backend::Cpu>
struct ForwardResult {
  typename B::template Matrix<T> z1;
  typename B::template Vector<T> r1;
  std::size_t nfe = 0;  // evaluations of the augmented dynamics
  // z at the output times strictly inside the span (times[1 .. n−1] of a sweep given output
  // times; empty otherwise), by the method's dense output as taynode::solve reports them.
  std::vector<typename B::template Matrix<T>> z_inside;
};

template <class T, class B = backend::Cpu>
struct RecordedSolve {
  StepSequence<T> steps;
  SolveStatistics<T> stats;
  typename B::template Matrix<T> z1;  // the adaptive solver's own final state
  typename B::template Vector<T> r1;
  std::vector<typename B::template Matrix<T>> z_inside;  // z at times[1 .. n−1] (ForwardResult's)
};

template <class T, class B = backend::Cpu>
struct BackpropResult {
  typename B::template Matrix<T> z1;      // batch × D
  typename B::template Vector<T> r1;      // batch (0 for K = 0)
  typename B::template Matrix<T> z0_bar;  // dL/dz0
  nn::Sequential<T> theta_bar;            // dL/dθ, shaped like the network (host)
  std::size_t nfe = 0;  // forward evaluations of [f, r'] (recording solve included)
  std::size_t backward_evaluations = 0;  // plain f evaluations recomputing stage inputs
  std::size_t vjps = 0;                  // VJP calls (one per used stage and step)
  std::size_t steps = 0;
  StepSequence<T> step_sequence;
};

namespace solve_backprop_detail {

// The forward sweep: the integration loop with the step-replay controller along `steps`, from y
// (which ends as the final state); f(t, y, dy) evaluates the dynamics in place, on_step(t, y_n, h)
// sees the state at the start of every step. With `times` (times.front(), times.back() the
// steps' ends) the states at times[1 ..] go to *outputs, as taynode::solve reports them (dense
// output inside a step). Returns the evaluations of f.
template <class Method, class S, class F, class OnStep>
std::size_t replay(F& f, S& y, const StepSequence<typename VectorSpace<S>::Real>& steps, OnStep&& on_step,
                   const std::vector<typename VectorSpace<S>::Real>* times = nullptr,
                   std::vector<S>* outputs = nullptr) {
  using Real = typename VectorSpace<S>::Real;
  if (steps.size() == 0) return 0;
  std::size_t nfe = 0;
  ode_detail::CountingRhs<F, S, Real> rhs{{f}, nfe};
  RungeKuttaStepper<Method, S> st;
  st.init(y);
  rhs(steps.t.front(), y, st.stage0());
  const std::vector<Real> span{steps.t.front(), steps.t.back()};
  Solution<S, Real> ends;  // the loop's outputs (y holds the last one as well)
  integrate(st, rhs, y, times ? *times : span,
            StepReplayController<Real>(steps.t, steps.h, /*check_finite=*/false), Tolerances<Real>{},
            IntegrationLimits{steps.size()}, ends, on_step);
  if (outputs) *outputs = std::move(ends.y);
  return nfe;
}

// Cotangents of the states the integration loop reports at output times (InterpolatedOutputs):
// those strictly inside step n, the dense output at θ = (τ − t_n)/h_n, and those on the end
// t_{n+1} of a step n < N − 1 (y_{n+1}; the last step's end is the reverse sweep's start).
template <class S, class Real>
struct OutputCotangents {
  struct Inside {
    std::size_t step;
    Real theta;
    S bar;
  };
  struct AtEnd {
    std::size_t step;
    S bar;
  };
  std::vector<Inside> inside;  // in step order
  std::vector<AtEnd> at_end;   // in step order
};

// Where the loop serves each output time times[1 .. n−1] on `steps` (as InterpolatedOutputs
// does: inside step n while τ is short of its end t_{n+1}, by y_{n+1} on it): calls
// inside(i, n, θ) or at_end(i, n) for each.
template <class Real, class Inside, class AtEnd>
void place_outputs(const std::vector<Real>& times, const StepSequence<Real>& steps, Inside&& inside, AtEnd&& at_end) {
  const Real dir = steps.t.back() > steps.t.front() ? Real(1) : Real(-1);
  std::size_t n = 0;
  for (std::size_t i = 1; i + 1 < times.size(); ++i) {
    while ((times[i] - steps.t[n + 1]) * dir > Real(0)) ++n;
    if (times[i] == steps.t[n + 1])
      at_end(i, n);
    else
      inside(i, n, (times[i] - steps.t[n]) / steps.h[n]);
  }
}

// The stage derivatives a forward sweep keeps for the reverse (Backprop::keep_stages): those of
// the stages that feed a later stage, `count` per step, stage j in slot[j] of its step's.
template <class Method>
struct KeptStages {
  static constexpr auto feeds = ode_detail::StageUse<Method>::feeds;
  static constexpr std::size_t count = [] {
    std::size_t c = 0;
    for (bool f : feeds) c += f ? 1 : 0;
    return c;
  }();
  static constexpr auto slot = [] {
    std::array<std::size_t, Method::stages> s{};
    std::size_t c = 0;
    for (std::size_t j = 0; j < Method::stages; ++j) s[j] = feeds[j] ? c++ : Method::stages;
    return s;
  }();
  template <class Stepper, class S>
  static void keep(const Stepper& st, std::vector<S>& out) {
    for (std::size_t j = 0; j < Method::stages; ++j)
      if (feeds[j]) out.push_back(st.stage(j));
  }
};

// The reverse sweep along `steps`, last step first: ybar holds the cotangent of the final state
// on entry and that of the initial state on exit. state_at(n) gives the state at the start of
// step n (called for n = N−1, …, 0); f(t, Y, k) evaluates a stage, vjp(t, Y, k̄, Ȳ) pulls a
// stage's cotangent back (accumulating parameter cotangents itself). Adds its f and vjp calls to
// *evaluations and *vjps. `outputs` (if not null): cotangents of states at output times between
// the ends, added on a step's end or pulled back through the dense output of the step they fall
// in (that step's reverse then runs over DenseStageGraph: its endpoint stage and DOP853's extra
// stages too).
// `kept` (if not null): the forward sweep's stage derivatives (KeptStages, step by step), from
// which the stage inputs are rebuilt without evaluating f (steps with an output inside still
// evaluate: their dense graph has stages the forward step did not compute).
template <class Method, class S, class F, class Vjp, class StateAt>
void reverse(F& f, Vjp& vjp, StateAt&& state_at, const StepSequence<typename VectorSpace<S>::Real>& steps,
             S& ybar, std::size_t& evaluations, std::size_t& vjps,
             const OutputCotangents<S, typename VectorSpace<S>::Real>* outputs = nullptr,
             const std::vector<S>* kept = nullptr) {
  using Real = typename VectorSpace<S>::Real;
  if (steps.size() == 0) return;
  RungeKuttaStepAdjoint<Method, S> step;
  step.init(ybar);
  RungeKuttaStepAdjoint<Method, S, /*DenseOutput=*/true> dense_step;
  const bool any_inside = outputs && !outputs->inside.empty();
  if (any_inside) dense_step.init(ybar);
  auto inside = outputs ? outputs->inside.rbegin() : decltype(outputs->inside.rbegin()){};
  auto at_end = outputs ? outputs->at_end.rbegin() : decltype(outputs->at_end.rbegin()){};
  for (std::size_t n = steps.size(); n-- > 0;) {
    for (; outputs && at_end != outputs->at_end.rend() && at_end->step == n; ++at_end)
      VectorSpace<S>::add_scaled(ybar, ybar, Real(1), std::array<Real, 1>{Real(1)}, at_end->bar);
    const S& y = state_at(n);
    if (any_inside && inside != outputs->inside.rend() && inside->step == n) {
      evaluations += dense_step.recompute(f, steps.t[n], y, steps.h[n]);
      for (; inside != outputs->inside.rend() && inside->step == n; ++inside)
        dense_step.add_output_cotangent(inside->theta, inside->bar);
      vjps += dense_step.reverse(vjp, steps.t[n], y, steps.h[n], ybar);
    } else if (kept) {
      step.restore(y, steps.h[n], [&](std::size_t j) -> const S& {
        return (*kept)[n * KeptStages<Method>::count + KeptStages<Method>::slot[j]];
      });
      vjps += step.reverse(vjp, steps.t[n], y, steps.h[n], ybar);
    } else {
      evaluations += step.recompute(f, steps.t[n], y, steps.h[n]);
      vjps += step.reverse(vjp, steps.t[n], y, steps.h[n], ybar);
    }
  }
}

// The state of both sweeps: [z, r] of a dynamics (r is not in any error norm: the steps are given).
template <class D>
using State = Augmented<typename D::Matrix, typename D::Vector>;

// The integrand's value 0: a dynamics with several integrand channels per example (a CNF's Δlogp
// and its regularizer) gives its shape by zero_integrand(); otherwise one entry per example.
template <class D>
typename D::Vector zero_vector(const D& d) {
  if constexpr (requires { d.zero_integrand(); }) {
    return d.zero_integrand();
  } else {
    typename D::Vector v(d.batch());
    D::Backend::fill(d.batch(), typename D::Real(0), v.data());
    return v;
  }
}

template <class D, class Z>
void check_state(const D& d, const Z& z, const char* what, const char* name = "z0") {
  if (Index(z.rows()) != d.batch() || Index(z.cols()) != d.dim())
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": " + name + " must be batch × dim (" +
                                std::to_string(d.batch()) + " × " + std::to_string(d.dim()) + "), got " +
                                std::to_string(z.rows()) + " × " + std::to_string(z.cols()));
}
template <class D, class R>
void check_integrand(const D& d, const R& r, const char* what) {
  const Index n = Index(zero_vector(d).size());
  if (Index(r.size()) != n)
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": r1_bar needs " + std::to_string(n) +
                                " entries (the integrand's), got " + std::to_string(r.size()));
}

// Forward sweep of [z, r] over the steps (r integrated only `with_integrand`); `checkpoints` (if
// not null) receives z_n for n = 0, m, 2m, … < N (m = `every`; 1: every state), `kept` (if not
// null) every step's stage derivatives that reverse() rebuilds the stage inputs from. With `times`
// (t0, output times, t1 as the steps' ends) z at the output times inside goes to res.z_inside.
template <class Method, GradientDynamics D>
ForwardResult<typename D::Real, typename D::Backend> forward(
    D& d, const typename D::Matrix& z0, bool with_integrand, const StepSequence<typename D::Real>& steps,
    std::vector<typename D::Matrix>* checkpoints, std::size_t every = 1,
    const std::vector<typename D::Real>* times = nullptr, std::vector<State<D>>* kept = nullptr) {
  using T = typename D::Real;
  State<D> y{z0, zero_vector(d), false};
  auto f = [&](T t, const State<D>& s, State<D>& ds) {
    if (with_integrand) {
      d.evaluate(t, s.z, ds.z, ds.r);
    } else {
      d.evaluate(t, s.z, ds.z);
      D::Backend::fill(ds.r.size(), T(0), ds.r.data());
    }
  };
  if (checkpoints) checkpoints->clear();
  if (kept) {
    kept->clear();
    kept->reserve(steps.size() * KeptStages<Method>::count);
  }
  std::size_t n = 0;
  ForwardResult<T, typename D::Backend> res;
  std::vector<State<D>> outputs;
  res.nfe = replay<Method>(
      f, y, steps,
      [&](T, const State<D>& yn, T, const auto& st) {
        if (checkpoints && n % every == 0) checkpoints->push_back(yn.z);
        if (kept) KeptStages<Method>::keep(st, *kept);
        ++n;
      },
      times, &outputs);
  if (times)
    for (std::size_t i = 0; i + 1 < outputs.size(); ++i) res.z_inside.push_back(std::move(outputs[i].z));
  res.z1 = std::move(y.z);
  res.r1 = std::move(y.r);
  return res;
}

// Adaptive solve of [z, r] with taynode::solve (record_step_sizes forced on) over `times` (t0,
// output times, t1): its accepted steps, z at the output times inside (z_inside) and at t1. r
// takes part in error control if `r_in_error_control` and it is integrated (an r ≡ 0 would
// dilute the RMS norm).
template <class Method, GradientDynamics D>
RecordedSolve<typename D::Real, typename D::Backend> record(D& d, const typename D::Matrix& z0,
                                                             const std::vector<typename D::Real>& times,
                                                             bool with_integrand, bool r_in_error_control,
                                                             SolveOptions<typename D::Real> options) {
  using T = typename D::Real;
  options.record_step_sizes = true;
  auto rhs = [&](T t, const State<D>& y, State<D>& dy) {
    if (with_integrand) {
      d.evaluate(t, y.z, dy.z, dy.r);
    } else {
      d.evaluate(t, y.z, dy.z);
      D::Backend::fill(dy.r.size(), T(0), dy.r.data());
    }
  };
  auto sol = solve(rhs, State<D>{z0, zero_vector(d), with_integrand && r_in_error_control}, times, Method{}, options);
  RecordedSolve<T, typename D::Backend> rec;
  rec.steps = from_step_sizes(times.front(), times.back(), sol.stats.step_sizes);
  for (std::size_t i = 1; i + 1 < sol.y.size(); ++i) rec.z_inside.push_back(std::move(sol.y[i].z));
  rec.z1 = std::move(sol.y.back().z);
  rec.r1 = std::move(sol.y.back().r);
  rec.stats = std::move(sol.stats);
  return rec;
}

// The reverse sweep along `steps` from the checkpoints z_n (n = 0, m, 2m, … with m = `every`) of a
// forward sweep, with the cotangents (z̄1, r̄1) of the final state: returns dL/dz0 and leaves dL/dθ
// in d (written over, then accumulated); adds to *evaluations, *vjps. With m > 1 the states of one
// segment [jm, jm + m) are recomputed from z_jm by plain evaluations when the sweep enters it
// (memory N/m + m states instead of N; each step's plain evaluations once more). Returns false
// if there was no step (d's parameter cotangent then untouched). `outputs`: cotangents of z at
// output times between the ends (reverse()), their r parts zero. `kept` (with m = 1): the forward
// sweep's stage derivatives, so no plain evaluation rebuilds the stage inputs.
template <class Method, GradientDynamics D>
bool backward(D& d, const std::vector<typename D::Matrix>& checkpoints, const StepSequence<typename D::Real>& steps,
              const typename D::Matrix& z1_bar, const typename D::Vector& r1_bar, typename D::Matrix& z0_bar,
              std::size_t& evaluations, std::size_t& vjps, std::size_t every = 1,
              const OutputCotangents<State<D>, typename D::Real>* outputs = nullptr,
              const std::vector<State<D>>* kept = nullptr) {
  using T = typename D::Real;
  using Mat = typename D::Matrix;
  check_state(d, z1_bar, "backprop", "z1_bar");
  check_integrand(d, r1_bar, "backprop");
  State<D> ybar{z1_bar, r1_bar, false};         // ȳ_{n+1}, then ȳ_n
  State<D> y_n{z1_bar, zero_vector(d), false};  // z_n as a state (r is not read)
  std::vector<Mat> segment;  // z_b … z_{b+m−1} of the current segment (every > 1)
  std::size_t segment_begin = steps.size();
  auto state_at = [&](std::size_t n) -> const State<D>& {
    if (every == 1) {
      y_n.z = checkpoints[n];
      return y_n;
    }
    const std::size_t b = n / every * every, e = std::min(b + every, steps.size());
    if (b != segment_begin) {  // z_b is stored; steps b … e−2 give z_{b+1} … z_{e−1}
      StepSequence<T> part;
      part.t.assign(steps.t.begin() + std::ptrdiff_t(b), steps.t.begin() + std::ptrdiff_t(e));
      part.h.assign(steps.h.begin() + std::ptrdiff_t(b), steps.h.begin() + std::ptrdiff_t(e - 1));
      auto fwd = forward<Method>(d, checkpoints[b / every], false, part, &segment);
      segment.push_back(std::move(fwd.z1));
      evaluations += fwd.nfe;
      segment_begin = b;
    }
    y_n.z = segment[n - b];
    return y_n;
  };
  // Stage inputs by plain evaluations (no Taylor pass: only z enters later stage inputs).
  auto f = [&](T t, const State<D>& y, State<D>& k) {
    d.evaluate(t, y.z, k.z);
    D::Backend::fill(k.r.size(), T(0), k.r.data());
  };
  bool first = true;
  auto vjp = [&](T t, const State<D>& y, const State<D>& kbar, State<D>& ybar_stage) {
    d.vjp(t, y.z, kbar.z, kbar.r, !first);
    first = false;
    const auto zb = d.z_bar();
    backend::assign<typename D::Backend>(ybar_stage.z, backend::MatrixView<const T>(zb.data(), zb.rows(), zb.cols()));
    D::Backend::fill(ybar_stage.r.size(), T(0), ybar_stage.r.data());
  };
  reverse<Method>(f, vjp, state_at, steps, ybar, evaluations, vjps, outputs, every == 1 ? kept : nullptr);
  z0_bar = std::move(ybar.z);
  return !first;
}

// θ̄ of d on the host; zero if `any` is false (no VJP ran).
template <GradientDynamics D>
nn::Sequential<typename D::Real> parameter_gradient(const D& d, bool any) {
  nn::Sequential<typename D::Real> g = d.gradient();
  if (!any) nn::for_each_parameter(g, [](auto& p) { p.setZero(); });
  return g;
}

template <class T>
void check_steps(const StepSequence<T>& steps, const char* what) {
  if (steps.t.size() != steps.h.size() + 1)
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": steps.t needs one more entry than steps.h");
}

template <class T, class B>
void check_order(const NetworkTaylor<T, B>& ws, int K, const char* what) {
  if (K < 0 || K > ws.max_order())
    throw std::invalid_argument(std::string("taynode::ad::") + what + ": 0 <= K <= ws.max_order()");
}

}  // namespace solve_backprop_detail

// Forward only: [z1, r1] after the given steps of Method (r0 = 0; r is R_K).
template <class Method, class T, class B>
ForwardResult<T, B> solve_steps(NetworkTaylor<T, B>& ws, const typename B::template Matrix<T>& z0, int K,
                                const StepSequence<T>& steps, Method = {}) {
  namespace d = solve_backprop_detail;
  d::check_order(ws, K, "solve_steps");
  NetworkDynamics<T, B> dyn(ws, TaylorRegularizer<T>{K});
  d::check_state(dyn, z0, "solve_steps");
  d::check_steps(steps, "solve_steps");
  return d::forward<Method>(dyn, z0, true, steps, nullptr);
}

// Adaptive solve of [z, r] with taynode::solve (record_step_sizes forced on); its accepted steps.
template <class T, class B, class Method>
RecordedSolve<T, B> record_steps(NetworkTaylor<T, B>& ws, const typename B::template Matrix<T>& z0, T t0, T t1, int K,
                                 Method, SolveOptions<T> options = {}, bool r_in_error_control = true) {
  namespace d = solve_backprop_detail;
  d::check_order(ws, K, "record_steps");
  NetworkDynamics<T, B> dyn(ws, TaylorRegularizer<T>{K});
  d::check_state(dyn, z0, "record_steps");
  return d::record<Method>(dyn, z0, std::vector<T>{t0, t1}, K > 0, r_in_error_control, std::move(options));
}

// Reverse of the discrete solve along `steps`: L's cotangents z̄1 (batch × D) and r̄1 (batch) →
// dL/dz0, dL/dθ. adj must belong to ws (NetworkAdjoint(ws)); both are reused, not reallocated.
template <class Method, class T, class B>
BackpropResult<T, B> backprop_steps(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                    const typename B::template Matrix<T>& z0, int K, const StepSequence<T>& steps,
                                    const typename B::template Matrix<T>& z1_bar,
                                    const typename B::template Vector<T>& r1_bar, Method = {}) {
  namespace d = solve_backprop_detail;
  d::check_order(ws, K, "backprop_steps");
  NetworkDynamics<T, B> dyn(ws, adj, TaylorRegularizer<T>{K});
  d::check_state(dyn, z0, "backprop_steps");
  d::check_steps(steps, "backprop_steps");
  d::check_state(dyn, z1_bar, "backprop_steps", "z1_bar");
  d::check_integrand(dyn, r1_bar, "backprop_steps");
  std::vector<typename B::template Matrix<T>> checkpoints;
  auto fwd = d::forward<Method>(dyn, z0, true, steps, &checkpoints);
  BackpropResult<T, B> res;
  res.z1 = std::move(fwd.z1);
  res.r1 = std::move(fwd.r1);
  res.nfe = fwd.nfe;
  res.steps = steps.size();
  res.step_sequence = steps;
  const bool any = d::backward<Method>(dyn, checkpoints, steps, z1_bar, r1_bar, res.z0_bar, res.backward_evaluations,
                                       res.vjps);
  res.theta_bar = d::parameter_gradient(dyn, any);
  return res;
}

// One call: options.fixed_steps > 0 → taynode::solve's fixed grid (no separate solve); otherwise
// an adaptive solve records its accepted steps (record_steps), then backprop_steps replays them.
// The replay runs the solver's stepper and loop on the recorded steps, so z1, r1 are formed by the
// adaptive solver's operations; the gradients are those of the replayed map. options.fixed_step_size
// is not supported here (build a StepSequence).
template <class T, class B, class Method>
BackpropResult<T, B> backprop_solve(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj,
                                    const typename B::template Matrix<T>& z0, T t0, T t1, int K, Method method,
                                    const SolveOptions<T>& options, const typename B::template Matrix<T>& z1_bar,
                                    const typename B::template Vector<T>& r1_bar, bool r_in_error_control = true) {
  if (options.fixed_step_size != T(0))
    throw std::invalid_argument("taynode::ad::backprop_solve: fixed_step_size unsupported; use fixed_steps or a StepSequence");
  if (options.fixed_steps > 0)
    return backprop_steps<Method>(ws, adj, z0, K, fixed_grid(t0, t1, int(options.fixed_steps)), z1_bar, r1_bar);
  if constexpr (Method::error_estimate == ErrorEstimate::none) {
    throw std::invalid_argument(std::string("taynode::ad::backprop_solve: method ") + Method::name +
                                " has no error estimate: set options.fixed_steps");
  } else {
    auto rec = record_steps(ws, z0, t0, t1, K, method, options, r_in_error_control);
    auto res = backprop_steps<Method>(ws, adj, z0, K, rec.steps, z1_bar, r1_bar);
    res.nfe += rec.stats.nfe;
    return res;
  }
}

}  // namespace taynode::ad
