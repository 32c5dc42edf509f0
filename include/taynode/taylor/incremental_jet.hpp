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
#include "taynode/jet/rule_list.hpp"
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

  // y = F(inputs…) by a step object of rules::steps (rule_list.hpp): coefficient k of y and of
  // the step's auxiliary series, which take tape slots after y's.
  template <class Rule, class... Inputs>
  static IncrementalJet apply(const Rule& rule, const Inputs&... inputs) {
    IncrementalJet y = fresh();
    T* aux[Rule::aux_count > 0 ? Rule::aux_count : 1];
    for (int i = 0; i < Rule::aux_count; ++i) aux[i] = tape->next_slot();
    rule(k(), inputs.data()..., y.c_, aux);
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
// The functions of jet/rule_list.hpp.
#define TAYNODE_INCREMENTAL_UNARY(NAME, AUX, STEP) \
  template <class T, int K>                         \
  IJ<T, K> NAME(const IJ<T, K>& u) {                \
    return IJ<T, K>::apply(rules::steps::NAME{}, u); \
  }
TAYNODE_UNARY_RULES(TAYNODE_INCREMENTAL_UNARY)
#undef TAYNODE_INCREMENTAL_UNARY
#define TAYNODE_INCREMENTAL_BINARY(NAME, SPELLING, AUX, STEP)  \
  template <class T, int K>                                     \
  IJ<T, K> SPELLING(const IJ<T, K>& u, const IJ<T, K>& v) {     \
    return IJ<T, K>::apply(rules::steps::NAME{}, u, v);         \
  }
TAYNODE_BINARY_RULES(TAYNODE_INCREMENTAL_BINARY)
#undef TAYNODE_INCREMENTAL_BINARY

// s / v by the reciprocal rule, u^p by the power rule, u^n by products, u^v and a^v = exp(v·log u)
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> operator/(S s, const IJ<T, K>& v) {
  return IJ<T, K>::apply(rules::steps::reciprocal<T>{T(s)}, v);
}
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> pow(const IJ<T, K>& u, S p) {
  return IJ<T, K>::apply(rules::steps::power<T>{T(p)}, u);
}
template <class T, int K> IJ<T, K> pow(const IJ<T, K>& u, int n) { return rules::integer_power(u, n); }
template <class T, int K> IJ<T, K> pow(const IJ<T, K>& u, const IJ<T, K>& p) { return exp(p * log(u)); }
template <class T, int K, class S> requires IncrementalScalarOperand<S, T>
IJ<T, K> pow(S a, const IJ<T, K>& v) {
  return exp(v * T(std::log(T(a))));
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
