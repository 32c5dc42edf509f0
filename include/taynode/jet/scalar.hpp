#pragma once
// The functions of the jet set that <cmath> lacks, for plain floating-point numbers, so that
// code templated on its scalar also runs on float and double (bring them in with
// `using taynode::sigmoid;` or call them qualified: plain numbers have no associated namespace).

#include <cmath>
#include <type_traits>

#include "taynode/config.hpp"

namespace taynode {

// σ(x) = 1/(1 + e^{−x}), without overflow for any x
template <class T>
  requires std::is_floating_point_v<T>
TAYNODE_HD T sigmoid(T x) {
  const T z = std::exp(-std::abs(x));
  return x >= T(0) ? T(1) / (T(1) + z) : z / (T(1) + z);
}
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^{−|x|})
template <class T>
  requires std::is_floating_point_v<T>
TAYNODE_HD T softplus(T x) {
  return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::abs(x)));
}
template <class T>
  requires std::is_floating_point_v<T>
TAYNODE_HD constexpr T square(T x) {
  return x * x;
}

}  // namespace taynode
