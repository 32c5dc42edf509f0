#pragma once
// backend::Cpu: host memory, Eigen's GEMM, and plain loops that the compiler vectorizes, on
// taynode::cpu_threads() threads (backend/cpu_threads.hpp: default 1; results bit-identical for
// any count).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "taynode/backend/backend.hpp"
#include "taynode/backend/cpu_threads.hpp"
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
    void update(const T* host, Index) { p_ = host; }  // a view sees every change
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

  // The three GEMMs run Eigen's blocked kernel directly (Eigen::internal::
  // general_matrix_matrix_product, the routine behind its products), not through product
  // expressions: each expression form (A·Bᵀ, A·B, Aᵀ·B, with or without α, its small-size
  // coefficient path and its m = 1 GEMV) instantiates a kernel of its own, and those
  // instantiations were the largest part of a training program's compile cost (≈ 6 s and 220 MB
  // of g++ -O2 per translation unit, benchmarks/RESULTS.md "Compile cost"). Row-major C(m×n) is the
  // column-major Cᵀ(n×m), so C = op(A)·op(B) runs as Cᵀ = op(B)ᵀ·op(A)ᵀ, as Eigen itself does for a
  // row-major destination, with its blocking for the (m, n, k) problem: the same kernel, packing
  // and summation order as the expression `C.noalias() += α·(op(A)·op(B))` at sizes where Eigen
  // takes its GEMM path.
  //
  // C(m×n) = α·A(m×k)·B(n×k)ᵀ + β·C, all row-major (B is a weight matrix out × in).
  template <class T>
  static void gemm_nt(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    if (m == 1) {  // one example: a matrix-vector product (the GEMM kernel would pack all of B)
      scale_output(m, n, beta, c, ldc);
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> row(c, n);
      row.noalias() += alpha * (ConstMatrixMap<T>(a, 1, k, Eigen::OuterStride<>(lda)).row(0) *
                                ConstMatrixMap<T>(b, n, k, Eigen::OuterStride<>(ldb)).transpose());
      return;
    }
    // Cᵀ = B·Aᵀ: B row-major (n×k), Aᵀ is A's column-major view.
    gemm_kernel<T, Eigen::RowMajor, Eigen::ColMajor>(m, n, k, b, ldb, a, lda, c, ldc, alpha, beta);
  }
  // C(m×n) = α·A(m×k)·B(k×n) + β·C (the input cotangent x̄ += ȳ W of a linear map).
  template <class T>
  static void gemm_nn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    // Cᵀ = Bᵀ·Aᵀ: both column-major views.
    gemm_kernel<T, Eigen::ColMajor, Eigen::ColMajor>(m, n, k, b, ldb, a, lda, c, ldc, alpha, beta);
  }
  // C(m×n) = α·A(k×m)ᵀ·B(k×n) + β·C (the weight cotangent W̄ += Ȳᵀ X over stacked coefficients).
  template <class T>
  static void gemm_tn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    // Cᵀ = Bᵀ·A: Bᵀ column-major view, A row-major (k×m).
    gemm_kernel<T, Eigen::ColMajor, Eigen::RowMajor>(m, n, k, b, ldb, a, lda, c, ldc, alpha, beta);
  }

  // Plain vector operations (host memory: loops the compiler vectorizes, split over the threads).
  //
  // Every split loop body is a function whose operands are its parameters (the *_range functions
  // below): a lambda reading them from its closure would, in an OpenMP build, read them through
  // memory on every iteration (the closure escapes into the parallel region), which stops the
  // vectorization of the loop: measured 25 % slower on one thread before this was done.
  template <class T>
  static void axpy(Index n, T alpha, const T* x, T* y) {
    cpu_detail::parallel_ranges(n, 64, 1.0, elementwise_grain, [=](Index i0, Index i1) { axpy_range(i0, i1, alpha, x, y); });
  }
  template <class T>
  static void scale(Index n, T alpha, T* x) {
    cpu_detail::parallel_ranges(n, 64, 1.0, elementwise_grain, [=](Index i0, Index i1) { scale_range(i0, i1, alpha, x); });
  }
  template <class T>
  static void fill(Index n, T value, T* x) {
    cpu_detail::parallel_ranges(n, 64, 1.0, elementwise_grain, [=](Index i0, Index i1) { std::fill(x + i0, x + i1, value); });
  }
  template <class T>
  static void copy(Index n, const T* x, T* y) {
    cpu_detail::parallel_ranges(n, 64, 1.0, elementwise_grain, [=](Index i0, Index i1) { std::copy(x + i0, x + i1, y + i0); });
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
  // Each column summed over the rows in order (row by row, vectorized across the columns), so a
  // column's sum does not depend on which range of columns a thread takes.
  template <class T>
  static void column_sums(Index m, Index n, T alpha, const T* x, Index ldx, T* y, Index incy) {
    cpu_detail::parallel_ranges(n, 16, double(m), elementwise_grain,
                                [=](Index j0, Index j1) { column_sums_range(j0, j1, m, alpha, x, ldx, y, incy); });
  }
  template <class T>
  static void column_sums_range(Index j0, Index j1, Index m, T alpha, const T* x, Index ldx, T* y, Index incy) {
    {
      constexpr Index block = 256;
      alignas(64) T acc[block];
      for (Index b0 = j0; b0 < j1; b0 += block) {
        const Index w = std::min(block, j1 - b0);
        std::fill(acc, acc + w, T(0));
        for (Index i = 0; i < m; ++i) {
          const T* row = x + i * ldx + b0;
          TAYNODE_IVDEP
          for (Index j = 0; j < w; ++j) acc[j] += row[j];
        }
        if (alpha != T(1))  // a loop of its own: y + α·acc is never contracted into an FMA
          for (Index j = 0; j < w; ++j) acc[j] *= alpha;
        for (Index j = 0; j < w; ++j) y[(b0 + j) * incy] += acc[j];
      }
    }
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
    cpu_detail::parallel_ranges(m, 1, double(n), elementwise_grain,
                                [=](Index i0, Index i1) { add_row_range(i0, i1, n, alpha, v, incv, c, ldc); });
  }

  // kernel(i) for i in [0, n). The iterations are independent (ivdep), so a kernel whose
  // operator() inlines to straight-line code (a Taylor rule at a compile-time order) vectorizes.
  template <class Kernel>
  TAYNODE_INLINE static void for_each(Index n, Kernel kernel) {
    cpu_detail::parallel_ranges(n, 64, 1.0, elementwise_grain, [kernel](Index i0, Index i1) { for_each_range(i0, i1, kernel); });
  }
  template <class Kernel>
  TAYNODE_INLINE static void for_each_2d(Index rows, Index cols, Kernel kernel) {
    cpu_detail::parallel_ranges(rows, 1, double(cols), elementwise_grain,
                                [kernel, cols](Index r0, Index r1) { for_each_2d_range(r0, r1, cols, kernel); });
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
    cpu_detail::parallel_ranges(n, 256, 1.0, elementwise_grain,
                                [=](Index i0, Index i1) { sigmoid_values_range(i1 - i0, u + i0, s + i0, e + i0); });
  }
  // tanh(u) = ±(1 − q)/(1 + q) and w = 1/cosh²(u) = 4q/(1 + q)² with q = e^{−2|u|} (one vectorized
  // exponential; the rule's k = 0 branch). Two ranges take libm instead: |u| < 1/8, where 1 − q
  // would lose up to 3 bits (there w = 1 − tanh² has no cancellation: tanh² < 1/64), and q below
  // the smallest normal number, where the vectorized exp is clamped (w is then 4·e^{−2|u|} or 0).
  template <class T>
  static void tanh_values(Index n, const T* u, T* y, T* w) {
    cpu_detail::parallel_ranges(n, 256, 1.0, elementwise_grain,
                                [=](Index i0, Index i1) { tanh_values_range(i1 - i0, u + i0, y + i0, w + i0); });
  }
  // softplus(u) = max(u, 0) + log1p(e^{−|u|}), with s = σ(u), e = σ(u)σ(−u) as above.
  template <class T>
  static void softplus_values(Index n, const T* u, T* y, T* s, T* e) {
    cpu_detail::parallel_ranges(n, 256, 1.0, elementwise_grain,
                                [=](Index i0, Index i1) { softplus_values_range(i1 - i0, u + i0, y + i0, s + i0, e + i0); });
  }
  template <class T>
  static void exp_values(Index n, const T* u, T* y) {
    cpu_detail::parallel_ranges(n, 256, 1.0, elementwise_grain,
                                [=](Index i0, Index i1) { exp_values_range(i1 - i0, u + i0, y + i0); });
  }
  template <class T>
  static void log_values(Index n, const T* u, T* y) {
    cpu_detail::parallel_ranges(n, 256, 1.0, elementwise_grain,
                                [=](Index i0, Index i1) { log_values_range(i1 - i0, u + i0, y + i0); });
  }

  // out_i = Σ_j x(i, j)²
  template <class T>
  static void row_squared_norms(Index m, Index n, const T* x, Index ldx, T* out) {
    cpu_detail::parallel_ranges(m, 1, double(n), elementwise_grain, [=](Index i0, Index i1) {
      const ConstMatrixMap<T> X(x + i0 * ldx, i1 - i0, n, Eigen::OuterStride<>(ldx));
      Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(out + i0, i1 - i0) = X.rowwise().squaredNorm();
    });
  }

 private:
  // Least work per thread (elements; flops for GEMMs): below it a region stays on one thread.
  static constexpr double elementwise_grain = 16384, gemm_grain = 2.0e5;

  // The bodies of the split loops (one range each; see axpy).
  template <class T>
  static void axpy_range(Index i0, Index i1, T alpha, const T* x, T* y) {
    TAYNODE_IVDEP
    for (Index i = i0; i < i1; ++i) y[i] += alpha * x[i];
  }
  template <class T>
  static void scale_range(Index i0, Index i1, T alpha, T* x) {
    TAYNODE_IVDEP
    for (Index i = i0; i < i1; ++i) x[i] *= alpha;
  }
  template <class T>
  static void add_row_range(Index i0, Index i1, Index n, T alpha, const T* v, Index incv, T* c, Index ldc) {
    for (Index i = i0; i < i1; ++i) {
      T* row = c + i * ldc;
      TAYNODE_IVDEP
      for (Index j = 0; j < n; ++j) row[j] += alpha * v[j * incv];
    }
  }
  template <class Kernel>
  TAYNODE_INLINE static void for_each_range(Index i0, Index i1, Kernel kernel) {
    TAYNODE_IVDEP
    for (Index i = i0; i < i1; ++i) kernel(i);
  }
  template <class Kernel>
  TAYNODE_INLINE static void for_each_2d_range(Index r0, Index r1, Index cols, Kernel kernel) {
    for (Index r = r0; r < r1; ++r) {
      TAYNODE_IVDEP
      for (Index c = 0; c < cols; ++c) kernel(r, c);
    }
  }
  // The value functions on one range (the public ones split [0, n) over the threads).
  template <class T>
  static void sigmoid_values_range(Index n, const T* u, T* s, T* e) {
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
  template <class T>
  static void tanh_values_range(Index n, const T* u, T* y, T* w) {
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
  template <class T>
  static void softplus_values_range(Index n, const T* u, T* y, T* s, T* e) {
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
  // exp/log through an aligned chunk: Eigen's loop over a map of unknown alignment takes its
  // first and last elements on the scalar path (libm, not its packet kernel), so writing y
  // directly would give an element different bits depending on where a range starts. Where y's
  // chunk is itself 64-byte aligned it is written in place (the same loop, no copy).
  template <class T>
  static void exp_values_range(Index n, const T* u, T* y) {
    aligned_chunks(n, u, y, [](const auto& a) { return a.exp(); });
  }
  template <class T>
  static void log_values_range(Index n, const T* u, T* y) {
    aligned_chunks(n, u, y, [](const auto& a) { return a.log(); });
  }
  template <class T, class Op>
  static void aligned_chunks(Index n, const T* u, T* y, Op op) {
    constexpr Index chunk = 256;
    alignas(64) T z[chunk];
    using A = Eigen::Array<T, Eigen::Dynamic, 1>;
    for (Index i0 = 0; i0 < n; i0 += chunk) {
      const Index m = std::min(chunk, n - i0);
      if (reinterpret_cast<std::uintptr_t>(y + i0) % 64 == 0) {
        Eigen::Map<A, Eigen::Aligned64>(y + i0, m) = op(Eigen::Map<const A>(u + i0, m));
        continue;
      }
      Eigen::Map<A, Eigen::Aligned64>(z, m) = op(Eigen::Map<const A>(u + i0, m));
      std::copy(z, z + m, y + i0);
    }
  }
  // C = β·C (β = 0: zeros, whatever C held; β = 1: untouched).
  template <class T>
  static void scale_output(Index m, Index n, T beta, T* c, Index ldc) {
    if (beta == T(1)) return;
    for (Index i = 0; i < m; ++i) {
      T* row = c + i * ldc;
      if (beta == T(0)) {
        std::fill(row, row + n, T(0));
      } else {
        TAYNODE_IVDEP
        for (Index j = 0; j < n; ++j) row[j] *= beta;
      }
    }
  }
  // Column-major Cᵀ(n×m) += α·L(n×k)·R(k×m) with L and R stored in the given orders; C is the
  // row-major m×n matrix at c (leading dimension ldc).
  //
  // Threads take ranges of C's rows (Cᵀ's columns, R's columns), each running Eigen's kernel on
  // its part with the blocking (kc, mc, nc) of the WHOLE product. Eigen computes Cᵀ's columns in
  // blocks of nc (not necessarily a multiple of its register block nr), made of groups of nr ≤ 8
  // columns from the block's start, each group kind with its own code path; a range that starts
  // where the whole product starts a block (or, within a single block, at a multiple of 8) sees
  // the same groups, so each element is the same sequence of operations as in the whole product
  // (cpu_threads.hpp). (Splitting Cᵀ's rows instead, to pack the weights once per thread rather
  // than the batch, measured no faster on the MNIST shapes: benchmarks/RESULTS.md.)
  template <class T, int LhsOrder, int RhsOrder>
  static void gemm_kernel(Index m, Index n, Index k, const T* l, Index ldl, const T* r, Index ldr, T* c, Index ldc,
                          T alpha, T beta) {
    if (m == 0 || n == 0) return;
    if (k == 0) return scale_output(m, n, beta, c, ldc);
    using Gemm = Eigen::internal::general_matrix_matrix_product<Index, T, LhsOrder, false, T, RhsOrder, false,
                                                                Eigen::ColMajor, 1>;
    // Eigen sizes the blocking for the row-major problem (m, n, k) and then runs its transpose.
    Eigen::internal::gemm_blocking_space<Eigen::ColMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic> whole(
        m, n, k, 1, true);
    const Index nc = std::min(m, whole.nc()), quantum = nc < m ? nc : 8;
    cpu_detail::parallel_ranges(m, quantum, 2.0 * double(n) * double(k), gemm_grain, [&](Index m0, Index m1) {
      scale_output(m1 - m0, n, beta, c + m0 * ldc, ldc);
      if (m0 == 0 && m1 == m) return Gemm::run(n, m, k, l, ldl, r, ldr, c, 1, ldc, alpha, whole, nullptr);
      FixedBlocking<T> blocking(whole.kc(), whole.mc(), whole.nc());
      const T* r0 = RhsOrder == Eigen::ColMajor ? r + m0 * ldr : r + m0;
      Gemm::run(n, m1 - m0, k, l, ldl, r0, ldr, c + m0 * ldc, 1, ldc, alpha, blocking, nullptr);
    });
  }
  // A blocking with given sizes and no preallocated panels (Eigen's GEMM allocates its own).
  template <class T>
  struct FixedBlocking : Eigen::internal::level3_blocking<T, T> {
    FixedBlocking(Index kc, Index mc, Index nc) {
      this->m_kc = kc;
      this->m_mc = mc;
      this->m_nc = nc;
    }
  };
  template <class T>
  static void exp_minus_abs(Index m, const T* u, T* z) {
    using A = Eigen::Array<T, Eigen::Dynamic, 1>;
    Eigen::Map<A>(z, m) = (-Eigen::Map<const A>(u, m).abs()).exp();
  }
};

static_assert(SeriesBackend<Cpu>);

}  // namespace taynode::backend
