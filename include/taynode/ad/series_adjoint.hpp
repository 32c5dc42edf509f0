#pragma once
// Adjoint steps of the batched series operations of series/ops.hpp:
//     op_adjoint_step(k, forward values…, cotangents…)
// is the VJP of the forward `op_step(k, …)`: it reads the cotangent of output coefficient k
// (complete when called in the order k = K..0) and accumulates (+=) into the cotangents of the
// inputs' coefficients 0..k and of the outputs'/auxiliaries' coefficients 0..k−1. Elementwise
// steps apply the per-element adjoints of ad/rules_adjoint.hpp through Backend::for_each, as the
// forward steps apply jet/rules.hpp; the linear maps are the backend's GEMMs (C += A·B for x̄,
// C += Aᵀ·B for W̄), bias and time cotangents its column sums — nothing here touches memory
// outside Backend calls, so the steps run on any backend.
//
// Cotangents are Series of the same shapes as the forward series; the caller zeroes them.

#include <cassert>
#include <type_traits>

#include "taynode/ad/rules_adjoint.hpp"
#include "taynode/config.hpp"
#include "taynode/series/ops.hpp"
#include "taynode/series/series.hpp"

namespace taynode::ad {

using backend::Index;
using series::Strided;

namespace detail {
// Per-element adjoint of a unary rule u → (y, a, b), cotangents ub, yb, ab, bb.
template <class Rule, class Order, class T>
struct UnaryAdjointKernel {
  Order k;
  Index stride;
  const T *u, *y, *a, *b;
  T *ub, *yb, *ab, *bb;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    const Strided<const T> uv{u + i, stride}, yv{y + i, stride}, av{a + i, stride}, bv{b + i, stride};
    const Strided<T> ubv{ub + i, stride}, ybv{yb + i, stride}, abv{ab + i, stride}, bbv{bb + i, stride};
    Rule{}(int(k), uv, yv, av, bv, ubv, ybv, abv, bbv);
  }
};
struct SigmoidAdjoint {
  template <class C, class M>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const C& u, const C& s, const C& e, const C&, const M& ub,
                                            const M& sb, const M& eb, const M&) const {
    rules::sigmoid_adjoint(k, u, s, e, ub, sb, eb);
  }
};
struct TanhAdjoint {
  template <class C, class M>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const C& u, const C& y, const C& w, const C&, const M& ub,
                                            const M& yb, const M& wb, const M&) const {
    rules::tanh_adjoint(k, u, y, w, ub, yb, wb);
  }
};
struct SoftplusAdjoint {
  template <class C, class M>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const C& u, const C& y, const C& s, const C& e, const M& ub,
                                            const M& yb, const M& sb, const M& eb) const {
    rules::softplus_adjoint(k, u, y, s, e, ub, yb, sb, eb);
  }
};
struct ExpAdjoint {
  template <class C, class M>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const C& u, const C& y, const C&, const C&, const M& ub,
                                            const M& yb, const M&, const M&) const {
    rules::exp_adjoint(k, u, y, ub, yb);
  }
};
struct LogAdjoint {
  template <class C, class M>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const C& u, const C& y, const C&, const C&, const M& ub,
                                            const M& yb, const M&, const M&) const {
    rules::log_adjoint(k, u, y, ub, yb);
  }
};

template <class Rule, class T, class B>
void unary_adjoint(int k, const Series<T, B>& u, const Series<T, B>& y, std::type_identity_t<const Series<T, B>*> a,
                   std::type_identity_t<const Series<T, B>*> b, Series<T, B>& ub, Series<T, B>& yb,
                   std::type_identity_t<Series<T, B>*> ab, std::type_identity_t<Series<T, B>*> bb) {
  assert(u.size() == y.size() && ub.size() == u.size() && yb.size() == u.size());
  assert(u.stride() == ub.stride() && y.stride() == u.stride());
  series::detail::with_order(k, [&](auto order) {
    B::for_each(u.size(), UnaryAdjointKernel<Rule, decltype(order), T>{
                              order, u.stride(), u.data(), y.data(), a ? a->data() : y.data(),
                              b ? b->data() : y.data(), ub.data(), yb.data(), ab ? ab->data() : yb.data(),
                              bb ? bb->data() : yb.data()});
  });
}

template <class Order, class T>
struct ProductAdjointKernel {
  Order k;
  Index stride;
  const T *u, *v, *yb;
  T *ub, *vb;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    rules::product_adjoint(int(k), Strided<const T>{u + i, stride}, Strided<const T>{v + i, stride},
                           Strided<T>{ub + i, stride}, Strided<T>{vb + i, stride}, yb[i]);
  }
};
template <class Order, class T>
struct SquareAdjointKernel {
  Order k;
  Index stride;
  const T *u, *yb;
  T* ub;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    rules::square_adjoint(int(k), Strided<const T>{u + i, stride}, Strided<T>{ub + i, stride}, yb[i]);
  }
};
// y_k = Σ_j u_j ⊙ g_{k−j}, g one row broadcast: ū_j += ȳ_k g_{k−j}, ḡ_{k−j} += Σ_rows ȳ_k u_j (per column).
template <class Order, class T>
struct BroadcastProductAdjointKernel {
  Order k;
  const T *u, *g, *yb;
  T *ub, *gb;
  Index rows, cols, stride, gstride;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index c) const {
    for (Index r = 0; r < rows; ++r) {
      const Index i = r * cols + c;
      rules::product_adjoint(int(k), Strided<const T>{u + i, stride}, Strided<const T>{g + c, gstride},
                             Strided<T>{ub + i, stride}, Strided<T>{gb + c, gstride}, yb[i]);
    }
  }
};
// y_k[r] = Σ_c (x²)_k[r, c]: x̄_j[r, c] += 2 ȳ_k[r] x_{k−j}[r, c].
template <class Order, class T>
struct SquaredNormRowAdjointKernel {
  Order k;
  const T *x, *ybk;
  T* xb;
  Index cols, stride;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const {
    const Index i = r * cols + c;
    rules::square_adjoint(int(k), Strided<const T>{x + i, stride}, Strided<T>{xb + i, stride}, ybk[r]);
  }
};

// x̄[r, c] += s·ȳ[r] (mean over the columns) or s·ȳ[c] (mean over the rows).
template <class T>
struct BroadcastAxpyKernel {
  T scale;
  const T* yb;
  T* xb;
  Index cols;
  bool per_row;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const {
    xb[r * cols + c] += scale * yb[per_row ? r : c];
  }
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Elementwise functions. Arguments: forward input u, forward outputs/auxiliaries (as the forward
// step), then the cotangents in the same order.

template <class T, class B>
void sigmoid_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& s, const Series<T, B>& e,
                          Series<T, B>& ub, Series<T, B>& sb, Series<T, B>& eb) {
  detail::unary_adjoint<detail::SigmoidAdjoint>(k, u, s, &e, nullptr, ub, sb, &eb, nullptr);
}
template <class T, class B>
void tanh_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& y, const Series<T, B>& w, Series<T, B>& ub,
                       Series<T, B>& yb, Series<T, B>& wb) {
  detail::unary_adjoint<detail::TanhAdjoint>(k, u, y, &w, nullptr, ub, yb, &wb, nullptr);
}
template <class T, class B>
void softplus_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& y, const Series<T, B>& s,
                           const Series<T, B>& e, Series<T, B>& ub, Series<T, B>& yb, Series<T, B>& sb,
                           Series<T, B>& eb) {
  detail::unary_adjoint<detail::SoftplusAdjoint>(k, u, y, &s, &e, ub, yb, &sb, &eb);
}
template <class T, class B>
void exp_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& y, Series<T, B>& ub, Series<T, B>& yb) {
  detail::unary_adjoint<detail::ExpAdjoint>(k, u, y, nullptr, nullptr, ub, yb, nullptr, nullptr);
}
template <class T, class B>
void log_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& y, Series<T, B>& ub, Series<T, B>& yb) {
  detail::unary_adjoint<detail::LogAdjoint>(k, u, y, nullptr, nullptr, ub, yb, nullptr, nullptr);
}
// y = u²
template <class T, class B>
void square_adjoint_step(int k, const Series<T, B>& u, Series<T, B>& ub, const Series<T, B>& yb) {
  series::detail::with_order(k, [&](auto order) {
    B::for_each(u.size(), detail::SquareAdjointKernel<decltype(order), T>{order, u.stride(), u.data(), yb.coefficient(k),
                                                                          ub.data()});
  });
}
// y = u ⊙ v (u and v different series)
template <class T, class B>
void product_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& ub, Series<T, B>& vb,
                          const Series<T, B>& yb) {
  series::detail::with_order(k, [&](auto order) {
    B::for_each(u.size(), detail::ProductAdjointKernel<decltype(order), T>{order, u.stride(), u.data(), v.data(),
                                                                           yb.coefficient(k), ub.data(), vb.data()});
  });
}
// y = u ⊙ g, g one row broadcast over the rows of u (series::product_broadcast_row_step)
template <class T, class B>
void product_broadcast_row_adjoint_step(int k, const Series<T, B>& u, const Series<T, B>& g, Series<T, B>& ub,
                                        Series<T, B>& gb, const Series<T, B>& yb) {
  assert(g.rows() == 1 && g.cols() == u.cols());
  series::detail::with_order(k, [&](auto order) {
    B::for_each(u.cols(), detail::BroadcastProductAdjointKernel<decltype(order), T>{
                              order, u.data(), g.data(), yb.coefficient(k), ub.data(), gb.data(), u.rows(), u.cols(),
                              u.stride(), g.stride()});
  });
}

// ---------------------------------------------------------------------------------------------
// Reductions.

// y (rows × 1) = ||x_r||² per row (series::squared_norm_rows_step)
template <class T, class B>
void squared_norm_rows_adjoint_step(int k, const Series<T, B>& x, Series<T, B>& xb, const Series<T, B>& yb) {
  series::detail::with_order(k, [&](auto order) {
    B::for_each_2d(x.rows(), x.cols(), detail::SquaredNormRowAdjointKernel<decltype(order), T>{
                                           order, x.data(), yb.coefficient(k), xb.data(), x.cols(), x.stride()});
  });
}
// y (rows × 1) = mean over the columns: x̄_k[r, c] += ȳ_k[r]/cols
template <class T, class B>
void mean_cols_adjoint_step(int k, Series<T, B>& xb, const Series<T, B>& yb) {
  const T scale = T(1) / T(xb.cols());
  B::for_each_2d(xb.rows(), xb.cols(), detail::BroadcastAxpyKernel<T>{scale, yb.coefficient(k), xb.coefficient(k), xb.cols(), true});
}
// y (1 × cols) = mean over the rows: x̄_k[r, c] += ȳ_k[c]/rows
template <class T, class B>
void mean_rows_adjoint_step(int k, Series<T, B>& xb, const Series<T, B>& yb) {
  const T scale = T(1) / T(xb.rows());
  B::for_each_2d(xb.rows(), xb.cols(), detail::BroadcastAxpyKernel<T>{scale, yb.coefficient(k), xb.coefficient(k), xb.cols(), false});
}

// ---------------------------------------------------------------------------------------------
// Linear maps, y = x Wᵀ + b (W out × in, row-major, leading dimension ldw). Split in two, so the
// parameter cotangent is ONE stacked GEMM over all orders at the end of a reverse sweep:
//   input:      x̄_k += ȳ_k W                              (one GEMM per order)
//   parameters: W̄ += Σ_{k ≤ top} ȳ_kᵀ x_k = Ȳᵀ X (stacked),  b̄ += Σ_rows ȳ_0.
// W, W̄ and b̄ are in the backend's memory (the workspace's parameter mirrors, the gradient buffers).

template <class T, class B>
void linear_input_adjoint_step(int k, const Series<T, B>& yb, const T* w, Index ldw, Series<T, B>& xb) {
  assert(yb.rows() == xb.rows());
  B::gemm_nn(yb.rows(), xb.cols(), yb.cols(), yb.coefficient(k), yb.cols(), w, ldw, xb.coefficient(k), xb.cols(), T(1),
             T(1));
}
// Coefficients 0..top. wb: out × in cotangent with leading dimension ldwb; bb: out (may be null).
template <class T, class B>
void linear_parameter_adjoint(int top, const Series<T, B>& x, const Series<T, B>& yb, T* wb, Index ldwb, T* bb) {
  assert(x.rows() == yb.rows() && top <= x.order() && top <= yb.order());
  const Index n = (top + 1) * x.rows();
  B::gemm_tn(yb.cols(), x.cols(), n, yb.data(), yb.cols(), x.data(), x.cols(), wb, ldwb, T(1), T(1));
  if (bb) B::column_sums(yb.rows(), yb.cols(), T(1), yb.coefficient(0), yb.cols(), bb, Index(1));
}

// y = [t, x] Wᵀ + b with the time column first (series::concat_time_linear_step), W = [w_t | W_x]:
// x̄_k += ȳ_k W_x (input step), t̄_k = Σ ȳ_k w_t (the cotangent of the time series' coefficient k;
// a scalar copied back to the host, so callers ask for it only where they use it).
template <class T, class B>
T concat_time_linear_time_adjoint(int k, const Series<T, B>& yb, const T* w, Index ldw) {
  return B::sum_of_products(yb.rows(), yb.cols(), yb.coefficient(k), yb.cols(), w, ldw);
}
template <class T, class B>
T concat_time_linear_input_adjoint_step(int k, const Series<T, B>& yb, const T* w, Index ldw, Series<T, B>& xb) {
  linear_input_adjoint_step(k, yb, w + 1, ldw, xb);
  return concat_time_linear_time_adjoint(k, yb, w, ldw);
}
// The time's terms of parameter cotangents, t_k read where the work runs (on a device backend in
// the kernel: t may come from a Clock, series/clock.hpp):
//   y_j·incy += t_k·Σ_i x(i, j)   (time_column_sums; one thread per column, in row order, as the
//                                  device backends' column_sums)
//   y += t_k·x                    (time_axpy)
template <class T>
struct TimeColumnSumsKernel {
  TimeSeries<T> t;
  int k;
  Index m;
  const T* x;
  Index ldx;
  T* y;
  Index incy;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index j) const {
    T s = T(0);
    for (Index i = 0; i < m; ++i) s += x[i * ldx + j];
    y[j * incy] += t.coefficient(k) * s;
  }
};
template <class T>
struct TimeAxpyKernel {
  TimeSeries<T> t;
  int k;
  const T* x;
  T* y;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { y[i] += t.coefficient(k) * x[i]; }
};
template <class T, class B>
void time_column_sums(Index m, Index n, TimeSeries<T> t, int k, const T* x, Index ldx, T* y, Index incy) {
  if constexpr (backend::eigen_host<B>)
    B::column_sums(m, n, t.coefficient(k), x, ldx, y, incy);
  else
    B::for_each(n, TimeColumnSumsKernel<T>{t, k, m, x, ldx, y, incy});
}
template <class T, class B>
void time_axpy(Index n, TimeSeries<T> t, int k, const T* x, T* y) {
  if constexpr (backend::eigen_host<B>)
    B::axpy(n, t.coefficient(k), x, y);
  else
    B::for_each(n, TimeAxpyKernel<T>{t, k, x, y});
}

// W̄_x += Ȳᵀ X, w̄_t += Σ_k t_k Σ_rows ȳ_k, b̄ += Σ_rows ȳ_0, over coefficients 0..top.
template <class T, class B>
void concat_time_linear_parameter_adjoint(int top, TimeSeries<T> t, const Series<T, B>& x, const Series<T, B>& yb,
                                          T* wb, Index ldwb, T* bb) {
  linear_parameter_adjoint(top, x, yb, wb + 1, ldwb, bb);
  for (int k = 0; k <= top && k <= 1; ++k)
    if (t.may_be_nonzero(k)) time_column_sums<T, B>(yb.rows(), yb.cols(), t, k, yb.coefficient(k), yb.cols(), wb, ldwb);
}

}  // namespace taynode::ad
