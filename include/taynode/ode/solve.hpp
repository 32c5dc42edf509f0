#pragma once
// solve(f, y0, times, Method{}, options): integrate y' = f(t, y) from times[0] to times.back()
// and return the state at every requested time, with statistics.
//
// f is either f(t, y) -> dy/dt or f(t, y, dydt) writing in place (no allocation per call for
// dynamic states). `times` holds t0 followed by the output times, strictly monotone; {t0, t1} is
// a plain span. Integration runs backward when t1 < t0. Adaptive methods step with error
// control (Hairer's semantics by default, see StepControl) and reach intermediate output times by
// dense output; fixed grids are chosen with options.fixed_steps or options.fixed_step_size.

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
#include "taynode/ode/options.hpp"
#include "taynode/ode/stepper.hpp"
#include "taynode/ode/tableaus.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

namespace ode_detail {

template <class VS, class State>
std::ptrdiff_t error_count(const State& y) {
  if constexpr (requires { VS::error_count(y); })
    return VS::error_count(y);
  else
    return VS::size(y);
}

// The user's f as f(t, y, dy) (in place, or through dy = f(t, y)).
template <class F, class State, class Real>
struct InPlaceRhs {
  F& f;
  TAYNODE_ODE_INLINE void operator()(Real t, const State& y, State& dy) const {
    if constexpr (std::is_invocable_v<F&, Real, const State&, State&>)
      f(t, y, dy);
    else
      dy = f(t, y);
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
  if (!tol.rtol_vec && !tol.atol_vec) {
    check_pair(o.rtol, o.atol, -1);
  } else {
    for (std::ptrdiff_t i = 0; i < n; ++i) check_pair(tol.rtol_at(i), tol.atol_at(i), i);
  }
  return tol;
}

template <class Method, class Real>
StepSizeControl<Real> make_controller(const SolveOptions<Real>& o) {
  constexpr int k = Method::error_estimate == ErrorEstimate::none ? Method::order
                                                                   : Method::error_exponent_order;
  return std::visit(
      [&](const auto& c) -> StepSizeControl<Real> {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, MethodDefaultController>) {
          if constexpr (Method::error_estimate == ErrorEstimate::dop853)
            return StepSizeControl<Real>(PIController<Real>::hairer_dop853(), k);
          else
            return StepSizeControl<Real>(PIController<Real>::hairer_dopri5(), k);
        } else {
          if (!(c.safety > Real(0) && c.safety < Real(1)) || !(c.min_factor > Real(0)) ||
              !(c.min_factor <= Real(1)) || !(c.max_factor >= Real(1)))
            fail(SolveErrorKind::invalid_argument,
                 "invalid controller: need 0 < safety < 1, 0 < min_factor <= 1 <= max_factor");
          return StepSizeControl<Real>(c, k);
        }
      },
      o.controller);
}

template <class Method, class State, class Real, class Rhs>
void prepare_dense(RungeKuttaStepper<Method, State>& st, Rhs& rhs, Real t, const State& y, Real h,
                   bool& endpoint_ready, bool& dense_ready) {
  if (dense_ready) return;
  if (!endpoint_ready) {
    st.compute_endpoint(rhs, t + h);
    endpoint_ready = true;
  }
  st.compute_dense_stages(rhs, t, y, h);
  dense_ready = true;
}

// Adaptive integration with Hairer's DOPRI5/DOP853 step logic (dopri5.f / dop853.f, DOPCOR and
// DP86CO), generic over the method. The loop keeps its counters and the next output time in
// locals and trades state buffers by pointer (RungeKuttaStepper::rotate) instead of swapping
// them; the arithmetic is exactly Hairer's.
template <class Method, class State, class Real, class Rhs>
void integrate_hairer(RungeKuttaStepper<Method, State>& st, Rhs& rhs, State& y_state,
                      const std::vector<Real>& times, const SolveOptions<Real>& o,
                      const Tolerances<Real>& tol, Solution<State, Real>& sol) {
  using VS = VectorSpace<State>;
  using std::abs;
  using std::isfinite;
  auto& stats = sol.stats;
  const Real t0 = times.front(), t_end = times.back();
  const Real dir = t_end > t0 ? Real(1) : Real(-1);
  const Real h_max = o.max_step > Real(0) ? o.max_step : abs(t_end - t0);
  const Real uround = std::numeric_limits<Real>::epsilon();
  const std::ptrdiff_t count = error_count<VS>(y_state);
  const std::size_t max_steps = o.max_steps, n_times = times.size();
  const bool record = o.record_step_sizes, dense_every = o.dense_every_step;
  StepSizeControl<Real> ctrl = make_controller<Method>(o);
  const auto f = rhs.in_place;  // the stages' calls, counted per attempt below
  constexpr std::size_t stage_calls = Method::stages - 1;
  // DOP853 evaluates f(t+h, y1) right after every accepted step (used by its interpolant and
  // stiffness test); doing the same keeps the NFE equal to Hairer's.
  constexpr bool eager_endpoint = Method::error_estimate == ErrorEstimate::dop853;
  State* y = &y_state;  // the current state: trades buffers with st.y1() on acceptance

  Real h;
  if (o.first_step != Real(0)) {
    h = abs(o.first_step) * dir;
  } else {
    h = hairer_initial_step(rhs, t0, *y, st.stage0(), st.y1(), st.endpoint_stage(), Method::order,
                            h_max, dir, tol);
    if (!isfinite(h) || h == Real(0))
      fail(SolveErrorKind::non_finite, "non-finite initial step size ", h, " at t=", t0,
           " (non-finite derivative near the initial state?)");
  }

  Real t = t0;
  bool last = false, k0_ready = true;
  std::size_t next = 1, attempts = 0, accepted = 0, rejected = 0, initial_rejected = 0;
  Real t_out = times[next];
  for (;;) {
    if (attempts >= max_steps)
      fail(SolveErrorKind::max_steps_exceeded, "more than max_steps = ", max_steps,
           " steps needed; reached t=", t, " of [", t0, ", ", t_end, "]");
    if (Real(0.1) * abs(h) <= abs(t) * uround || h == Real(0))
      fail(SolveErrorKind::step_size_underflow, "step size underflow: h=", h, " at t=", t);
    if ((t + Real(1.01) * h - t_end) * dir > Real(0)) {
      h = t_end - t;
      last = true;
    }
    if (!k0_ready) {
      rhs(t, *y, st.stage0());
      k0_ready = true;
    }
    ++attempts;
    st.step(f, t, *y, h);
    const Real err = st.error(*y, h, tol, count);
    if (!isfinite(err))
      fail(SolveErrorKind::non_finite, "non-finite state or derivative in the step from t=", t,
           " with h=", h);
    Real h_new = ctrl.propose(err, h);
    if (ctrl.accept(err)) {
      ++accepted;
      if (record) stats.step_sizes.push_back(h);
      const Real t_new = last ? t_end : t + h;
      bool endpoint_ready = Method::fsal, dense_ready = false;
      if constexpr (eager_endpoint) {
        st.compute_endpoint(rhs, t + h);
        endpoint_ready = true;
      }
      if (dense_every) prepare_dense(st, rhs, t, *y, h, endpoint_ready, dense_ready);
      if (next < n_times && (t_out - t_new) * dir <= Real(0)) {  // an output in (t, t_new]
        while (next < n_times && (times[next] - t_new) * dir < Real(0)) {
          prepare_dense(st, rhs, t, *y, h, endpoint_ready, dense_ready);
          sol.y.push_back(*y);
          st.interpolate(sol.y.back(), *y, h, (times[next] - t) / h);
          ++next;
        }
        if (next < n_times && times[next] == t_new) {
          sol.y.push_back(st.y1());
          ++next;
        }
        if (next < n_times) t_out = times[next];
      }
      st.rotate(y, endpoint_ready);
      if (!endpoint_ready) k0_ready = false;
      t = t_new;
      if (last) break;
      if (abs(h_new) > h_max) h_new = dir * h_max;
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
  if (!VS::all_finite(y_state))
    fail(SolveErrorKind::non_finite, "non-finite state at t=", t);
}

// The error weights e = b − b̂ and the midpoint weights of the reference code's dopri5, gathered
// over their nonzero entries, in the working precision (b − b̂ is formed in Real, as that code
// does in float64).
template <class Real>
struct JaxDopri5Weights {
  static constexpr auto e_mask = [] {
    std::array<Coef, 7> m{};
    for (std::size_t j = 0; j < 7; ++j)
      m[j] = (Dopri5::b[j].is_zero() && Dopri5JaxData::b_hat[j].is_zero()) ? Coef{0.0, 1.0}
                                                                            : Coef{1.0, 1.0};
    return m;
  }();
  static constexpr std::size_t ne = count_nonzero(e_mask);
  static constexpr auto e_idx = nonzero_indices<ne>(e_mask);
  static constexpr auto e = [] {
    std::array<Real, ne> c{};
    for (std::size_t j = 0; j < ne; ++j)
      c[j] = Dopri5::b[e_idx[j]].template as<Real>() -
             Dopri5JaxData::b_hat[e_idx[j]].template as<Real>();
    return c;
  }();
};

// Quartic dense output of the reference code's dopri5 on the last step (t0 → t0 + h, from y0):
// the quartic q(θ) through y0, y_mid = y0 + h Σ c_mid_j k_j and y1 with q'(0) = h f0,
// q'(1) = h f1 (REFERENCE.md §5: q = aθ⁴ + bθ³ + cθ² + dθ + e with a = 2h(f1 − f0) − 8(y0 + y1)
// + 16 y_mid, b = h(5f0 − 3f1) + 18y0 + 14y1 − 32y_mid, c = h(f1 − 4f0) − 11y0 − 5y1 + 16y_mid,
// d = h f0, e = y0). Collecting the coefficients of y1 − y0, y_mid − y0, h f0 and h f1 gives
//   q(θ) = y0 + (14θ³ − 8θ⁴ − 5θ²)(y1 − y0) + 16θ²(1 − θ)²(y_mid − y0)
//             + (θ − 4θ² + 5θ³ − 2θ⁴) h f0 + (θ² − 3θ³ + 2θ⁴) h f1,
// and with y1 − y0 = h Σ b_j k_j, y_mid − y0 = h Σ c_mid_j k_j, f0 = k_1, f1 = k_7 it is one fused
// combination y0 + h Σ w_j(θ) k_j over the stages.
template <class State, class Real>
void jax_interpolate(const RungeKuttaStepper<Dopri5, State>& st, State& out, const State& y0,
                     Real h, Real theta) {
  constexpr auto mask = [] {
    std::array<Coef, 7> m{};
    for (std::size_t j = 0; j < 7; ++j)
      m[j] = (j == 0 || j == 6 || !Dopri5::b[j].is_zero() || !Dopri5JaxData::c_mid[j].is_zero())
                 ? Coef{1.0, 1.0}
                 : Coef{0.0, 1.0};
    return m;
  }();
  constexpr std::size_t n = count_nonzero(mask);
  static constexpr auto idx = nonzero_indices<n>(mask);
  const Real s = theta, s2 = s * s, s3 = s2 * s, s4 = s3 * s;
  const Real w_y1 = Real(14) * s3 - Real(8) * s4 - Real(5) * s2;
  const Real w_mid = Real(16) * s2 * (Real(1) - s) * (Real(1) - s);
  const Real w_f0 = s - Real(4) * s2 + Real(5) * s3 - Real(2) * s4;
  const Real w_f1 = s2 - Real(3) * s3 + Real(2) * s4;
  std::array<Real, n> w{};
  for (std::size_t jj = 0; jj < n; ++jj) {
    const std::size_t j = idx[jj];
    w[jj] = w_y1 * Dopri5::b[j].template as<Real>() +
            w_mid * Dopri5JaxData::c_mid[j].template as<Real>() + (j == 0 ? w_f0 : Real(0)) +
            (j == 6 ? w_f1 : Real(0));
  }
  st.combine(out, y0, h, w, idx);
}

// Adaptive integration with the semantics of the reference code's dopri5 (REFERENCE.md §5):
// its initial step (Euclidean norms, order 4), the error ratio² = mean_i (err_i/tol_i)² with
// tol_i = atol_i + rtol_i·max(|y0_i|, |y1_i|) and the error weights b − b̂ of the alternative
// embedded solution, accept iff ratio² ≤ 1, JaxStepRule, no h_max, no clamping to output times:
// the solver steps past every output time (the last one included) and evaluates the quartic
// interpolant of the step that crossed it; integration continues from the overshot state.
// NFE = 2 + 6·attempts (1 with a given first_step).
template <class State, class Real, class Rhs>
void integrate_jax(RungeKuttaStepper<Dopri5, State>& st, Rhs& rhs, State& y_state,
                   const std::vector<Real>& times, const SolveOptions<Real>& o,
                   const Tolerances<Real>& tol, Solution<State, Real>& sol) {
  using VS = VectorSpace<State>;
  using std::abs;
  using std::isfinite;
  using W = JaxDopri5Weights<Real>;
  if (!std::holds_alternative<MethodDefaultController>(o.controller))
    fail(SolveErrorKind::invalid_argument,
         "StepControl::jax has its own step-size rule; leave options.controller at its default");
  if (o.max_step != Real(0))
    fail(SolveErrorKind::invalid_argument,
         "StepControl::jax has no maximum step size; leave options.max_step at 0");
  auto& stats = sol.stats;
  const Real t0 = times.front(), t_end = times.back();
  const Real dir = t_end > t0 ? Real(1) : Real(-1);
  const std::ptrdiff_t count = error_count<VS>(y_state);
  const JaxStepRule<Real> rule{};
  const auto f = rhs.in_place;  // the stages' calls, counted per attempt below
  State* y = &y_state;          // the current state: trades buffers with st.y1() on acceptance

  Real h;
  if (o.first_step != Real(0)) {
    h = abs(o.first_step) * dir;
  } else {
    h = jax_initial_step(rhs, t0, *y, st.stage0(), st.y1(), st.endpoint_stage(), 4, dir, tol) * dir;
    if (!isfinite(h) || h == Real(0))
      fail(SolveErrorKind::non_finite, "non-finite initial step size ", h, " at t=", t0,
           " (non-finite derivative near the initial state?)");
  }

  Real t = t0;
  std::size_t next = 1;
  while (next < times.size()) {
    if (stats.attempted_steps >= o.max_steps)
      fail(SolveErrorKind::max_steps_exceeded, "more than max_steps = ", o.max_steps,
           " steps needed; reached t=", t, " of [", t0, ", ", t_end, "]");
    if (t + h == t)
      fail(SolveErrorKind::step_size_underflow, "step size underflow: h=", h, " at t=", t);
    ++stats.attempted_steps;
    rhs.nfe += Dopri5::stages - 1;
    st.step(f, t, *y, h);
    const Real ratio2 = mean_of(st.error_sum(*y, h, tol, W::e, W::e_idx), count);
    if (!isfinite(ratio2))
      fail(SolveErrorKind::non_finite, "non-finite state or derivative in the step from t=", t,
           " with h=", h);
    const Real h_new = rule.propose(ratio2, h);
    if (rule.accept(ratio2)) {
      ++stats.accepted_steps;
      if (o.record_step_sizes) stats.step_sizes.push_back(h);
      const Real t_new = t + h;
      while (next < times.size() && (times[next] - t_new) * dir <= Real(0)) {
        sol.y.push_back(*y);
        jax_interpolate(st, sol.y.back(), *y, h, (times[next] - t) / (t_new - t));
        ++next;
      }
      st.rotate(y, true);
      t = t_new;
    } else {
      ++stats.rejected_steps;
      if (stats.accepted_steps == 0) ++stats.initial_rejected_steps;
    }
    h = h_new;
  }
  if (y != &y_state) {
    using std::swap;
    swap(y_state, *y);
  }
  if (!VS::all_finite(y_state)) fail(SolveErrorKind::non_finite, "non-finite state at t=", t);
}

// Fixed grid: fixed_steps equal steps over [t0, t_end], or steps of fixed_step_size with the
// last one clipped; outputs inside a step by dense output.
template <class Method, class State, class Real, class Rhs>
void integrate_fixed(RungeKuttaStepper<Method, State>& st, Rhs& rhs, State& y_state,
                     const std::vector<Real>& times, const SolveOptions<Real>& o,
                     Solution<State, Real>& sol) {
  using VS = VectorSpace<State>;
  using std::abs;
  auto& stats = sol.stats;
  const Real t0 = times.front(), t_end = times.back();
  const Real dir = t_end > t0 ? Real(1) : Real(-1);
  const Real span = t_end - t0;
  const auto f = rhs.in_place;  // the stages' calls, counted per step below
  State* y = &y_state;          // the current state: trades buffers with st.y1() after each step
  std::size_t n_steps;
  if (o.fixed_steps > 0) {
    n_steps = o.fixed_steps;
  } else {
    using std::ceil;
    const Real ratio = abs(span) / o.fixed_step_size;
    // A ratio within rounding of an integer n gives n steps, not n + 1 with a sliver.
    n_steps = static_cast<std::size_t>(ceil(ratio * (Real(1) - Real(64) * std::numeric_limits<Real>::epsilon())));
    if (n_steps == 0) n_steps = 1;
  }
  if (n_steps > o.max_steps)
    fail(SolveErrorKind::max_steps_exceeded, "the fixed grid needs ", n_steps,
         " steps, more than max_steps = ", o.max_steps);
  Real t = t0;
  bool k0_ready = true;
  std::size_t next = 1;
  for (std::size_t i = 1; i <= n_steps; ++i) {
    const Real t_new = i == n_steps ? t_end
                       : o.fixed_steps > 0 ? t0 + span * (Real(i) / Real(n_steps))
                                           : t0 + dir * o.fixed_step_size * Real(i);
    const Real h = t_new - t;
    if (!k0_ready) {
      rhs(t, *y, st.stage0());
      k0_ready = true;
    }
    ++stats.attempted_steps;
    ++stats.accepted_steps;
    if (o.record_step_sizes) stats.step_sizes.push_back(h);
    rhs.nfe += Method::stages - 1;
    st.step(f, t, *y, h);
    if (!VS::all_finite(st.y1()))
      fail(SolveErrorKind::non_finite, "non-finite state or derivative in the step from t=", t,
           " with h=", h);
    bool endpoint_ready = Method::fsal, dense_ready = false;
    if (o.dense_every_step) prepare_dense(st, rhs, t, *y, h, endpoint_ready, dense_ready);
    while (next < times.size() && (times[next] - t_new) * dir < Real(0)) {
      prepare_dense(st, rhs, t, *y, h, endpoint_ready, dense_ready);
      sol.y.push_back(*y);
      st.interpolate(sol.y.back(), *y, h, (times[next] - t) / h);
      ++next;
    }
    if (next < times.size() && times[next] == t_new) {
      sol.y.push_back(st.y1());
      ++next;
    }
    st.rotate(y, endpoint_ready);
    if (!endpoint_ready) k0_ready = false;
    t = t_new;
  }
  if (y != &y_state) {
    using std::swap;
    swap(y_state, *y);
  }
}

}  // namespace ode_detail

template <class F, class State, class Method>
Solution<State, typename VectorSpace<State>::Real> solve(
    F&& f, const State& y0, const std::vector<typename VectorSpace<State>::Real>& times,
    Method /*method*/, const SolveOptions<typename VectorSpace<State>::Real>& options = {}) {
  using VS = VectorSpace<State>;
  using Real = typename VS::Real;
  using namespace ode_detail;
  validate_times(times);
  const Tolerances<Real> tol = validate_tolerances(options, VS::size(y0));
  const bool fixed = options.fixed_steps > 0 || options.fixed_step_size != Real(0);
  if (options.fixed_steps > 0 && options.fixed_step_size != Real(0))
    fail(SolveErrorKind::invalid_argument, "set either fixed_steps or fixed_step_size, not both");
  if (options.fixed_step_size != Real(0)) {
    using std::isfinite;
    if (!(options.fixed_step_size > Real(0)) || !isfinite(options.fixed_step_size))
      fail(SolveErrorKind::invalid_argument, "fixed_step_size must be positive and finite, got ",
           options.fixed_step_size);
  }
  if constexpr (Method::error_estimate == ErrorEstimate::none) {
    if (!fixed)
      fail(SolveErrorKind::invalid_argument, "method ", Method::name,
           " has no error estimate: set options.fixed_steps or options.fixed_step_size");
  }
  if (options.max_steps == 0)
    fail(SolveErrorKind::invalid_argument, "max_steps must be positive");
  {
    using std::isfinite;
    if (!isfinite(options.first_step) || !isfinite(options.max_step) || options.max_step < Real(0))
      fail(SolveErrorKind::invalid_argument, "invalid first_step ", options.first_step,
           " or max_step ", options.max_step);
  }

  Solution<State, Real> sol;
  sol.t = times;
  sol.y.reserve(times.size());
  sol.y.push_back(y0);

  std::size_t nfe = 0;
  CountingRhs<std::remove_reference_t<F>, State, Real> rhs{{f}, nfe};
  RungeKuttaStepper<Method, State> stepper;
  stepper.init(y0);
  State y = y0;
  rhs(times.front(), y, stepper.stage0());
  if (!VS::all_finite(y))
    fail(SolveErrorKind::non_finite, "non-finite initial state at t=", times.front());
  if (!VS::all_finite(stepper.stage0()))
    fail(SolveErrorKind::non_finite, "non-finite derivative at the initial state, t=",
         times.front());

  if (fixed) {
    integrate_fixed(stepper, rhs, y, times, options, sol);
  } else if constexpr (Method::error_estimate != ErrorEstimate::none) {
    if (options.step_control == StepControl::jax) {
      if constexpr (std::is_same_v<Method, Dopri5>)
        integrate_jax(stepper, rhs, y, times, options, tol, sol);
      else
        fail(SolveErrorKind::invalid_argument, "StepControl::jax is available for Dopri5 only");
    } else {
      integrate_hairer(stepper, rhs, y, times, options, tol, sol);
    }
  }
  sol.stats.nfe = nfe;
  return sol;
}

}  // namespace taynode
