#pragma once
// IncrementalJet<T, K>: a Taylor-mode scalar that computes ONE coefficient per pass.
//
// The Taylor coefficients of an ODE solution come out one order at a time
// (z_{k+1} = f(t, z)_k / (k+1)), so evaluating f once per order with full
// jets costs O(K³). Instead, every intermediate of f keeps its coefficients
// between passes, and pass k computes only coefficient k of each, with the
// same single-coefficient rule Jet uses (rules.hpp): O(K²) in total, as in
// Taylor-series integrators. Intermediates are found again by their position
// in the sequence of operations, which repeats in every pass because the
// values (coefficient 0) that control flow may depend on never change.
//
// Host only: the coefficient storage is a tape that grows on the first pass.

#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "taynode/jet/eigen.hpp"
#include "taynode/jet/rules.hpp"

namespace taynode {

// Coefficient storage of the intermediates of one function, in creation order.
template <class T, int K>
class CoefficientTape {
 public:
  // Starts the pass that computes coefficient k.
  void begin_pass(int k) {
    order_ = k;
    used_ = 0;
  }
  // Ends it; every pass must create the same intermediates as the first.
  void end_pass() {
    if (order_ == 0) {
      recorded_ = used_;
    } else if (used_ != recorded_) {
      throw std::logic_error("taynode::ode_taylor_coefficients: f performed " + std::to_string(recorded_) +
                             " operations in its first pass and " + std::to_string(used_) +
                             " in pass " + std::to_string(order_) +
                             "; f must depend on its arguments only through their values");
    }
  }
  int order() const { return order_; }
  // The next intermediate's K+1 coefficients (stable address).
  T* next_slot() {
    if (used_ == chunks_.size() * chunk_slots) chunks_.push_back(std::make_unique_for_overwrite<T[]>(chunk_slots * (K + 1)));
    T* slot = chunks_[used_ / chunk_slots].get() + (used_ % chunk_slots) * (K + 1);
    ++used_;
    return slot;
  }

 private:
  static constexpr std::size_t chunk_slots = 4096;
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::size_t used_ = 0, recorded_ = 0;
  int order_ = 0;
};

template <class T, int K>
class IncrementalJet {
 public:
  using scalar_type = T;
  static constexpr int order = K;

  // The tape the current pass writes to (set by the driver for the duration of a pass).
  static inline thread_local CoefficientTape<T, K>* tape = nullptr;

  // A constant (zero by default); it takes a slot like every intermediate.
  IncrementalJet() : IncrementalJet(T(0)) {}
  IncrementalJet(const T& c0) : c_(tape->next_slot()) { c_[k()] = k() == 0 ? c0 : T(0); }
  template <class S>
    requires(std::is_arithmetic_v<S> && !std::is_same_v<S, T>)
  IncrementalJet(S c0) : IncrementalJet(T(c0)) {}
  // A view of coefficients owned by the driver (the state and the time).
  static IncrementalJet view(T* coefficients) { return IncrementalJet(coefficients, 0); }

  const T& operator[](int j) const { return c_[j]; }
  const T& value() const { return c_[0]; }
  const T* data() const { return c_; }

  // y = F(u) with N auxiliary series: rule(k, u, y, aux) from rules.hpp.
  template <int N, class Rule>
  static IncrementalJet apply(Rule rule, const T* u) {
    IncrementalJet y = fresh();
    T* aux[N > 0 ? N : 1];
    for (int i = 0; i < N; ++i) aux[i] = tape->next_slot();
    rule(k(), u, y.c_, aux);
    return y;
  }
  // y_k = g(k) for a rule that is a closed expression of the inputs.
  template <class Coefficient>
  static IncrementalJet elementwise(Coefficient g) {
    IncrementalJet y = fresh();
    y.c_[k()] = g(k());
    return y;
  }

  IncrementalJet& operator+=(const IncrementalJet& b) { return *this = *this + b; }
  IncrementalJet& operator-=(const IncrementalJet& b) { return *this = *this - b; }
  IncrementalJet& operator*=(const IncrementalJet& b) { return *this = *this * b; }
  IncrementalJet& operator/=(const IncrementalJet& b) { return *this = *this / b; }

  static int k() { return tape->order(); }

 private:
  IncrementalJet(T* c, int) : c_(c) {}
  static IncrementalJet fresh() { return IncrementalJet(tape->next_slot(), 0); }
  T* c_;
};

template <class T, int K>
using IJ = IncrementalJet<T, K>;

template <class S, class T>
concept IncrementalScalarOperand = std::is_arithmetic_v<S> || std::is_same_v<S, T>;

// Linear rules: y_k = a_k ± b_k, y_k = s·a_k; a constant shift only moves y_0.
template <class T, int K> IJ<T, K> operator+(const IJ<T, K>& a, const IJ<T, K>& b) {
  return IJ<T, K>::elementwise([&](int k) { return a[k] + b[k]; });
}
template <class T, int K> IJ<T, K> operator-(const IJ<T, K>& a, const IJ<T, K>& b) {
  return IJ<T, K>::elementwise([&](int k) { return a[k] - b[k]; });
}
template <class T, int K> IJ<T, K> operator-(const IJ<T, K>& a) {
  return IJ<T, K>::elementwise([&](int k) { return -a[k]; });
}
template <class T, int K> IJ<T, K> operator+(const IJ<T, K>& a) { return a; }
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator+(const IJ<T, K>& a, S s) {
  return IJ<T, K>::elementwise([&](int k) { return k == 0 ? a[0] + T(s) : a[k]; });
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator+(S s, const IJ<T, K>& a) { return a + s; }
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator-(const IJ<T, K>& a, S s) {
  return IJ<T, K>::elementwise([&](int k) { return k == 0 ? a[0] - T(s) : a[k]; });
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator-(S s, const IJ<T, K>& a) {
  return IJ<T, K>::elementwise([&](int k) { return k == 0 ? T(s) - a[0] : -a[k]; });
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator*(const IJ<T, K>& a, S s) {
  return IJ<T, K>::elementwise([&](int k) { return a[k] * T(s); });
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator*(S s, const IJ<T, K>& a) {
  return IJ<T, K>::elementwise([&](int k) { return T(s) * a[k]; });
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator/(const IJ<T, K>& a, S s) {
  return IJ<T, K>::elementwise([&](int k) { return a[k] / T(s); });
}

// Nonlinear rules, from rules.hpp.
template <class T, int K> IJ<T, K> operator*(const IJ<T, K>& a, const IJ<T, K>& b) {
  return IJ<T, K>::elementwise([&](int k) { return rules::product(k, a.data(), b.data()); });
}
template <class T, int K> IJ<T, K> operator/(const IJ<T, K>& a, const IJ<T, K>& b) {
  const T *u = a.data(), *v = b.data();
  return IJ<T, K>::template apply<0>([&](int k, const T*, T* y, T**) { rules::quotient(k, u, v, y); }, u);
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator/(S s, const IJ<T, K>& b) {
  return IJ<T, K>::template apply<0>([&](int k, const T* v, T* y, T**) { rules::reciprocal(k, T(s), v, y); },
                                     b.data());
}

#define TAYNODE_INCREMENTAL_RULE(NAME, N, CALL)                                \
  template <class T, int K>                                                    \
  IJ<T, K> NAME(const IJ<T, K>& x) {                                           \
    return IJ<T, K>::template apply<N>([](int k, const T* u, T* y, T** a) {    \
      (void)a;                                                                 \
      CALL;                                                                    \
    }, x.data());                                                              \
  }
TAYNODE_INCREMENTAL_RULE(exp, 0, rules::exp(k, u, y))
TAYNODE_INCREMENTAL_RULE(expm1, 0, rules::expm1(k, u, y))
TAYNODE_INCREMENTAL_RULE(log, 0, rules::log(k, u, y))
TAYNODE_INCREMENTAL_RULE(log1p, 0, rules::log1p(k, u, y))
TAYNODE_INCREMENTAL_RULE(sqrt, 0, rules::sqrt(k, u, y))
TAYNODE_INCREMENTAL_RULE(cbrt, 0, rules::cbrt(k, u, y))
TAYNODE_INCREMENTAL_RULE(square, 0, y[k] = rules::square(k, u))
TAYNODE_INCREMENTAL_RULE(sin, 1, rules::sin_cos(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(cos, 1, rules::sin_cos(k, u, a[0], y))
TAYNODE_INCREMENTAL_RULE(tan, 1, rules::tan(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(sinh, 1, rules::sinh_cosh(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(cosh, 1, rules::sinh_cosh(k, u, a[0], y))
TAYNODE_INCREMENTAL_RULE(tanh, 1, rules::tanh(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(asin, 1, rules::asin(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(acos, 1, rules::acos(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(atan, 1, rules::atan(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(sigmoid, 1, rules::sigmoid(k, u, y, a[0]))
TAYNODE_INCREMENTAL_RULE(softplus, 2, rules::softplus(k, u, y, a[0], a[1]))
TAYNODE_INCREMENTAL_RULE(erf, 2, rules::erf(k, u, y, a[0], a[1]))
#undef TAYNODE_INCREMENTAL_RULE

template <class T, int K> IJ<T, K> atan2(const IJ<T, K>& v, const IJ<T, K>& x) {
  const T *a = v.data(), *b = x.data();
  return IJ<T, K>::template apply<1>([&](int k, const T*, T* y, T** w) { rules::atan2(k, a, b, y, w[0]); }, a);
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> pow(const IJ<T, K>& x, S p) {
  return IJ<T, K>::template apply<0>([&](int k, const T* u, T* y, T**) { rules::power(k, T(p), u, y); }, x.data());
}
template <class T, int K> IJ<T, K> pow(const IJ<T, K>& x, int n) {
  IJ<T, K> result(T(1)), base = x;
  for (unsigned m = n < 0 ? 0u - unsigned(n) : unsigned(n); m != 0; m >>= 1) {
    if (m & 1u) result = result * base;
    if (m > 1u) base = square(base);
  }
  return n < 0 ? T(1) / result : result;
}
template <class T, int K> IJ<T, K> pow(const IJ<T, K>& x, const IJ<T, K>& p) { return exp(p * log(x)); }

// Non-smooth functions: the expansion for small t > 0, decided on the coefficients known so far.
namespace incremental_detail {
template <class T>
int leading_sign(const T* u, int k) {
  for (int j = 0; j <= k; ++j) {
    if (u[j] > T(0)) return 1;
    if (u[j] < T(0)) return -1;
  }
  return 0;
}
}  // namespace incremental_detail
template <class T, int K> IJ<T, K> abs(const IJ<T, K>& x) {
  return IJ<T, K>::elementwise([&](int k) {
    return incremental_detail::leading_sign(x.data(), k) < 0 ? -x[k] : x[k];
  });
}
template <class T, int K> IJ<T, K> min(const IJ<T, K>& a, const IJ<T, K>& b) {
  return IJ<T, K>::elementwise([&](int k) {
    T d[K + 1];
    for (int j = 0; j <= k; ++j) d[j] = b[j] - a[j];
    return incremental_detail::leading_sign(d, k) < 0 ? b[k] : a[k];
  });
}
template <class T, int K> IJ<T, K> max(const IJ<T, K>& a, const IJ<T, K>& b) {
  return IJ<T, K>::elementwise([&](int k) {
    T d[K + 1];
    for (int j = 0; j <= k; ++j) d[j] = b[j] - a[j];
    return incremental_detail::leading_sign(d, k) > 0 ? b[k] : a[k];
  });
}

// Comparisons and classification look at the value, which every pass shares.
#define TAYNODE_INCREMENTAL_COMPARISON(OP)                                                                   \
  template <class T, int K> bool operator OP(const IJ<T, K>& a, const IJ<T, K>& b) { return a[0] OP b[0]; } \
  template <class T, int K, class S> requires IncrementalScalarOperand<S, T>                                \
  bool operator OP(const IJ<T, K>& a, S s) { return a[0] OP T(s); }                                         \
  template <class T, int K, class S> requires IncrementalScalarOperand<S, T>                                \
  bool operator OP(S s, const IJ<T, K>& a) { return T(s) OP a[0]; }
TAYNODE_INCREMENTAL_COMPARISON(==)
TAYNODE_INCREMENTAL_COMPARISON(!=)
TAYNODE_INCREMENTAL_COMPARISON(<)
TAYNODE_INCREMENTAL_COMPARISON(<=)
TAYNODE_INCREMENTAL_COMPARISON(>)
TAYNODE_INCREMENTAL_COMPARISON(>=)
#undef TAYNODE_INCREMENTAL_COMPARISON
template <class T, int K> bool isfinite(const IJ<T, K>& a) { return std::isfinite(a[0]); }
template <class T, int K> bool isnan(const IJ<T, K>& a) { return std::isnan(a[0]); }
template <class T, int K> bool isinf(const IJ<T, K>& a) { return std::isinf(a[0]); }

}  // namespace taynode

namespace Eigen {
template <class T, int K>
struct NumTraits<taynode::IncrementalJet<T, K>> : taynode::detail::NumTraitsOf<taynode::IncrementalJet<T, K>, T> {
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = 1,
    AddCost = 2,
    MulCost = K + 2,
  };
};
template <class T, int K, class BinaryOp>
struct ScalarBinaryOpTraits<taynode::IncrementalJet<T, K>, T, BinaryOp> {
  using ReturnType = taynode::IncrementalJet<T, K>;
};
template <class T, int K, class BinaryOp>
struct ScalarBinaryOpTraits<T, taynode::IncrementalJet<T, K>, BinaryOp> {
  using ReturnType = taynode::IncrementalJet<T, K>;
};
}  // namespace Eigen
