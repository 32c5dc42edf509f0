#pragma once
// Series<T, Backend>: the truncated Taylor series of a batch of arrays, structure of arrays.
//
// It holds the NORMALIZED coefficients c_k = x^(k)/k! (as Jet does) of a path x(τ) of
// rows × cols matrices (rows = examples of the batch, cols = features), k = 0..order.
// Storage is one contiguous buffer, row-major, the order+1 coefficient matrices stacked
// vertically: a ((order+1)·rows) × cols matrix whose rows k·rows .. (k+1)·rows−1 hold c_k.
// So coefficient k is a contiguous block of rows·cols elements (elementwise rules stride over
// coefficients by `stride()`), and all coefficients together are one matrix for one GEMM.

#include <cstddef>

#include <Eigen/Core>

#include "taynode/backend/cpu.hpp"
#include "taynode/config.hpp"

namespace taynode {

using backend::Index;

// The series of the time argument: t(τ) = t0 + t1·τ. For ODE Taylor coefficients t1 = 1 (the
// series of t is [t0, 1, 0, …]); for a derivative with respect to the state alone (a JVP), t1 = 0.
// With `t0_from` set (a Clock's time, in the backend's memory: series/clock.hpp), coefficient 0 is
// *t0_from + t0, read where it is used — in a kernel, when the kernel runs — so a captured graph
// replays at the clock's time of each replay. Host code decides what to launch with
// may_be_nonzero(), which does not read the clock.
template <class T>
struct TimeSeries {
  T t0{};
  T t1{1};
  const T* t0_from = nullptr;
  TAYNODE_HD constexpr T coefficient(int k) const {
    return k == 0 ? (t0_from ? *t0_from + t0 : t0) : k == 1 ? t1 : T(0);
  }
  constexpr bool may_be_nonzero(int k) const {
    return k == 0 ? (t0_from != nullptr || t0 != T(0)) : k == 1 ? t1 != T(0) : false;
  }
};

namespace series {
// Coefficient view of one element: v[j] is that element's normalized coefficient j. This is what
// the rules of jet/rules.hpp index; `stride` is the distance between coefficient matrices.
template <class T>
struct Strided {
  T* p;
  Index stride;
  TAYNODE_INLINE TAYNODE_HD T& operator[](int j) const { return p[j * stride]; }
};
}  // namespace series

template <class T, class Backend = backend::Cpu>
class Series {
 public:
  using scalar_type = T;
  using backend_type = Backend;

  Series() = default;
  Series(int order, Index rows, Index cols) { resize(order, rows, cols); }

  // Reallocates only when growing; coefficient values are unspecified afterwards.
  void resize(int order, Index rows, Index cols) {
    order_ = order;
    rows_ = rows;
    cols_ = cols;
    const auto n = static_cast<std::size_t>((order + 1) * rows * cols);
    if (buffer_.size() < n) buffer_.resize(n);
  }

  int order() const { return order_; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  // Elements of one coefficient matrix, and the distance between consecutive coefficients.
  Index size() const { return rows_ * cols_; }
  Index stride() const { return rows_ * cols_; }

  T* data() { return buffer_.data(); }
  const T* data() const { return buffer_.data(); }
  // Normalized coefficient k: a contiguous rows × cols row-major block.
  T* coefficient(int k) { return data() + k * stride(); }
  const T* coefficient(int k) const { return data() + k * stride(); }

  // Coefficient views of element i (for the rules).
  series::Strided<T> at(Index i) { return {data() + i, stride()}; }
  series::Strided<const T> at(Index i) const { return {data() + i, stride()}; }

  // Coefficient k as the backend's matrix view (any backend).
  typename Backend::template View<T> view(int k) { return {coefficient(k), rows_, cols_}; }
  typename Backend::template ConstView<T> view(int k) const { return {coefficient(k), rows_, cols_}; }

  // Host access (backends whose memory Eigen may map: Cpu): coefficient k, or coefficients
  // 0..order stacked, as Eigen maps. A compile error on other backends.
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<RowMatrix> matrix(int k)
    requires backend::eigen_host<Backend>
  {
    return {coefficient(k), rows_, cols_};
  }
  Eigen::Map<const RowMatrix> matrix(int k) const
    requires backend::eigen_host<Backend>
  {
    return {coefficient(k), rows_, cols_};
  }
  Eigen::Map<RowMatrix> stacked()
    requires backend::eigen_host<Backend>
  {
    return {data(), (order_ + 1) * rows_, cols_};
  }
  Eigen::Map<const RowMatrix> stacked() const
    requires backend::eigen_host<Backend>
  {
    return {data(), (order_ + 1) * rows_, cols_};
  }
  // The k-th derivative k!·c_k of the path (a copy).
  RowMatrix derivative(int k) const
    requires backend::eigen_host<Backend>
  {
    T factorial(1);
    for (int j = 2; j <= k; ++j) factorial *= T(j);
    return factorial * matrix(k);
  }

 private:
  typename Backend::template Buffer<T> buffer_;
  int order_ = 0;
  Index rows_ = 0, cols_ = 0;
};

}  // namespace taynode
