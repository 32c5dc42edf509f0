#pragma once
// solve(f, y0, times, Method{}, options): integrate y' = f(t, y) from times[0] to times.back()
// and return the state at every requested time, with statistics.
//
// f is either f(t, y) -> dy/dt or f(t, y, dydt) writing in place (no allocation per call for
// dynamic states). `times` holds t0 followed by the output times, strictly monotone; {t0, t1} is
// a plain span. Integration runs backward when t1 < t0. Adaptive methods step with error
// control (Hairer's semantics by default, see StepControl) and reach intermediate output times by
// dense output; fixed grids are chosen with options.fixed_steps or options.fixed_step_size.
// solve(f, y0, times, Method{}, controller, options) takes the step-size controller as an object
// (controller.hpp; e.g. a StepReplayController). Both run the one loop of integrate.hpp.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "taynode/ode/controller.hpp"
#include "taynode/ode/errors.hpp"
#include "taynode/ode/initial_step.hpp"
#include "taynode/ode/integrate.hpp"
#include "taynode/ode/options.hpp"
#include "taynode/ode/stepper.hpp"
#include "taynode/ode/tableaus.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

namespace ode_detail {

// The user's f as f(t, y, dy) (in place, or through dy = f(t, y)). A derivative of another size
// than the state (an f that returns or resizes to a wrong shape) raises: the stage combinations
// would read past it. For fixed-size states the sizes are constants and the check costs nothing.
template <class F, class State, class Real>
struct InPlaceRhs {
  F& f;
  TAYNODE_ODE_INLINE void operator()(Real t, const State& y, State& dy) const {
    using VS = VectorSpace<State>;
    if constexpr (std::is_invocable_v<F&, Real, const State&, State&>)
      f(t, y, dy);
    else
      dy = f(t, y);
    if (VS::size(dy) != VS::size(y)) [[unlikely]]
      fail(SolveErrorKind::invalid_argument, "f(t, y) at t=", t, " gave a derivative of ",
           VS::size(dy), " components for a state of ", VS::size(y));
  }
};

// The same, counting evaluations. The drivers hand the stepper's stages the uncounted
// `in_place` and add the stage count per step attempt themselves (no store per call).
template <class F, class State, class Real>
struct CountingRhs {
  InPlaceRhs<F, State, Real> in_place;
  std::size_t& nfe;
  TAYNODE_ODE_INLINE void operator()(Real t, const State& y, State& dy) {
    ++nfe;
    in_place(t, y, dy);
  }
};

template <class Real>
void validate_times(const std::vector<Real>& times) {
  using std::isfinite;
  if (times.size() < 2)
    fail(SolveErrorKind::invalid_argument, "need t0 and at least one output time, got ",
         times.size(), " time(s)");
  for (std::size_t i = 0; i < times.size(); ++i)
    if (!isfinite(times[i]))
      fail(SolveErrorKind::invalid_argument, "non-finite time ", times[i], " at index ", i);
  if (times.back() == times.front())
    fail(SolveErrorKind::invalid_argument, "empty time span: t0 = t1 = ", times.front());
  const bool forward = times.back() > times.front();
  for (std::size_t i = 1; i < times.size(); ++i) {
    const bool ok = forward ? times[i] > times[i - 1] : times[i] < times[i - 1];
    if (!ok)
      fail(SolveErrorKind::invalid_argument, "output times must be strictly ",
           forward ? "increasing" : "decreasing", ", but t[", i - 1, "] = ", times[i - 1],
           " and t[", i, "] = ", times[i]);
  }
}

template <class Real>
Tolerances<Real> validate_tolerances(const SolveOptions<Real>& o, std::ptrdiff_t n) {
  using std::isfinite;
  auto check_pair = [](Real rtol, Real atol, std::ptrdiff_t i) {
    if (!isfinite(rtol) || !isfinite(atol) || rtol < Real(0) || atol < Real(0) ||
        (rtol == Real(0) && atol == Real(0))) {
      if (i < 0)
        fail(SolveErrorKind::invalid_argument, "invalid tolerances rtol = ", rtol, ", atol = ", atol,
             " (need finite, non-negative, not both zero)");
      fail(SolveErrorKind::invalid_argument, "invalid tolerances rtol = ", rtol, ", atol = ", atol,
           " for component ", i, " (need finite, non-negative, not both zero)");
    }
  };
  for (const auto* v : {&o.rtol_per_component, &o.atol_per_component})
    if (!v->empty() && static_cast<std::ptrdiff_t>(v->size()) != n)
      fail(SolveErrorKind::invalid_argument, "per-component tolerances have ", v->size(),
           " entries, the state has ", n, " components");
  Tolerances<Real> tol{o.rtol, o.atol, o.rtol_per_component.empty() ? nullptr
                                                                     : o.rtol_per_component.data(),
                       o.atol_per_component.empty() ? nullptr : o.atol_per_component.data()};
  tol.shards = o.shards;
  if (!tol.rtol_vec && !tol.atol_vec) {
    check_pair(o.rtol, o.atol, -1);
  } else {
    for (std::ptrdiff_t i = 0; i < n; ++i) check_pair(tol.rtol_at(i), tol.atol_at(i), i);
  }
  return tol;
}

// solve() with a controller: validates, evaluates f(t0, y0), runs the loop.
template <class F, class State, class Method, class Controller>
Solution<State, typename VectorSpace<State>::Real> run_solve(
    F& f, const State& y0, const std::vector<typename VectorSpace<State>::Real>& times,
    const Controller& controller, const SolveOptions<typename VectorSpace<State>::Real>& options,
    const Tolerances<typename VectorSpace<State>::Real>& tol) {
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  if (options.max_steps == 0) fail(SolveErrorKind::invalid_argument, "max_steps must be positive");
  Solution<State, Real> sol;
  sol.t = times;
  sol.y.reserve(times.size());
  sol.y.push_back(y0);
  // Before f sees it.
  if (!tol.all_over_shards(VS::all_finite(y0)))
    fail(SolveErrorKind::non_finite, "non-finite initial state at t=", times.front());

  std::size_t nfe = 0;
  CountingRhs<F, State, Real> rhs{{f}, nfe};
  RungeKuttaStepper<Method, State> stepper;
  stepper.init(y0);
  State y = y0;
  rhs(times.front(), y, stepper.stage0());
  if (!tol.all_over_shards(VS::all_finite(stepper.stage0())))
    fail(SolveErrorKind::non_finite, "non-finite derivative at the initial state, t=",
         times.front());
  integrate(stepper, rhs, y, times, controller, tol,
            IntegrationLimits{options.max_steps, options.record_step_sizes,
                              options.dense_every_step},
            sol);
  sol.stats.nfe = nfe;
  return sol;
}

}  // namespace ode_detail

// Integrates with the step-size controller `controller` (HairerController, JaxController,
// ConstantStepController, StepReplayController, or a type of one's own that models
// StepController). `options` give the tolerances, max_steps, record_step_sizes and
// dense_every_step; the fields that choose a controller (first_step, max_step, fixed_steps,
// fixed_step_size, controller, step_control) must stay at their defaults.
template <class F, class State, class Method, class Controller>
  requires StepController<Controller, typename VectorSpace<State>::Real>
Solution<State, typename VectorSpace<State>::Real> solve(
    F&& f, const State& y0, const std::vector<typename VectorSpace<State>::Real>& times,
    Method /*method*/, const Controller& controller,
    const SolveOptions<typename VectorSpace<State>::Real>& options = {}) {
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  using namespace ode_detail;
  if (options.first_step != Real(0) || options.max_step != Real(0) || options.fixed_steps != 0 ||
      options.fixed_step_size != Real(0) ||
      !std::holds_alternative<MethodDefaultController>(options.controller) ||
      options.step_control != StepControl::hairer)
    fail(SolveErrorKind::invalid_argument,
         "solve() with a controller object takes first_step, max_step, the fixed grid and the "
         "control rule from the controller; leave those options at their defaults");
  validate_times(times);
  const Tolerances<Real> tol = validate_tolerances(options, VS::size(y0));
  return run_solve<std::remove_reference_t<F>, State, Method>(f, y0, times, controller, options,
                                                              tol);
}

// The controller that `options` choose: a fixed grid (fixed_steps / fixed_step_size), the
// reference code's dopri5 (StepControl::jax), or Hairer's control (controller, first_step,
// max_step).
template <class F, class State, class Method>
Solution<State, typename VectorSpace<State>::Real> solve(
    F&& f, const State& y0, const std::vector<typename VectorSpace<State>::Real>& times,
    Method /*method*/, const SolveOptions<typename VectorSpace<State>::Real>& options = {}) {
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  using namespace ode_detail;
  using Fn = std::remove_reference_t<F>;
  validate_times(times);
  const Tolerances<Real> tol = validate_tolerances(options, VS::size(y0));
  if (options.fixed_steps > 0 || options.fixed_step_size != Real(0))
    return run_solve<Fn, State, Method>(
        f, y0, times, ConstantStepController<Real>(options.fixed_steps, options.fixed_step_size),
        options, tol);
  if constexpr (Method::error_estimate == ErrorEstimate::none) {
    fail(SolveErrorKind::invalid_argument, "method ", Method::name,
         " has no error estimate: set options.fixed_steps or options.fixed_step_size");
  } else {
    if (options.step_control == StepControl::jax) {
      if constexpr (std::is_same_v<Method, Dopri5>) {
        if (!std::holds_alternative<MethodDefaultController>(options.controller))
          fail(SolveErrorKind::invalid_argument, "StepControl::jax has its own step-size rule; "
               "leave options.controller at its default");
        if (options.max_step != Real(0))
          fail(SolveErrorKind::invalid_argument,
               "StepControl::jax has no maximum step size; leave options.max_step at 0");
        JaxController<Real> c;
        c.first_step = options.first_step;
        return run_solve<Fn, State, Method>(f, y0, times, c, options, tol);
      } else {
        fail(SolveErrorKind::invalid_argument, "StepControl::jax is available for Dopri5 only");
      }
    }
    HairerController<Real> c;
    c.control = options.controller;
    c.first_step = options.first_step;
    c.max_step = options.max_step;
    return run_solve<Fn, State, Method>(f, y0, times, c, options, tol);
  }
}

}  // namespace taynode
