#pragma once
// The functions built from the rules of rules.hpp, listed once.
//
// Jet (jet/functions.hpp), IncrementalJet (taylor/incremental_jet.hpp) and the batched series
// (series/ops.hpp) each expand these lists with a binding macro of their own, so a function
// added here (with its step in rules.hpp, and its adjoint in ad/rules_adjoint.hpp if reverse
// mode needs it) appears in all three. The lists are X-macros because a binding must declare a
// named function per entry (`exp`, `sin`, … for Jet; `exp_step`, … for series), which C++ can
// only generate from a list of names by the preprocessor.
//
// Every entry is a step of one call shape, whatever the rule's outputs:
//     STEP(k, inputs…, y, aux)
// computes coefficient k of the output y and of the rule's AUX auxiliary series aux[0..AUX−1]
// (sin's cos, σ's σ(1−σ), softplus's σ and σ(1−σ), …), from the inputs' coefficients 0..k and
// the outputs' 0..k−1. A binding owns the auxiliaries: it allocates AUX series next to y and
// hands them in as one indexable `aux`. Where a rule computes a pair (sin_cos, sinh_cosh), each
// function of the pair is an entry that takes the other as its auxiliary.
//
// Besides the lists, the entries exist as function objects `rules::steps::NAME` (with
// `aux_count`), which is what the bindings call. Products and the linear operations are not
// listed: Jet builds them as expression templates, the others as elementwise coefficient maps,
// all from rules::product.

#include "taynode/config.hpp"
#include "taynode/jet/rules.hpp"

#include "taynode/detail/warnings_begin.hpp"

// y = NAME(u): X(NAME, AUX, STEP) with STEP in terms of k, u, y, aux.
#define TAYNODE_UNARY_RULES(X)                                  \
  X(exp, 0, rules::exp(k, u, y))                                \
  X(expm1, 0, rules::expm1(k, u, y))                            \
  X(log, 0, rules::log(k, u, y))                                \
  X(log1p, 0, rules::log1p(k, u, y))                            \
  X(sqrt, 0, rules::sqrt(k, u, y))                              \
  X(cbrt, 0, rules::cbrt(k, u, y))                              \
  X(square, 0, y[k] = rules::square(k, u))                      \
  X(sin, 1, rules::sin_cos(k, u, y, aux[0]))                    \
  X(cos, 1, rules::sin_cos(k, u, aux[0], y))                    \
  X(tan, 1, rules::tan(k, u, y, aux[0]))                        \
  X(sinh, 1, rules::sinh_cosh(k, u, y, aux[0]))                 \
  X(cosh, 1, rules::sinh_cosh(k, u, aux[0], y))                 \
  X(tanh, 1, rules::tanh(k, u, y, aux[0]))                      \
  X(asin, 1, rules::asin(k, u, y, aux[0]))                      \
  X(acos, 1, rules::acos(k, u, y, aux[0]))                      \
  X(atan, 1, rules::atan(k, u, y, aux[0]))                      \
  X(sigmoid, 1, rules::sigmoid(k, u, y, aux[0]))                \
  X(softplus, 2, rules::softplus(k, u, y, aux[0], aux[1]))      \
  X(erf, 2, rules::erf(k, u, y, aux[0], aux[1]))                \
  X(abs, 0, rules::abs(k, u, y))

// y = u SPELLING v: X(NAME, SPELLING, AUX, STEP) with STEP in terms of k, u, v, y, aux; SPELLING is
// how scalar types (Jet, IncrementalJet) offer it, NAME how series name it (NAME_step).
#define TAYNODE_BINARY_RULES(X)                                 \
  X(quotient, operator/, 0, rules::quotient(k, u, v, y))        \
  X(atan2, atan2, 1, rules::atan2(k, u, v, y, aux[0]))          \
  X(min, min, 0, rules::min(k, u, v, y))                        \
  X(max, max, 0, rules::max(k, u, v, y))

// y = NAME(u; p) with a scalar parameter p: X(NAME, AUX, STEP) with STEP in terms of k, p, u, y,
// aux. Scalar types spell them u^p = pow(u, p) (power) and p/u (reciprocal); the other powers are
// built from listed functions (integer_power below, and exp(v·log u)).
#define TAYNODE_PARAMETRIC_RULES(X)                             \
  X(power, 0, rules::power(k, p, u, y))                         \
  X(reciprocal, 0, rules::reciprocal(k, p, u, y))

namespace taynode::rules::steps {

// The members of a step object with one input u (a parametric step adds its parameter p).
#define TAYNODE_UNARY_STEP_MEMBERS(AUX, STEP)                                                         \
  static constexpr int aux_count = AUX;                                                               \
  template <class U, class Y, class A>                                                                \
  TAYNODE_INLINE TAYNODE_HD constexpr void operator()(int k, const U& u, Y& y, A& aux) const {       \
    (void)aux;                                                                                        \
    STEP;                                                                                             \
  }
#define TAYNODE_UNARY_STEP(NAME, AUX, STEP) \
  struct NAME {                             \
    TAYNODE_UNARY_STEP_MEMBERS(AUX, STEP)   \
  };
TAYNODE_UNARY_RULES(TAYNODE_UNARY_STEP)
#undef TAYNODE_UNARY_STEP
#define TAYNODE_PARAMETRIC_STEP(NAME, AUX, STEP) \
  template <class T>                             \
  struct NAME {                                  \
    T p;                                         \
    TAYNODE_UNARY_STEP_MEMBERS(AUX, STEP)        \
  };
TAYNODE_PARAMETRIC_RULES(TAYNODE_PARAMETRIC_STEP)
#undef TAYNODE_PARAMETRIC_STEP
#undef TAYNODE_UNARY_STEP_MEMBERS

#define TAYNODE_BINARY_STEP(NAME, SPELLING, AUX, STEP)                                                \
  struct NAME {                                                                                       \
    static constexpr int aux_count = AUX;                                                             \
    template <class U, class V, class Y, class A>                                                     \
    TAYNODE_INLINE TAYNODE_HD constexpr void operator()(int k, const U& u, const V& v, Y& y, A& aux) const { \
      (void)aux;                                                                                      \
      STEP;                                                                                           \
    }                                                                                                 \
  };
TAYNODE_BINARY_RULES(TAYNODE_BINARY_STEP)
#undef TAYNODE_BINARY_STEP

}  // namespace taynode::rules::steps

namespace taynode::rules {

// u^n for an integer n by binary powering with products and squares, for any Taylor scalar J
// (Jet, IncrementalJet): exact also at u_0 = 0, where the power rule divides by u_0.
template <class J>
TAYNODE_HD constexpr J integer_power(J base, int n) {
  using T = typename J::scalar_type;
  J result(T(1));
  for (unsigned m = n < 0 ? 0u - unsigned(n) : unsigned(n); m != 0; m >>= 1) {
    if (m & 1u) result = result * base;
    if (m > 1u) base = square(base);
  }
  if (n < 0) return T(1) / result;
  return result;
}

}  // namespace taynode::rules

#include "taynode/detail/warnings_end.hpp"
