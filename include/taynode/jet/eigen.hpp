#pragma once
// Eigen interoperability: Eigen::Matrix<Jet<T,K>, …> and Eigen::Matrix<Dual<T>, …>
// with products (also against matrices of T), sums, .array() functions and norm().
// Eigen reaches our functions through argument-dependent lookup.

#include <Eigen/Core>

#include "taynode/jet/dual.hpp"
#include "taynode/jet/functions.hpp"
#include "taynode/jet/jet.hpp"

namespace Eigen {

template <class T, int K>
struct NumTraits<taynode::Jet<T, K>> : GenericNumTraits<T> {
  using Real = taynode::Jet<T, K>;
  using NonInteger = taynode::Jet<T, K>;
  using Nested = taynode::Jet<T, K>;
  using Literal = taynode::Jet<T, K>;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    // A product costs (K+1)(K+2)/2 multiply-adds.
    ReadCost = (K + 1) * NumTraits<T>::ReadCost,
    AddCost = (K + 1) * NumTraits<T>::AddCost,
    MulCost = (K + 1) * (K + 2) / 2 * (NumTraits<T>::MulCost + NumTraits<T>::AddCost),
  };
  static inline Real epsilon() { return Real(NumTraits<T>::epsilon()); }
  static inline Real dummy_precision() { return Real(NumTraits<T>::dummy_precision()); }
  static inline Real highest() { return Real(NumTraits<T>::highest()); }
  static inline Real lowest() { return Real(NumTraits<T>::lowest()); }
  static inline int digits10() { return NumTraits<T>::digits10(); }
};

template <class T, int K, class BinaryOp>
struct ScalarBinaryOpTraits<taynode::Jet<T, K>, T, BinaryOp> {
  using ReturnType = taynode::Jet<T, K>;
};
template <class T, int K, class BinaryOp>
struct ScalarBinaryOpTraits<T, taynode::Jet<T, K>, BinaryOp> {
  using ReturnType = taynode::Jet<T, K>;
};

template <class T>
struct NumTraits<taynode::Dual<T>> : GenericNumTraits<typename taynode::dual_base<T>::type> {
  using Base = typename taynode::dual_base<T>::type;
  using Real = taynode::Dual<T>;
  using NonInteger = taynode::Dual<T>;
  using Nested = taynode::Dual<T>;
  using Literal = taynode::Dual<T>;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = 2 * NumTraits<T>::ReadCost,
    AddCost = 2 * NumTraits<T>::AddCost,
    MulCost = 3 * NumTraits<T>::MulCost + NumTraits<T>::AddCost,
  };
  static inline Real epsilon() { return Real(NumTraits<Base>::epsilon()); }
  static inline Real dummy_precision() { return Real(NumTraits<Base>::dummy_precision()); }
  static inline Real highest() { return Real(NumTraits<Base>::highest()); }
  static inline Real lowest() { return Real(NumTraits<Base>::lowest()); }
  static inline int digits10() { return NumTraits<Base>::digits10(); }
};

template <class T, class BinaryOp>
struct ScalarBinaryOpTraits<taynode::Dual<T>, typename taynode::dual_base<T>::type, BinaryOp> {
  using ReturnType = taynode::Dual<T>;
};
template <class T, class BinaryOp>
struct ScalarBinaryOpTraits<typename taynode::dual_base<T>::type, taynode::Dual<T>, BinaryOp> {
  using ReturnType = taynode::Dual<T>;
};

}  // namespace Eigen
