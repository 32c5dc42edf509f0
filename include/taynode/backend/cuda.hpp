#pragma once
// backend::CudaBackend<Runtime>: the SeriesBackend of device memory, written once against a thin
// runtime layer (allocate/free, copies, launch(grid, block, body), a column-major GEMM with
// cuBLAS's signature, synchronize) with two implementations:
//   backend::Cuda          = CudaBackend<cuda::DeviceRuntime>    CUDA runtime + cuBLAS (nvcc only)
//   backend::CudaEmulated  = CudaBackend<cuda::EmulatedRuntime>  the same code on the host (g++)
// so everything above the runtime (pooling, launch geometry and guards, the row-major →
// column-major GEMM mapping, the deterministic reductions) is tested by the ordinary CPU suite.
//
// Memory is device memory: Buffer blocks come from cuda::Pool (no cudaMalloc in a step loop once
// the pool is warm), there is no `eigen_host`, so the Eigen accessors of Series and the
// Eigen-argument overloads of the APIs above are compile errors; transfers are explicit
// (backend::to_backend / to_host, upload / download). Kernels are the TAYNODE_HD bodies the Cpu
// backend runs (for_each / for_each_2d) plus those of cuda/kernels.hpp. Reductions give each
// output to one thread and sum in a fixed order (no atomics): results are deterministic.
// Results match backend::Cpu to rounding, not bitwise: the GEMMs and sums add in other orders and
// the coefficient-0 functions use the runtime's libm (Cpu: Eigen's vectorized exp/log).

#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "taynode/backend/backend.hpp"
#include "taynode/backend/cuda/emulated_runtime.hpp"
#include "taynode/backend/cuda/error.hpp"
#include "taynode/backend/cuda/graph.hpp"
#include "taynode/backend/cuda/kernels.hpp"
#include "taynode/backend/cuda/launch.hpp"
#include "taynode/backend/cuda/pool.hpp"
#include "taynode/backend/cuda/staging.hpp"
#include "taynode/backend/matrix.hpp"
#if defined(__CUDACC__)
#include "taynode/backend/cuda/device_runtime.hpp"
#endif

namespace taynode::backend {

template <class Runtime>
struct CudaBackend {
  static constexpr bool fuse_elementwise = true;  // launch-bound: fewer, fused kernels (backend.hpp)
  using Pool = cuda::Pool<Runtime>;
  // Capture the backend calls of a piece of code once, replay them with one launch (graph.hpp).
  using Graph = cuda::Graph<Runtime>;

  // Owning device storage from the pool (move-only; resize keeps no values).
  template <class T>
  class Buffer {
   public:
    explicit Buffer(std::size_t n = 0) : n_(n), p_(acquire(n)) {}
    ~Buffer() { Pool::instance().give_back(p_, n_ * sizeof(T)); }
    Buffer(Buffer&& o) noexcept : n_(std::exchange(o.n_, 0)), p_(std::exchange(o.p_, nullptr)) {}
    Buffer& operator=(Buffer&& o) noexcept {
      if (this != &o) {
        Pool::instance().give_back(p_, n_ * sizeof(T));
        n_ = std::exchange(o.n_, 0);
        p_ = std::exchange(o.p_, nullptr);
      }
      return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    T* data() { return p_; }
    const T* data() const { return p_; }
    std::size_t size() const { return n_; }
    void resize(std::size_t n) {
      if (p_ && Pool::bucket(n * sizeof(T)) == Pool::bucket(n_ * sizeof(T))) {  // the block still fits
        n_ = n;
        return;
      }
      Pool::instance().give_back(p_, n_ * sizeof(T));
      p_ = nullptr;
      n_ = 0;
      p_ = acquire(n);
      n_ = n;
    }

   private:
    static T* acquire(std::size_t n) { return static_cast<T*>(Pool::instance().acquire(n * sizeof(T), "Buffer")); }
    std::size_t n_;
    T* p_;
  };

  // Parameters as the kernels see them: a device copy, refreshed by update().
  template <class T>
  class Mirror {
   public:
    Mirror(const T* host, Index n) : b_(std::size_t(n)) { upload(n, host, b_.data()); }
    void update(const T* host, Index n) {
      if (std::size_t(n) != b_.size()) b_.resize(std::size_t(n));
      upload(n, host, b_.data());
    }
    const T* data() const { return b_.data(); }
    T* data() { return b_.data(); }  // an optimizer on this backend updates it in place

   private:
    Buffer<T> b_;
  };

  template <class T>
  using Matrix = backend::Matrix<T, CudaBackend>;
  template <class T>
  using Vector = backend::Matrix<T, CudaBackend>;
  template <class T>
  using View = MatrixView<T>;
  template <class T>
  using ConstView = MatrixView<const T>;

  // Row-major C(m×n) is column-major Cᵀ(n×m), so each product runs as its transpose in cuBLAS's
  // column-major convention with the row-major operands' storage read as their transposes:
  //   C = α·A·Bᵀ + β·C   →  Cᵀ = B·Aᵀ:   gemm(T, N, n, m, k, α, B, ldb, A, lda, β, C, ldc)
  //   C = α·A·B  + β·C   →  Cᵀ = Bᵀ·Aᵀ:  gemm(N, N, n, m, k, α, B, ldb, A, lda, β, C, ldc)
  //   C = α·Aᵀ·B + β·C   →  Cᵀ = Bᵀ·A:   gemm(N, T, n, m, k, α, B, ldb, A, lda, β, C, ldc)
  // (β = 0: C is not read.) TF32 stays off (cuda::DeviceRuntime).
  template <class T>
  static void gemm_nt(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    check_gemm("gemm_nt", m, n, k, lda, k, ldb, k, ldc);
    Runtime::gemm(true, false, n, m, k, alpha, b, ld(ldb), a, ld(lda), beta, c, ld(ldc), "gemm_nt");
  }
  template <class T>
  static void gemm_nn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    check_gemm("gemm_nn", m, n, k, lda, k, ldb, n, ldc);
    Runtime::gemm(false, false, n, m, k, alpha, b, ld(ldb), a, ld(lda), beta, c, ld(ldc), "gemm_nn");
  }
  template <class T>
  static void gemm_tn(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc,
                      T alpha = T(1), T beta = T(0)) {
    check_gemm("gemm_tn", m, n, k, lda, m, ldb, n, ldc);
    Runtime::gemm(false, true, n, m, k, alpha, b, ld(ldb), a, ld(lda), beta, c, ld(ldc), "gemm_tn");
  }

  template <class T>
  static void axpy(Index n, T alpha, const T* x, T* y) {
    for_each(n, cuda::kernels::Axpy<T>{alpha, x, y});
  }
  template <class T>
  static void scale(Index n, T alpha, T* x) {
    for_each(n, cuda::kernels::Scale<T>{alpha, x});
  }
  template <class T>
  static void fill(Index n, T value, T* x) {
    for_each(n, cuda::kernels::Fill<T>{value, x});
  }
  template <class T>
  static void copy(Index n, const T* x, T* y) {
    Runtime::device_to_device(y, x, bytes<T>(n, "copy"), "copy");
  }
  template <class T>
  static void upload(Index n, const T* host, T* x) {
    cuda::Staging<Runtime>::current().upload(x, host, bytes<T>(n, "upload"), "upload");
  }
  // Waits for the stream: the host values are ready on return.
  template <class T>
  static void download(Index n, const T* x, T* host) {
    cuda::Staging<Runtime>::current().download(host, x, bytes<T>(n, "download"), "download");
  }
  template <class T>
  static void add_row(Index m, Index n, T alpha, const T* v, Index incv, T* c, Index ldc) {
    for_each_2d(m, n, cuda::kernels::AddRow<T>{alpha, v, incv, c, ldc});
  }

  template <class T>
  static void column_sums(Index m, Index n, T alpha, const T* x, Index ldx, T* y, Index incy) {
    for_each(n, cuda::kernels::ColumnSums<T>{m, alpha, x, ldx, y, incy});
  }
  template <class T>
  static void row_squared_norms(Index m, Index n, const T* x, Index ldx, T* out) {
    // One warp per row (R_K's ‖z^(K)‖² and the kinetic and Frobenius integrands: rows of 784).
    using Kernel = cuda::kernels::RowSquaredNormsWarp<T>;
    check_size(m, "row_squared_norms");
    if (m == 0) return;
    const Index blocks = (m + Kernel::rows_per_block - 1) / Kernel::rows_per_block;
    const cuda::Dim grid{1, unsigned(blocks < Index(cuda::max_grid_y) ? blocks : Index(cuda::max_grid_y))};
    Runtime::launch(grid, cuda::Dim{unsigned(Kernel::lanes), Kernel::rows_per_block}, Kernel{m, n, x, ldx, out},
                    "row_squared_norms");
  }
  template <class T>
  static T sum(Index n, const T* x) {
    check_size(n, "sum");
    if (n == 0) return T(0);
    const Index parts = n < sum_parts ? n : sum_parts;
    Buffer<T> partial(std::size_t(parts) + 1);
    for_each(parts, cuda::kernels::StridedPartialSums<T>{n, parts, x, partial.data()});
    for_each(1, cuda::kernels::SerialSum<T>{parts, partial.data(), partial.data() + parts});
    T result;
    download(1, partial.data() + parts, &result);
    return result;
  }
  template <class T>
  static T sum_of_products(Index m, Index n, const T* x, Index ldx, const T* v, Index incv) {
    check_size(m, "sum_of_products");
    if (m == 0) return T(0);
    Buffer<T> rows(static_cast<std::size_t>(m));
    for_each(m, cuda::kernels::RowDots<T>{n, x, ldx, v, incv, rows.data()});
    return sum(m, rows.data());
  }

  // kernel(i) for i in [0, n): one thread per element, 256 per block.
  template <class Kernel>
  static void for_each(Index n, Kernel kernel) {
    check_size(n, "for_each");
    if (n == 0) return;
    const Index blocks = (n + block_1d - 1) / block_1d;
    const cuda::Dim grid{unsigned(blocks < max_blocks_1d ? blocks : max_blocks_1d), 1};
    Runtime::launch(grid, cuda::Dim{unsigned(block_1d), 1}, cuda::kernels::ForEach1d<Kernel>{kernel, n}, "for_each");
  }
  // kernel(r, c): 32 columns × 8 rows per block, rows grid-strided beyond the grid's y limit.
  template <class Kernel>
  static void for_each_2d(Index rows, Index cols, Kernel kernel) {
    check_size(rows, "for_each_2d");
    check_size(cols, "for_each_2d");
    if (rows == 0 || cols == 0) return;
    const Index gx = (cols + 31) / 32, gy = (rows + 7) / 8;
    if (gx > Index(cuda::max_grid_x)) throw std::invalid_argument("taynode::backend::Cuda::for_each_2d: too many columns");
    const cuda::Dim grid{unsigned(gx), unsigned(gy < Index(cuda::max_grid_y) ? gy : Index(cuda::max_grid_y))};
    Runtime::launch(grid, cuda::Dim{32, 8}, cuda::kernels::ForEach2d<Kernel>{kernel, rows, cols}, "for_each_2d");
  }

  template <class T>
  static void sigmoid_values(Index n, const T* u, T* s, T* e) {
    for_each(n, cuda::kernels::SigmoidValues<T>{u, s, e});
  }
  template <class T>
  static void tanh_values(Index n, const T* u, T* y, T* w) {
    for_each(n, cuda::kernels::TanhValues<T>{u, y, w});
  }
  template <class T>
  static void softplus_values(Index n, const T* u, T* y, T* s, T* e) {
    for_each(n, cuda::kernels::SoftplusValues<T>{u, y, s, e});
  }
  template <class T>
  static void exp_values(Index n, const T* u, T* y) {
    for_each(n, cuda::kernels::ExpValues<T>{u, y});
  }
  template <class T>
  static void log_values(Index n, const T* u, T* y) {
    for_each(n, cuda::kernels::LogValues<T>{u, y});
  }

  // A resident (cooperative) launch: body(team) on `blocks` × `threads` threads that are all on the
  // device at once, team.sync_block() / sync_grid() their barriers, team.shared<T>() the block's
  // `shared_bytes` (cuda::DeviceTeam; the emulation's cuda::EmulatedTeam). resident_blocks: how
  // many such blocks fit at once (a larger launch fails).
  template <class Body>
  static unsigned resident_blocks(unsigned threads, std::size_t shared_bytes) {
    return Runtime::template resident_blocks<Body>(threads, shared_bytes, "resident_blocks");
  }
  template <class Body>
  static void launch_resident(unsigned blocks, unsigned threads, std::size_t shared_bytes, const Body& body,
                              const char* op) {
    Runtime::launch_resident(blocks, threads, shared_bytes, body, op);
  }

  // Waits until every operation issued on this thread has finished (a kernel fault surfaces here).
  static void synchronize() { Runtime::synchronize("synchronize"); }

 private:
  static constexpr Index block_1d = 256;
  static constexpr Index max_blocks_1d = Index(1) << 20;  // beyond: grid-stride
  static constexpr Index sum_parts = 1024;                // threads of a sum's first stage

  // A leading dimension of an empty operand may be 0; cuBLAS wants ≥ 1 even where it reads nothing.
  static Index ld(Index v) { return v > 1 ? v : Index(1); }
  static void check_size(Index n, const char* op) {
    if (n < 0) throw std::invalid_argument(std::string("taynode::backend::Cuda::") + op + ": negative size");
  }
  template <class T>
  static std::size_t bytes(Index n, const char* op) {
    check_size(n, op);
    return std::size_t(n) * sizeof(T);
  }
  // Row-major operands: each leading dimension must cover its row (cuBLAS takes int sizes).
  static void check_gemm(const char* op, Index m, Index n, Index k, Index lda, Index a_cols, Index ldb, Index b_cols,
                         Index ldc) {
    const std::string name = std::string("taynode::backend::Cuda::") + op;
    if (m < 0 || n < 0 || k < 0) throw std::invalid_argument(name + ": negative size");
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
      throw std::invalid_argument(name + ": a size exceeds cuBLAS's int range");
    if (lda < a_cols) throw std::invalid_argument(name + ": lda is smaller than A's row length");
    if (ldb < b_cols) throw std::invalid_argument(name + ": ldb is smaller than B's row length");
    if (ldc < n) throw std::invalid_argument(name + ": ldc is smaller than C's row length");
  }
};

using CudaEmulated = CudaBackend<cuda::EmulatedRuntime>;
static_assert(SeriesBackend<CudaEmulated>);
static_assert(!eigen_host<CudaEmulated>);

#if defined(__CUDACC__)
using Cuda = CudaBackend<cuda::DeviceRuntime>;
static_assert(SeriesBackend<Cuda>);
static_assert(!eigen_host<Cuda>);
#endif

}  // namespace taynode::backend
