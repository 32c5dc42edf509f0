#pragma once
// Butcher tableaux as data: coefficients, orders and properties of explicit Runge–Kutta methods.
//
// A method is a struct with static constexpr members (see tableaus.hpp). The stepper reads them
// at compile time, so zero coefficients cost nothing. Rational coefficients are stored as exact
// numerator/denominator pairs and divided in the working precision; coefficients that are not
// rational (DOP853, Tsit5) are stored as the decimal literals their authors published.

#include <array>
#include <cstddef>
#include <initializer_list>

namespace taynode {

// One tableau coefficient: num/den, both exact integers in a double (|num|, |den| < 2^53),
// or a decimal literal stored with den = 1.
struct Coef {
  double num = 0.0;
  double den = 1.0;

  template <class T>
  constexpr T as() const {
    return T(num) / T(den);
  }
  constexpr bool is_zero() const { return num == 0.0; }
};

// An exact rational n/d.
constexpr Coef q(double n, double d = 1.0) { return Coef{n, d}; }
// A published decimal coefficient (irrational or given only in decimals).
constexpr Coef r(double v) { return Coef{v, 1.0}; }

// How a method estimates its local error.
enum class ErrorEstimate {
  none,      // fixed-step method
  embedded,  // err = h · Σ e_j k_j with e = b − b̂
  dop853,    // Hairer's stretched 5th/3rd-order estimate of DOP853 (HNW I, II.10)
};

// Lower-triangular matrix a[i][j], given row by row (row i lists a[i][0..i-1]).
template <std::size_t N>
constexpr std::array<std::array<Coef, N>, N> lower_triangular(
    std::initializer_list<std::initializer_list<Coef>> rows) {
  std::array<std::array<Coef, N>, N> a{};
  std::size_t i = 0;
  for (const auto& row : rows) {
    std::size_t j = 0;
    for (const auto& v : row) a[i][j++] = v;
    ++i;
  }
  return a;
}

// Pads a list of coefficients to N entries with zeros.
template <std::size_t N>
constexpr std::array<Coef, N> row(std::initializer_list<Coef> values) {
  std::array<Coef, N> out{};
  std::size_t j = 0;
  for (const auto& v : values) out[j++] = v;
  return out;
}

// Compile-time index list of the nonzero entries of a coefficient row.
template <std::size_t N>
constexpr std::size_t count_nonzero(const std::array<Coef, N>& v, std::size_t limit = N) {
  std::size_t n = 0;
  for (std::size_t j = 0; j < limit && j < N; ++j)
    if (!v[j].is_zero()) ++n;
  return n;
}
template <std::size_t M, std::size_t N>
constexpr std::array<std::size_t, M> nonzero_indices(const std::array<Coef, N>& v,
                                                     std::size_t limit = N) {
  std::array<std::size_t, M> idx{};
  std::size_t n = 0;
  for (std::size_t j = 0; j < limit && j < N; ++j)
    if (!v[j].is_zero()) idx[n++] = j;
  return idx;
}

// Stage layout shared by stepper and dense output. Stages 0..stages-1 are the method's own;
// "endpoint" holds f(t+h, y1) (the last stage of an FSAL method, otherwise an extra slot that is
// filled on demand and becomes k1 of the next step); stages after it are a method's extra
// dense-output stages (DOP853's 14–16).
template <class M>
struct StageLayout {
  static constexpr std::size_t stages = M::stages;
  static constexpr std::size_t endpoint = M::fsal ? M::stages - 1 : M::stages;
  static constexpr std::size_t dense_extra = M::dense_extra_stages;
  static constexpr std::size_t total = endpoint + 1 + dense_extra;
};

}  // namespace taynode
