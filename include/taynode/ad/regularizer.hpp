#pragma once
// What the extra state r integrates along a network ODE solve, per example, as the solve
// gradients (solve_backprop.hpp, adjoint_solve.hpp, solve_gradient.hpp) see it: the value
// r' = g(t, z) together with f, and the VJP of [f, g] with cotangents (f̄, r̄).
//
//   TaylorRegularizer{K, λ}  R_K (TayNODE): g = λ·(1/D)·||d^K z/dt^K||²; K = 0: no integrand (g = 0).
//   RnodeRegularizer{ε, λ_K, λ_B}  RNODE (Finlay et al. 2020): g = λ_K·(1/D)·||f||² + λ_B·(1/D)·||J ε||²,
//                          J = ∂f/∂z, ε a fixed noise matrix (batch × D) for the whole solve. Both
//                          terms come from one order-1 push; the kinetic term's VJP is the extra
//                          f-cotangent (2 λ_K r̄_b/D)·f_b.
//
// One convention for both: THE WEIGHTS LIVE IN THE INTEGRAND. r(t1) is the weighted penalty of
// each example, so a loss adds mean_b r_b(t1), i.e. sets r̄_b = 1/B, whatever the regularizer.
// (RNODE's two terms share one r, so their ratio cannot be applied from outside; R_K's λ follows
// suit.) TaylorRegularizer's λ defaults to 1 (r = R_K itself), which is what the `int K` overloads
// of the solve drivers mean.
//
// Generic over the backend: states and cotangents are the backend's matrices (backend::Cpu: the
// Eigen types), every operation a Backend call.

#include <stdexcept>

#include "taynode/ad/network_adjoint.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/reg/integrands.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

template <class T>
struct TaylorRegularizer {
  int K = 0;
  T weight = T(1);  // λ

  bool active() const { return K > 0; }
  int workspace_order() const { return K; }
  // f and g at (t, z).
  template <class B, class Z, class F, class R>
  void evaluate(NetworkTaylor<T, B>& ws, T t, const Z& z, F& f, R& r) const {
    if (K > 0) {
      reg::taylor_integrand(ws, t, z, K, f, r);
      if (weight != T(1)) B::scale(ws.batch(), weight, r.data());
    } else {
      const auto fz = ws.evaluate(t, z);
      B::copy(fz.size(), fz.data(), f.data());
      B::fill(ws.batch(), T(0), r.data());
    }
  }
  // VJP of [f, g] at (t, z); f(t, z) into *f if asked (the adjoint's RHS needs it).
  template <class B, class Z, class DF, class DR>
  void vjp(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, T t, const Z& z, const DF& f_bar, const DR& r_bar,
           bool accumulate, typename B::template Matrix<T>* f = nullptr) const {
    if (K > 0) {
      if (weight == T(1)) {
        vjp_taylor_integrand(ws, adj, t, z, K, f_bar, r_bar, accumulate);
      } else {
        const backend::InputMatrix<B, T> rb_in(r_bar);
        typename B::template Vector<T> rb(ws.batch());
        B::copy(ws.batch(), rb_in.data(), rb.data());
        B::scale(ws.batch(), weight, rb.data());
        vjp_taylor_integrand(ws, adj, t, z, K, f_bar, rb, accumulate);
      }
      if (f) backend::assign<B>(*f, backend::MatrixView<const T>(ws.state().coefficient(1), ws.batch(), ws.dim()));
    } else {
      vjp_dynamics(ws, adj, t, z, f_bar, accumulate);
      if (f) backend::assign<B>(*f, backend::MatrixView<const T>(ws.output().coefficient(0), ws.batch(), ws.dim()));
    }
  }
};

namespace detail {
// r = λ_K·r + λ_B·frobenius. At namespace scope: nvcc does not launch kernels of private nested types.
template <class T>
struct WeightedSumKernel {
  T wk, wf;
  const T* fro;
  T* r;
  TAYNODE_INLINE TAYNODE_HD void operator()(Index i) const { r[i] = wk * r[i] + wf * fro[i]; }
};
}  // namespace detail

template <class T, class Backend = backend::Cpu>
struct RnodeRegularizer {
  const typename Backend::template Matrix<T>* eps = nullptr;  // batch × D, held fixed during the solve
  T kinetic_weight = 0, frobenius_weight = 0;                 // λ_K, λ_B

  bool active() const { return true; }
  int workspace_order() const { return 1; }
  template <class Z, class F, class R>
  void evaluate(NetworkTaylor<T, Backend>& ws, T t, const Z& z, F& f, R& r) const {
    typename Backend::template Vector<T> frobenius(ws.batch());
    reg::rnode_integrands(ws, t, z, noise(ws), f, r, frobenius);
    Backend::for_each(ws.batch(), WeightedSumKernel{kinetic_weight, frobenius_weight, frobenius.data(), r.data()});
  }
  template <class Z, class DF, class DR>
  void vjp(NetworkTaylor<T, Backend>& ws, NetworkAdjoint<T, Backend>& adj, T t, const Z& z, const DF& f_bar,
           const DR& r_bar, bool accumulate, typename Backend::template Matrix<T>* f = nullptr) const {
    using B = Backend;
    ws.jvp(t, z, noise(ws));
    const Index rows = ws.batch(), D = ws.dim();
    const T* fz = ws.output().coefficient(0);
    const backend::InputMatrix<B, T> fb_in(f_bar), rb_in(r_bar);
    if (fb_in.rows() != rows || fb_in.cols() != D || rb_in.size() != rows)
      throw std::invalid_argument("taynode::ad::RnodeRegularizer: f_bar must be batch × dim, r_bar have batch entries");
    typename B::template Matrix<T> fb(rows, D);
    typename B::template Vector<T> rb(rows);
    B::copy(fb.size(), fb_in.data(), fb.data());
    B::for_each_2d(rows, D, detail::RowScaledAxpyKernel<T>{T(2) / T(D) * kinetic_weight, rb_in.data(), fz, fb.data(), D});
    B::copy(rows, rb_in.data(), rb.data());
    B::scale(rows, frobenius_weight, rb.data());
    if (f) backend::assign<B>(*f, backend::MatrixView<const T>(fz, rows, D));
    adj.jacobian_frobenius_integrand(t, fb, rb, accumulate);
  }

 private:
  using WeightedSumKernel = detail::WeightedSumKernel<T>;
  const typename Backend::template Matrix<T>& noise(const NetworkTaylor<T, Backend>& ws) const {
    if (!eps || eps->rows() != ws.batch() || eps->cols() != ws.dim())
      throw std::invalid_argument("taynode::ad::RnodeRegularizer: eps must be batch × dim of the workspace");
    return *eps;
  }
};

}  // namespace taynode::ad
