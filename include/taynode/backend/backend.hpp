#pragma once
// The seam between the batched Taylor series (series/, taylor/network_taylor.hpp) and the
// hardware: a backend is a type with static functions for storage, GEMM and elementwise kernels.
// Model code (nn/ layers, the incremental Taylor pass, the regularizers) calls only these, so a
// device backend (cuda/, planned) is a second type with the same members, chosen by the template
// parameter `Backend` of Series and NetworkTaylor; no model code changes.
//
// Every matrix is row-major with a leading dimension (elements between consecutive rows), and
// every pointer is into the backend's own memory (host memory for backend::Cpu).
//
// Required members (T = float or double, Index = std::ptrdiff_t):
//   template <class T> using Buffer          owning storage: Buffer<T>(n), .data(), .size()
//   template <class T> class Mirror          parameters as the kernels see them:
//                                              Mirror<T>(const T* host, Index n), .data()
//   gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, alpha)  C(m×n) = α·A(m×k)·B(n×k)ᵀ
//   add_row(m, n, alpha, v, incv, c, ldc)     C(i, :) += α·v for every row i (v at increment incv)
//   for_each(n, kernel)                       kernel(i) for i in [0, n); elements independent
//   for_each_2d(rows, cols, kernel)           kernel(r, c); elements independent
//   sigmoid_values(n, u, s, e)                s = σ(u), e = σ(u)σ(−u)        (coefficient 0)
//   tanh_values(n, u, y, w)                   y = tanh(u), w = 1/cosh²(u)    (coefficient 0)
//   softplus_values(n, u, y, s, e)            y = softplus(u), s, e as above (coefficient 0)
//   exp_values(n, u, y), log_values(n, u, y)  y = exp(u), log(u)             (coefficient 0)
//   row_squared_norms(m, n, x, ldx, out)      out_i = Σ_j x(i, j)²
// Kernels passed to for_each are trivially copyable structs of pointers whose operator() is
// TAYNODE_HD, so a device backend can launch them as they are.

#include <concepts>
#include <cstddef>

namespace taynode::backend {

using Index = std::ptrdiff_t;

template <class B>
concept SeriesBackend = requires(const double* cp, double* p, double a, Index n) {
  typename B::template Buffer<double>;
  typename B::template Mirror<double>;
  B::gemm_nt(n, n, n, cp, n, cp, n, p, n, a);
  B::add_row(n, n, a, cp, n, p, n);
  B::sigmoid_values(n, cp, p, p);
  B::tanh_values(n, cp, p, p);
  B::softplus_values(n, cp, p, p, p);
  B::exp_values(n, cp, p);
  B::log_values(n, cp, p);
  B::row_squared_norms(n, n, cp, n, p);
};

}  // namespace taynode::backend
