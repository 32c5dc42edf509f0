#pragma once
// The seam between everything above it (series/, taylor/network_taylor.hpp, reg/, ad/, the
// optimizers of nn/) and the hardware: a backend is a type with static functions for storage,
// GEMMs, elementwise kernels and reductions. Model code calls only these, so a device backend is
// a second type with the same members, chosen by the template parameter `Backend`; no model code
// changes (DESIGN.md decision 8).
//
// Every matrix is row-major with a leading dimension (elements between consecutive rows), and
// every pointer is into the backend's own memory (host memory for backend::Cpu) unless it is
// named `host`. Scalars passed by value (α, β, fill values) live on the host; results returned by
// value (sum_of_products) are copied back to the host.
//
// Required members (T = float or double, Index = std::ptrdiff_t):
//   template <class T> using Buffer          owning storage: Buffer<T>(n), .data(), .size(), .resize(n)
//                                              (resize keeps no values a caller may rely on)
//   template <class T> class Mirror          parameters as the kernels see them:
//                                              Mirror<T>(const T* host, Index n), .data(),
//                                              .update(host, n) (the host values changed)
//   template <class T> using Matrix, Vector  owning batch × D states / batch-long vectors in backend
//                                              memory: Matrix<T>(rows, cols), Vector<T>(n), .data(),
//                                              .rows(), .cols(), .size() (Cpu: the Eigen types;
//                                              others: backend::Matrix, backend/matrix.hpp)
//   template <class T> using View, ConstView non-owning contiguous row-major views, constructible
//                                              from (pointer, rows, cols)
//   gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, α, β)  C(m×n) = α·A(m×k)·B(n×k)ᵀ + β·C
//   gemm_nn(m, n, k, a, lda, b, ldb, c, ldc, α, β)  C(m×n) = α·A(m×k)·B(k×n)  + β·C
//   gemm_tn(m, n, k, a, lda, b, ldb, c, ldc, α, β)  C(m×n) = α·A(k×m)ᵀ·B(k×n) + β·C
//       (β = 0: C is not read, so it may hold anything, NaN included)
//   add_row(m, n, α, v, incv, c, ldc)         C(i, :) += α·v for every row i (v at increment incv)
//   axpy(n, α, x, y)                          y += α·x
//   scale(n, α, x)                            x = α·x
//   fill(n, value, x)                         x = value
//   copy(n, x, y)                             y = x (no overlap)
//   upload(n, host, x), download(n, x, host)  host → backend memory, backend memory → host
//   column_sums(m, n, α, x, ldx, y, incy)     y_j += α·Σ_i x(i, j)   (y at increment incy)
//   sum_of_products(m, n, x, ldx, v, incv)    Σ_i Σ_j x(i, j)·v_j, returned to the host
//   sum(n, x)                                 Σ_i x_i, returned to the host (error norms; the
//                                              order of Eigen's reduction of a contiguous array)
//   row_squared_norms(m, n, x, ldx, out)      out_i = Σ_j x(i, j)²
//   for_each(n, kernel)                       kernel(i) for i in [0, n); elements independent
//   for_each_2d(rows, cols, kernel)           kernel(r, c); elements independent
//   sigmoid_values(n, u, s, e)                s = σ(u), e = σ(u)σ(−u)        (coefficient 0)
//   tanh_values(n, u, y, w)                   y = tanh(u), w = 1/cosh²(u)    (coefficient 0)
//   softplus_values(n, u, y, s, e)            y = softplus(u), s, e as above (coefficient 0)
//   exp_values(n, u, y), log_values(n, u, y)  y = exp(u), log(u)             (coefficient 0)
// Kernels passed to for_each are trivially copyable structs of pointers whose operator() is
// TAYNODE_HD, so a device backend can launch them as they are.
//
// SeriesBackend checks every member above (tests/backend/test_backend_concept.cpp checks that a
// backend missing any one of them is rejected). `eigen_host<B>` says whether B's memory is host
// memory that Eigen may map directly (only then do the Eigen accessors of Series and the
// Eigen-argument overloads of NetworkTaylor, NetworkAdjoint, Tape and reg:: exist).

#include <concepts>
#include <cstddef>

namespace taynode::backend {

using Index = std::ptrdiff_t;

namespace detail {
// Probe kernels for the concept (never called).
struct Kernel1d {
  void operator()(Index) const {}
};
struct Kernel2d {
  void operator()(Index, Index) const {}
};
}  // namespace detail

template <class B>
concept SeriesBackend = requires(const double* cp, double* p, double a, Index n, const typename B::template Buffer<double> cbuf,
                                 typename B::template Buffer<double> buf, const typename B::template Mirror<double> mirror,
                                 const typename B::template Matrix<double> mat, const typename B::template Vector<double> vec) {
  // storage
  typename B::template Buffer<double>;
  typename B::template Mirror<double>;
  typename B::template Matrix<double>;
  typename B::template Vector<double>;
  typename B::template View<double>;
  typename B::template ConstView<double>;
  requires std::constructible_from<typename B::template Buffer<double>, std::size_t>;
  { cbuf.data() } -> std::convertible_to<const double*>;
  { buf.data() } -> std::convertible_to<double*>;
  { cbuf.size() } -> std::convertible_to<std::size_t>;
  buf.resize(std::size_t(n));
  requires std::constructible_from<typename B::template Mirror<double>, const double*, Index>;
  { mirror.data() } -> std::convertible_to<const double*>;
  requires requires(typename B::template Mirror<double> m) { m.update(cp, n); };
  requires std::constructible_from<typename B::template Matrix<double>, Index, Index>;
  requires std::constructible_from<typename B::template Vector<double>, Index>;
  { mat.data() } -> std::convertible_to<const double*>;
  { mat.rows() } -> std::convertible_to<Index>;
  { mat.cols() } -> std::convertible_to<Index>;
  { vec.data() } -> std::convertible_to<const double*>;
  { vec.size() } -> std::convertible_to<Index>;
  requires std::constructible_from<typename B::template View<double>, double*, Index, Index>;
  requires std::constructible_from<typename B::template ConstView<double>, const double*, Index, Index>;
  B::upload(n, cp, p);
  B::download(n, cp, p);
  B::copy(n, cp, p);
  B::fill(n, a, p);
  // GEMMs
  B::gemm_nt(n, n, n, cp, n, cp, n, p, n, a, a);
  B::gemm_nn(n, n, n, cp, n, cp, n, p, n, a, a);
  B::gemm_tn(n, n, n, cp, n, cp, n, p, n, a, a);
  // vector operations and reductions
  B::add_row(n, n, a, cp, n, p, n);
  B::axpy(n, a, cp, p);
  B::scale(n, a, p);
  B::column_sums(n, n, a, cp, n, p, n);
  { B::sum_of_products(n, n, cp, n, cp, n) } -> std::convertible_to<double>;
  { B::sum(n, cp) } -> std::convertible_to<double>;
  B::row_squared_norms(n, n, cp, n, p);
  // kernels
  B::for_each(n, detail::Kernel1d{});
  B::for_each_2d(n, n, detail::Kernel2d{});
  B::sigmoid_values(n, cp, p, p);
  B::tanh_values(n, cp, p, p);
  B::softplus_values(n, cp, p, p, p);
  B::exp_values(n, cp, p);
  B::log_values(n, cp, p);
};

// Whether B's memory is host memory that Eigen may map (the Eigen convenience accessors).
template <class B>
inline constexpr bool eigen_host = requires { requires B::eigen_host; };

// Whether code above the seam should fuse elementwise passes into one kernel where it can (B sets
// `fuse_elementwise = true`: each launch costs it more than the work, as on a GPU). The fused
// kernels compute coefficient 0 of σ, tanh and softplus with the Taylor rules' own formula instead
// of B's value functions, so a backend that must match backend::Cpu bit for bit leaves it unset.
template <class B>
inline constexpr bool fuse_elementwise = requires { requires B::fuse_elementwise; };

}  // namespace taynode::backend
