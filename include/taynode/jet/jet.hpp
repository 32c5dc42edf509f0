#pragma once
// Jet<T, K>: a truncated Taylor polynomial of order K.
//
// Stores the K+1 normalized coefficients c_k = x^(k)(0)/k! of a path
// x(t) = c_0 + c_1 t + … + c_K t^K (the convention the Cauchy-product rules
// are simplest in); derivative(k) gives x^(k)(0) = k!·c_k.

#include <array>
#include <cstddef>
#include <type_traits>

#include "taynode/config.hpp"
#include "taynode/jet/expression.hpp"

#include "taynode/detail/warnings_begin.hpp"

namespace taynode {

template <class T, int K>
class Jet : public JetExpr<Jet<T, K>> {
  static_assert(K >= 0, "Jet order K must be non-negative");

 public:
  using scalar_type = T;
  static constexpr int order = K;
  static constexpr bool is_cheap = true;

  // The zero series.
  TAYNODE_INLINE TAYNODE_HD constexpr Jet() : c_{} {}
  // The constant path c0.
  TAYNODE_INLINE TAYNODE_HD constexpr Jet(const T& c0) : c_{} { c_[0] = c0; }
  template <class S>
    requires(std::is_arithmetic_v<S> && !std::is_same_v<S, T>)
  TAYNODE_INLINE TAYNODE_HD constexpr Jet(S c0) : Jet(T(c0)) {}
  // From all K+1 normalized coefficients.
  constexpr explicit Jet(const std::array<T, K + 1>& c) {
    for (int k = 0; k <= K; ++k) c_[k] = c[k];
  }
  // Evaluates an expression.
  template <class E>
    requires(is_jet_expr_v<E> && !std::is_same_v<E, Jet>)
  TAYNODE_INLINE TAYNODE_HD constexpr Jet(const JetExpr<E>& e) {
TAYNODE_UNROLL
    for (int k = 0; k <= K; ++k) c_[k] = e.derived().coeff(k);
  }

  // The path x0 + t.
  TAYNODE_HD static constexpr Jet variable(const T& x0) {
    Jet j(x0);
    if constexpr (K >= 1) j.c_[1] = T(1);
    return j;
  }
  // From derivatives d_k = x^(k)(0): c_k = d_k / k!.
  static constexpr Jet from_derivatives(const std::array<T, K + 1>& d) {
    Jet j;
    T factorial(1);
    for (int k = 0; k <= K; ++k) {
      if (k > 0) factorial *= T(k);
      j.c_[k] = d[k] / factorial;
    }
    return j;
  }

  // Assignment evaluates in descending k: each node reads only coefficients ≤ k, so an
  // expression may contain the target itself (x = x*x).
  template <class E>
    requires(is_jet_expr_v<E> && !std::is_same_v<E, Jet>)
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator=(const JetExpr<E>& e) {
TAYNODE_UNROLL
    for (int k = K; k >= 0; --k) c_[k] = e.derived().coeff(k);
    return *this;
  }
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator=(const T& c0) { return *this = Jet(c0); }

  template <class E>
    requires is_jet_expr_v<E>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator+=(const E& e) {
    for (int k = K; k >= 0; --k) c_[k] += e.coeff(k);
    return *this;
  }
  template <class E>
    requires is_jet_expr_v<E>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator-=(const E& e) {
    for (int k = K; k >= 0; --k) c_[k] -= e.coeff(k);
    return *this;
  }
  template <class E>
    requires is_jet_expr_v<E>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator*=(const E& e) {
    return *this = *this * e;
  }
  template <class E>
    requires is_jet_expr_v<E>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator/=(const E& e);  // defined with the quotient rule

  template <class S>
    requires JetScalarOperand<S, Jet>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator+=(S s) {
    c_[0] += T(s);
    return *this;
  }
  template <class S>
    requires JetScalarOperand<S, Jet>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator-=(S s) {
    c_[0] -= T(s);
    return *this;
  }
  template <class S>
    requires JetScalarOperand<S, Jet>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator*=(S s) {
    for (int k = 0; k <= K; ++k) c_[k] *= T(s);
    return *this;
  }
  template <class S>
    requires JetScalarOperand<S, Jet>
  TAYNODE_INLINE TAYNODE_HD constexpr Jet& operator/=(S s) {
    for (int k = 0; k <= K; ++k) c_[k] /= T(s);
    return *this;
  }

  // Normalized coefficient c_k.
  TAYNODE_INLINE TAYNODE_HD constexpr T& operator[](int k) { return c_[k]; }
  TAYNODE_INLINE TAYNODE_HD constexpr const T& operator[](int k) const { return c_[k]; }
  TAYNODE_INLINE TAYNODE_HD constexpr T coeff(int k) const { return c_[k]; }
  TAYNODE_INLINE TAYNODE_HD constexpr const T& value() const { return c_[0]; }
  // The k-th derivative of the path at 0: k!·c_k.
  TAYNODE_INLINE TAYNODE_HD constexpr T derivative(int k) const {
    T d = c_[k];
    for (int i = 2; i <= k; ++i) d *= T(i);
    return d;
  }
  constexpr std::array<T, K + 1> coefficients() const {
    std::array<T, K + 1> c;
    for (int k = 0; k <= K; ++k) c[k] = c_[k];
    return c;
  }
  TAYNODE_INLINE TAYNODE_HD constexpr T* data() { return c_; }
  TAYNODE_INLINE TAYNODE_HD constexpr const T* data() const { return c_; }

 private:
  T c_[K + 1];
};

// The evaluated form of an expression: the Jet itself (by reference) or a new Jet.
template <class E>
TAYNODE_INLINE TAYNODE_HD constexpr decltype(auto) evaluate(const JetExpr<E>& e) {
  if constexpr (is_jet_v<E>)
    return (e.derived());
  else
    return jet_of_t<E>(e);
}

}  // namespace taynode

#include "taynode/detail/warnings_end.hpp"
