#pragma once
// Automatic initial step sizes.
//
// hairer_initial_step is HINIT of Hairer's DOPRI5/DOP853 (HNW I, II.4, "Starting step size"):
// an explicit Euler probe estimates the second derivative and
//   h = min(100·h0, (0.01 / max(‖f0‖, ‖f'‖))^(1/order), h_max),  h0 = 0.01·‖y0‖/‖f0‖,
// with the norms weighted by sk = atol + rtol·|y0| and, as in the codes, *not* divided by the
// dimension. One evaluation of f.

#include <algorithm>
#include <cmath>

#include "taynode/config.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

// hairer_initial_step's arithmetic (host and device: taylor/resident_solve.hpp). The probe step
// from dnf = Σ(f0/sk)², dny = Σ(y0/sk)²:
template <class Real>
TAYNODE_HD Real hairer_probe_step(Real dnf, Real dny, Real h_max, Real direction) {
  using std::sqrt;
  const Real h = (dnf <= Real(1e-10) || dny <= Real(1e-10)) ? Real(1e-6) : sqrt(dny / dnf) * Real(0.01);
  return (h_max < h ? h_max : h) * direction;  // std::min's result (a NaN h stays NaN)
}
// and the initial step from the probe h and dd = Σ((f1 − f0)/sk)² at the probe.
template <class Real>
TAYNODE_HD Real hairer_step_from_probe(Real h, Real dd, Real dnf, int order, Real h_max, Real direction) {
  using std::abs;
  using std::pow;
  using std::sqrt;
  const Real der2 = sqrt(dd) / h;
  const Real a = abs(der2), b = sqrt(dnf);
  const Real der12 = a < b ? b : a;
  const Real h1 = der12 <= Real(1e-15) ? (Real(1e-6) < abs(h) * Real(1e-3) ? abs(h) * Real(1e-3) : Real(1e-6))
                                       : pow(Real(0.01) / der12, Real(1) / Real(order));
  Real m = Real(100) * abs(h);
  if (h1 < m) m = h1;
  if (h_max < m) m = h_max;
  return m * direction;
}

// f(t, y, dy); f0 = f(t0, y0); y1 and f1 are scratch buffers shaped like y0. (The norms of both
// rules are sums over all shards of a split system: Tolerances::over_shards.)
template <class State, class F, class Real>
Real hairer_initial_step(F& f, Real t0, const State& y0, const State& f0, State& y1, State& f1,
                         int order, Real h_max, Real direction, const Tolerances<Real>& tol) {
  using VS = VectorSpace<State>;
  const auto [dnf, dny] = tol.over_shards(VS::scaled_sq_norm(f0, y0, tol), VS::scaled_sq_norm(y0, y0, tol));
  const Real h = hairer_probe_step(dnf, dny, h_max, direction);
  VS::add_scaled(y1, y0, h, std::array<Real, 1>{Real(1)}, f0);
  f(t0 + h, y1, f1);
  return hairer_step_from_probe(h, tol.over_shards(VS::scaled_sq_norm_diff(f1, f0, y0, tol)), dnf, order, h_max,
                                direction);
}

// The initial step of the reference code's dopri5 (jax.experimental.ode of 2020; REFERENCE.md §5),
// HNW I II.4 with *Euclidean* norms (not divided by the dimension), called there with order 4:
//   scale = atol + rtol·|y0|,  d0 = ‖y0/scale‖₂,  d1 = ‖f0/scale‖₂,
//   h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01·d0/d1,
//   f1 = f(t0 + h0, y0 + h0·f0),  d2 = ‖(f1 − f0)/scale‖₂ / h0,
//   h1 = max(1e-6, 1e-3·h0) if d1 ≤ 1e-15 and d2 ≤ 1e-15 else (0.01/(d1 + d2))^(1/(order+1)),
//   h = min(100·h0, h1).
// One evaluation of f. Returns |h|; the probe steps in `direction`.
template <class State, class F, class Real>
Real jax_initial_step(F& f, Real t0, const State& y0, const State& f0, State& y1, State& f1,
                      int order, Real direction, const Tolerances<Real>& tol) {
  using VS = VectorSpace<State>;
  using std::max;
  using std::min;
  using std::pow;
  using std::sqrt;
  const auto [sq0, sq1] = tol.over_shards(VS::scaled_sq_norm(y0, y0, tol), VS::scaled_sq_norm(f0, y0, tol));
  const Real d0 = sqrt(sq0), d1 = sqrt(sq1);
  const Real h0 = (d0 < Real(1e-5) || d1 < Real(1e-5)) ? Real(1e-6) : Real(0.01) * d0 / d1;
  VS::add_scaled(y1, y0, h0 * direction, std::array<Real, 1>{Real(1)}, f0);
  f(t0 + h0 * direction, y1, f1);
  const Real d2 = sqrt(tol.over_shards(VS::scaled_sq_norm_diff(f1, f0, y0, tol))) / h0;
  const Real h1 = (d1 <= Real(1e-15) && d2 <= Real(1e-15))
                      ? max(Real(1e-6), h0 * Real(1e-3))
                      : pow(Real(0.01) / (d1 + d2), Real(1) / (Real(order) + Real(1)));
  return min(Real(100) * h0, h1);
}

}  // namespace taynode
