#pragma once
// backend::Cpu: host memory, Eigen's GEMM, and plain loops that the compiler vectorizes.
// Single-threaded unless Eigen is built with OpenMP (it is not in this project).

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "taynode/backend/backend.hpp"
#include "taynode/config.hpp"

#if defined(__clang__)
#define TAYNODE_IVDEP _Pragma("clang loop vectorize(enable)")
#elif defined(__GNUC__)
#define TAYNODE_IVDEP _Pragma("GCC ivdep")
#else
#define TAYNODE_IVDEP
#endif

namespace taynode::backend {

struct Cpu {
  static constexpr bool eigen_host = true;  // Eigen may map its memory (backend.hpp)

  template <class T>
  using Buffer = std::vector<T, Eigen::aligned_allocator<T>>;

  // Parameters are used where they are (host memory): a non-owning view.
  template <class T>
  class Mirror {
   public:
    Mirror(const T* host, Index) : p_(host) {}
    const T* data() const { return p_; }

   private:
    const T* p_;
  };

  template <class T>
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  template <class T>
  using ConstMatrixMap = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>;
  template <class T>
  using MatrixMap = Eigen::Map<RowMatrix<T>, 0, Eigen::OuterStride<>>;

  // States and cotangents are the Eigen types every host API has always taken.
  template <class T>
  using Matrix = RowMatrix<T>;
  template <class T>
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  template <class T>
  using View = Eigen::Map<RowMatrix<T>>;
  template <class T>
  using ConstView = Eigen::Map<const RowMatrix<T>>;

  // C(m×n) = α·A(m×k)·B(n×k)ᵀ + β·C, all row-major (B is a weight matrix out × in).
  template <class T>
  static void gemm_nt(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    const ConstMatrixMap<T> A(a, m, k, Eigen::OuterStride<>(lda));
    const ConstMatrixMap<T> B(b, n, k, Eigen::OuterStride<>(ldb));
    MatrixMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (beta == T(0)) {
      if (m == 1) {
        C.row(0).noalias() = alpha * (A.row(0) * B.transpose());  // one example: a matrix-vector product
      } else if (alpha == T(1)) {
        C.noalias() = A * B.transpose();
      } else {
        C.noalias() = alpha * (A * B.transpose());
      }
      return;
    }
    if (m == 1) accumulate(C.row(0), A.row(0) * B.transpose(), alpha, beta);
    else accumulate(C, A * B.transpose(), alpha, beta);
  }
  // C(m×n) = α·A(m×k)·B(k×n) + β·C (the input cotangent x̄ += ȳ W of a linear map).
  template <class T>
  static void gemm_nn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    const ConstMatrixMap<T> A(a, m, k, Eigen::OuterStride<>(lda));
    const ConstMatrixMap<T> B(b, k, n, Eigen::OuterStride<>(ldb));
    MatrixMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (m == 1) accumulate(C.row(0), A.row(0) * B, alpha, beta);  // one example: a vector-matrix product
    else accumulate(C, A * B, alpha, beta);
  }
  // C(m×n) = α·A(k×m)ᵀ·B(k×n) + β·C (the weight cotangent W̄ += Ȳᵀ X over stacked coefficients).
  template <class T>
  static void gemm_tn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    const ConstMatrixMap<T> A(a, k, m, Eigen::OuterStride<>(lda));
    const ConstMatrixMap<T> B(b, k, n, Eigen::OuterStride<>(ldb));
    MatrixMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
    accumulate(C, A.transpose() * B, alpha, beta);
  }

  // Plain vector operations (host memory: loops the compiler vectorizes).
  template <class T>
  static void axpy(Index n, T alpha, const T* x, T* y) {
    TAYNODE_IVDEP
    for (Index i = 0; i < n; ++i) y[i] += alpha * x[i];
  }
  template <class T>
  static void scale(Index n, T alpha, T* x) {
    TAYNODE_IVDEP
    for (Index i = 0; i < n; ++i) x[i] *= alpha;
  }
  template <class T>
  static void fill(Index n, T value, T* x) {
    std::fill(x, x + n, value);
  }
  template <class T>
  static void copy(Index n, const T* x, T* y) {
    std::copy(x, x + n, y);
  }
  template <class T>
  static void upload(Index n, const T* host, T* x) {
    std::copy(host, host + n, x);
  }
  template <class T>
  static void download(Index n, const T* x, T* host) {
    std::copy(x, x + n, host);
  }

  // y_j += α·Σ_i x(i, j), y at increment incy (bias cotangents: column sums of ȳ).
  template <class T>
  static void column_sums(Index m, Index n, T alpha, const T* x, Index ldx, T* y, Index incy) {
    const ConstMatrixMap<T> X(x, m, n, Eigen::OuterStride<>(ldx));
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>, 0, Eigen::InnerStride<>> Y(y, n, Eigen::InnerStride<>(incy));
    if (alpha == T(1)) Y += X.colwise().sum();
    else Y += alpha * X.colwise().sum();
  }
  // Σ_i x_i, Eigen's reduction (so a sum of terms written to memory has the bits of Eigen's sum
  // of the same terms as an expression: both start at index 0 when x is aligned).
  template <class T>
  static T sum(Index n, const T* x) {
    return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(x, n).sum();
  }
  // Σ_i Σ_j x(i, j)·v_j (v at increment incv): the time cotangent Σ ȳ w_t of a time column.
  template <class T>
  static T sum_of_products(Index m, Index n, const T* x, Index ldx, const T* v, Index incv) {
    const ConstMatrixMap<T> X(x, m, n, Eigen::OuterStride<>(ldx));
    const Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>, 0, Eigen::InnerStride<>> V(v, n,
                                                                                            Eigen::InnerStride<>(incv));
    return (X * V).sum();
  }

  // C(i, :) += α·v for every row i; v has n elements at increment incv.
  template <class T>
  static void add_row(Index m, Index n, T alpha, const T* v, Index incv, T* c, Index ldc) {
    for (Index i = 0; i < m; ++i) {
      T* row = c + i * ldc;
      TAYNODE_IVDEP
      for (Index j = 0; j < n; ++j) row[j] += alpha * v[j * incv];
    }
  }

  // kernel(i) for i in [0, n). The iterations are independent (ivdep), so a kernel whose
  // operator() inlines to straight-line code (a Taylor rule at a compile-time order) vectorizes.
  template <class Kernel>
  TAYNODE_INLINE static void for_each(Index n, Kernel kernel) {
    TAYNODE_IVDEP
    for (Index i = 0; i < n; ++i) kernel(i);
  }
  template <class Kernel>
  TAYNODE_INLINE static void for_each_2d(Index rows, Index cols, Kernel kernel) {
    for (Index r = 0; r < rows; ++r) {
      TAYNODE_IVDEP
      for (Index c = 0; c < cols; ++c) kernel(r, c);
    }
  }

  // Coefficient 0 of the elementwise functions: the same formulas as the k = 0 branch of the rules
  // in jet/rules.hpp, with exp/log1p/log from Eigen's vectorized kernels instead of libm's scalar
  // ones (within an ulp of each other), because coefficient 0 is the plain evaluation whose cost
  // every Taylor pass is measured against.
  //
  // σ(u) = 1/(1 + e^{−|u|}) for u ≥ 0, e^{−|u|}/(1 + e^{−|u|}) otherwise; e = σ(u)·σ(−u). The
  // second quotient is formed as e^{−|u|}·(1/(1 + e^{−|u|})) (one more rounding, one division less:
  // a 512-bit division costs as much as the rest of the loop).
  template <class T>
  static void sigmoid_values(Index n, const T* u, T* s, T* e) {
    constexpr Index chunk = 256;
    alignas(64) T z[chunk];
    for (Index i0 = 0; i0 < n; i0 += chunk) {
      const Index m = std::min(chunk, n - i0);
      exp_minus_abs(m, u + i0, z);
      const T* ui = u + i0;
      T* si = s + i0;
      T* ei = e + i0;
      TAYNODE_IVDEP
      for (Index i = 0; i < m; ++i) {
        const T big = T(1) / (T(1) + z[i]), small = z[i] * big;  // one division per element
        si[i] = ui[i] >= T(0) ? big : small;
        ei[i] = big * small;
      }
    }
  }
  // tanh(u) = ±(1 − q)/(1 + q) and w = 1/cosh²(u) = 4q/(1 + q)² with q = e^{−2|u|} (one vectorized
  // exponential; the rule's k = 0 branch). Two ranges take libm instead: |u| < 1/8, where 1 − q
  // would lose up to 3 bits (there w = 1 − tanh² has no cancellation: tanh² < 1/64), and q below
  // the smallest normal number, where the vectorized exp is clamped (w is then 4·e^{−2|u|} or 0).
  template <class T>
  static void tanh_values(Index n, const T* u, T* y, T* w) {
    constexpr Index chunk = 256;
    alignas(64) T q[chunk];
    using A = Eigen::Array<T, Eigen::Dynamic, 1>;
    const T huge = T(-0.5) * std::log(std::numeric_limits<T>::min());  // 354 (double), 43.7 (float)
    auto libm_range = [huge](T v) { return (v < T(0.125) && v > T(-0.125)) || v > huge || v < -huge; };
    for (Index i0 = 0; i0 < n; i0 += chunk) {
      const Index m = std::min(chunk, n - i0);
      Eigen::Map<A>(q, m) = T(-2) * Eigen::Map<const A>(u + i0, m).abs();
      Eigen::Map<A>(q, m) = Eigen::Map<A>(q, m).exp();
      const T* ui = u + i0;
      T* yi = y + i0;
      T* wi = w + i0;
      bool any = false;
      TAYNODE_IVDEP
      for (Index i = 0; i < m; ++i) {
        const T inv = T(1) / (T(1) + q[i]);
        const T t = (T(1) - q[i]) * inv;
        yi[i] = ui[i] < T(0) ? -t : t;
        wi[i] = T(4) * q[i] * inv * inv;
        any |= libm_range(ui[i]);
      }
      if (any)
        for (Index i = 0; i < m; ++i)
          if (libm_range(ui[i])) {
            yi[i] = std::tanh(ui[i]);
            wi[i] = std::abs(ui[i]) < T(1) ? T(1) - yi[i] * yi[i] : T(4) * std::exp(T(-2) * std::abs(ui[i]));
          }
    }
  }
  // softplus(u) = max(u, 0) + log1p(e^{−|u|}), with s = σ(u), e = σ(u)σ(−u) as above.
  template <class T>
  static void softplus_values(Index n, const T* u, T* y, T* s, T* e) {
    constexpr Index chunk = 256;
    alignas(64) T z[chunk];
    alignas(64) T l[chunk];
    for (Index i0 = 0; i0 < n; i0 += chunk) {
      const Index m = std::min(chunk, n - i0);
      exp_minus_abs(m, u + i0, z);
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(l, m) = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(z, m).log1p();
      const T* ui = u + i0;
      T* yi = y + i0;
      T* si = s + i0;
      T* ei = e + i0;
      TAYNODE_IVDEP
      for (Index i = 0; i < m; ++i) {
        const T big = T(1) / (T(1) + z[i]), small = z[i] * big;  // one division per element
        yi[i] = (ui[i] > T(0) ? ui[i] : T(0)) + l[i];
        si[i] = ui[i] >= T(0) ? big : small;
        ei[i] = big * small;
      }
    }
  }
  template <class T>
  static void exp_values(Index n, const T* u, T* y) {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(y, n) = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(u, n).exp();
  }
  template <class T>
  static void log_values(Index n, const T* u, T* y) {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(y, n) = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(u, n).log();
  }

  // out_i = Σ_j x(i, j)²
  template <class T>
  static void row_squared_norms(Index m, Index n, const T* x, Index ldx, T* out) {
    const ConstMatrixMap<T> X(x, m, n, Eigen::OuterStride<>(ldx));
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(out, m) = X.rowwise().squaredNorm();
  }

 private:
  // C = α·P + β·C for a product expression P (β = 0: C is not read).
  template <class C, class P, class T>
  static void accumulate(C&& c, const P& product, T alpha, T beta) {
    if (beta == T(0)) c.setZero();
    else if (beta != T(1)) c *= beta;
    if (alpha == T(1)) c.noalias() += product;
    else c.noalias() += alpha * product;
  }
  template <class T>
  static void exp_minus_abs(Index m, const T* u, T* z) {
    using A = Eigen::Array<T, Eigen::Dynamic, 1>;
    Eigen::Map<A>(z, m) = (-Eigen::Map<const A>(u, m).abs()).exp();
  }
};

static_assert(SeriesBackend<Cpu>);

}  // namespace taynode::backend
