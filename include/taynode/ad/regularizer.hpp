#pragma once
// What the extra state r integrates along a network ODE solve, per example, as the solve
// gradients (solve_backprop.hpp, adjoint_solve.hpp, solve_gradient.hpp) see it: the value
// r' = g(t, z) together with f, and the VJP of [f, g] with cotangents (f̄, r̄).
//
//   TaylorRegularizer{K}   R_K (TayNODE): g = (1/D)·||d^K z/dt^K||²; K = 0: no integrand (g = 0).
//   RnodeRegularizer       RNODE (Finlay et al. 2020): g = w_K·(1/D)·||f||² + w_B·(1/D)·||J ε||²,
//                          J = ∂f/∂z, ε a fixed noise matrix (batch × D) for the whole solve. Both
//                          terms come from one order-1 push; the kinetic term's VJP is the extra
//                          f-cotangent (2 w_K r̄_b/D)·f_b.
// The weights live in the integrand, so a loss adds Σ r̄_b r_b with r̄_b = 1/B for mean(g-integral).

#include <stdexcept>

#include <Eigen/Core>

#include "taynode/ad/network_adjoint.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/reg/integrands.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

template <class T>
struct TaylorRegularizer {
  int K = 0;

  bool active() const { return K > 0; }
  int workspace_order() const { return K; }
  // f and g at (t, z).
  template <class DZ>
  void evaluate(NetworkTaylor<T>& ws, T t, const Eigen::MatrixBase<DZ>& z, nn::RowMatrix<T>& f, nn::Vector<T>& r) const {
    if (K > 0) {
      reg::taylor_integrand(ws, t, z, K, f, r);
    } else {
      f = ws.evaluate(t, z);
      r.setZero();
    }
  }
  // VJP of [f, g] at (t, z); f(t, z) into *f if asked (the adjoint's RHS needs it).
  template <class DZ, class DF, class DR>
  void vjp(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t, const Eigen::MatrixBase<DZ>& z,
           const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar, bool accumulate,
           nn::RowMatrix<T>* f = nullptr) const {
    if (K > 0) {
      vjp_taylor_integrand(ws, adj, t, z, K, f_bar, r_bar, accumulate);
      if (f) *f = ws.state().matrix(1);  // c_1 = z'
    } else {
      vjp_dynamics(ws, adj, t, z, f_bar, accumulate);
      if (f) *f = ws.output().matrix(0);
    }
  }
};

template <class T>
struct RnodeRegularizer {
  const nn::RowMatrix<T>* eps = nullptr;  // batch × D, held fixed during the solve
  T kinetic_weight = 0, frobenius_weight = 0;

  bool active() const { return true; }
  int workspace_order() const { return 1; }
  template <class DZ>
  void evaluate(NetworkTaylor<T>& ws, T t, const Eigen::MatrixBase<DZ>& z, nn::RowMatrix<T>& f, nn::Vector<T>& r) const {
    const auto jv = ws.jvp(t, z, noise(ws));
    f = ws.output().matrix(0);
    r = kinetic_weight * reg::mean_squares(f) + frobenius_weight * reg::mean_squares(jv);
  }
  template <class DZ, class DF, class DR>
  void vjp(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t, const Eigen::MatrixBase<DZ>& z,
           const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar, bool accumulate,
           nn::RowMatrix<T>* f = nullptr) const {
    ws.jvp(t, z, noise(ws));
    const auto fz = ws.output().matrix(0);
    const T two_over_d = T(2) / T(fz.cols());
    const nn::RowMatrix<T> fb = f_bar + (two_over_d * kinetic_weight * r_bar).asDiagonal() * fz;
    const nn::Vector<T> rb = frobenius_weight * r_bar;
    if (f) *f = fz;
    adj.jacobian_frobenius_integrand(t, fb, rb, accumulate);
  }

 private:
  const nn::RowMatrix<T>& noise(const NetworkTaylor<T>& ws) const {
    if (!eps || eps->rows() != ws.batch() || eps->cols() != ws.dim())
      throw std::invalid_argument("taynode::ad::RnodeRegularizer: eps must be batch × dim of the workspace");
    return *eps;
  }
};

}  // namespace taynode::ad
