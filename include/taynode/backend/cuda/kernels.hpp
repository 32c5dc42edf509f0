#pragma once
// The kernel bodies of the CUDA backend: trivially copyable structs of pointers whose operator()
// is TAYNODE_HD, launched by backend::CudaBackend through the device runtime or its host
// emulation. Elementwise bodies take an element index (run by ForEach1d/ForEach2d, which map
// the launch geometry to indices with bounds guards); reductions give each output to one thread
// and sum in a fixed order (deterministic: no atomics).

#include <cmath>

#include "taynode/backend/cuda/launch.hpp"

namespace taynode::cuda::kernels {

// One element per thread, grid-stride over [0, n).
template <class Kernel>
struct ForEach1d {
  Kernel kernel;
  Index n;
  TAYNODE_HD void operator()(const ThreadIndex& t) const {
    for (Index i = t.global_x(); i < n; i += t.stride_x()) kernel(i);
  }
};
// (row, column) per thread: x runs over columns (coalesced), y over rows (grid-stride).
template <class Kernel>
struct ForEach2d {
  Kernel kernel;
  Index rows, cols;
  TAYNODE_HD void operator()(const ThreadIndex& t) const {
    const Index c = t.global_x();
    if (c >= cols) return;
    for (Index r = t.global_y(); r < rows; r += t.stride_y()) kernel(r, c);
  }
};

template <class T>
struct Axpy {
  T alpha;
  const T* x;
  T* y;
  TAYNODE_HD void operator()(Index i) const { y[i] += alpha * x[i]; }
};
template <class T>
struct Scale {
  T alpha;
  T* x;
  TAYNODE_HD void operator()(Index i) const { x[i] *= alpha; }
};
template <class T>
struct Fill {
  T value;
  T* x;
  TAYNODE_HD void operator()(Index i) const { x[i] = value; }
};
template <class T>
struct AddRow {
  T alpha;
  const T* v;
  Index incv;
  T* c;
  Index ldc;
  TAYNODE_HD void operator()(Index r, Index j) const { c[r * ldc + j] += alpha * v[j * incv]; }
};

// y_j += α·Σ_i x(i, j): thread j sums its column top to bottom.
template <class T>
struct ColumnSums {
  Index m;
  T alpha;
  const T* x;
  Index ldx;
  T* y;
  Index incy;
  TAYNODE_HD void operator()(Index j) const {
    T s = T(0);
    for (Index i = 0; i < m; ++i) s += x[i * ldx + j];
    y[j * incy] += alpha == T(1) ? s : alpha * s;
  }
};
// out_i = Σ_j x(i, j)², one warp per row (launch blocks of 32 × rows_per_block threads; all lanes of
// a warp share a row): lane l sums the columns l, l + 32, … in order, then the 32 partial sums are
// combined by a fixed tree (offsets 16, 8, 4, 2, 1; __shfl_down_sync on a device). Deterministic.
// Off the device (the emulation, which runs the threads one at a time) lane 0 computes the 32
// partial sums and the same tree itself, so the emulated result has the device's order of additions.
template <class T>
struct RowSquaredNormsWarp {
  static constexpr int lanes = 32;
  static constexpr unsigned rows_per_block = 8;
  Index m, n;
  const T* x;
  Index ldx;
  T* out;
  TAYNODE_HD T partial(Index r, Index lane) const {
    T s = T(0);
    for (Index j = lane; j < n; j += lanes) s += x[r * ldx + j] * x[r * ldx + j];
    return s;
  }
  TAYNODE_HD void operator()(const ThreadIndex& t) const {
    for (Index r = t.global_y(); r < m; r += t.stride_y()) {
#if defined(__CUDA_ARCH__)
      T s = partial(r, t.thread_x);
      for (int offset = lanes / 2; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
      if (t.thread_x == 0) out[r] = s;
#else
      if (t.thread_x != 0) continue;
      T p[lanes];
      for (int l = 0; l < lanes; ++l) p[l] = partial(r, l);
      for (int offset = lanes / 2; offset > 0; offset /= 2)
        for (int l = 0; l < offset; ++l) p[l] += p[l + offset];
      out[r] = p[0];
#endif
    }
  }
};
// out_i = Σ_j x(i, j)·v_j
template <class T>
struct RowDots {
  Index n;
  const T* x;
  Index ldx;
  const T* v;
  Index incv;
  T* out;
  TAYNODE_HD void operator()(Index i) const {
    T s = T(0);
    for (Index j = 0; j < n; ++j) s += x[i * ldx + j] * v[j * incv];
    out[i] = s;
  }
};
// Stage 1 of a sum: partial_p = Σ_{i ≡ p (mod parts)} x_i, in increasing i.
template <class T>
struct StridedPartialSums {
  Index n, parts;
  const T* x;
  T* partial;
  TAYNODE_HD void operator()(Index p) const {
    T s = T(0);
    for (Index i = p; i < n; i += parts) s += x[i];
    partial[p] = s;
  }
};
// Stage 2: out = Σ_p partial_p in order (one thread).
template <class T>
struct SerialSum {
  Index n;
  const T* x;
  T* out;
  TAYNODE_HD void operator()(Index) const {
    T s = T(0);
    for (Index i = 0; i < n; ++i) s += x[i];
    *out = s;
  }
};

// Coefficient 0 of the elementwise functions: the formulas of backend::Cpu (and of the k = 0
// branches of jet/rules.hpp) with the runtime's libm.
template <class T>
struct SigmoidValues {
  const T* u;
  T* s;
  T* e;
  TAYNODE_HD void operator()(Index i) const {
    const T z = std::exp(-std::abs(u[i]));
    const T big = T(1) / (T(1) + z), small = z * big;
    s[i] = u[i] >= T(0) ? big : small;
    e[i] = big * small;
  }
};
template <class T>
struct TanhValues {
  const T* u;
  T* y;
  T* w;
  TAYNODE_HD void operator()(Index i) const {
    const T a = std::abs(u[i]);
    if (a < T(0.125)) {  // 1 − q would cancel: tanh directly, w = 1 − tanh² (no cancellation)
      y[i] = std::tanh(u[i]);
      w[i] = T(1) - y[i] * y[i];
      return;
    }
    const T q = std::exp(T(-2) * a), inv = T(1) / (T(1) + q);
    const T t = (T(1) - q) * inv;
    y[i] = u[i] < T(0) ? -t : t;
    w[i] = T(4) * q * inv * inv;
  }
};
template <class T>
struct SoftplusValues {
  const T* u;
  T* y;
  T* s;
  T* e;
  TAYNODE_HD void operator()(Index i) const {
    const T z = std::exp(-std::abs(u[i]));
    const T big = T(1) / (T(1) + z), small = z * big;
    y[i] = (u[i] > T(0) ? u[i] : T(0)) + std::log1p(z);
    s[i] = u[i] >= T(0) ? big : small;
    e[i] = big * small;
  }
};
template <class T>
struct ExpValues {
  const T* u;
  T* y;
  TAYNODE_HD void operator()(Index i) const { y[i] = std::exp(u[i]); }
};
template <class T>
struct LogValues {
  const T* u;
  T* y;
  TAYNODE_HD void operator()(Index i) const { y[i] = std::log(u[i]); }
};

}  // namespace taynode::cuda::kernels
