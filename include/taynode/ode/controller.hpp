#pragma once
// Step-size control policies. A controller sees the scaled error `err` of an attempted step
// (accept iff err ≤ 1) and proposes the next step size; it keeps its own memory (previous error,
// whether the last attempt was rejected).
//
// PIController is Gustafsson's PI control in Hairer's "Lund-stabilised" form (HNW I, II.4 and
// the codes DOPRI5/DOP853):
//   fac = clamp(err^α / err_old^β / safety, 1/max_factor, 1/min_factor),  h_new = h / fac,
//   after a rejection h_new = h / min(1/min_factor, err^α / safety), and no growth right after a
//   rejection. With β = 0 it is the classic integral (I) controller, IntegralController.

#include <cmath>
#include <limits>

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
  StepSizeControl(const PIController<Real>& p, int error_order)
      : safety_(p.safety),
        facc1_(Real(1) / p.min_factor),
        facc2_(Real(1) / p.max_factor),
        beta_(p.beta),
        expo1_(p.alpha != Real(0) ? p.alpha : Real(1) / Real(error_order) - p.beta * Real(0.75)),
        no_growth_after_reject_(p.no_growth_after_reject) {}
  StepSizeControl(const IntegralController<Real>& c, int error_order)
      : StepSizeControl(PIController<Real>{c.safety, c.min_factor, c.max_factor, Real(0),
                                           Real(1) / Real(error_order), c.no_growth_after_reject},
                        error_order) {}

  bool accept(Real err) const { return err <= Real(1); }

  // Next step size after an attempt with step h and scaled error err, with Hairer's arithmetic
  // (DOPCOR: FAC11 = ERR**EXPO1, FAC = FAC11/FACOLD**BETA, ...). exp/log instead of the two pow
  // calls changes the rounding enough to alter the step sequences of the published runs (e.g.
  // DOPRI5 on the Arenstorf orbit at tol 1e-17), so both stay pow. FACOLD**BETA only depends on
  // the error of the previous accepted step: it is computed right after that step is accepted
  // (the same call with the same arguments, so the same bits), where it is off the critical path
  // from the error estimate to the next step's first stage.
  Real propose(Real err, Real h) {
    using std::max;
    using std::min;
    using std::pow;
    const Real fac11 = pow(err, expo1_);
    if (err <= Real(1)) {
      Real fac = beta_ != Real(0) ? fac11 / facold_pow_ : fac11;
      fac = max(facc2_, min(facc1_, fac / safety_));
      Real h_new = h / fac;
      if (rejected_ && no_growth_after_reject_ && std::abs(h_new) > std::abs(h)) h_new = h;
      rejected_ = false;
      if (beta_ != Real(0)) facold_pow_ = pow(max(err, Real(1.0e-4)), beta_);
      return h_new;
    }
    rejected_ = true;
    return h / min(facc1_, fac11 / safety_);
  }

 private:
  Real safety_, facc1_, facc2_, beta_, expo1_;
  bool no_growth_after_reject_;
  Real facold_pow_ = beta_ != Real(0) ? std::pow(Real(1.0e-4), beta_) : Real(1);  // FACOLD**BETA
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

}  // namespace taynode
