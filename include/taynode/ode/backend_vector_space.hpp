#pragma once
// VectorSpace for states in a backend's memory (backend::Matrix<T, B>, backend/matrix.hpp): the
// solvers' state arithmetic as Backend kernels, so `taynode::solve` runs on batch × D states of
// any backend (backend::Cpu's states are Eigen matrices and keep the Eigen VectorSpace).
//
// Every element gets the operations of the Eigen path in vector_space.hpp in the same order
// (add_scaled: y + (h·c0)·k for one stage, y + h·(Σ c_j k_j) for several; error terms
// ((Σ c_j k_j)·h / (atol + rtol·max(|y0|, |y1|)))²), and the sums are Backend::sum over the terms
// written to an aligned scratch buffer, which on a host backend is Eigen's reduction of the same
// terms — so a solve on a host backend has the bits of the same solve on backend::Cpu.
// Per-component tolerances (host arrays) are not supported here.

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <utility>

#include "taynode/backend/matrix.hpp"
#include "taynode/config.hpp"
#include "taynode/ode/vector_space.hpp"

namespace taynode {

namespace ode_detail {
// Element i of y + (h·c0)·k0 (n = 1) or y + h·(c0 k0 + c1 k1 + …) (n > 1): a stage's input (the
// kernels below, and the resident solve of taylor/resident_solve.hpp).
template <class T>
TAYNODE_INLINE TAYNODE_HD T stage_value(T y, T h, std::size_t n, const T* c, const T* const* k, std::ptrdiff_t i) {
  if (n == 1) return y + (h * c[0]) * k[0][i];
  T acc = c[0] * k[0][i];
  for (std::size_t j = 1; j < n; ++j) acc = acc + c[j] * k[j][i];
  return y + h * acc;
}
// Element i's term ((Σ c_j k_j)·h / (atol + rtol·max(|y0|, |y1|)))² of the embedded error norm,
// num and m as in the Eigen path's sq_sum_over.
template <class T>
TAYNODE_INLINE TAYNODE_HD T error_term(T y0, T y1, T h, T atol, T rtol, std::size_t n, const T* c, const T* const* k,
                                       std::ptrdiff_t i) {
  using std::abs;
  T acc = c[0] * k[0][i];
  for (std::size_t j = 1; j < n; ++j) acc = acc + c[j] * k[j][i];
  const T err = acc * h;
  const T a0 = abs(y0), a1 = abs(y1);
  const T m = a0 < a1 ? a1 : a0;
  const T r = err / (atol + rtol * m);
  return r * r;
}
// The term (num / (atol + rtol·|y0|))² of the initial step's norms.
template <class T>
TAYNODE_INLINE TAYNODE_HD T norm_term(T num, T y0, T atol, T rtol) {
  using std::abs;
  const T r = num / (atol + rtol * abs(y0));
  return r * r;
}

// out = y + (h·c0)·k0 (N = 1) or y + h·(c0 k0 + c1 k1 + …) (N > 1).
template <class T, std::size_t N>
struct AddScaledKernel {
  T* out;
  const T* y;
  T h;
  T c[N];
  const T* k[N];
  TAYNODE_INLINE TAYNODE_HD void operator()(std::ptrdiff_t i) const { out[i] = stage_value(y[i], h, N, c, k, i); }
};
// out = (h·c0)·k0 (N = 1) or h·(c0 k0 + c1 k1 + …) (N > 1): the reverse sweep's k̄ combinations.
template <class T, std::size_t N>
struct ScaledSumKernel {
  T* out;
  T h;
  T c[N];
  const T* k[N];
  TAYNODE_INLINE TAYNODE_HD void operator()(std::ptrdiff_t i) const {
    if constexpr (N == 1) {
      out[i] = (h * c[0]) * k[0][i];
    } else {
      T acc = c[0] * k[0][i];
      for (std::size_t j = 1; j < N; ++j) acc = acc + c[j] * k[j][i];
      out[i] = h * acc;
    }
  }
};
// term_i = (num_i / (atol + rtol·m_i))², num and m as in the Eigen path's sq_sum_over.
template <class T, std::size_t N>
struct ErrorTermKernel {
  T* term;
  const T *y0, *y1;
  T h, atol, rtol;
  T c[N];
  const T* k[N];
  TAYNODE_INLINE TAYNODE_HD void operator()(std::ptrdiff_t i) const {
    term[i] = error_term(y0[i], y1[i], h, atol, rtol, N, c, k, i);
  }
};
// term_i = ((a_i − b_i) / (atol + rtol·|y0_i|))² (b null: a_i alone).
template <class T>
struct NormTermKernel {
  T* term;
  const T *a, *b, *y0;
  T atol, rtol;
  TAYNODE_INLINE TAYNODE_HD void operator()(std::ptrdiff_t i) const {
    term[i] = norm_term(b ? a[i] - b[i] : a[i], y0[i], atol, rtol);
  }
};
// term_i = x_i − x_i: 0 for finite x_i, NaN otherwise (as Eigen's allFinite).
template <class T>
struct FiniteTermKernel {
  T* term;
  const T* x;
  TAYNODE_INLINE TAYNODE_HD void operator()(std::ptrdiff_t i) const { term[i] = x[i] - x[i]; }
};
}  // namespace ode_detail

template <class T, class B>
struct VectorSpace<backend::Matrix<T, B>> {
  using S = backend::Matrix<T, B>;
  using Scalar = T;
  using Real = T;

  static std::ptrdiff_t size(const S& x) { return x.size(); }
  static void resize_like(S& dst, const S& src) { dst.resize(src.rows(), src.cols()); }

  template <std::size_t N, class... K>
  static void add_scaled(S& out, const S& y, Real h, const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K));
    if constexpr (N == 0) {
      if (out.data() != y.data()) B::copy(y.size(), y.data(), out.data());
    } else {
      ode_detail::AddScaledKernel<T, N> kernel{out.data(), y.data(), h, {}, {k.data()...}};
      for (std::size_t j = 0; j < N; ++j) kernel.c[j] = c[j];
      B::for_each(y.size(), kernel);
    }
  }

  template <std::size_t N, class... K>
  static void scaled_sum(S& out, Real h, const std::array<Real, N>& c, const K&... k) {
    static_assert(N == sizeof...(K) && N > 0);
    ode_detail::ScaledSumKernel<T, N> kernel{out.data(), h, {}, {k.data()...}};
    for (std::size_t j = 0; j < N; ++j) kernel.c[j] = c[j];
    B::for_each(out.size(), kernel);
  }

  template <std::size_t N, class... K>
  static Real error_sq_sum(const S& y0, const S& y1, Real h, const Tolerances<Real>& tol, const std::array<Real, N>& c,
                           const K&... k) {
    static_assert(N == sizeof...(K) && N > 0);
    scalar_tolerances(tol);
    S term(y0.rows(), y0.cols());
    ode_detail::ErrorTermKernel<T, N> kernel{term.data(), y0.data(), y1.data(), h, tol.atol, tol.rtol, {}, {k.data()...}};
    for (std::size_t j = 0; j < N; ++j) kernel.c[j] = c[j];
    B::for_each(y0.size(), kernel);
    return B::sum(term.size(), term.data());
  }
  static Real scaled_sq_norm(const S& x, const S& y0, const Tolerances<Real>& tol) {
    return norm_terms(x, nullptr, y0, tol);
  }
  static Real scaled_sq_norm_diff(const S& a, const S& b, const S& y0, const Tolerances<Real>& tol) {
    return norm_terms(a, b.data(), y0, tol);
  }
  static bool all_finite(const S& x) {
    S term(x.rows(), x.cols());
    B::for_each(x.size(), ode_detail::FiniteTermKernel<T>{term.data(), x.data()});
    using std::isfinite;
    return isfinite(B::sum(term.size(), term.data()));
  }

 private:
  static void scalar_tolerances(const Tolerances<Real>& tol) {
    if (tol.rtol_vec || tol.atol_vec)
      throw std::invalid_argument("taynode::VectorSpace<backend::Matrix>: per-component tolerances are unsupported");
  }
  static Real norm_terms(const S& a, const T* b, const S& y0, const Tolerances<Real>& tol) {
    scalar_tolerances(tol);
    S term(a.rows(), a.cols());
    B::for_each(a.size(), ode_detail::NormTermKernel<T>{term.data(), a.data(), b, y0.data(), tol.atol, tol.rtol});
    return B::sum(term.size(), term.data());
  }
};

}  // namespace taynode
