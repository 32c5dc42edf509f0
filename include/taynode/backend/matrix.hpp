#pragma once
// Batch × D states, cotangents and batch-long vectors in a backend's memory.
//
// Every backend names its own types (backend.hpp): `Matrix<T>` (owning), `Vector<T>` (owning,
// batch-long), `View<T>` / `ConstView<T>` (non-owning, from (pointer, rows, cols)). backend::Cpu
// uses the Eigen types every host API has always taken (RowMatrix, Eigen::Map); any other backend
// can use the two classes here:
//   MatrixView<T>      a contiguous row-major rows × cols block of backend memory (T may be const)
//   Matrix<T, B>       owning storage in a B::Buffer; a Vector is a Matrix of one column
// plus the argument adapters of the APIs above backend/:
//   InputMatrix<B, T>  what a read-only matrix argument accepts: a backend matrix or view, or (for
//                      backends whose memory Eigen may map, i.e. Cpu) any Eigen expression —
//                      evaluated into a temporary unless it already is contiguous row-major T
//   OutputMatrix<B, T> what an output argument accepts: contiguous row-major storage of T
// and the explicit host transfers to_backend<B>(eigen) and to_host<B>(matrix).

#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "taynode/backend/backend.hpp"

namespace taynode::backend {

template <class T>
class MatrixView {
 public:
  MatrixView(T* data, Index rows, Index cols) : p_(data), rows_(rows), cols_(cols) {}
  T* data() const { return p_; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }
  operator MatrixView<const T>() const
    requires(!std::is_const_v<T>)
  {
    return {p_, rows_, cols_};
  }

 private:
  T* p_;
  Index rows_, cols_;
};

template <class T, class B>
class Matrix {
 public:
  using Scalar = T;
  Matrix() : buffer_(0) {}
  explicit Matrix(Index rows, Index cols = 1) : buffer_(0) { resize(rows, cols); }
  Matrix(const Matrix& other) : Matrix(other.rows_, other.cols_) { B::copy(size(), other.data(), data()); }
  Matrix(Matrix&&) noexcept = default;
  Matrix& operator=(const Matrix& other) {
    if (this != &other) {
      resize(other.rows_, other.cols_);
      B::copy(size(), other.data(), data());
    }
    return *this;
  }
  Matrix& operator=(Matrix&&) noexcept = default;

  // Reallocates only when growing; values are unspecified afterwards.
  void resize(Index rows, Index cols = 1) {
    if (rows < 0 || cols < 0) throw std::invalid_argument("taynode::backend::Matrix: negative shape");
    rows_ = rows;
    cols_ = cols;
    if (buffer_.size() < std::size_t(rows * cols)) buffer_.resize(std::size_t(rows * cols));
  }
  T* data() { return buffer_.data(); }
  const T* data() const { return buffer_.data(); }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }
  MatrixView<T> view() { return {data(), rows_, cols_}; }
  MatrixView<const T> view() const { return {data(), rows_, cols_}; }
  operator MatrixView<T>() { return view(); }
  operator MatrixView<const T>() const { return view(); }

 private:
  typename B::template Buffer<T> buffer_;
  Index rows_ = 0, cols_ = 0;
};

namespace detail {
template <class X>
concept EigenDense = std::is_base_of_v<Eigen::DenseBase<X>, X>;

// Row-major contiguous storage of T (what a backend pointer may alias without a copy).
template <class T, class X>
bool contiguous_row_major(const X& x) {
  if constexpr (std::is_same_v<typename X::Scalar, T> && bool(X::Flags & Eigen::DirectAccessBit)) {
    return (x.cols() <= 1 || x.colStride() == 1) && (x.rows() <= 1 || x.rowStride() == x.cols());
  } else {
    return false;
  }
}
}  // namespace detail

// A read-only matrix argument in backend memory, seen as (data, rows, cols).
template <class B, class T>
class InputMatrix {
  using Host = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

 public:
  InputMatrix(MatrixView<const T> v) : p_(v.data()), rows_(v.rows()), cols_(v.cols()) {}
  template <class X>
    requires(!detail::EigenDense<X> && std::is_convertible_v<const X&, MatrixView<const T>>)
  InputMatrix(const X& x) : InputMatrix(MatrixView<const T>(x)) {}
  // Eigen arguments: only where Eigen may map the backend's memory (a compile error elsewhere).
  template <class X>
    requires(detail::EigenDense<X> && eigen_host<B>)
  InputMatrix(const X& x) : rows_(x.rows()), cols_(x.cols()) {
    if constexpr (requires { x.data(); }) {
      if (detail::contiguous_row_major<T>(x)) {
        p_ = x.data();
        return;
      }
    }
    storage_ = x.template cast<T>();
    p_ = storage_.data();
  }
  InputMatrix(const InputMatrix&) = delete;
  InputMatrix& operator=(const InputMatrix&) = delete;

  const T* data() const { return p_; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }

 private:
  const T* p_ = nullptr;
  Index rows_, cols_;
  std::conditional_t<eigen_host<B>, Host, char> storage_{};
};

// An output argument: contiguous row-major storage of T in backend memory (sized by the caller).
template <class B, class T>
class OutputMatrix {
 public:
  OutputMatrix(MatrixView<T> v) : p_(v.data()), rows_(v.rows()), cols_(v.cols()) {}
  template <class X>
    requires(!detail::EigenDense<std::remove_cvref_t<X>> && std::is_convertible_v<X&, MatrixView<T>>)
  OutputMatrix(X& x) : OutputMatrix(MatrixView<T>(x)) {}
  template <class X>
    requires(detail::EigenDense<std::remove_cvref_t<X>> && eigen_host<B>)
  OutputMatrix(X&& x) : p_(x.data()), rows_(x.rows()), cols_(x.cols()) {
    if (!detail::contiguous_row_major<T>(x))
      throw std::invalid_argument("taynode: an output matrix must be contiguous row-major storage");
  }

  T* data() const { return p_; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }

 private:
  T* p_;
  Index rows_, cols_;
};

// dst = src (dst resized to src's shape), both in B's memory.
template <class B, class M, class T>
void assign(M& dst, MatrixView<const T> src) {
  dst.resize(src.rows(), src.cols());
  B::copy(src.size(), src.data(), dst.data());
}

// Host → backend: a new backend matrix (B::Matrix) with the values of a host Eigen matrix.
template <class B, class Derived>
auto to_backend(const Eigen::MatrixBase<Derived>& host) {
  using T = typename Derived::Scalar;
  const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> h = host;
  typename B::template Matrix<T> m(h.rows(), h.cols());
  B::upload(h.size(), h.data(), m.data());
  return m;
}
// Backend → host: a row-major Eigen copy of a backend matrix or view.
template <class B, class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> to_host(MatrixView<const T> m) {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> h(m.rows(), m.cols());
  B::download(m.size(), m.data(), h.data());
  return h;
}
template <class B, class M>
auto to_host(const M& m) {
  using T = std::remove_const_t<std::remove_pointer_t<decltype(m.data())>>;
  return to_host<B, T>(MatrixView<const T>(m.data(), m.rows(), m.cols()));
}

}  // namespace taynode::backend
