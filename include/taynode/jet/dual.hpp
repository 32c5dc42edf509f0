#pragma once
// Dual<T>: first-order forward mode (a primal and one tangent), nestable.
//
// Nesting K levels, Dual<Dual<…<T>>>, and seeding every level with tangent 1
// evaluates f(x + ε_1 + … + ε_K); its ε_1⋯ε_K component is f^(K)(x). This is
// nested Jacobian-vector products, the baseline Taylor mode is measured
// against: 2^K components, and a product costs 3^K multiplications.

#include <cmath>
#include <type_traits>

#include "taynode/config.hpp"
#include "taynode/jet/scalar.hpp"

namespace taynode {

template <class T>
struct Dual {
  using scalar_type = T;
  T primal{};
  T tangent{};

  TAYNODE_HD constexpr Dual() = default;
  TAYNODE_HD constexpr Dual(const T& p) : primal(p), tangent(0) {}
  template <class S>
    requires(std::is_arithmetic_v<S> && !std::is_same_v<S, T>)
  TAYNODE_HD constexpr Dual(S p) : primal(p), tangent(0) {}
  TAYNODE_HD constexpr Dual(const T& p, const T& t) : primal(p), tangent(t) {}

  TAYNODE_HD constexpr Dual& operator+=(const Dual& b) { primal += b.primal; tangent += b.tangent; return *this; }
  TAYNODE_HD constexpr Dual& operator-=(const Dual& b) { primal -= b.primal; tangent -= b.tangent; return *this; }
  TAYNODE_HD constexpr Dual& operator*=(const Dual& b) { return *this = *this * b; }
  TAYNODE_HD constexpr Dual& operator/=(const Dual& b) { return *this = *this / b; }
};

template <class T>
struct is_dual : std::false_type {};
template <class T>
struct is_dual<Dual<T>> : std::true_type {};

// The innermost plain number type of a (nested) Dual.
template <class T>
struct dual_base {
  using type = T;
};
template <class T>
struct dual_base<Dual<T>> {
  using type = typename dual_base<T>::type;
};

// Any plain number mixes with a Dual.
template <class S, class T>
concept DualScalarOperand = std::is_arithmetic_v<S> || std::is_same_v<S, typename dual_base<T>::type>;

// (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε
template <class T> TAYNODE_HD constexpr Dual<T> operator+(const Dual<T>& a, const Dual<T>& b) { return {a.primal + b.primal, a.tangent + b.tangent}; }
template <class T> TAYNODE_HD constexpr Dual<T> operator-(const Dual<T>& a, const Dual<T>& b) { return {a.primal - b.primal, a.tangent - b.tangent}; }
template <class T> TAYNODE_HD constexpr Dual<T> operator-(const Dual<T>& a) { return {-a.primal, -a.tangent}; }
template <class T> TAYNODE_HD constexpr Dual<T> operator+(const Dual<T>& a) { return a; }
template <class T> TAYNODE_HD constexpr Dual<T> operator*(const Dual<T>& a, const Dual<T>& b) {
  return {a.primal * b.primal, a.tangent * b.primal + a.primal * b.tangent};
}
// (a/b)' = (a' − (a/b)·b')/b
template <class T> TAYNODE_HD constexpr Dual<T> operator/(const Dual<T>& a, const Dual<T>& b) {
  const T q = a.primal / b.primal;
  return {q, (a.tangent - q * b.tangent) / b.primal};
}

template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator+(const Dual<T>& a, S s) { return {a.primal + s, a.tangent}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator+(S s, const Dual<T>& a) { return {s + a.primal, a.tangent}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator-(const Dual<T>& a, S s) { return {a.primal - s, a.tangent}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator-(S s, const Dual<T>& a) { return {s - a.primal, -a.tangent}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator*(const Dual<T>& a, S s) { return {a.primal * s, a.tangent * s}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator*(S s, const Dual<T>& a) { return {s * a.primal, s * a.tangent}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator/(const Dual<T>& a, S s) { return {a.primal / s, a.tangent / s}; }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD constexpr Dual<T> operator/(S s, const Dual<T>& b) { return Dual<T>(T(s)) / b; }

// Comparisons look at the innermost value.
template <class T> TAYNODE_HD constexpr const auto& primal_value(const T& x) { return x; }
template <class T> TAYNODE_HD constexpr const auto& primal_value(const Dual<T>& x) { return primal_value(x.primal); }
#define TAYNODE_DUAL_COMPARISON(OP)                                                                            \
  template <class T> TAYNODE_HD constexpr bool operator OP(const Dual<T>& a, const Dual<T>& b) {               \
    return primal_value(a) OP primal_value(b);                                                                 \
  }                                                                                                            \
  template <class T, class S> requires DualScalarOperand<S, Dual<T>>                                           \
  TAYNODE_HD constexpr bool operator OP(const Dual<T>& a, S s) { return primal_value(a) OP s; }                \
  template <class T, class S> requires DualScalarOperand<S, Dual<T>>                                           \
  TAYNODE_HD constexpr bool operator OP(S s, const Dual<T>& a) { return s OP primal_value(a); }
TAYNODE_DUAL_COMPARISON(==)
TAYNODE_DUAL_COMPARISON(!=)
TAYNODE_DUAL_COMPARISON(<)
TAYNODE_DUAL_COMPARISON(<=)
TAYNODE_DUAL_COMPARISON(>)
TAYNODE_DUAL_COMPARISON(>=)
#undef TAYNODE_DUAL_COMPARISON

// Chain rule: F(a + a'ε) = F(a) + F'(a)·a'ε. Unqualified calls recurse into nested levels.
namespace dual_detail {
using std::abs, std::acos, std::asin, std::atan, std::atan2, std::cbrt, std::cos, std::cosh, std::erf, std::exp,
    std::expm1, std::log, std::log1p, std::pow, std::sin, std::sinh, std::sqrt, std::tan, std::tanh;
}  // namespace dual_detail

template <class T> TAYNODE_HD Dual<T> exp(const Dual<T>& a) {
  using namespace dual_detail;
  const T e = exp(a.primal);
  return {e, e * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> expm1(const Dual<T>& a) {
  using namespace dual_detail;
  const T e = expm1(a.primal);
  return {e, (e + 1) * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> log(const Dual<T>& a) {
  using namespace dual_detail;
  return {log(a.primal), a.tangent / a.primal};
}
template <class T> TAYNODE_HD Dual<T> log1p(const Dual<T>& a) {
  using namespace dual_detail;
  return {log1p(a.primal), a.tangent / (1 + a.primal)};
}
template <class T> TAYNODE_HD Dual<T> sqrt(const Dual<T>& a) {
  using namespace dual_detail;
  const T r = sqrt(a.primal);
  return {r, a.tangent / (2 * r)};
}
template <class T> TAYNODE_HD Dual<T> cbrt(const Dual<T>& a) {
  using namespace dual_detail;
  const T r = cbrt(a.primal);
  return {r, a.tangent / (3 * (r * r))};
}
template <class T> TAYNODE_HD Dual<T> square(const Dual<T>& a) { return a * a; }
// sin and cos of a nested Dual share their inner evaluations.
template <class T> TAYNODE_HD void sincos(const Dual<T>& a, Dual<T>& s, Dual<T>& c) {
  if constexpr (is_dual<T>::value) {
    T si, co;
    sincos(a.primal, si, co);
    s = {si, co * a.tangent};
    c = {co, -(si * a.tangent)};
  } else {
    const T si = std::sin(a.primal), co = std::cos(a.primal);
    s = {si, co * a.tangent};
    c = {co, -si * a.tangent};
  }
}
template <class T> TAYNODE_HD Dual<T> sin(const Dual<T>& a) { Dual<T> s, c; sincos(a, s, c); return s; }
template <class T> TAYNODE_HD Dual<T> cos(const Dual<T>& a) { Dual<T> s, c; sincos(a, s, c); return c; }
template <class T> TAYNODE_HD Dual<T> tan(const Dual<T>& a) {
  using namespace dual_detail;
  const T y = tan(a.primal);
  return {y, (1 + y * y) * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> sinh(const Dual<T>& a) {
  using namespace dual_detail;
  return {sinh(a.primal), cosh(a.primal) * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> cosh(const Dual<T>& a) {
  using namespace dual_detail;
  return {cosh(a.primal), sinh(a.primal) * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> tanh(const Dual<T>& a) {
  using namespace dual_detail;
  const T y = tanh(a.primal);
  return {y, (1 - y * y) * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> asin(const Dual<T>& a) {
  using namespace dual_detail;
  return {asin(a.primal), a.tangent / sqrt((1 - a.primal) * (1 + a.primal))};
}
template <class T> TAYNODE_HD Dual<T> acos(const Dual<T>& a) {
  using namespace dual_detail;
  return {acos(a.primal), -(a.tangent / sqrt((1 - a.primal) * (1 + a.primal)))};
}
template <class T> TAYNODE_HD Dual<T> atan(const Dual<T>& a) {
  using namespace dual_detail;
  return {atan(a.primal), a.tangent / (1 + a.primal * a.primal)};
}
// atan2(v, x)' = (x·v' − v·x')/(x² + v²)
template <class T> TAYNODE_HD Dual<T> atan2(const Dual<T>& v, const Dual<T>& x) {
  using namespace dual_detail;
  return {atan2(v.primal, x.primal),
          (x.primal * v.tangent - v.primal * x.tangent) / (x.primal * x.primal + v.primal * v.primal)};
}
template <class T> TAYNODE_HD Dual<T> erf(const Dual<T>& a) {
  using namespace dual_detail;
  using B = typename dual_base<T>::type;
  const B two_over_sqrt_pi = B(1.12837916709551257389615890312154517L);
  return {erf(a.primal), two_over_sqrt_pi * exp(-(a.primal * a.primal)) * a.tangent};
}
// σ' = σ(1 − σ)
template <class T> TAYNODE_HD Dual<T> sigmoid(const Dual<T>& a) {
  using namespace dual_detail;
  const T s = sigmoid(a.primal);
  return {s, s * (1 - s) * a.tangent};
}
// softplus' = σ
template <class T> TAYNODE_HD Dual<T> softplus(const Dual<T>& a) {
  using namespace dual_detail;
  return {softplus(a.primal), sigmoid(a.primal) * a.tangent};
}
template <class T> TAYNODE_HD Dual<T> abs(const Dual<T>& a) { return a < 0 ? -a : a; }
template <class T> TAYNODE_HD Dual<T> min(const Dual<T>& a, const Dual<T>& b) { return b < a ? b : a; }
template <class T> TAYNODE_HD Dual<T> max(const Dual<T>& a, const Dual<T>& b) { return b > a ? b : a; }
// (u^a)' = a·u^(a−1)·u'
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD Dual<T> pow(const Dual<T>& u, S a) {
  using namespace dual_detail;
  return {pow(u.primal, a), a * pow(u.primal, a - 1) * u.tangent};
}
template <class T> TAYNODE_HD Dual<T> pow(const Dual<T>& u, int n) {
  Dual<T> r(T(1)), b = u;
  for (unsigned m = n < 0 ? 0u - unsigned(n) : unsigned(n); m != 0; m >>= 1) {
    if (m & 1u) r = r * b;
    if (m > 1u) b = b * b;
  }
  return n < 0 ? 1 / r : r;
}
template <class T> TAYNODE_HD Dual<T> pow(const Dual<T>& u, const Dual<T>& v) { return exp(v * log(u)); }
template <class T, class S> requires DualScalarOperand<S, Dual<T>>
TAYNODE_HD Dual<T> pow(S a, const Dual<T>& v) {
  using std::log;
  return exp(v * log(a));
}
template <class T> TAYNODE_HD bool isfinite(const Dual<T>& a) { using std::isfinite; return isfinite(primal_value(a)); }
template <class T> TAYNODE_HD bool isnan(const Dual<T>& a) { using std::isnan; return isnan(primal_value(a)); }
template <class T> TAYNODE_HD bool isinf(const Dual<T>& a) { using std::isinf; return isinf(primal_value(a)); }

// Dual<Dual<…<T>>> with K levels (K = 0 is T itself).
template <class T, int K>
struct nested_dual {
  using type = Dual<typename nested_dual<T, K - 1>::type>;
};
template <class T>
struct nested_dual<T, 0> {
  using type = T;
};
template <class T, int K>
using NestedDual = typename nested_dual<T, K>::type;

// The point x + ε_1 + … + ε_K: every level seeded with tangent 1.
template <int K, class T>
TAYNODE_HD constexpr NestedDual<T, K> nested_variable(const T& x) {
  if constexpr (K == 0) return x;
  else return NestedDual<T, K>(nested_variable<K - 1>(x), NestedDual<T, K - 1>(T(1)));
}
// The ε_1⋯ε_K component: the innermost tangent of the outermost tangent of …
template <class T>
TAYNODE_HD constexpr const auto& innermost_tangent(const T& x) { return x; }
template <class T>
TAYNODE_HD constexpr const auto& innermost_tangent(const Dual<T>& x) { return innermost_tangent(x.tangent); }

// f^(K)(x) by K nested forward-mode passes (f templated on its scalar).
template <int K, class F, class T>
TAYNODE_HD T nested_derivative(F&& f, const T& x) {
  return innermost_tangent(f(nested_variable<K>(x)));
}

}  // namespace taynode
