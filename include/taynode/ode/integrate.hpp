#pragma once
// The integration loop: one Runge–Kutta step, then the step-size controller's verdict, until the
// controller ends the integration (diffrax's _integrate.py: solver.step, then adapt_step_size).
// Every mode of solve() — Hairer's adaptive control, the reference code's dopri5, fixed grids,
// replayed steps — is this loop with another controller (controller.hpp); the loop itself knows
// nothing of tolerances, grids or output policies.
//
// The loop keeps its counters and the next output time in locals and trades state buffers by
// pointer (RungeKuttaStepper::rotate) instead of copying them; with the controllers inlined it is
// the same code as a loop written for one controller.

#include <cstddef>
#include <utility>
#include <vector>

#include "taynode/ode/controller.hpp"
#include "taynode/ode/errors.hpp"
#include "taynode/ode/options.hpp"
#include "taynode/ode/stepper.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

// What the loop does besides stepping.
struct IntegrationLimits {
  std::size_t max_steps = 100000;  // step attempts before max_steps_exceeded
  bool record_step_sizes = false;  // accepted steps into stats.step_sizes
  bool dense_every_step = false;   // prepare the interpolant on every accepted step (Hairer's IOUT=2)
};

// An observer that does nothing (the default of integrate's `on_step`).
struct NoStepObserver {
  template <class Real, class State, class Stepper>
  TAYNODE_ODE_INLINE void operator()(Real /*t*/, const State& /*y*/, Real /*h*/, const Stepper& /*st*/) const {}
};

namespace ode_detail {

template <class VS, class State>
std::ptrdiff_t error_count(const State& y) {
  if constexpr (requires { VS::error_count(y); })
    return VS::error_count(y);
  else
    return VS::size(y);
}

}  // namespace ode_detail

// Integrates from (times.front(), y_state) to times.back() with `controller`; the states at
// times[1..] are appended to sol.y, statistics go to sol.stats (nfe: rhs counts them), and
// y_state holds the final state. st must be init()ed with the state's shape and st.stage0() hold
// f(times.front(), y_state). rhs is a counting right-hand side (rhs(t, y, dy) counts; rhs.in_place
// does not: the stages' calls are added per attempt). on_step(t, y, h, st) sees every accepted
// step before the loop moves on (y: the state it started from; st.y1(): where it ended;
// st.stage(j): its stage derivatives).
template <class Method, class State, class Real, class Rhs, class Controller,
          class OnStep = NoStepObserver>
  requires StepController<Controller, Real>
void integrate(RungeKuttaStepper<Method, State>& st, Rhs& rhs, State& y_state,
               const std::vector<Real>& times, const Controller& controller,
               const Tolerances<Real>& tolerances,
               const IntegrationLimits& limits, Solution<State, Real>& sol, OnStep&& on_step = {}) {
  using VS = VectorSpace<State>;
  using ode_detail::fail;
  auto& stats = sol.stats;
  const Real t0 = times.front(), t_end = times.back();
  const Real dir = t_end > t0 ? Real(1) : Real(-1);
  // The components the error norm averages over (all shards'); a fixed grid has no norm to take.
  const std::ptrdiff_t count =
      controller.uses_error_norm() ? tolerances.over_shards(ode_detail::error_count<VS>(y_state)) : 0;
  const std::size_t max_steps = limits.max_steps;
  const bool record = limits.record_step_sizes, dense_every = limits.dense_every_step;
  const auto f = rhs.in_place;  // the stages' calls, counted per attempt below
  constexpr std::size_t stage_calls = Method::stages - 1;
  constexpr bool eager_endpoint = Controller::template eager_endpoint<Method>;
  State* y = &y_state;  // the current state: trades buffers with st.y1() on acceptance
  // A copy the loop's calls of f cannot reach: its fields stay in registers (the controllers
  // pass it on by value where a call is not inlined).
  const Tolerances<Real> tol = tolerances;
  Controller ctrl = controller;  // the running controller: a local, its state in registers

  Real h = ctrl.start(st, rhs, *y, times, tolerances, max_steps);
  Real t = t0;
  bool last = false, k0_ready = true;
  std::size_t attempts = 0, accepted = 0, rejected = 0, initial_rejected = 0;
  OutputCursor<State, Real> out{times, sol.y, times.size(), 1, times[1]};
  for (;;) {
    if (attempts >= max_steps)
      fail(SolveErrorKind::max_steps_exceeded, "more than max_steps = ", max_steps,
           " steps needed; reached t=", t, " of [", t0, ", ", t_end, "]");
    h = ctrl.clip(t, h, last);
    if (!k0_ready) {
      rhs(t, *y, st.stage0());
      k0_ready = true;
    }
    ++attempts;
    st.step(f, t, *y, h);
    const StepDecision<Real> verdict = ctrl.adapt(st, *y, t, h, tol, count);
    Real h_new = verdict.next;
    if (verdict.accept) {
      ++accepted;
      if (record) stats.step_sizes.push_back(h);
      const Real t_new = ctrl.step_end(t, h, last);
      bool endpoint_ready = Method::fsal, dense_ready = false;
      if constexpr (eager_endpoint) {
        st.compute_endpoint(rhs, t + h);
        endpoint_ready = true;
      }
      if (dense_every) ode_detail::prepare_dense(st, rhs, t, *y, h, endpoint_ready, dense_ready);
      ctrl.emit_outputs(st, rhs, t, *y, h, t_new, dir, out, endpoint_ready, dense_ready);
      on_step(t, std::as_const(*y), h, std::as_const(st));
      st.rotate(y, endpoint_ready);
      if (!endpoint_ready) k0_ready = false;
      t = t_new;
      if (ctrl.finished(last, out.done())) break;
      h_new = ctrl.limit(h_new);
    } else {
      ++rejected;
      if (accepted == 0) ++initial_rejected;
      last = false;
    }
    h = h_new;
  }
  rhs.nfe += attempts * stage_calls;
  stats.attempted_steps = attempts;
  stats.accepted_steps = accepted;
  stats.rejected_steps = rejected;
  stats.initial_rejected_steps = initial_rejected;
  if (y != &y_state) {
    using std::swap;
    swap(y_state, *y);
  }
  if (ctrl.checks_finite() && !tol.all_over_shards(VS::all_finite(y_state)))
    fail(SolveErrorKind::non_finite, "non-finite state at t=", t);
}

}  // namespace taynode
