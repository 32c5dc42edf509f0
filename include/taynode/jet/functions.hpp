#pragma once
// Elementary functions of jets. Each evaluates its argument once and runs the
// rule from rules.hpp for k = 0..K; the identity behind each rule is written
// there, next to its recurrence.

#include <cmath>

#include "taynode/jet/jet.hpp"
#include "taynode/jet/rules.hpp"

#include "taynode/detail/warnings_begin.hpp"

namespace taynode {

namespace detail {
// y = F(u): the rule run for k = 0..K, carrying N auxiliary series (sin's cos, σ's σ(1−σ), …).
template <int N, class E, class Rule>
TAYNODE_INLINE TAYNODE_HD constexpr jet_of_t<E> apply_rule(const JetExpr<E>& e, Rule rule) {
  const auto& u = evaluate(e);
  jet_of_t<E> y, aux[N > 0 ? N : 1];
  TAYNODE_UNROLL
  for (int k = 0; k <= jet_of_t<E>::order; ++k) rule(k, u, y, aux);
  return y;
}
}  // namespace detail

// F(u) for any jet expression u, by the rule CALL of rules.hpp (where its identity is written).
#define TAYNODE_JET_FUNCTION(NAME, N, CALL)                                                   \
  template <class E>                                                                          \
    requires is_jet_expr_v<E>                                                                 \
  TAYNODE_HD constexpr jet_of_t<E> NAME(const E& u) {                                         \
    return detail::apply_rule<N>(u, [](int k, const auto& a, auto& y, auto* aux) {           \
      (void)aux;                                                                              \
      CALL;                                                                                   \
    });                                                                                       \
  }
TAYNODE_JET_FUNCTION(exp, 0, rules::exp(k, a, y))
TAYNODE_JET_FUNCTION(expm1, 0, rules::expm1(k, a, y))
TAYNODE_JET_FUNCTION(log, 0, rules::log(k, a, y))
TAYNODE_JET_FUNCTION(log1p, 0, rules::log1p(k, a, y))
TAYNODE_JET_FUNCTION(sqrt, 0, rules::sqrt(k, a, y))
TAYNODE_JET_FUNCTION(cbrt, 0, rules::cbrt(k, a, y))
TAYNODE_JET_FUNCTION(square, 0, y[k] = rules::square(k, a))
TAYNODE_JET_FUNCTION(sin, 1, rules::sin_cos(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(cos, 1, rules::sin_cos(k, a, aux[0], y))
TAYNODE_JET_FUNCTION(tan, 1, rules::tan(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(sinh, 1, rules::sinh_cosh(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(cosh, 1, rules::sinh_cosh(k, a, aux[0], y))
TAYNODE_JET_FUNCTION(tanh, 1, rules::tanh(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(asin, 1, rules::asin(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(acos, 1, rules::acos(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(atan, 1, rules::atan(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(sigmoid, 1, rules::sigmoid(k, a, y, aux[0]))
TAYNODE_JET_FUNCTION(softplus, 2, rules::softplus(k, a, y, aux[0], aux[1]))
TAYNODE_JET_FUNCTION(erf, 2, rules::erf(k, a, y, aux[0], aux[1]))
#undef TAYNODE_JET_FUNCTION

// atan2(v, x), the angle of the point (x, v)
template <class V, class X>
  requires CompatibleJets<V, X>
TAYNODE_HD constexpr jet_of_t<V> atan2(const V& v, const X& x) {
  const auto& a = evaluate(v);
  const auto& b = evaluate(x);
  jet_of_t<V> y, w;
TAYNODE_UNROLL
  for (int k = 0; k <= jet_of_t<V>::order; ++k) rules::atan2(k, a, b, y, w);
  return y;
}

// u / v by the quotient rule (eager: y_k depends on y_0..y_{k-1})
template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_HD constexpr jet_of_t<A> operator/(const A& u, const B& v) {
  const auto& a = evaluate(u);
  const auto& b = evaluate(v);
  jet_of_t<A> y;
TAYNODE_UNROLL
  for (int k = 0; k <= jet_of_t<A>::order; ++k) rules::quotient(k, a, b, y);
  return y;
}
// s / v by the reciprocal rule
template <class S, class B>
  requires JetScalarOperand<S, B>
TAYNODE_HD constexpr jet_of_t<B> operator/(S s, const B& v) {
  using T = typename jet_of_t<B>::scalar_type;
  const auto& b = evaluate(v);
  jet_of_t<B> y;
TAYNODE_UNROLL
  for (int k = 0; k <= jet_of_t<B>::order; ++k) rules::reciprocal(k, T(s), b, y);
  return y;
}
template <class T, int K>
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr Jet<T, K>& Jet<T, K>::operator/=(const E& e) {
  return *this = *this / e;
}

// u^a for a real exponent a (u_0 > 0, or u_0 < 0 with an integral a)
template <class E, class S>
  requires JetScalarOperand<S, E>
TAYNODE_HD constexpr jet_of_t<E> pow(const E& u, S a) {
  using T = typename jet_of_t<E>::scalar_type;
  return detail::apply_rule<0>(u, [a](int k, const auto& x, auto& y, auto*) { rules::power(k, T(a), x, y); });
}
// u^n for an integer n: binary powering with products, exact also at u_0 = 0
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr jet_of_t<E> pow(const E& u, int n) {
  using J = jet_of_t<E>;
  J base = u, result(typename J::scalar_type(1));
  for (unsigned m = n < 0 ? 0u - unsigned(n) : unsigned(n); m != 0; m >>= 1) {
    if (m & 1u) result = result * base;
    if (m > 1u) base = square(base);
  }
  if (n < 0) return typename J::scalar_type(1) / result;
  return result;
}
// u^v = exp(v·log u)
template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_HD constexpr jet_of_t<A> pow(const A& u, const B& v) {
  return exp(v * log(u));
}
// a^v = exp(v·log a)
template <class S, class B>
  requires JetScalarOperand<S, B>
TAYNODE_HD constexpr jet_of_t<B> pow(S a, const B& v) {
  using T = typename jet_of_t<B>::scalar_type;
  using std::log;
  return exp(v * T(log(T(a))));
}

// Non-smooth functions. At a kink they return the expansion valid for small t > 0.
namespace detail {
// Sign (−1, 0, +1) of the first non-zero coefficient: the sign of u(t) for small t > 0.
template <class T, int K>
TAYNODE_HD constexpr int leading_sign(const Jet<T, K>& u) {
  for (int k = 0; k <= K; ++k) {
    if (u[k] > T(0)) return 1;
    if (u[k] < T(0)) return -1;
  }
  return 0;
}
}  // namespace detail

// |u| = sign(u)·u, with the sign of u(t) for small t > 0 at u_0 = 0
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr jet_of_t<E> abs(const E& e) {
  jet_of_t<E> u = e;
  if (detail::leading_sign(u) < 0) return -u;
  return u;
}
// min(u, v): the smaller by value; at a tie the one smaller for small t > 0 (then u)
template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_HD constexpr jet_of_t<A> min(const A& a, const B& b) {
  jet_of_t<A> u = a, v = b;
  return detail::leading_sign(jet_of_t<A>(v - u)) < 0 ? v : u;
}
// max(u, v): the larger by value; at a tie the one larger for small t > 0 (then u)
template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_HD constexpr jet_of_t<A> max(const A& a, const B& b) {
  jet_of_t<A> u = a, v = b;
  return detail::leading_sign(jet_of_t<A>(v - u)) > 0 ? v : u;
}

// Classification looks at the value.
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr bool isfinite(const E& u) {
  using std::isfinite;
  return isfinite(u.coeff(0));
}
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr bool isnan(const E& u) {
  using std::isnan;
  return isnan(u.coeff(0));
}
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr bool isinf(const E& u) {
  using std::isinf;
  return isinf(u.coeff(0));
}

}  // namespace taynode

#include "taynode/detail/warnings_end.hpp"
