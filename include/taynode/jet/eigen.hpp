#pragma once
// Eigen interoperability: Eigen::Matrix<Jet<T,K>, …> and Eigen::Matrix<Dual<T>, …>
// with products (also against matrices of T), sums, .array() functions and norm().
// Eigen reaches our functions through argument-dependent lookup.

#include <Eigen/Core>

#include "taynode/jet/dual.hpp"
#include "taynode/jet/functions.hpp"
#include "taynode/jet/jet.hpp"

namespace taynode::detail {
// What Eigen needs of a number type built on the plain type Base (precision limits are Base's).
template <class Number, class Base>
struct NumTraitsOf : Eigen::GenericNumTraits<Base> {
  using Real = Number;
  using NonInteger = Number;
  using Nested = Number;
  using Literal = Number;
  static inline Real epsilon() { return Real(Eigen::NumTraits<Base>::epsilon()); }
  static inline Real dummy_precision() { return Real(Eigen::NumTraits<Base>::dummy_precision()); }
  static inline Real highest() { return Real(Eigen::NumTraits<Base>::highest()); }
  static inline Real lowest() { return Real(Eigen::NumTraits<Base>::lowest()); }
  static inline int digits10() { return Eigen::NumTraits<Base>::digits10(); }
};
}  // namespace taynode::detail

namespace Eigen {

template <class T, int K>
struct NumTraits<taynode::Jet<T, K>> : taynode::detail::NumTraitsOf<taynode::Jet<T, K>, T> {
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
struct NumTraits<taynode::Dual<T>>
    : taynode::detail::NumTraitsOf<taynode::Dual<T>, typename taynode::dual_base<T>::type> {
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = 2 * NumTraits<T>::ReadCost,
    AddCost = 2 * NumTraits<T>::AddCost,
    MulCost = 3 * NumTraits<T>::MulCost + NumTraits<T>::AddCost,
  };
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
