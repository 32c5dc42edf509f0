#pragma once
// Taylor coefficients of an ODE solution (Kelly et al. 2020, Algorithm 1, and
// Appendix A.2), generic path: for z' = f(t, z) with f written as a template
// over its scalar type, the derivatives z(t0), z'(t0), …, z^(K)(t0).
//
// Time augmentation: t is passed to f as the series t0 + τ, so explicitly
// time-dependent f is handled. With normalized coefficients, z' = f gives
// z_{k+1} = f(t, z)_k / (k+1): coefficient k of f needs only z_0..z_k, so the
// coefficients come one order per pass.
//
// Two Taylor-mode paths compute the same numbers:
// - ode_taylor_coefficients: pass k runs f on Jet<T, k> (the order grows with
//   the pass, unlike Algorithm 1's repeated full-order jets): Σ_k (k+1)² work
//   per nonlinear operation, Σ_k (k+1) per linear one, all in registers.
// - ode_taylor_coefficients_incremental: IncrementalJet keeps every
//   intermediate's lower coefficients between passes, O(K²) in all, at the
//   price of storing every intermediate (pays off for large K and cheap f).
//
// All functions return DERIVATIVES (k!·c_k), not normalized coefficients.

#include <array>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "taynode/jet/dual.hpp"
#include "taynode/jet/eigen.hpp"
#include "taynode/jet/functions.hpp"
#include "taynode/jet/jet.hpp"
#include "taynode/taylor/incremental_jet.hpp"

namespace taynode {

namespace taylor_detail {
template <class State>
struct state_traits {  // a scalar state
  using scalar = State;
  static constexpr int compile_time_size = 1;
  template <class S>
  using rebind = S;
  static constexpr Eigen::Index size(const State&) { return 1; }
  template <class X>
  static X& element(X& z, Eigen::Index) { return z; }
  template <class S>
  static S make(const State&) { return S(); }
};
template <class Scalar, int Rows, int Cols, int Options, int MaxRows, int MaxCols>
struct state_traits<Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>> {  // an Eigen state
  using State = Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>;
  using scalar = Scalar;
  static constexpr int compile_time_size = (Rows > 0 && Cols > 0) ? Rows * Cols : 0;
  template <class S>
  using rebind = Eigen::Matrix<S, Rows, Cols, Options, MaxRows, MaxCols>;
  static Eigen::Index size(const State& z) { return z.size(); }
  template <class M>
  static auto& element(M& z, Eigen::Index i) { return z.data()[i]; }
  template <class S>
  static rebind<S> make(const State& like) { return rebind<S>(like.rows(), like.cols()); }
};
}  // namespace taylor_detail

namespace taylor_detail {
// Derivatives k!·c_k of the normalized coefficients c (K+1 per state element).
template <int K, class Traits, class State, class T>
std::array<State, K + 1> derivatives_from_coefficients(const State& z0, const T* c) {
  std::array<State, K + 1> out;
  T factorial(1);
  for (int k = 0; k <= K; ++k) {
    if (k > 0) factorial *= T(k);
    out[k] = z0;
    for (Eigen::Index i = 0; i < Traits::size(z0); ++i)
      Traits::element(out[k], i) = factorial * c[std::size_t(i) * (K + 1) + k];
  }
  return out;
}
// Coefficient storage: on the stack when the state's size is known at compile time.
template <class T, int N, int K>
struct coefficient_storage {
  std::array<T, std::size_t(N) * (K + 1)> c{};
  explicit coefficient_storage(Eigen::Index) {}
  T* data() { return c.data(); }
};
template <class T, int K>
struct coefficient_storage<T, 0, K> {
  std::vector<T> c;
  explicit coefficient_storage(Eigen::Index n) : c(std::size_t(n) * (K + 1), T(0)) {}
  T* data() { return c.data(); }
};
}  // namespace taylor_detail

// z(t0), z'(t0), …, z^(K)(t0) for z' = f(t, z), z(t0) = z0, by Taylor mode with growing order.
// f(t, z) is called with t a Jet<T, k> and z a State of Jet<T, k>, for k = 0..K-1.
template <int K, class F, class State, class Time>
std::array<State, K + 1> ode_taylor_coefficients(F&& f, const State& z0, Time t0) {
  using Traits = taylor_detail::state_traits<State>;
  using T = typename Traits::scalar;
  const Eigen::Index n = Traits::size(z0);
  taylor_detail::coefficient_storage<T, Traits::compile_time_size, K> storage(n);
  T* const c = storage.data();
  for (Eigen::Index i = 0; i < n; ++i) c[std::size_t(i) * (K + 1)] = Traits::element(z0, i);

  auto pass = [&]<int k>() {
    using J = Jet<T, k>;
    using JetState = typename Traits::template rebind<J>;
    const J t = J::variable(T(t0));
    JetState z = Traits::template make<J>(z0);
    for (Eigen::Index i = 0; i < n; ++i)
      for (int j = 0; j <= k; ++j) Traits::element(z, i)[j] = c[std::size_t(i) * (K + 1) + j];
    const JetState dz = f(t, static_cast<const JetState&>(z));
    for (Eigen::Index i = 0; i < n; ++i)
      c[std::size_t(i) * (K + 1) + k + 1] = Traits::element(dz, i)[k] * rules::inverse<T>(k + 1);
  };
  [&]<int... k>(std::integer_sequence<int, k...>) {
    (pass.template operator()<k>(), ...);
  }(std::make_integer_sequence<int, K>{});
  return taylor_detail::derivatives_from_coefficients<K, Traits>(z0, c);
}

// The same numbers by IncrementalJet: one coefficient per pass, every intermediate kept.
// f(t, z) is called with t an IncrementalJet<T, K> and z a State of them.
template <int K, class F, class State, class Time>
std::array<State, K + 1> ode_taylor_coefficients_incremental(F&& f, const State& z0, Time t0) {
  using Traits = taylor_detail::state_traits<State>;
  using T = typename Traits::scalar;
  using S = IncrementalJet<T, K>;
  using JetState = typename Traits::template rebind<S>;
  const Eigen::Index n = Traits::size(z0);

  // The coefficients of t and z live here; f's intermediates on the tape.
  std::vector<T> pinned(std::size_t(n + 1) * (K + 1), T(0));
  T* tc = pinned.data();
  tc[0] = T(t0);
  if constexpr (K >= 1) tc[1] = T(1);
  for (Eigen::Index i = 0; i < n; ++i) pinned[std::size_t(i + 1) * (K + 1)] = Traits::element(z0, i);

  // The tape's storage is kept for the next call on this thread (unless calls nest).
  static thread_local CoefficientTape<T, K> reused;
  CoefficientTape<T, K> fresh_tape_if_nested;
  CoefficientTape<T, K>* const outer = S::tape;
  CoefficientTape<T, K>& tape = outer == &reused ? fresh_tape_if_nested : reused;
  S::tape = &tape;
  struct Restore {
    CoefficientTape<T, K>* outer;
    ~Restore() { S::tape = outer; }
  } restore{outer};

  for (int k = 0; k < K; ++k) {
    tape.begin_pass(k);
    const S t = S::view(tc);
    JetState z = Traits::template make<S>(z0);
    for (Eigen::Index i = 0; i < n; ++i) Traits::element(z, i) = S::view(&pinned[std::size_t(i + 1) * (K + 1)]);
    const JetState dz = f(t, static_cast<const JetState&>(z));
    for (Eigen::Index i = 0; i < n; ++i)
      pinned[std::size_t(i + 1) * (K + 1) + k + 1] = Traits::element(dz, i)[k] / T(k + 1);
    tape.end_pass();
  }

  return taylor_detail::derivatives_from_coefficients<K, Traits>(z0, pinned.data() + (K + 1));
}

namespace taylor_detail {
// g_k(t, z) = z^(k) along solutions: g_1 = f, g_{k+1} = ∂_t g_k + (∂_z g_k)·f,
// one directional derivative (JVP) per level, so level k runs on k nested Duals.
template <int k, class F, class Scalar, class StateOf>
auto nested_total_derivative(F& f, const Scalar& t, const StateOf& z) {
  if constexpr (k == 1) {
    StateOf dz = f(t, z);
    return dz;
  } else {
    using D = Dual<Scalar>;
    using Traits = state_traits<StateOf>;
    using DState = typename Traits::template rebind<D>;
    const StateOf direction = f(t, z);
    DState zd = Traits::template make<D>(z);
    for (Eigen::Index i = 0; i < Traits::size(z); ++i)
      Traits::element(zd, i) = D(Traits::element(z, i), Traits::element(direction, i));
    const DState gd = nested_total_derivative<k - 1>(f, D(t, Scalar(1)), zd);
    StateOf out = Traits::template make<Scalar>(z);
    for (Eigen::Index i = 0; i < Traits::size(z); ++i) Traits::element(out, i) = Traits::element(gd, i).tangent;
    return out;
  }
}
}  // namespace taylor_detail

// z^(K)(t0) alone by the nested-JVP recursion g_{k+1} = J_{g_k}·[f; 1]: the baseline Taylor mode
// is measured against (2^K-fold work on products).
template <int K, class F, class State, class Time>
State ode_total_derivative_nested(F&& f, const State& z0, Time t0) {
  using T = typename taylor_detail::state_traits<State>::scalar;
  if constexpr (K == 0) return z0;
  else return taylor_detail::nested_total_derivative<K>(f, T(t0), z0);
}

// z(t0), z'(t0), …, z^(K)(t0) by the nested-JVP recursion, each order separately.
template <int K, class F, class State, class Time>
std::array<State, K + 1> ode_taylor_coefficients_nested(F&& f, const State& z0, Time t0) {
  std::array<State, K + 1> out;
  [&]<int... k>(std::integer_sequence<int, k...>) {
    ((out[k] = ode_total_derivative_nested<k>(f, z0, t0)), ...);
  }(std::make_integer_sequence<int, K + 1>{});
  return out;
}

}  // namespace taynode
