#pragma once
// Expression templates for jet arithmetic: `a*b + c*d - e` becomes a tree of
// light nodes, evaluated coefficient by coefficient when assigned to a Jet.
//
// Every node answers coeff(k) from its operands' coefficients 0..k, so a Jet
// evaluates an expression in descending k and `x = x*x` needs no temporary.
// Linear nodes (sum, difference, negation, scaling) hold their operands as
// they are; a product holds a sub-expression that contains a product as an
// evaluated Jet, so that no coefficient is computed twice (O(K²) stays O(K²)).
// Operands that are Jet lvalues are held by reference, temporaries by value,
// so `auto e = exp(x) * exp(y);` stays valid.

#include <type_traits>
#include <utility>

#include "taynode/config.hpp"
#include "taynode/jet/rules.hpp"

#include "taynode/detail/warnings_begin.hpp"

namespace taynode {

template <class T, int K>
class Jet;

// Base of every jet expression (CRTP).
template <class E>
struct JetExpr {
  TAYNODE_INLINE TAYNODE_HD constexpr const E& derived() const { return static_cast<const E&>(*this); }
};

template <class E>
inline constexpr bool is_jet_expr_v = std::is_base_of_v<JetExpr<std::remove_cvref_t<E>>, std::remove_cvref_t<E>>;

template <class E>
struct is_jet : std::false_type {};
template <class T, int K>
struct is_jet<Jet<T, K>> : std::true_type {};
template <class E>
inline constexpr bool is_jet_v = is_jet<std::remove_cvref_t<E>>::value;

// The Jet type an expression evaluates to.
template <class E>
using jet_of_t = Jet<typename std::remove_cvref_t<E>::scalar_type, std::remove_cvref_t<E>::order>;

// How a node stores an operand: Jet lvalues by reference, everything else by value.
template <class A>
using held_t = std::conditional_t<is_jet_v<A> && std::is_lvalue_reference_v<A>, const std::remove_cvref_t<A>&,
                                  std::remove_cvref_t<A>>;

// How a product stores an operand: as held_t if its coefficients are cheap, else evaluated.
template <class A>
using factor_t = std::conditional_t<std::remove_cvref_t<A>::is_cheap, held_t<A>, jet_of_t<A>>;

// Two jet expressions may be combined when their scalar type and order agree.
template <class A, class B>
concept CompatibleJets = is_jet_expr_v<A> && is_jet_expr_v<B> &&
                         std::is_same_v<typename std::remove_cvref_t<A>::scalar_type,
                                        typename std::remove_cvref_t<B>::scalar_type> &&
                         std::remove_cvref_t<A>::order == std::remove_cvref_t<B>::order;

// A plain number that may be mixed with a jet expression E (T itself, or any arithmetic type).
template <class S, class E>
concept JetScalarOperand = is_jet_expr_v<E> && !is_jet_expr_v<S> &&
                           (std::is_arithmetic_v<std::remove_cvref_t<S>> ||
                            std::is_same_v<std::remove_cvref_t<S>, typename std::remove_cvref_t<E>::scalar_type>);

namespace expr {

// Common member types of a node whose first operand type is A.
#define TAYNODE_JET_NODE_TYPES(A, CHEAP)                                 \
  using scalar_type = typename std::remove_cvref_t<A>::scalar_type;    \
  static constexpr int order = std::remove_cvref_t<A>::order;          \
  static constexpr bool is_cheap = CHEAP;

// a + b:  y_k = a_k + b_k
template <class A, class B>
struct Sum : JetExpr<Sum<A, B>> {
  TAYNODE_JET_NODE_TYPES(A, std::remove_cvref_t<A>::is_cheap && std::remove_cvref_t<B>::is_cheap)
  A a;
  B b;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const { return a.coeff(k) + b.coeff(k); }
};

// a − b:  y_k = a_k − b_k
template <class A, class B>
struct Difference : JetExpr<Difference<A, B>> {
  TAYNODE_JET_NODE_TYPES(A, std::remove_cvref_t<A>::is_cheap && std::remove_cvref_t<B>::is_cheap)
  A a;
  B b;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const { return a.coeff(k) - b.coeff(k); }
};

// −a:  y_k = −a_k
template <class A>
struct Negation : JetExpr<Negation<A>> {
  TAYNODE_JET_NODE_TYPES(A, std::remove_cvref_t<A>::is_cheap)
  A a;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const { return -a.coeff(k); }
};

// s·a:  y_k = s·a_k
template <class A>
struct Scaled : JetExpr<Scaled<A>> {
  TAYNODE_JET_NODE_TYPES(A, std::remove_cvref_t<A>::is_cheap)
  A a;
  scalar_type s;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const { return s * a.coeff(k); }
};

// a/s:  y_k = a_k / s
template <class A>
struct DividedByScalar : JetExpr<DividedByScalar<A>> {
  TAYNODE_JET_NODE_TYPES(A, std::remove_cvref_t<A>::is_cheap)
  A a;
  scalar_type s;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const { return a.coeff(k) / s; }
};

// s·a + c (a constant shift only moves the value):  y_0 = s·a_0 + c,  y_k = s·a_k
template <class A>
struct Affine : JetExpr<Affine<A>> {
  TAYNODE_JET_NODE_TYPES(A, std::remove_cvref_t<A>::is_cheap)
  A a;
  scalar_type s;
  scalar_type c;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const { return k == 0 ? s * a.coeff(0) + c : s * a.coeff(k); }
};

// Indexable view of an expression's coefficients, for the rules.
template <class A>
struct Coefficients {
  const A& a;
  TAYNODE_INLINE TAYNODE_HD constexpr auto operator[](int k) const { return a.coeff(k); }
};

// a·b, the Cauchy product:  y_k = Σ_{j=0}^{k} a_j b_{k-j}
template <class A, class B>
struct Product : JetExpr<Product<A, B>> {
  TAYNODE_JET_NODE_TYPES(A, false)
  A a;
  B b;
  TAYNODE_INLINE TAYNODE_HD constexpr scalar_type coeff(int k) const {
    return rules::product(k, Coefficients<A>{a}, Coefficients<B>{b});
  }
};

#undef TAYNODE_JET_NODE_TYPES

}  // namespace expr

// ---- operators -------------------------------------------------------------------------------

template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator+(A&& a, B&& b) {
  return expr::Sum<held_t<A&&>, held_t<B&&>>{{}, std::forward<A>(a), std::forward<B>(b)};
}
template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator-(A&& a, B&& b) {
  return expr::Difference<held_t<A&&>, held_t<B&&>>{{}, std::forward<A>(a), std::forward<B>(b)};
}
template <class A, class B>
  requires CompatibleJets<A, B>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator*(A&& a, B&& b) {
  return expr::Product<factor_t<A&&>, factor_t<B&&>>{{}, std::forward<A>(a), std::forward<B>(b)};
}
template <class A>
  requires is_jet_expr_v<A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator-(A&& a) {
  return expr::Negation<held_t<A&&>>{{}, std::forward<A>(a)};
}
template <class A>
  requires is_jet_expr_v<A>
TAYNODE_INLINE TAYNODE_HD constexpr decltype(auto) operator+(A&& a) {
  return std::forward<A>(a);
}

// With plain numbers.
template <class A, class S>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator*(A&& a, S s) {
  using T = typename std::remove_cvref_t<A>::scalar_type;
  return expr::Scaled<held_t<A&&>>{{}, std::forward<A>(a), T(s)};
}
template <class S, class A>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator*(S s, A&& a) {
  return std::forward<A>(a) * s;
}
template <class A, class S>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator/(A&& a, S s) {
  using T = typename std::remove_cvref_t<A>::scalar_type;
  return expr::DividedByScalar<held_t<A&&>>{{}, std::forward<A>(a), T(s)};
}
template <class A, class S>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator+(A&& a, S s) {
  using T = typename std::remove_cvref_t<A>::scalar_type;
  return expr::Affine<held_t<A&&>>{{}, std::forward<A>(a), T(1), T(s)};
}
template <class S, class A>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator+(S s, A&& a) {
  return std::forward<A>(a) + s;
}
template <class A, class S>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator-(A&& a, S s) {
  using T = typename std::remove_cvref_t<A>::scalar_type;
  return expr::Affine<held_t<A&&>>{{}, std::forward<A>(a), T(1), -T(s)};
}
template <class S, class A>
  requires JetScalarOperand<S, A>
TAYNODE_INLINE TAYNODE_HD constexpr auto operator-(S s, A&& a) {
  using T = typename std::remove_cvref_t<A>::scalar_type;
  return expr::Affine<held_t<A&&>>{{}, std::forward<A>(a), T(-1), T(s)};
}

// Comparisons look at the value c_0 only.
#define TAYNODE_JET_COMPARISON(OP)                                                               \
  template <class A, class B>                                                                    \
    requires CompatibleJets<A, B>                                                                \
  TAYNODE_INLINE TAYNODE_HD constexpr bool operator OP(const A& a, const B& b) {                                \
    return a.coeff(0) OP b.coeff(0);                                                             \
  }                                                                                              \
  template <class A, class S>                                                                    \
    requires JetScalarOperand<S, A>                                                              \
  TAYNODE_INLINE TAYNODE_HD constexpr bool operator OP(const A& a, const S& s) {                                \
    return a.coeff(0) OP typename A::scalar_type(s);                                             \
  }                                                                                              \
  template <class S, class A>                                                                    \
    requires JetScalarOperand<S, A>                                                              \
  TAYNODE_INLINE TAYNODE_HD constexpr bool operator OP(const S& s, const A& a) {                                \
    return typename A::scalar_type(s) OP a.coeff(0);                                             \
  }
TAYNODE_JET_COMPARISON(==)
TAYNODE_JET_COMPARISON(!=)
TAYNODE_JET_COMPARISON(<)
TAYNODE_JET_COMPARISON(<=)
TAYNODE_JET_COMPARISON(>)
TAYNODE_JET_COMPARISON(>=)
#undef TAYNODE_JET_COMPARISON

}  // namespace taynode

#include "taynode/detail/warnings_end.hpp"
