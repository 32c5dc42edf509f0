#pragma once
// Elementary functions of jets, bound from the list in rule_list.hpp. Each
// evaluates its arguments once and runs the rule from rules.hpp for k = 0..K;
// the identity behind each rule is written there, next to its recurrence.

#include <cmath>

#include "taynode/jet/jet.hpp"
#include "taynode/jet/rule_list.hpp"
#include "taynode/jet/rules.hpp"

#include "taynode/detail/warnings_begin.hpp"

namespace taynode {

namespace detail {
// y = F(inputs…) by a step object of rules::steps, run for k = 0..K, with the step's auxiliary
// series (sin's cos, σ's σ(1−σ), …) as local jets.
template <class J, class Rule, class... U>
TAYNODE_INLINE TAYNODE_HD constexpr J run_rule(const Rule& rule, const U&... u) {
  J y, aux[Rule::aux_count > 0 ? Rule::aux_count : 1];
  TAYNODE_UNROLL
  for (int k = 0; k <= J::order; ++k) rule(k, u..., y, aux);
  return y;
}
// Each input expression is evaluated once, before the steps.
template <class Rule, class E, class... F>
TAYNODE_INLINE TAYNODE_HD constexpr jet_of_t<E> apply_rule(const Rule& rule, const E& e, const F&... f) {
  return run_rule<jet_of_t<E>>(rule, evaluate(e), evaluate(f)...);
}
}  // namespace detail

// The functions of rule_list.hpp, each for any jet expression u (and v).
#define TAYNODE_JET_UNARY(NAME, AUX, STEP)                                  \
  template <class E>                                                        \
    requires is_jet_expr_v<E>                                               \
  TAYNODE_HD constexpr jet_of_t<E> NAME(const E& u) {                       \
    return detail::apply_rule(rules::steps::NAME{}, u);                     \
  }
TAYNODE_UNARY_RULES(TAYNODE_JET_UNARY)
#undef TAYNODE_JET_UNARY
#define TAYNODE_JET_BINARY(NAME, SPELLING, AUX, STEP)                       \
  template <class A, class B>                                               \
    requires CompatibleJets<A, B>                                           \
  TAYNODE_HD constexpr jet_of_t<A> SPELLING(const A& u, const B& v) {       \
    return detail::apply_rule(rules::steps::NAME{}, u, v);                  \
  }
TAYNODE_BINARY_RULES(TAYNODE_JET_BINARY)
#undef TAYNODE_JET_BINARY

// s / v by the reciprocal rule
template <class S, class B>
  requires JetScalarOperand<S, B>
TAYNODE_HD constexpr jet_of_t<B> operator/(S s, const B& v) {
  using T = typename jet_of_t<B>::scalar_type;
  return detail::apply_rule(rules::steps::reciprocal<T>{T(s)}, v);
}
template <class T, int K>
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr Jet<T, K>& Jet<T, K>::operator/=(const E& e) {
  return *this = *this / e;
}

// u^a for a real exponent a by the power rule (u_0 > 0, or u_0 < 0 with an integral a)
template <class E, class S>
  requires JetScalarOperand<S, E>
TAYNODE_HD constexpr jet_of_t<E> pow(const E& u, S a) {
  using T = typename jet_of_t<E>::scalar_type;
  return detail::apply_rule(rules::steps::power<T>{T(a)}, u);
}
// u^n for an integer n: binary powering with products, exact also at u_0 = 0
template <class E>
  requires is_jet_expr_v<E>
TAYNODE_HD constexpr jet_of_t<E> pow(const E& u, int n) {
  return rules::integer_power<jet_of_t<E>>(u, n);
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
