#pragma once
// Adjoints (vector–Jacobian products) of the Taylor-coefficient rules of jet/rules.hpp.
//
// A forward rule step k computes the output coefficient y_k (and auxiliary coefficients a_k)
// from the input coefficients u_0..u_k and the outputs' coefficients 0..k−1. Its adjoint step k
// takes the (complete) cotangent ȳ_k (and ā_k) and distributes it:
//   ū_j += ȳ_k ∂y_k/∂u_j   (j ≤ k),     ȳ_j += ȳ_k ∂y_k/∂y_j   (j < k),   likewise for ā.
// Run for k = K, K−1, …, 0 (the reverse of the forward order) it is the VJP of the whole series
// map u ↦ (y, a): when step k runs, ȳ_k has received every contribution (from the steps m > k
// and from whatever consumed y_k). The Leibniz sums of the forward transpose to correlations:
// y_k = Σ_j u_j v_{k−j} gives ū_j += ȳ_k v_{k−j} and v̄_{k−j} += ȳ_k u_j. O(k) per step and
// element, like the forward step.
//
// Conventions: NORMALIZED coefficients (c_k = x^(k)/k!) as the forward rules; the forward
// values u, y, a are read, the cotangents ū, ȳ, ā are accumulated (+=) — the caller zeroes them.
// Within one step, an auxiliary computed AFTER y_k from y_0..y_k (tanh's w_k, sigmoid's e_k) is
// handled first, because it adds to ȳ_k.

#include "taynode/config.hpp"
#include "taynode/jet/rules.hpp"

#include "taynode/detail/warnings_begin.hpp"

namespace taynode::ad::rules {

using taynode::rules::inverse;
using taynode::rules::value_t;

// y = u·v: y_k = Σ_{j=0}^{k} u_j v_{k−j}.   (u and v must be different series; see square.)
template <class U, class V, class UB, class VB, class T>
TAYNODE_INLINE TAYNODE_HD void product_adjoint(int k, const U& u, const V& v, const UB& ub, const VB& vb, T yb) {
  for (int j = 0; j <= k; ++j) {
    ub[j] += yb * v[k - j];
    vb[k - j] += yb * u[j];
  }
}

// y = u²: y_k = Σ_{j=0}^{k} u_j u_{k−j}  ⇒  ū_j += 2 ȳ_k u_{k−j}.
template <class U, class UB, class T>
TAYNODE_INLINE TAYNODE_HD void square_adjoint(int k, const U& u, const UB& ub, T yb) {
  const T g = yb + yb;
  for (int j = 0; j <= k; ++j) ub[j] += g * u[k - j];
}

// Shared part of the ODE-derived rules y_k = (1/k) Σ_{j=1}^{k} j·u_j·a_{k−j} (k ≥ 1):
//   ū_j += (ȳ_k j/k)·a_{k−j},   ā_{k−j} += (ȳ_k j/k)·u_j.
template <class U, class A, class UB, class AB, class T>
TAYNODE_INLINE TAYNODE_HD void weighted_convolution_adjoint(int k, const U& u, const A& a, const UB& ub, const AB& ab,
                                                            T yb) {
  const T g = yb * inverse<T>(k);
  for (int j = 1; j <= k; ++j) {
    const T gj = g * T(j);
    ub[j] += gj * a[k - j];
    ab[k - j] += gj * u[j];
  }
}

// y = exp(u): y_0 = e^{u_0}; y_k = (1/k) Σ_{j=1}^{k} j u_j y_{k−j}.
template <class U, class Y, class UB, class YB>
TAYNODE_INLINE TAYNODE_HD void exp_adjoint(int k, const U& u, const Y& y, const UB& ub, const YB& yb) {
  using T = value_t<Y>;
  const T g = yb[k];
  if (k == 0) { ub[0] += g * y[0]; return; }
  weighted_convolution_adjoint(k, u, y, ub, yb, g);
}

// y = log(u): y_0 = log u_0; y_k = (u_k − (1/k) Σ_{j=1}^{k−1} j y_j u_{k−j}) / u_0, so also
// ∂y_k/∂u_0 = −y_k/u_0.
template <class U, class Y, class UB, class YB>
TAYNODE_INLINE TAYNODE_HD void log_adjoint(int k, const U& u, const Y& y, const UB& ub, const YB& yb) {
  using T = value_t<Y>;
  const T g = yb[k] / u[0];
  if (k == 0) { ub[0] += g; return; }
  ub[k] += g;
  ub[0] -= g * y[k];
  const T gk = g * inverse<T>(k);
  for (int j = 1; j <= k - 1; ++j) {
    const T gj = gk * T(j);
    yb[j] -= gj * u[k - j];
    ub[k - j] -= gj * y[j];
  }
}

// y = tanh(u), w = 1 − y²: y_0 = tanh u_0, w_0 = 1/cosh² u_0 (dw_0/du_0 = −2 y_0 w_0);
// y_k = (1/k) Σ j u_j w_{k−j}, then w_k = −(y²)_k.
template <class U, class Y, class W, class UB, class YB, class WB>
TAYNODE_INLINE TAYNODE_HD void tanh_adjoint(int k, const U& u, const Y& y, const W& w, const UB& ub, const YB& yb,
                                            const WB& wb) {
  using T = value_t<Y>;
  if (k == 0) {
    ub[0] += (yb[0] - T(2) * wb[0] * y[0]) * w[0];
    return;
  }
  square_adjoint(k, y, yb, T(-wb[k]));  // w_k = −(y²)_k: adds to ȳ_0..ȳ_k
  weighted_convolution_adjoint(k, u, w, ub, wb, T(yb[k]));
}

// s = σ(u), e = s(1 − s): s_0 = σ(u_0), e_0 = s_0(1 − s_0) (ds_0/du_0 = e_0, de_0/du_0 =
// e_0(1 − 2 s_0)); s_k = (1/k) Σ j u_j e_{k−j}, then e_k = (1 − 2 s_0) s_k − Σ_{j=1}^{k−1} s_j s_{k−j}.
template <class U, class S, class E, class UB, class SB, class EB>
TAYNODE_INLINE TAYNODE_HD void sigmoid_adjoint(int k, const U& u, const S& s, const E& e, const UB& ub, const SB& sb,
                                               const EB& eb) {
  using T = value_t<S>;
  if (k == 0) {
    ub[0] += (sb[0] + eb[0] * (T(1) - T(2) * s[0])) * e[0];
    return;
  }
  const T ge = eb[k];
  sb[k] += ge * (T(1) - T(2) * s[0]);
  sb[0] -= T(2) * ge * s[k];
  for (int j = 1; j <= k - 1; ++j) sb[j] -= T(2) * ge * s[k - j];
  weighted_convolution_adjoint(k, u, e, ub, eb, T(sb[k]));
}

// y = softplus(u) with s = σ(u), e = s(1 − s): y_0 = softplus(u_0) (dy_0/du_0 = s_0);
// y_k = (1/k) Σ j u_j s_{k−j}; then the sigmoid step k (which does not read y).
template <class U, class Y, class S, class E, class UB, class YB, class SB, class EB>
TAYNODE_INLINE TAYNODE_HD void softplus_adjoint(int k, const U& u, const Y&, const S& s, const E& e, const UB& ub,
                                                const YB& yb, const SB& sb, const EB& eb) {
  using T = value_t<S>;
  if (k == 0) ub[0] += yb[0] * s[0];
  else weighted_convolution_adjoint(k, u, s, ub, sb, T(yb[k]));
  sigmoid_adjoint(k, u, s, e, ub, sb, eb);
}

}  // namespace taynode::ad::rules

#include "taynode/detail/warnings_end.hpp"
