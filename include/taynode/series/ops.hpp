#pragma once
// Operations on batched Taylor series (Series), each as a single-coefficient step
//     op_step(k, inputs…, outputs…)
// that computes the normalized coefficient k of the outputs from the inputs' coefficients 0..k
// and the outputs' (and auxiliaries') coefficients 0..k−1 — the form of the rules in
// jet/rules.hpp, which these steps apply elementwise (one source of truth for every
// recurrence). Calling a step for k = 0..K gives whole series (the functions without `_step`
// do that); calling it for one k per pass gives the incremental ODE Taylor coefficients
// (taylor/network_taylor.hpp).
//
// Every series of one elementwise op has the same shape (rows × cols). Storage and kernels go
// through the Backend (backend/backend.hpp): GEMMs for the linear maps, `for_each` over elements
// for the recurrences, vectorized value functions for coefficient 0.

#include <cassert>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "taynode/config.hpp"
#include "taynode/jet/rule_list.hpp"
#include "taynode/jet/rules.hpp"
#include "taynode/series/series.hpp"

namespace taynode::series {

namespace detail {
// Calls f(k) with k an std::integral_constant for 0 ≤ k ≤ 8, so that the rule's loops over
// coefficients unroll and the loop over elements vectorizes; with a plain int beyond.
template <class F>
TAYNODE_INLINE void with_order(int k, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    const bool hit = ((k == I ? (f(std::integral_constant<int, I>{}), true) : false) || ...);
    if (!hit) f(k);
  }(std::make_integer_sequence<int, 9>{});
}

// One step object (rules::steps, or ProductStep / AxpyStep below) applied to element i: the
// inputs' coefficient views, then the output y's and the auxiliaries' (aux, as the step expects).
template <class Rule, class Order, class T, int Inputs, int Outputs>
struct RuleKernel {
  Rule rule;
  Order k;
  Index stride;
  const T* in[Inputs];
  T* out[Outputs];  // y, then the auxiliaries
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    run(i, std::make_integer_sequence<int, Inputs>{}, std::make_integer_sequence<int, Outputs - 1>{});
  }
  template <int... I, int... A>
  TAYNODE_INLINE TAYNODE_HD void run(Index i, std::integer_sequence<int, I...>, std::integer_sequence<int, A...>) const {
    Strided<T> y{out[0] + i, stride};
    Strided<T> aux[sizeof...(A) > 0 ? sizeof...(A) : 1] = {Strided<T>{out[A + 1] + i, stride}...};
    rule(int(k), Strided<const T>{in[I] + i, stride}..., y, aux);
  }
};

// Step k of `rule` over every element of equally shaped series: inputs, then y and the rule's
// auxiliaries.
template <class Rule, class T, class B, int Inputs, class... Aux>
void apply_rule(int k, const Rule& rule, const Series<T, B>* const (&in)[Inputs], Series<T, B>& y, Aux&... aux) {
  static_assert(sizeof...(Aux) == std::size_t(Rule::aux_count), "wrong number of auxiliary series for this rule");
  for ([[maybe_unused]] const auto* u : in) assert(u->rows() == y.rows() && u->cols() == y.cols());
  assert(((aux.rows() == y.rows() && aux.cols() == y.cols()) && ...));
  with_order(k, [&](auto order) {
    RuleKernel<Rule, decltype(order), T, Inputs, 1 + int(sizeof...(Aux))> kernel{rule, order, y.stride(), {}, {y.data(), aux.data()...}};
    for (int j = 0; j < Inputs; ++j) kernel.in[j] = in[j]->data();
    B::for_each(y.size(), kernel);
  });
}

// Step k of a one-input `rule`, each element first prepared by pre(i) in the same kernel: pre may
// write element i of u's coefficient k (the rule reads element i of u only), which saves the
// launch of a separate pass (a device backend's fused bias-and-time input, BiasTimeInput).
template <class Pre, class Kernel>
struct ThenKernel {
  Pre pre;
  Kernel kernel;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    pre(i);
    kernel(i);
  }
};
template <class Pre, class Rule, class T, class B, class... Aux>
void apply_rule_after(int k, const Pre& pre, const Rule& rule, const Series<T, B>& u, Series<T, B>& y, Aux&... aux) {
  static_assert(sizeof...(Aux) == std::size_t(Rule::aux_count), "wrong number of auxiliary series for this rule");
  assert(u.rows() == y.rows() && u.cols() == y.cols());
  with_order(k, [&](auto order) {
    using Kernel = RuleKernel<Rule, decltype(order), T, 1, 1 + int(sizeof...(Aux))>;
    Kernel kernel{rule, order, y.stride(), {u.data()}, {y.data(), aux.data()...}};
    B::for_each(y.size(), ThenKernel<Pre, Kernel>{pre, kernel});
  });
}

// Steps of the elementwise ops that are not in the rule list.
// y = u ⊙ v (Cauchy product per element)
struct ProductStep {
  static constexpr int aux_count = 0;
  template <class U, class V, class Y, class A>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const U& u, const V& v, Y& y, A&) const { y[k] = rules::product(k, u, v); }
};
// y = u + α·v (linear: coefficient k from coefficient k alone)
template <class T>
struct AxpyStep {
  static constexpr int aux_count = 0;
  T alpha;
  template <class U, class V, class Y, class A>
  TAYNODE_INLINE TAYNODE_HD void operator()(int k, const U& u, const V& v, Y& y, A&) const { y[k] = u[k] + alpha * v[k]; }
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Linear maps. W is a row-major out × in weight matrix with leading dimension ldw (≥ in), as
// nn::Linear stores it; the Series are batch × in and batch × out.

// y = x Wᵀ + b:  y_0 = x_0 Wᵀ + b,  y_k = x_k Wᵀ for k ≥ 1 (the bias is constant in τ).
// linear_coefficient writes α·y_k to any batch × out destination (row-major, leading dimension
// ldd): the incremental ODE pass sends the last layer's coefficient straight to z_{k+1} = y_k/(k+1).
template <class T, class B>
void linear_coefficient(int k, const Series<T, B>& x, const T* w, Index ldw, const T* bias, Index out, T alpha, T* dst,
                        Index ldd) {
  B::gemm_nt(x.rows(), out, x.cols(), x.coefficient(k), x.cols(), w, ldw, dst, ldd, alpha, T(0));
  if (k == 0 && bias) B::add_row(x.rows(), out, alpha, bias, Index(1), dst, ldd);
}
template <class T, class B>
void linear_step(int k, const Series<T, B>& x, const T* w, Index ldw, const T* bias, Series<T, B>& y) {
  assert(x.rows() == y.rows());
  linear_coefficient(k, x, w, ldw, bias, y.cols(), T(1), y.coefficient(k), y.cols());
}
// All coefficients by ONE GEMM of the stacked coefficient matrices, [y_0; …; y_K] = [x_0; …; x_K] Wᵀ,
// then the bias on y_0.
template <class T, class B>
void linear(const Series<T, B>& x, const T* w, Index ldw, const T* bias, Series<T, B>& y) {
  assert(x.rows() == y.rows() && x.order() == y.order());
  B::gemm_nt((x.order() + 1) * x.rows(), y.cols(), x.cols(), x.data(), x.cols(), w, ldw, y.data(), y.cols(), T(1), T(0));
  if (bias) B::add_row(y.rows(), y.cols(), T(1), bias, Index(1), y.coefficient(0), y.cols());
}

// C(r, j) += α·b_j + (α·t_k)·w_t(j): the bias and the time column of a ConcatLinear layer in one
// pass (w_t at stride ldw; b may be null), in the order of the two add_rows it replaces. t_k is read
// in the kernel (it may come from a Clock).
template <class T>
struct AddBiasTimeKernel {
  T* c;
  Index ldc;
  const T* b;
  const T* w_t;
  Index ldw;
  T alpha;
  TimeSeries<T> t;
  int k;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index j) const {
    T v = c[r * ldc + j];
    if (b) v = v + alpha * b[j];
    v = v + alpha * t.coefficient(k) * w_t[j * ldw];
    c[r * ldc + j] = v;
  }
};
// C += t_k·v, v broadcast over the rows: on a device backend by a kernel reading t_k where it runs
// (AddBiasTimeKernel without a bias), on a host backend by add_row with t_k read here.
template <class T, class B>
void add_time_row(Index m, Index n, TimeSeries<T> t, int k, const T* v, Index incv, T* c, Index ldc) {
  if constexpr (backend::eigen_host<B>)
    B::add_row(m, n, t.coefficient(k), v, incv, c, ldc);
  else
    B::for_each_2d(m, n, AddBiasTimeKernel<T>{c, ldc, nullptr, v, incv, T(1), t, k});
}

// Element i = r·cols + j of u_k (a ConcatLinear layer's GEMM output, coefficient k, row-major with
// `cols` columns) completed by AddBiasTimeKernel (α = 1; b set for k = 0 only): the rest of that
// layer's coefficient, done by the kernel of the activation that reads it (apply_rule_after).
template <class T>
struct BiasTimeInput {
  AddBiasTimeKernel<T> add;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { add(i / add.ldc, i % add.ldc); }
};

// Element i of a series' coefficient k copied from the caller's state, by the kernel of the first
// layer that reads it (apply_rule_after; NetworkTaylor::take_input): no launch of its own, and the
// series holds the state afterwards, as after a copy.
template <class T>
struct CopyInput {
  const T* from;
  T* to;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { to[i] = from[i]; }
};

// y = [t, x] Wᵀ + b with the time column first, without forming [t, x]: W = [w_t | W_x] (out × (in+1)),
//   y_k = x_k W_xᵀ + t_k·w_t (+ b for k = 0), and t_k = 0 for k ≥ 2.
// A device backend adds b and t_k·w_t in one kernel (each launch costs more than the work here);
// a host backend keeps Eigen's two vectorized passes.
template <class T, class B>
void concat_time_linear_coefficient(int k, TimeSeries<T> t, const Series<T, B>& x, const T* w, Index ldw,
                                    const T* bias, Index out, T alpha, T* dst, Index ldd) {
  assert(ldw >= x.cols() + 1);
  if constexpr (!backend::eigen_host<B>) {
    if (t.may_be_nonzero(k)) {
      B::gemm_nt(x.rows(), out, x.cols(), x.coefficient(k), x.cols(), w + 1, ldw, dst, ldd, alpha, T(0));
      B::for_each_2d(x.rows(), out, AddBiasTimeKernel<T>{dst, ldd, k == 0 ? bias : nullptr, w, ldw, alpha, t, k});
      return;
    }
  }
  linear_coefficient(k, x, w + 1, ldw, bias, out, alpha, dst, ldd);
  if constexpr (backend::eigen_host<B>)
    if (const T tk = t.coefficient(k); tk != T(0)) B::add_row(x.rows(), out, alpha * tk, w, ldw, dst, ldd);
}
template <class T, class B>
void concat_time_linear_step(int k, TimeSeries<T> t, const Series<T, B>& x, const T* w, Index ldw, const T* bias,
                             Series<T, B>& y) {
  assert(x.rows() == y.rows());
  concat_time_linear_coefficient(k, t, x, w, ldw, bias, y.cols(), T(1), y.coefficient(k), y.cols());
}

// y = [t, x]: the time column first (the series of t is [t0, t1, 0, …]), then the features of x.
template <class T>
struct ConcatTimeKernel {
  const T* x;
  T* y;
  Index cols;
  TimeSeries<T> t;
  int k;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const {
    y[r * (cols + 1) + c + 1] = x[r * cols + c];
    if (c == 0) y[r * (cols + 1)] = t.coefficient(k);
  }
};
template <class T, class B>
void concat_time_step(int k, TimeSeries<T> t, const Series<T, B>& x, Series<T, B>& y) {
  assert(y.rows() == x.rows() && y.cols() == x.cols() + 1);
  B::for_each_2d(x.rows(), x.cols(), ConcatTimeKernel<T>{x.coefficient(k), y.coefficient(k), x.cols(), t, k});
}

// ---------------------------------------------------------------------------------------------
// Elementwise functions: every function of jet/rule_list.hpp, with the same auxiliary series as
// there (sigmoid_step(k, u, s, e): s = σ(u), e = σ(1−σ); tanh_step(k, u, y, w): w = 1 − y²;
// softplus_step(k, u, y, s, e); sin_step(k, u, y, c); …). Where the backend has a vectorized
// value function NAME_values (backend.hpp), coefficient 0 comes from it.

namespace detail {
// The functions whose coefficient 0 comes from the backend's value function (every SeriesBackend
// has these five, backend.hpp). A fixed list, not a `requires` test of B: nvcc's device pass
// answered such a test differently from its host pass, so host code launched the kernels of
// backend::Cuda's double value functions that the device pass had never compiled or registered
// ("invalid device function" on an H200, 2026-11-30; tests/cuda/check_kernel_registration.sh).
template <class Step>
inline constexpr bool backend_values = false;
template <>
inline constexpr bool backend_values<rules::steps::sigmoid> = true;
template <>
inline constexpr bool backend_values<rules::steps::tanh> = true;
template <>
inline constexpr bool backend_values<rules::steps::softplus> = true;
template <>
inline constexpr bool backend_values<rules::steps::exp> = true;
template <>
inline constexpr bool backend_values<rules::steps::log> = true;
}  // namespace detail

#define TAYNODE_SERIES_UNARY(NAME, AUX, STEP)                                                              \
  template <class T, class B, class... Aux>                                                                \
    requires(sizeof...(Aux) == AUX && (std::is_same_v<Aux, Series<T, B>> && ...))                         \
  void NAME##_step(int k, const Series<T, B>& u, Series<T, B>& y, Aux&... aux) {                          \
    if constexpr (detail::backend_values<rules::steps::NAME>)                                              \
      if (k == 0) return B::NAME##_values(u.size(), u.coefficient(0), y.coefficient(0), aux.coefficient(0)...); \
    detail::apply_rule(k, rules::steps::NAME{}, {&u}, y, aux...);                                          \
  }
TAYNODE_UNARY_RULES(TAYNODE_SERIES_UNARY)
#undef TAYNODE_SERIES_UNARY
#define TAYNODE_SERIES_BINARY(NAME, SPELLING, AUX, STEP)                                                   \
  template <class T, class B, class... Aux>                                                                \
    requires(sizeof...(Aux) == AUX && (std::is_same_v<Aux, Series<T, B>> && ...))                         \
  void NAME##_step(int k, const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& y, Aux&... aux) {   \
    detail::apply_rule(k, rules::steps::NAME{}, {&u, &v}, y, aux...);                                      \
  }
TAYNODE_BINARY_RULES(TAYNODE_SERIES_BINARY)
#undef TAYNODE_SERIES_BINARY
#define TAYNODE_SERIES_PARAMETRIC(NAME, AUX, STEP)                                                         \
  template <class T, class B, class... Aux>                                                                \
    requires(sizeof...(Aux) == AUX && (std::is_same_v<Aux, Series<T, B>> && ...))                         \
  void NAME##_step(int k, T p, const Series<T, B>& u, Series<T, B>& y, Aux&... aux) {                     \
    detail::apply_rule(k, rules::steps::NAME<T>{p}, {&u}, y, aux...);                                      \
  }
TAYNODE_PARAMETRIC_RULES(TAYNODE_SERIES_PARAMETRIC)
#undef TAYNODE_SERIES_PARAMETRIC

// y = u ⊙ v (Cauchy product per element)
template <class T, class B>
void product_step(int k, const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& y) {
  detail::apply_rule(k, detail::ProductStep{}, {&u, &v}, y);
}
// y = u + α·v
template <class T, class B>
void add_step(int k, const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& y, T alpha = T(1)) {
  detail::apply_rule(k, detail::AxpyStep<T>{alpha}, {&u, &v}, y);
}
// y = α·u, coefficient by coefficient (also between different coefficients: scale_coefficient).
template <class T>
struct ScaleKernel {
  T alpha;
  const T* u;
  T* y;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { y[i] = alpha * u[i]; }
};
template <class T, class B>
void scale_coefficient(T alpha, const Series<T, B>& u, int ku, Series<T, B>& y, int ky) {
  assert(u.size() == y.size());
  B::for_each(u.size(), ScaleKernel<T>{alpha, u.coefficient(ku), y.coefficient(ky)});
}
template <class T, class B>
void scale_step(int k, T alpha, const Series<T, B>& u, Series<T, B>& y) {
  scale_coefficient(alpha, u, k, y, k);
}

// y = u ⊙ g with g one row (1 × cols) broadcast over the rows of u (a gate that depends on t only).
template <class T, class Order>
struct BroadcastProductKernel {
  Order k;
  const T* u;
  const T* g;
  T* y;
  Index cols, stride, gstride;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r, Index c) const {
    const Strided<const T> uv{u + r * cols + c, stride}, gv{g + c, gstride};
    y[r * cols + c + int(k) * stride] = rules::product(int(k), uv, gv);
  }
};
template <class T, class B>
void product_broadcast_row_step(int k, const Series<T, B>& u, const Series<T, B>& g, Series<T, B>& y) {
  assert(g.rows() == 1 && g.cols() == u.cols() && y.rows() == u.rows() && y.cols() == u.cols());
  detail::with_order(k, [&](auto order) {
    B::for_each_2d(u.rows(), u.cols(),
                   BroadcastProductKernel<T, decltype(order)>{order, u.data(), g.data(), y.data(), u.cols(), u.stride(),
                                                              g.stride()});
  });
}

// ---------------------------------------------------------------------------------------------
// Reductions (Taylor series of the reduced quantity).

// y (rows × 1) = ||x_r||² per example: y_k = Σ_c (x²)_k.
template <class T, class Order>
struct SquaredNormRowKernel {
  Order k;
  const T* x;
  T* yk;
  Index cols, stride;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index r) const {
    T s(0);
    for (Index c = 0; c < cols; ++c) s += rules::square(int(k), Strided<const T>{x + r * cols + c, stride});
    yk[r] = s;
  }
};
template <class T, class B>
void squared_norm_rows_step(int k, const Series<T, B>& x, Series<T, B>& y) {
  assert(y.rows() == x.rows() && y.cols() == 1);
  detail::with_order(k, [&](auto order) {
    B::for_each(x.rows(), SquaredNormRowKernel<T, decltype(order)>{order, x.data(), y.coefficient(k), x.cols(), x.stride()});
  });
}
// Sum of `count` elements `step` apart, times `scale` (the mean reductions).
template <class T>
struct StridedMeanKernel {
  const T* x;
  T* y;
  Index outer, inner, count;  // element i of y sums x[i·outer + j·inner], j < count
  T scale;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const {
    T s(0);
    for (Index j = 0; j < count; ++j) s += x[i * outer + j * inner];
    y[i] = s * scale;
  }
};
// y (rows × 1) = mean over the features of each example.
template <class T, class B>
void mean_cols_step(int k, const Series<T, B>& x, Series<T, B>& y) {
  assert(y.rows() == x.rows() && y.cols() == 1);
  B::for_each(x.rows(), StridedMeanKernel<T>{x.coefficient(k), y.coefficient(k), x.cols(), Index(1), x.cols(),
                                             T(1) / T(x.cols())});
}
// y (1 × cols) = mean over the examples of the batch.
template <class T, class B>
void mean_rows_step(int k, const Series<T, B>& x, Series<T, B>& y) {
  assert(y.rows() == 1 && y.cols() == x.cols());
  B::for_each(x.cols(), StridedMeanKernel<T>{x.coefficient(k), y.coefficient(k), Index(1), x.cols(), x.rows(),
                                             T(1) / T(x.rows())});
}

// ---------------------------------------------------------------------------------------------
// Whole series: the step for k = 0..order of the output.

template <class Step>
void for_all_orders(int order, Step&& step) {
  for (int k = 0; k <= order; ++k) step(k);
}
#define TAYNODE_SERIES_UNARY(NAME, AUX, STEP)                                      \
  template <class T, class B, class... Aux>                                        \
    requires(sizeof...(Aux) == AUX && (std::is_same_v<Aux, Series<T, B>> && ...)) \
  void NAME(const Series<T, B>& u, Series<T, B>& y, Aux&... aux) {                \
    for_all_orders(y.order(), [&](int k) { NAME##_step(k, u, y, aux...); });      \
  }
TAYNODE_UNARY_RULES(TAYNODE_SERIES_UNARY)
#undef TAYNODE_SERIES_UNARY
#define TAYNODE_SERIES_BINARY(NAME, SPELLING, AUX, STEP)                                     \
  template <class T, class B, class... Aux>                                                  \
    requires(sizeof...(Aux) == AUX && (std::is_same_v<Aux, Series<T, B>> && ...))           \
  void NAME(const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& y, Aux&... aux) {   \
    for_all_orders(y.order(), [&](int k) { NAME##_step(k, u, v, y, aux...); });             \
  }
TAYNODE_BINARY_RULES(TAYNODE_SERIES_BINARY)
#undef TAYNODE_SERIES_BINARY
#define TAYNODE_SERIES_PARAMETRIC(NAME, AUX, STEP)                                 \
  template <class T, class B, class... Aux>                                        \
    requires(sizeof...(Aux) == AUX && (std::is_same_v<Aux, Series<T, B>> && ...)) \
  void NAME(T p, const Series<T, B>& u, Series<T, B>& y, Aux&... aux) {           \
    for_all_orders(y.order(), [&](int k) { NAME##_step(k, p, u, y, aux...); });   \
  }
TAYNODE_PARAMETRIC_RULES(TAYNODE_SERIES_PARAMETRIC)
#undef TAYNODE_SERIES_PARAMETRIC
template <class T, class B>
void product(const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& y) {
  for_all_orders(y.order(), [&](int k) { product_step(k, u, v, y); });
}
template <class T, class B>
void add(const Series<T, B>& u, const Series<T, B>& v, Series<T, B>& y, T alpha = T(1)) {
  for_all_orders(y.order(), [&](int k) { add_step(k, u, v, y, alpha); });
}
template <class T, class B>
void scale(T alpha, const Series<T, B>& u, Series<T, B>& y) {
  for_all_orders(y.order(), [&](int k) { scale_step(k, alpha, u, y); });
}
template <class T, class B>
void concat_time(TimeSeries<T> t, const Series<T, B>& x, Series<T, B>& y) {
  for_all_orders(y.order(), [&](int k) { concat_time_step(k, t, x, y); });
}
template <class T, class B>
void squared_norm_rows(const Series<T, B>& x, Series<T, B>& y) {
  for_all_orders(y.order(), [&](int k) { squared_norm_rows_step(k, x, y); });
}
template <class T, class B>
void mean_cols(const Series<T, B>& x, Series<T, B>& y) {
  for_all_orders(y.order(), [&](int k) { mean_cols_step(k, x, y); });
}
template <class T, class B>
void mean_rows(const Series<T, B>& x, Series<T, B>& y) {
  for_all_orders(y.order(), [&](int k) { mean_rows_step(k, x, y); });
}

}  // namespace taynode::series
