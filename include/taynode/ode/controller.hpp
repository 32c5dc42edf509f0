#pragma once
// Step-size control: the rules (PI control in Hairer's form, the reference code's dopri5 rule)
// and the four step-size controllers the integration loop (integrate.hpp) runs.
//
// PIController is Gustafsson's PI control in Hairer's "Lund-stabilised" form (HNW I, II.4 and
// the codes DOPRI5/DOP853):
//   fac = clamp(err^α / err_old^β / safety, 1/max_factor, 1/min_factor),  h_new = h / fac,
//   after a rejection h_new = h / min(1/min_factor, err^α / safety), and no growth right after a
//   rejection. With β = 0 it is the classic integral (I) controller, IntegralController.
//
// A step-size controller (the concept StepController; models below) decides everything about
// the steps of one integration that is not the Runge–Kutta step itself:
//   start(st, rhs, y0, times, tol, max_steps) → first h   validate against the span; initial step
//                                                          (may evaluate rhs, which counts)
//   clip(t, h, last&) → h        the step to attempt from t for the proposal h: end-of-span policy
//                                (sets `last` when this step ends the integration), step-size
//                                underflow
//   adapt(st, y, t, h, tol, n) → {accept, h_next}   after the attempt: error control
//   step_end(t, h, last) → t_new the time an accepted step ends at
//   limit(h) → h                 the next proposal after an accepted step (maximum step)
//   emit_outputs(…)              output policy: which requested times an accepted step serves
//                                and how (the method's dense output, or the reference code's
//                                quartic on overshooting steps)
//   finished(last, outputs_done) end of the integration after an accepted step
//   eager_endpoint<Method>       evaluate f(t+h, y1) after every accepted step (DOP853's NFE)
//   checks_finite()              raise on non-finite states (the loop's final check)
//   uses_error_norm()            adapt() reads the error norm (else the loop need not count the
//                                components over the shards: no collective for a fixed grid)
// Models: HairerController (adaptive, Hairer's DOPRI5/DOP853), JaxController (the reference
// code's dopri5), ConstantStepController (a fixed grid), StepReplayController (a recorded
// sequence of steps: what backprop re-runs). A controller object is copied into the loop and
// set up by start(); it keeps its own memory (previous error, the grid index).

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>
#include <variant>
#include <vector>

#include "taynode/config.hpp"
#include "taynode/ode/errors.hpp"
#include "taynode/ode/initial_step.hpp"
#include "taynode/ode/stepper.hpp"
#include "taynode/ode/tableaus.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

template <class Real>
struct PIController {
  Real safety = Real(0.9);
  Real min_factor = Real(0.2);  // h_new / h ≥ min_factor (Hairer's FAC1)
  Real max_factor = Real(10);   // h_new / h ≤ max_factor (Hairer's FAC2)
  Real beta = Real(0.04);       // weight of the previous error (Lund stabilisation)
  Real alpha = Real(0);         // exponent of err; 0 means 1/k − 0.75·β, k the method's error order
  bool no_growth_after_reject = true;

  // Hairer's DOPRI5 defaults.
  static PIController hairer_dopri5() { return PIController{}; }
  // Hairer's DOP853 defaults (β = 0, FAC1 = 0.333, FAC2 = 6, EXPO1 = 1/8).
  static PIController hairer_dop853() {
    return PIController{Real(0.9), Real(0.333), Real(6), Real(0), Real(0.125), true};
  }
};

template <class Real>
struct IntegralController {
  Real safety = Real(0.9);
  Real min_factor = Real(0.2);
  Real max_factor = Real(10);
  bool no_growth_after_reject = true;
};

// The running controller of one solve (both policies share Hairer's arithmetic).
template <class Real>
class StepSizeControl {
 public:
  StepSizeControl() = default;
  StepSizeControl(const PIController<Real>& p, int error_order)
      : safety_(p.safety),
        facc1_(Real(1) / p.min_factor),
        facc2_(Real(1) / p.max_factor),
        beta_(p.beta),
        expo1_(p.alpha != Real(0) ? p.alpha : Real(1) / Real(error_order) - p.beta * Real(0.75)),
        no_growth_after_reject_(p.no_growth_after_reject),
        facold_pow_(beta_ != Real(0) ? std::pow(Real(1.0e-4), beta_) : Real(1)) {}  // FACOLD**BETA
  StepSizeControl(const IntegralController<Real>& c, int error_order)
      : StepSizeControl(PIController<Real>{c.safety, c.min_factor, c.max_factor, Real(0),
                                           Real(1) / Real(error_order), c.no_growth_after_reject},
                        error_order) {}

  TAYNODE_HD bool accept(Real err) const { return err <= Real(1); }

  // Next step size after an attempt with step h and scaled error err, with Hairer's arithmetic
  // (DOPCOR: FAC11 = ERR**EXPO1, FAC = FAC11/FACOLD**BETA, ...). exp/log instead of the two pow
  // calls changes the rounding enough to alter the step sequences of the published runs (e.g.
  // DOPRI5 on the Arenstorf orbit at tol 1e-17), so both stay pow. FACOLD**BETA only depends on
  // the error of the previous accepted step: it is computed right after that step is accepted
  // (the same call with the same arguments, so the same bits), where it is off the critical path
  // from the error estimate to the next step's first stage.
  // (Host and device: the resident solve, taylor/resident_solve.hpp, runs it in its kernel.)
  TAYNODE_HD Real propose(Real err, Real h) {
    using std::abs;
    using std::pow;
    const auto max = [](Real a, Real b) { return a < b ? b : a; };  // std::max's result, on both sides
    const auto min = [](Real a, Real b) { return b < a ? b : a; };
    const Real fac11 = pow(err, expo1_);
    if (err <= Real(1)) {
      Real fac = beta_ != Real(0) ? fac11 / facold_pow_ : fac11;
      fac = max(facc2_, min(facc1_, fac / safety_));
      Real h_new = h / fac;
      if (rejected_ && no_growth_after_reject_ && abs(h_new) > abs(h)) h_new = h;
      rejected_ = false;
      if (beta_ != Real(0)) facold_pow_ = pow(max(err, Real(1.0e-4)), beta_);
      return h_new;
    }
    rejected_ = true;
    return h / min(facc1_, fac11 / safety_);
  }

 private:
  Real safety_ = Real(0.9), facc1_ = Real(5), facc2_ = Real(0.1), beta_ = Real(0), expo1_ = Real(0.2);
  bool no_growth_after_reject_ = true;
  Real facold_pow_ = Real(1);  // FACOLD**BETA
  bool rejected_ = false;
};

// The step-size rule of the reference code's dopri5 (jax.experimental.ode of 2020; REFERENCE.md
// §5), given the mean square ratio² = mean_i (err_i / tol_i)² of an attempt with step h:
//   factor = max(1/ifactor, min(√ratio²^(1/order) / safety, 1/d)),  d = 1 if ratio² < 1 else
//   dfactor;  h_new = h / factor, or ifactor·h if ratio² = 0.
// Accept iff ratio² ≤ 1. Accepted steps never shrink and grow at most ifactor×; rejected steps
// shrink between 1/safety (1.11×) and 1/dfactor (5×). No memory; one sqrt and one pow per attempt.
template <class Real>
struct JaxStepRule {
  Real safety = Real(0.9);
  Real ifactor = Real(10);
  Real dfactor = Real(0.2);
  Real order = Real(5);

  static bool accept(Real ratio2) { return ratio2 <= Real(1); }

  Real propose(Real ratio2, Real h) const {
    using std::max;
    using std::min;
    using std::pow;
    using std::sqrt;
    const Real d = ratio2 < Real(1) ? Real(1) : dfactor;
    const Real r = sqrt(ratio2);
    const Real factor =
        max(Real(1) / ifactor, min(pow(r, Real(1) / order) / safety, Real(1) / d));
    return ratio2 == Real(0) ? h * ifactor : h / factor;
  }
};

// The method's own default controller (Hairer's constants for Dopri5 and DOP853).
struct MethodDefaultController {};

// The outcome of an attempted step.
template <class Real>
struct StepDecision {
  bool accept;
  Real next;  // the next proposal
};

namespace ode_detail {

// Failure of a step whose error estimate is not finite: a non-finite state or stage, or — when
// all of them are finite — an error norm that overflows because the tolerances are too small.
template <class Method, class State, class Real>
[[noreturn]] void fail_step(const RungeKuttaStepper<Method, State>& st, Real t, Real h,
                            Tolerances<Real> tol) {
  using VS = VectorSpace<State>;
  bool finite = VS::all_finite(st.y1());
  for (std::size_t j = 0; j < Method::stages; ++j) finite = finite && VS::all_finite(st.stage(j));
  if (finite)
    fail(SolveErrorKind::invalid_argument, "the error estimate of the step from t=", t, " with h=",
         h, " overflows although the state and the derivatives are finite: the tolerances (rtol = ",
         tol.rtol, ", atol = ", tol.atol, tol.rtol_vec || tol.atol_vec ? ", per component" : "",
         ") are too small for this problem");
  fail(SolveErrorKind::non_finite, "non-finite state or derivative in the step from t=", t,
       " with h=", h);
}

// Failure of an automatic initial step size (Hairer's or the reference code's). The state and
// f(t0, y0) (stage0) are finite here; the cause is either weighted norms that overflow (the
// tolerances too small for the state's or the derivative's magnitude: then the probe step itself
// is not finite) or a non-finite derivative at the probe f(t0 + h0, y0 + h0·f0).
template <class Method, class State, class Real>
[[noreturn]] void fail_initial_step(RungeKuttaStepper<Method, State>& st, const State& y0, Real h,
                                    Real t0, Tolerances<Real> tol) {
  using VS = VectorSpace<State>;
  using std::isfinite;
  const char* per = tol.rtol_vec || tol.atol_vec ? " (per component)" : "";
  if (!isfinite(VS::scaled_sq_norm(y0, y0, tol)) || !isfinite(VS::scaled_sq_norm(st.stage0(), y0, tol)))
    fail(SolveErrorKind::invalid_argument, "no initial step size at t=", t0, ": the tolerances rtol = ",
         tol.rtol, ", atol = ", tol.atol, per, " are too small for this problem (the weighted norms "
         "of the initial state and derivative overflow; both are finite); use larger tolerances or "
         "set first_step");
  // The probe state and its derivative are left in y1() and endpoint_stage().
  if (!VS::all_finite(st.y1()) || !VS::all_finite(st.endpoint_stage()))
    fail(SolveErrorKind::non_finite, "non-finite derivative near the initial state: f at the "
         "initial step size's probe t0 + h0 (t0=", t0, ") is not finite");
  fail(SolveErrorKind::invalid_argument, "no initial step size (h = ", h, " at t=", t0,
       "): the weighted norm of the derivative's change over the probe step overflows or vanishes "
       "for rtol = ", tol.rtol, ", atol = ", tol.atol, per, "; use other tolerances or set first_step");
}

// The method's extra dense-output stages (and f(t+h, y1)), once per step.
template <class Method, class State, class Real, class Rhs>
TAYNODE_ODE_INLINE void prepare_dense(RungeKuttaStepper<Method, State>& st, Rhs& rhs, Real t,
                                      const State& y, Real h, bool& endpoint_ready,
                                      bool& dense_ready) {
  if (dense_ready) return;
  if (!endpoint_ready) {
    st.compute_endpoint(rhs, t + h);
    endpoint_ready = true;
  }
  st.compute_dense_stages(rhs, t, y, h);
  dense_ready = true;
}

}  // namespace ode_detail

// Where the loop stands with the requested output times.
template <class State, class Real>
struct OutputCursor {
  const std::vector<Real>& times;
  std::vector<State>& y;  // the states at times[1 .. next−1]
  std::size_t n_times;    // times.size(), kept here: f could change *times for all the compiler knows
  std::size_t next = 1;   // the next output time not yet served
  Real t_out;             // times[next]; past the last output ±∞ (beyond any step's end)
  bool done() const { return next >= n_times; }
};

// The output policy of steps that end on the last output time: a requested time strictly inside
// an accepted step is served by the method's dense output, one it ends on by the step's y1.
struct InterpolatedOutputs {
  template <class Method, class State, class Real, class Rhs>
  TAYNODE_ODE_INLINE static void emit_outputs(RungeKuttaStepper<Method, State>& st, Rhs& rhs,
                                              Real t, const State& y, Real h, Real t_new, Real dir,
                                              OutputCursor<State, Real>& out, bool& endpoint_ready,
                                              bool& dense_ready) {
    const std::size_t n_times = out.n_times;
    if ((out.t_out - t_new) * dir <= Real(0)) {  // an output in (t, t_new]
      while (out.next < n_times && (out.times[out.next] - t_new) * dir < Real(0)) {
        ode_detail::prepare_dense(st, rhs, t, y, h, endpoint_ready, dense_ready);
        out.y.push_back(y);
        st.interpolate(out.y.back(), y, h, (out.times[out.next] - t) / h);
        ++out.next;
      }
      if (out.next < n_times && out.times[out.next] == t_new) {
        out.y.push_back(st.y1());
        ++out.next;
      }
      out.t_out = out.next < n_times ? out.times[out.next]
                                     : dir * std::numeric_limits<Real>::infinity();
    }
  }
};

// ---- Hairer's DOPRI5 / DOP853 -------------------------------------------------------------------

// Adaptive steps with Hairer's logic (dopri5.f / dop853.f, DOPCOR and DP86CO), for every method
// with an error estimate: HINIT initial step, the method's error norm, PI control, the maximum
// step, the last step stretched by 1.01 and clamped to t_end, underflow when 0.1|h| ≤ |t|·eps.
template <class Real>
struct HairerController : InterpolatedOutputs {
  std::variant<MethodDefaultController, PIController<Real>, IntegralController<Real>> control{};
  Real first_step = Real(0);  // 0: HINIT
  Real max_step = Real(0);    // 0: |t_end − t0|

  // DOP853 evaluates f(t+h, y1) right after every accepted step (its interpolant and stiffness
  // test use it); doing the same keeps the NFE equal to Hairer's.
  template <class Method>
  static constexpr bool eager_endpoint = Method::error_estimate == ErrorEstimate::dop853;

  // Inline, and failures get copies of the members: the running controller's address must not
  // escape, or its state could not stay in registers through the loop's calls of f and pow.
  template <class Method, class State, class Rhs>
  TAYNODE_ODE_INLINE Real start(RungeKuttaStepper<Method, State>& st, Rhs& rhs, const State& y0,
                                const std::vector<Real>& times, const Tolerances<Real>& tol,
                                std::size_t /*max_steps*/) {
    using std::abs;
    using std::isfinite;
    if constexpr (Method::error_estimate == ErrorEstimate::none) {
      ode_detail::fail(SolveErrorKind::invalid_argument, "method ", Method::name,
                       " has no error estimate: use a ConstantStepController (fixed grid)");
    } else {
      if (!isfinite(first_step) || !isfinite(max_step) || max_step < Real(0))
        ode_detail::fail(SolveErrorKind::invalid_argument, "invalid first_step ", Real(first_step),
                         " or max_step ", Real(max_step));
      rule_ = make_rule<Method>(control);
      const Real t0 = times.front();
      t_end_ = times.back();
      dir_ = t_end_ > t0 ? Real(1) : Real(-1);
      h_max_ = max_step > Real(0) ? max_step : abs(t_end_ - t0);
      if (first_step != Real(0)) return abs(first_step) * dir_;
      const Real h = hairer_initial_step(rhs, t0, y0, st.stage0(), st.y1(), st.endpoint_stage(),
                                         Method::order, h_max_, dir_, tol);
      if (!isfinite(h) || h == Real(0)) ode_detail::fail_initial_step(st, y0, h, t0, tol);
      return h;
    }
  }

  TAYNODE_ODE_INLINE Real clip(Real t, Real h, bool& last) const {
    if (!clip_to_end(t, h, t_end_, dir_, last))
      ode_detail::fail(SolveErrorKind::step_size_underflow, "step size underflow: h=", h, " at t=", t);
    return h;
  }
  // clip's arithmetic (host and device: taylor/resident_solve.hpp): false on underflow, 0.1|h| ≤
  // |t|·eps (h = 0 too); else h becomes the step to attempt — the last one, stretched by up to
  // 1.01, ends on t_end.
  TAYNODE_HD static bool clip_to_end(Real t, Real& h, Real t_end, Real dir, bool& last) {
    using std::abs;
    if (Real(0.1) * abs(h) <= abs(t) * std::numeric_limits<Real>::epsilon()) return false;
    if ((t + Real(1.01) * h - t_end) * dir > Real(0)) {
      h = t_end - t;
      last = true;
    }
    return true;
  }

  template <class Method, class State>
  TAYNODE_ODE_INLINE StepDecision<Real> adapt(const RungeKuttaStepper<Method, State>& st,
                                              const State& y, Real t, Real h,
                                              const Tolerances<Real>& tol, std::ptrdiff_t count) {
    using std::isfinite;
    const Real err = st.error(y, h, tol, count);
    if (!isfinite(err)) ode_detail::fail_step(st, t, h, tol);
    const Real h_new = rule_.propose(err, h);
    return {rule_.accept(err), h_new};
  }

  TAYNODE_ODE_INLINE Real step_end(Real t, Real h, bool last) const { return last ? t_end_ : t + h; }
  TAYNODE_ODE_INLINE Real limit(Real h) const { return limit_to(h, h_max_, dir_); }
  TAYNODE_HD static Real limit_to(Real h, Real h_max, Real dir) {
    using std::abs;
    return abs(h) > h_max ? dir * h_max : h;
  }
  TAYNODE_ODE_INLINE static bool finished(bool last, bool /*outputs_done*/) { return last; }
  static constexpr bool checks_finite() { return true; }
  static constexpr bool uses_error_norm() { return true; }

  // The running step-size rule for Method from a controller choice (validated).
  template <class Method>
  static StepSizeControl<Real> make_rule(
      std::variant<MethodDefaultController, PIController<Real>, IntegralController<Real>> c_in) {
    constexpr int k = Method::error_exponent_order;
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
              ode_detail::fail(
                  SolveErrorKind::invalid_argument,
                  "invalid controller: need 0 < safety < 1, 0 < min_factor <= 1 <= max_factor");
            return StepSizeControl<Real>(c, k);
          }
        },
        c_in);
  }

 private:
  StepSizeControl<Real> rule_;
  Real t_end_{}, dir_{}, h_max_{};
};

// ---- the reference code's dopri5 (jax.experimental.ode of 2020; REFERENCE.md §5) ------------------

namespace ode_detail {

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

}  // namespace ode_detail

// Adaptive Dopri5 steps with the semantics of the reference code's dopri5: its initial step
// (Euclidean norms, order 4), the error ratio² = mean_i (err_i/tol_i)² with tol_i = atol_i +
// rtol_i·max(|y0_i|, |y1_i|) and the error weights b − b̂ of the alternative embedded solution,
// accept iff ratio² ≤ 1, JaxStepRule, no h_max, no clamping to output times: the solver steps
// past every output time (the last one included) and evaluates the quartic interpolant of the
// step that crossed it; integration continues from the overshot state. NFE = 2 + 6·attempts
// (1 with a given first_step). Dopri5 only.
template <class Real>
struct JaxController {
  Real first_step = Real(0);  // 0: the reference code's initial step
  static constexpr JaxStepRule<Real> rule{};  // the reference code's constants (folded in)

  template <class Method>
  static constexpr bool eager_endpoint = false;

  template <class Method, class State, class Rhs>
  TAYNODE_ODE_INLINE Real start(RungeKuttaStepper<Method, State>& st, Rhs& rhs, const State& y0,
                                const std::vector<Real>& times, const Tolerances<Real>& tol,
                                std::size_t /*max_steps*/) {
    static_assert(std::is_same_v<Method, Dopri5>, "JaxController: Dopri5 only");
    using std::abs;
    using std::isfinite;
    if (!isfinite(first_step))
      ode_detail::fail(SolveErrorKind::invalid_argument, "invalid first_step ", Real(first_step));
    const Real t0 = times.front();
    const Real dir = times.back() > t0 ? Real(1) : Real(-1);
    if (first_step != Real(0)) return abs(first_step) * dir;
    const Real h =
        jax_initial_step(rhs, t0, y0, st.stage0(), st.y1(), st.endpoint_stage(), 4, dir, tol) * dir;
    if (!isfinite(h) || h == Real(0)) ode_detail::fail_initial_step(st, y0, h, t0, tol);
    return h;
  }

  TAYNODE_ODE_INLINE static Real clip(Real t, Real h, bool& /*last*/) {
    if (t + h == t)
      ode_detail::fail(SolveErrorKind::step_size_underflow, "step size underflow: h=", h, " at t=", t);
    return h;
  }

  template <class Method, class State>
  TAYNODE_ODE_INLINE StepDecision<Real> adapt(const RungeKuttaStepper<Method, State>& st,
                                              const State& y, Real t, Real h,
                                              const Tolerances<Real>& tol, std::ptrdiff_t count) const {
    using std::isfinite;
    using W = ode_detail::JaxDopri5Weights<Real>;
    const Real ratio2 = ode_detail::mean_of(st.error_sum(y, h, tol, W::e, W::e_idx), count);
    if (!isfinite(ratio2)) ode_detail::fail_step(st, t, h, tol);
    const Real h_new = rule.propose(ratio2, h);
    return {rule.accept(ratio2), h_new};
  }

  TAYNODE_ODE_INLINE static Real step_end(Real t, Real h, bool /*last*/) { return t + h; }
  TAYNODE_ODE_INLINE static Real limit(Real h) { return h; }
  // Every output time up to the step's end, the last one included: the quartic of the step.
  template <class State, class Rhs>
  TAYNODE_ODE_INLINE static void emit_outputs(RungeKuttaStepper<Dopri5, State>& st, Rhs& /*rhs*/,
                                              Real t, const State& y, Real h, Real t_new, Real dir,
                                              OutputCursor<State, Real>& out,
                                              bool& /*endpoint_ready*/, bool& /*dense_ready*/) {
    while ((out.t_out - t_new) * dir <= Real(0)) {
      out.y.push_back(y);
      ode_detail::jax_interpolate(st, out.y.back(), y, h, (out.t_out - t) / (t_new - t));
      ++out.next;
      out.t_out = out.next < out.n_times ? out.times[out.next]
                                         : dir * std::numeric_limits<Real>::infinity();
    }
  }
  TAYNODE_ODE_INLINE static bool finished(bool /*last*/, bool outputs_done) { return outputs_done; }
  static constexpr bool checks_finite() { return true; }
  static constexpr bool uses_error_norm() { return true; }
};

// ---- fixed grids ----------------------------------------------------------------------------------

// A fixed grid over [t0, t_end]: `steps` equal steps (step i ends at t0 + span·(i/steps)), or
// steps of `step_size` with the last one clipped (step i ends at t0 + i·step_size); the last
// step ends exactly on t_end. No error control; a non-finite state after a step raises.
template <class Real>
struct ConstantStepController : InterpolatedOutputs {
  std::size_t steps = 0;
  Real step_size = Real(0);

  ConstantStepController() = default;
  ConstantStepController(std::size_t n_steps, Real size) : steps(n_steps), step_size(size) {}
  static ConstantStepController count(std::size_t n) { return {n, Real(0)}; }
  static ConstantStepController size(Real h) { return {0, h}; }

  template <class Method>
  static constexpr bool eager_endpoint = false;

  template <class Method, class State, class Rhs>
  TAYNODE_ODE_INLINE Real start(RungeKuttaStepper<Method, State>& /*st*/, Rhs& /*rhs*/,
                                const State& /*y0*/, const std::vector<Real>& times,
                                const Tolerances<Real>& /*tol*/, std::size_t max_steps) {
    using std::abs;
    using std::isfinite;
    if ((steps > 0) == (step_size != Real(0)))
      ode_detail::fail(SolveErrorKind::invalid_argument,
                       "a fixed grid needs either a number of steps or a step size, not ",
                       steps > 0 ? "both" : "neither");
    if (step_size != Real(0) && (!(step_size > Real(0)) || !isfinite(step_size)))
      ode_detail::fail(SolveErrorKind::invalid_argument,
                       "fixed_step_size must be positive and finite, got ", Real(step_size));
    t0_ = times.front();
    t_end_ = times.back();
    dir_ = t_end_ > t0_ ? Real(1) : Real(-1);
    i_ = 0;
    if (steps > 0) {
      n_ = steps;
    } else {
      using std::ceil;
      const Real ratio = abs(t_end_ - t0_) / step_size;
      // A ratio within rounding of an integer n gives n steps, not n + 1 with a sliver.
      const Real n = ceil(ratio * (Real(1) - Real(64) * std::numeric_limits<Real>::epsilon()));
      // Compared as a real first: a grid of more steps than a size_t holds must not wrap.
      if (!(n <= Real(max_steps)))
        ode_detail::fail(SolveErrorKind::max_steps_exceeded, "the fixed grid of step size ",
                         Real(step_size), " over [", times.front(), ", ", times.back(), "] needs ", n,
                         " steps, more than max_steps = ", max_steps);
      n_ = static_cast<std::size_t>(n);
      if (n_ == 0) n_ = 1;
    }
    if (n_ > max_steps)
      ode_detail::fail(SolveErrorKind::max_steps_exceeded, "the fixed grid needs ", std::size_t(n_),
                       " steps, more than max_steps = ", max_steps);
    return (t_end_ - t0_) / Real(n_);
  }

  TAYNODE_ODE_INLINE Real clip(Real t, Real /*h*/, bool& last) {
    const std::size_t i = i_ + 1;
    last = i == n_;
    t_next_ = last ? t_end_
              : steps > 0 ? t0_ + (t_end_ - t0_) * (Real(i) / Real(n_))
                          : t0_ + dir_ * step_size * Real(i);
    return t_next_ - t;
  }

  template <class Method, class State>
  TAYNODE_ODE_INLINE StepDecision<Real> adapt(const RungeKuttaStepper<Method, State>& st,
                                              const State& /*y*/, Real t, Real h,
                                              const Tolerances<Real>& /*tol*/,
                                              std::ptrdiff_t /*count*/) const {
    if (!VectorSpace<State>::all_finite(st.y1()))
      ode_detail::fail(SolveErrorKind::non_finite,
                       "non-finite state or derivative in the step from t=", t, " with h=", h);
    return {true, h};
  }

  TAYNODE_ODE_INLINE Real step_end(Real /*t*/, Real /*h*/, bool /*last*/) {
    ++i_;
    return t_next_;
  }
  TAYNODE_ODE_INLINE static Real limit(Real h) { return h; }
  TAYNODE_ODE_INLINE static bool finished(bool last, bool /*outputs_done*/) { return last; }
  static constexpr bool checks_finite() { return true; }
  static constexpr bool uses_error_norm() { return false; }

 private:
  Real t0_{}, t_end_{}, dir_{}, t_next_{};
  std::size_t n_ = 0, i_ = 0;
};

// ---- replaying recorded steps ---------------------------------------------------------------------

// A recorded sequence of steps: step n runs from t[n] with step size h[n] and ends at t[n + 1]
// (t.size() == h.size() + 1; t.front() and t.back() must be the span's ends). What backprop and
// the adjoint re-run (diffrax's StepTo). No error control; with `check_finite` a non-finite
// state after a step raises. The spans must outlive the solve.
template <class Real>
struct StepReplayController : InterpolatedOutputs {
  std::span<const Real> t;
  std::span<const Real> h;
  bool check_finite = true;

  StepReplayController() = default;
  StepReplayController(std::span<const Real> times, std::span<const Real> sizes, bool check = true)
      : t(times), h(sizes), check_finite(check) {}

  template <class Method>
  static constexpr bool eager_endpoint = false;

  template <class Method, class State, class Rhs>
  TAYNODE_ODE_INLINE Real start(RungeKuttaStepper<Method, State>& /*st*/, Rhs& /*rhs*/,
                                const State& /*y0*/, const std::vector<Real>& times,
                                const Tolerances<Real>& /*tol*/, std::size_t max_steps) {
    if (h.empty() || t.size() != h.size() + 1)
      ode_detail::fail(SolveErrorKind::invalid_argument, "a step replay needs n >= 1 step sizes and n + 1 "
                       "times, got ", h.size(), " and ", t.size());
    if (t.front() != times.front() || t.back() != times.back())
      ode_detail::fail(SolveErrorKind::invalid_argument, "the replayed steps run from ", t.front(),
                       " to ", t.back(), ", the span from ", times.front(), " to ", times.back());
    if (h.size() > max_steps)
      ode_detail::fail(SolveErrorKind::max_steps_exceeded, "the replay has ", h.size(),
                       " steps, more than max_steps = ", max_steps);
    i_ = 0;
    return h[0];
  }

  TAYNODE_ODE_INLINE Real clip(Real /*t*/, Real /*h*/, bool& last) const {
    last = i_ + 1 == h.size();
    return h[i_];
  }

  template <class Method, class State>
  TAYNODE_ODE_INLINE StepDecision<Real> adapt(const RungeKuttaStepper<Method, State>& st,
                                              const State& /*y*/, Real t_, Real h_,
                                              const Tolerances<Real>& /*tol*/,
                                              std::ptrdiff_t /*count*/) const {
    if (check_finite && !VectorSpace<State>::all_finite(st.y1()))
      ode_detail::fail(SolveErrorKind::non_finite,
                       "non-finite state or derivative in the step from t=", t_, " with h=", h_);
    return {true, h_};
  }

  TAYNODE_ODE_INLINE Real step_end(Real /*t*/, Real /*h*/, bool /*last*/) { return t[++i_]; }
  TAYNODE_ODE_INLINE static Real limit(Real h_next) { return h_next; }
  TAYNODE_ODE_INLINE static bool finished(bool last, bool /*outputs_done*/) { return last; }
  bool checks_finite() const { return check_finite; }
  static constexpr bool uses_error_norm() { return false; }

 private:
  std::size_t i_ = 0;
};

// What the loop requires of a controller (the members that do not depend on the method; start,
// adapt and emit_outputs are templates over the stepper, see above).
template <class C, class Real>
concept StepController = requires(C& c, const C& cc, Real t, Real h, bool& last) {
  { c.clip(t, h, last) } -> std::convertible_to<Real>;
  { c.step_end(t, h, true) } -> std::convertible_to<Real>;
  { cc.limit(h) } -> std::convertible_to<Real>;
  { cc.finished(true, true) } -> std::convertible_to<bool>;
  { cc.checks_finite() } -> std::convertible_to<bool>;
  { cc.uses_error_norm() } -> std::convertible_to<bool>;
};

}  // namespace taynode
