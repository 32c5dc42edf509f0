#pragma once
// The Taylor-coefficient rules, each written once.
//
// Every rule computes the k-th normalized coefficient (c_k = x^(k)/k!) of its
// output from the input coefficients 0..k and the output (and auxiliary)
// coefficients 0..k-1, and writes it. Called with k = 0, 1, …, K it yields a
// whole jet (Jet); called with one k per pass it yields the incremental ODE
// Taylor coefficients (taylor/); vectorized over elements it serves batched
// series. Inputs and outputs are anything indexable with [] (a Jet, a
// pointer, an array).
//
// The identities are those of Griewank & Walther, "Evaluating Derivatives",
// ch. 13, and Table 1 / Appendix A of Kelly et al. 2020. For a product rule
// y = u·v the truncated Cauchy product gives y_k = Σ_{j=0}^{k} u_j v_{k-j}; a
// rule derived from an ODE y' = a·u' follows from comparing the coefficients
// of t^{k-1}:  k·y_k = Σ_{j=1}^{k} j·u_j·a_{k-j}.
//
// The rules never throw and never allocate, so device code may use them.

#include <cmath>
#include <type_traits>

#include "taynode/config.hpp"

#include "taynode/detail/warnings_begin.hpp"

namespace taynode::rules {

template <class Y>
using value_t = std::remove_cvref_t<decltype(std::declval<Y&>()[0])>;

// 1/k without a division for the orders jets use (a division in every step would sit on the
// recurrence's critical path).
template <class T>
TAYNODE_HD constexpr T inverse(int k) {
  constexpr int table_size = 17;
  constexpr T table[table_size] = {T(0),     T(1),      T(1) / 2,  T(1) / 3,  T(1) / 4,  T(1) / 5,
                                   T(1) / 6, T(1) / 7,  T(1) / 8,  T(1) / 9,  T(1) / 10, T(1) / 11,
                                   T(1) / 12, T(1) / 13, T(1) / 14, T(1) / 15, T(1) / 16};
  return k < table_size ? table[k] : T(1) / T(k);
}

// Σ_{j=lo}^{hi} a_j·b_{k-j}, the convolution all rules are built from.
template <class T, class A, class B>
TAYNODE_INLINE TAYNODE_HD constexpr T convolve(int k, int lo, int hi, const A& a, const B& b) {
  T s(0);
  for (int j = lo; j <= hi; ++j) s += a[j] * b[k - j];
  return s;
}
// Σ_{j=lo}^{hi} j·a_j·b_{k-j}
template <class T, class A, class B>
TAYNODE_INLINE TAYNODE_HD constexpr T convolve_weighted(int k, int lo, int hi, const A& a, const B& b) {
  T s(0);
  for (int j = lo; j <= hi; ++j) s += T(j) * a[j] * b[k - j];
  return s;
}

// y = u·v:  y_k = Σ_{j=0}^{k} u_j v_{k-j}
template <class U, class V>
TAYNODE_INLINE TAYNODE_HD constexpr auto product(int k, const U& u, const V& v) {
  return convolve<value_t<U>>(k, 0, k, u, v);
}

// y = u²:  y_k = Σ_{j=0}^{k} u_j u_{k-j}  (symmetric: half the terms, doubled)
template <class U>
TAYNODE_INLINE TAYNODE_HD constexpr auto square(int k, const U& u) {
  using T = value_t<U>;
  if (k == 0) return T(u[0] * u[0]);
  T s = convolve<T>(k, 0, (k - 1) / 2, u, u);
  s += s;
  if (k % 2 == 0) s += u[k / 2] * u[k / 2];
  return s;
}

// y = u/v, i.e. y·v = u:  y_k = (u_k − Σ_{j=0}^{k-1} y_j v_{k-j}) / v_0
template <class U, class V, class Y>
TAYNODE_INLINE TAYNODE_HD constexpr void quotient(int k, const U& u, const V& v, Y& y) {
  using T = value_t<Y>;
  y[k] = (u[k] - convolve<T>(k, 0, k - 1, y, v)) * (T(1) / v[0]);
}

// y = a/v for a constant a:  y_k = −(Σ_{j=0}^{k-1} y_j v_{k-j}) / v_0, y_0 = a/v_0
template <class T, class V, class Y>
TAYNODE_INLINE TAYNODE_HD constexpr void reciprocal(int k, T a, const V& v, Y& y) {
  if (k == 0) { y[0] = a / v[0]; return; }
  y[k] = -convolve<T>(k, 0, k - 1, y, v) * (T(1) / v[0]);
}

// y = √u, i.e. y² = u:  y_k = (u_k − Σ_{j=1}^{k-1} y_j y_{k-j}) / (2 y_0)
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void sqrt(int k, const U& u, Y& y) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::sqrt(u[0]); return; }
  y[k] = (u[k] - convolve<T>(k, 1, k - 1, y, y)) * (T(0.5) / y[0]);
}

// y = u^a, from u·y' = a·y·u':  k·u_0·y_k = Σ_{j=1}^{k} (a·j − (k−j))·u_j·y_{k-j}   (k ≥ 1)
template <class T, class U, class Y>
TAYNODE_INLINE TAYNODE_HD void power_step(int k, T a, const U& u, Y& y) {
  T s(0);
  for (int j = 1; j <= k; ++j) s += (a * T(j) - T(k - j)) * u[j] * y[k - j];
  y[k] = s * (inverse<T>(k) / u[0]);
}
template <class T, class U, class Y>
TAYNODE_INLINE TAYNODE_HD void power(int k, T a, const U& u, Y& y) {
  if (k == 0) { y[0] = std::pow(u[0], a); return; }
  power_step(k, a, u, y);
}
// y = ∛u: the power rule with a = 1/3, anchored at the real cube root (defined for u_0 < 0)
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void cbrt(int k, const U& u, Y& y) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::cbrt(u[0]); return; }
  power_step(k, T(1) / T(3), u, y);
}

// y = exp(u), from y' = y·u':  k·y_k = Σ_{j=1}^{k} j·u_j·y_{k-j}
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void exp(int k, const U& u, Y& y) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::exp(u[0]); return; }
  y[k] = convolve_weighted<T>(k, 1, k, u, y) * inverse<T>(k);
}

// y = exp(u) − 1, from y' = (y + 1)·u':  k·y_k = k·u_k + Σ_{j=1}^{k} j·u_j·y_{k-j}
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void expm1(int k, const U& u, Y& y) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::expm1(u[0]); return; }
  y[k] = u[k] + convolve_weighted<T>(k, 1, k, u, y) * inverse<T>(k);
}

// y = log(u + shift), from (u + shift)·y' = u':
//   k·(u_0 + shift)·y_k = k·u_k − Σ_{j=1}^{k-1} j·y_j·u_{k-j}
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void log_step(int k, value_t<Y> u0_shifted, const U& u, Y& y) {
  using T = value_t<Y>;
  y[k] = (u[k] - convolve_weighted<T>(k, 1, k - 1, y, u) * inverse<T>(k)) * (T(1) / u0_shifted);
}
// y = log(u)
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void log(int k, const U& u, Y& y) {
  if (k == 0) { y[0] = std::log(u[0]); return; }
  log_step(k, u[0], u, y);
}
// y = log(1 + u)
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD void log1p(int k, const U& u, Y& y) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::log1p(u[0]); return; }
  log_step(k, T(1) + u[0], u, y);
}

// s = sin(u), c = cos(u), jointly, from s' = c·u', c' = −s·u':
//   k·s_k = Σ_{j=1}^{k} j·u_j·c_{k-j},   k·c_k = −Σ_{j=1}^{k} j·u_j·s_{k-j}
template <class U, class S, class C>
TAYNODE_INLINE TAYNODE_HD void sin_cos(int k, const U& u, S& s, C& c) {
  using T = value_t<S>;
  if (k == 0) { s[0] = std::sin(u[0]); c[0] = std::cos(u[0]); return; }
  const T sk = convolve_weighted<T>(k, 1, k, u, c) * inverse<T>(k);
  c[k] = -convolve_weighted<T>(k, 1, k, u, s) * inverse<T>(k);
  s[k] = sk;
}

// s = sinh(u), c = cosh(u), jointly, from s' = c·u', c' = s·u':
//   k·s_k = Σ_{j=1}^{k} j·u_j·c_{k-j},   k·c_k = Σ_{j=1}^{k} j·u_j·s_{k-j}
template <class U, class S, class C>
TAYNODE_INLINE TAYNODE_HD void sinh_cosh(int k, const U& u, S& s, C& c) {
  using T = value_t<S>;
  if (k == 0) { s[0] = std::sinh(u[0]); c[0] = std::cosh(u[0]); return; }
  const T sk = convolve_weighted<T>(k, 1, k, u, c) * inverse<T>(k);
  c[k] = convolve_weighted<T>(k, 1, k, u, s) * inverse<T>(k);
  s[k] = sk;
}

// y = tan(u) with w = 1 + y², from y' = w·u':  k·y_k = Σ_{j=1}^{k} j·u_j·w_{k-j},  w_k = (y²)_k
template <class U, class Y, class W>
TAYNODE_INLINE TAYNODE_HD void tan(int k, const U& u, Y& y, W& w) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::tan(u[0]); w[0] = T(1) + y[0] * y[0]; return; }
  y[k] = convolve_weighted<T>(k, 1, k, u, w) * inverse<T>(k);
  w[k] = square(k, y);
}

// y = tanh(u) with w = 1 − y², from y' = w·u':  k·y_k = Σ_{j=1}^{k} j·u_j·w_{k-j},  w_k = −(y²)_k.
// y_0 and w_0 = 1/cosh²(u_0) from one exponential, q = e^{−2|u_0|} (1 − tanh² would cancel for
// large |u_0|): tanh|u_0| = (1 − q)/(1 + q), w_0 = 4q/(1 + q)². For |u_0| < 1/2 the difference
// 1 − q = −expm1(−2|u_0|) is taken from expm1 instead, so small arguments keep full accuracy.
template <class U, class Y, class W>
TAYNODE_INLINE TAYNODE_HD void tanh(int k, const U& u, Y& y, W& w) {
  using T = value_t<Y>;
  if (k == 0) {
    const T a = std::abs(u[0]);
    T one_minus_q, q;
    if (a < T(0.5)) {
      one_minus_q = -std::expm1(T(-2) * a);
      q = T(1) - one_minus_q;  // ≥ e^{−1}: no cancellation
    } else {
      q = std::exp(T(-2) * a);
      one_minus_q = T(1) - q;  // ≥ 1 − e^{−1}
    }
    const T one_plus_q = T(1) + q;
    const T t = one_minus_q / one_plus_q;
    y[0] = u[0] < T(0) ? -t : t;
    w[0] = T(4) * q / (one_plus_q * one_plus_q);
    return;
  }
  y[k] = convolve_weighted<T>(k, 1, k, u, w) * inverse<T>(k);
  w[k] = -square(k, y);
}

// s = σ(u) = 1/(1 + e^{−u}) with e = s·(1 − s), from s' = e·u':
//   k·s_k = Σ_{j=1}^{k} j·u_j·e_{k-j},   e_k = (1 − 2 s_0)·s_k − Σ_{j=1}^{k-1} s_j s_{k-j}.
// s_0 and e_0 = σ(u_0)·σ(−u_0) are evaluated without cancellation for any u_0.
template <class U, class S, class E>
TAYNODE_INLINE TAYNODE_HD void sigmoid(int k, const U& u, S& s, E& e) {
  using T = value_t<S>;
  if (k == 0) {
    const T z = std::exp(-std::abs(u[0]));  // in (0, 1]: no overflow
    const T big = T(1) / (T(1) + z), small = z / (T(1) + z);
    s[0] = u[0] >= T(0) ? big : small;
    e[0] = big * small;
    return;
  }
  s[k] = convolve_weighted<T>(k, 1, k, u, e) * inverse<T>(k);
  e[k] = (T(1) - T(2) * s[0]) * s[k] - convolve<T>(k, 1, k - 1, s, s);
}

// y = softplus(u) = log(1 + e^u), from y' = σ(u)·u':  k·y_k = Σ_{j=1}^{k} j·u_j·s_{k-j},
// with s = σ(u), e = s(1 − s) carried along by the sigmoid rule.
// y_0 = max(u_0, 0) + log1p(e^{−|u_0|}): no overflow, and no kink enters the higher coefficients.
template <class U, class Y, class S, class E>
TAYNODE_INLINE TAYNODE_HD void softplus(int k, const U& u, Y& y, S& s, E& e) {
  using T = value_t<Y>;
  if (k == 0) {
    y[0] = (u[0] > T(0) ? u[0] : T(0)) + std::log1p(std::exp(-std::abs(u[0])));
  } else {
    y[k] = convolve_weighted<T>(k, 1, k, u, s) * inverse<T>(k);
  }
  sigmoid(k, u, s, e);
}

// y = asin(u) (sign = +1) or acos(u) (sign = −1) with r = √(1 − u²), from r·y' = ±u':
//   k·r_0·y_k = ±k·u_k − Σ_{j=1}^{k-1} j·y_j·r_{k-j};  r by the sqrt rule on 1 − u².
template <class U, class Y, class R>
TAYNODE_INLINE TAYNODE_HD void inverse_sine_step(int k, int sign, const U& u, Y& y, R& r) {
  using T = value_t<Y>;
  y[k] = (T(sign) * u[k] - convolve_weighted<T>(k, 1, k - 1, y, r) * inverse<T>(k)) * (T(1) / r[0]);
  // (1 − u²)_k = −(u²)_k for k ≥ 1
  r[k] = (-square(k, u) - convolve<T>(k, 1, k - 1, r, r)) * (T(0.5) / r[0]);
}
template <class U, class Y, class R>
TAYNODE_INLINE TAYNODE_HD void asin(int k, const U& u, Y& y, R& r) {
  if (k == 0) { y[0] = std::asin(u[0]); r[0] = std::sqrt((1 - u[0]) * (1 + u[0])); return; }
  inverse_sine_step(k, +1, u, y, r);
}
template <class U, class Y, class R>
TAYNODE_INLINE TAYNODE_HD void acos(int k, const U& u, Y& y, R& r) {
  if (k == 0) { y[0] = std::acos(u[0]); r[0] = std::sqrt((1 - u[0]) * (1 + u[0])); return; }
  inverse_sine_step(k, -1, u, y, r);
}

// y = atan(u) with w = 1 + u², from w·y' = u':  k·w_0·y_k = k·u_k − Σ_{j=1}^{k-1} j·y_j·w_{k-j}
template <class U, class Y, class W>
TAYNODE_INLINE TAYNODE_HD void atan(int k, const U& u, Y& y, W& w) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::atan(u[0]); w[0] = T(1) + u[0] * u[0]; return; }
  w[k] = square(k, u);
  y[k] = (u[k] - convolve_weighted<T>(k, 1, k - 1, y, w) * inverse<T>(k)) * (T(1) / w[0]);
}

// θ = atan2(v, x) with w = x² + v², from w·θ' = x·v' − v·x':
//   k·w_0·θ_k = Σ_{i=0}^{k-1} (k−i)·(x_i v_{k-i} − v_i x_{k-i}) − Σ_{j=1}^{k-1} j·θ_j·w_{k-j}
template <class V, class X, class Y, class W>
TAYNODE_INLINE TAYNODE_HD void atan2(int k, const V& v, const X& x, Y& y, W& w) {
  using T = value_t<Y>;
  if (k == 0) { y[0] = std::atan2(v[0], x[0]); w[0] = x[0] * x[0] + v[0] * v[0]; return; }
  w[k] = square(k, x) + square(k, v);
  T s(0);
  for (int i = 0; i < k; ++i) s += T(k - i) * (x[i] * v[k - i] - v[i] * x[k - i]);
  y[k] = (s - convolve_weighted<T>(k, 1, k - 1, y, w)) * (inverse<T>(k) / w[0]);
}

// y = erf(u) with g = exp(q), q = −u², from y' = (2/√π)·g·u':
//   k·y_k = (2/√π)·Σ_{j=1}^{k} j·u_j·g_{k-j};  q_k = −(u²)_k;  g by the exp rule.
template <class U, class Y, class G, class Q>
TAYNODE_INLINE TAYNODE_HD void erf(int k, const U& u, Y& y, G& g, Q& q) {
  using T = value_t<Y>;
  const T two_over_sqrt_pi = T(1.12837916709551257389615890312154517L);
  if (k == 0) { y[0] = std::erf(u[0]); q[0] = -u[0] * u[0]; g[0] = std::exp(q[0]); return; }
  y[k] = two_over_sqrt_pi * convolve_weighted<T>(k, 1, k, u, g) * inverse<T>(k);
  q[k] = -square(k, u);
  g[k] = convolve_weighted<T>(k, 1, k, q, g) * inverse<T>(k);
}

// Non-smooth functions, expanded for small t > 0. At a kink the sign of u(t) for small t > 0 is
// the sign of the first non-zero coefficient; coefficient k needs only u_0..u_k, because if those
// are all zero then y_k = ±u_k = 0 either way. So these are single-coefficient steps too.
template <class U>
TAYNODE_INLINE TAYNODE_HD constexpr int leading_sign(int k, const U& u) {
  using T = value_t<U>;
  for (int j = 0; j <= k; ++j) {
    if (u[j] > T(0)) return 1;
    if (u[j] < T(0)) return -1;
  }
  return 0;
}
// Sign of the first non-zero coefficient of v − u among 0..k.
template <class U, class V>
TAYNODE_INLINE TAYNODE_HD constexpr int leading_sign_of_difference(int k, const U& u, const V& v) {
  using T = value_t<U>;
  for (int j = 0; j <= k; ++j) {
    const T d = v[j] - u[j];
    if (d > T(0)) return 1;
    if (d < T(0)) return -1;
  }
  return 0;
}
// y = |u| = sign(u)·u (at u_0 = 0 the sign of u(t) for small t > 0)
template <class U, class Y>
TAYNODE_INLINE TAYNODE_HD constexpr void abs(int k, const U& u, Y& y) {
  y[k] = leading_sign(k, u) < 0 ? -u[k] : u[k];
}
// y = min(u, v): v where v < u for small t > 0, else u (identical series: u)
template <class U, class V, class Y>
TAYNODE_INLINE TAYNODE_HD constexpr void min(int k, const U& u, const V& v, Y& y) {
  y[k] = leading_sign_of_difference(k, u, v) < 0 ? v[k] : u[k];
}
// y = max(u, v): v where v > u for small t > 0, else u
template <class U, class V, class Y>
TAYNODE_INLINE TAYNODE_HD constexpr void max(int k, const U& u, const V& v, Y& y) {
  y[k] = leading_sign_of_difference(k, u, v) > 0 ? v[k] : u[k];
}

}  // namespace taynode::rules

#include "taynode/detail/warnings_end.hpp"
