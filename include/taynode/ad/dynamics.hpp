#pragma once
// What the solve gradients (solve_backprop.hpp, adjoint_solve.hpp, solve_gradient.hpp) need of the
// dynamics they differentiate: the `GradientDynamics` concept, and `NetworkDynamics`, its model for
// an nn::Sequential evaluated by NetworkTaylor with an integrand of regularizer.hpp.
//
// A dynamics integrates z' = f(t, z; θ) (z: batch × dim) together with an integrand r' = g(t, z; θ)
// (one entry per example: a regularizer; inactive means g = 0), and pulls cotangents back:
//
//   d.batch(), d.dim()                   the state's shape
//   d.integrand_active()                 whether g is computed (else r stays 0)
//   d.evaluate(t, z, f)                  f(t, z)                               (plain evaluation)
//   d.evaluate(t, z, f, r)               f(t, z) and g(t, z)
//   d.vjp(t, z, f̄, r̄, accumulate, f*)   the VJP of [f, g] at (t, z) with cotangents (f̄, r̄): z̄ in
//                                        d.z_bar(), θ̄ added to (accumulate) or written over d's
//                                        parameter cotangent; f(t, z) into *f if f is not null
//   d.parameter_count()                  the number of parameters
//   d.store_gradient(out, α)             out (backend memory, parameter_count() entries) = α·θ̄,
//                                        in nn::for_each_parameter order
//   d.gradient()                         θ̄ on the host, shaped like the network (nn::Sequential)
//   d.zero_integrand()                   optional: the integrand r = 0 (its shape), when r is not
//                                        one entry per example (e.g. a CNF's [Δlogp, R] per example)
//
// Matrices and vectors are the backend's (`Matrix`, `Vector`; Eigen types for backend::Cpu), so a
// GRU-encoded latent ODE, a CNF trace channel or a device backend plug into the same drivers.

#include <concepts>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "taynode/ad/network_adjoint.hpp"
#include "taynode/ad/regularizer.hpp"
#include "taynode/backend/matrix.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/ode/backend_vector_space.hpp"  // solver states in a backend's memory
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

template <class D>
concept GradientDynamics = requires(D& d, const D& cd, typename D::Real t, const typename D::Matrix& z,
                                    typename D::Matrix& f, typename D::Vector& r, const typename D::Vector& cr,
                                    typename D::Real* out) {
  typename D::Backend;
  { cd.batch() } -> std::convertible_to<Index>;
  { cd.dim() } -> std::convertible_to<Index>;
  { cd.integrand_active() } -> std::convertible_to<bool>;
  d.evaluate(t, z, f);
  d.evaluate(t, z, f, r);
  d.vjp(t, z, z, cr, true, &f);
  d.z_bar();
  { cd.parameter_count() } -> std::convertible_to<std::size_t>;
  cd.store_gradient(out, t);
  cd.gradient();
};

// out (backend memory) = α·θ̄ of adj (or += with `add`), in nn::for_each_parameter order.
template <class T, class B>
void store_network_gradient(const NetworkAdjoint<T, B>& adj, T* out, T alpha, bool add = false) {
  for (std::size_t i = 0; i < adj.gradient_arrays(); ++i) {
    const Index n = adj.gradient_size(i);
    if (add) {
      B::axpy(n, alpha, adj.gradient_data(i), out);
    } else {
      B::copy(n, adj.gradient_data(i), out);
      if (alpha != T(1)) B::scale(n, alpha, out);
    }
    out += n;
  }
}

// A network's dynamics with the integrand `Reg` (TaylorRegularizer, RnodeRegularizer). Holds
// references: ws, adj (built on ws) and the network must outlive it.
template <class T, class B = backend::Cpu, class Reg = TaylorRegularizer<T>>
class NetworkDynamics {
 public:
  using Real = T;
  using Backend = B;
  using Matrix = typename B::template Matrix<T>;
  using Vector = typename B::template Vector<T>;
  using Regularizer = Reg;

  NetworkDynamics(NetworkTaylor<T, B>& ws, NetworkAdjoint<T, B>& adj, Reg reg = {})
      : NetworkDynamics(ws, std::move(reg)) {
    adj_ = &adj;
  }
  // Forward only (evaluate, no vjp).
  explicit NetworkDynamics(NetworkTaylor<T, B>& ws, Reg reg = {}) : ws_(&ws), reg_(std::move(reg)) {
    if (reg_.workspace_order() > ws.max_order())
      throw std::invalid_argument("taynode::ad::NetworkDynamics: the integrand needs a workspace of order " +
                                  std::to_string(reg_.workspace_order()) + ", this one has " +
                                  std::to_string(ws.max_order()));
  }

  Index batch() const { return ws_->batch(); }
  Index dim() const { return ws_->dim(); }
  bool integrand_active() const { return reg_.active(); }
  const Reg& regularizer() const { return reg_; }
  NetworkTaylor<T, B>& workspace() const { return *ws_; }

  void evaluate(T t, const Matrix& z, Matrix& f) const {
    if (f.rows() != z.rows() || f.cols() != z.cols()) f.resize(z.rows(), z.cols());
    ws_->evaluate(t, z, f);
  }
  void evaluate(T t, const Matrix& z, Matrix& f, Vector& r) const { reg_.evaluate(*ws_, t, z, f, r); }
  void vjp(T t, const Matrix& z, const Matrix& f_bar, const Vector& r_bar, bool accumulate, Matrix* f = nullptr) const {
    if (!adj_) throw std::logic_error("taynode::ad::NetworkDynamics: built without a NetworkAdjoint, cannot pull back");
    reg_.vjp(*ws_, *adj_, t, z, f_bar, r_bar, accumulate, f);
  }
  auto z_bar() const { return adj_->z_bar(); }
  const NetworkAdjoint<T, B>& adjoint() const { return *adj_; }

  std::size_t parameter_count() const { return ws_->network().parameter_count(); }
  void store_gradient(T* out, T alpha) const { store_network_gradient(*adj_, out, alpha); }
  const nn::Sequential<T>& gradient() const { return adj_->gradient(); }

 private:
  NetworkTaylor<T, B>* ws_;
  NetworkAdjoint<T, B>* adj_ = nullptr;
  Reg reg_;
};

}  // namespace taynode::ad
