#pragma once
// Reverse mode through a NetworkTaylor pass: VJPs of f(t, z), of the R_K integrand
// (1/D)·||z^(K)||², of the kinetic integrand (1/D)·||f||² and of the Jacobian-Frobenius integrand
// (1/D)·||J ε||², with respect to the state z, every parameter of the network and the time t.
//
// The "tape" is the network's structure plus the NetworkTaylor workspace, which already keeps
// every layer's coefficients (the saved intermediates); NetworkAdjoint holds a cotangent series
// for each of them and replays the adjoint steps (ad/series_adjoint.hpp) in reverse: orders
// k = top..0, and within an order the layers last to first. In ODE-coefficient mode the closure
// z_{k+1} = f_k/(k+1) is reversed between orders: f̄_k += z̄_{k+1}/(k+1).
//
// Cost: per order and linear layer one GEMM x̄_k += ȳ_k W, plus ONE stacked GEMM per layer for
// W̄ over all orders; elementwise adjoints O(k) per element. No allocation after construction
// (beyond what Eigen's GEMM blocking may take for large products).
//
// Results (overwritten by each call unless `accumulate`): z_bar() (batch × dim), gradient()
// (an nn::Sequential of the network's shape holding ∂L/∂θ for every parameter array), t_bar()
// (∂L/∂t, summed over the batch). CPU backend only (host GEMMs; see docs/ad.md).

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "taynode/ad/series_adjoint.hpp"
#include "taynode/nn/layers.hpp"
#include "taynode/taylor/network_taylor.hpp"

namespace taynode::ad {

template <class T>
class NetworkAdjoint {
 public:
  using SeriesType = Series<T, backend::Cpu>;
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using Workspace = NetworkTaylor<T, backend::Cpu>;

  // Cotangent storage shaped like the workspace's series; ws (and its network) must outlive this.
  explicit NetworkAdjoint(const Workspace& ws) : ws_(&ws), grad_(ws.network()) {
    const auto& net = ws.network();
    const int K = ws.max_order();
    const Index batch = ws.batch();
    input_bar_.resize(K, batch, ws.dim());
    adj_.resize(net.layers.size());
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      auto shape = [&](SeriesType& dst, const SeriesType& src) {
        if (src.cols() > 0) dst.resize(K, src.rows(), src.cols());
      };
      shape(adj_[l].out, ws.layer_output(l));
      shape(adj_[l].aux1, ws.layer_aux1(l));
      shape(adj_[l].aux2, ws.layer_aux2(l));
      shape(adj_[l].gate_u, ws.layer_gate_u(l));
      shape(adj_[l].gate_s, ws.layer_gate_s(l));
      shape(adj_[l].gate_e, ws.layer_gate_e(l));
    }
    nn::for_each_parameter(grad_, [](auto& p) { p.setZero(); });
  }

  const Eigen::Map<const RowMatrix> z_bar() const { return input_bar_.matrix(0); }
  // Cotangent of the input series' coefficient k (k = 1 after a Frobenius VJP: ε̄).
  const SeriesType& input_bar() const { return input_bar_; }
  const nn::Sequential<T>& gradient() const { return grad_; }
  T t_bar() const { return t_bar_; }

  // VJP of f(t, z), after ws.evaluate(t, z): L = Σ f̄ ⊙ f.
  template <class DF>
  void dynamics(T t, const Eigen::MatrixBase<DF>& f_bar, bool accumulate = false) {
    begin(0, accumulate);
    adj_.back().out.matrix(0) += f_bar;
    reverse_pass(0, TimeSeries<T>{t, T(1)});
    parameters(0, TimeSeries<T>{t, T(1)});
  }

  // VJP of the R_K integrand r_b = (1/D)||z_b^(K)||² and of f = z', after ws.ode_coefficients(t, z, K)
  // (as reg::taylor_integrand runs it): L = Σ f̄ ⊙ f + Σ_b r̄_b r_b.
  template <class DF, class DR>
  void taylor_integrand(T t, int K, const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar,
                        bool accumulate = false) {
    if (K < 1 || K > ws_->max_order()) throw std::invalid_argument("taynode::ad::taylor_integrand: 1 <= K <= max_order");
    begin(K, accumulate);
    const auto& c = ws_->state();
    T factorial(1);
    for (int j = 2; j <= K; ++j) factorial *= T(j);
    const T scale = T(2) * factorial * factorial / T(c.cols());
    input_bar_.matrix(K) += (scale * r_bar).asDiagonal() * c.matrix(K);
    input_bar_.matrix(1) += f_bar;
    const TimeSeries<T> ts{t, T(1)};
    SeriesType& yb = adj_.back().out;
    for (int k = K - 1; k >= 0; --k) {
      yb.matrix(k) += rules::inverse<T>(k + 1) * input_bar_.matrix(k + 1);  // z_{k+1} = f_k/(k+1)
      reverse_pass(k, ts);
    }
    parameters(K - 1, ts);
  }

  // VJP of the kinetic integrand r_b = (1/D)||f_b||² and of f, after ws.evaluate(t, z).
  template <class DF, class DR>
  void kinetic_integrand(T t, const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar,
                         bool accumulate = false) {
    const auto f = ws_->output().matrix(0);
    begin(0, accumulate);
    adj_.back().out.matrix(0) += f_bar;
    adj_.back().out.matrix(0) += (T(2) / T(f.cols()) * r_bar).asDiagonal() * f;
    reverse_pass(0, TimeSeries<T>{t, T(1)});
    parameters(0, TimeSeries<T>{t, T(1)});
  }

  // VJP of the Frobenius integrand r_b = (1/D)||(J ε)_b||² and of f, after ws.jvp(t, z, ε)
  // (an order-1 push with t1 = 0). ε̄ is left in input_bar().matrix(1).
  template <class DF, class DR>
  void jacobian_frobenius_integrand(T t, const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar,
                                    bool accumulate = false) {
    const auto& out = ws_->output();
    begin(1, accumulate);
    adj_.back().out.matrix(0) += f_bar;
    adj_.back().out.matrix(1) += (T(2) / T(out.cols()) * r_bar).asDiagonal() * out.matrix(1);
    const TimeSeries<T> ts{t, T(0)};
    reverse_pass(1, ts);
    reverse_pass(0, ts);
    parameters(1, ts);
  }

 private:
  struct LayerAdjoint {
    SeriesType out, aux1, aux2, gate_u, gate_s, gate_e;
  };

  static void zero(SeriesType& s, int top) {
    if (s.cols() > 0) std::fill(s.data(), s.data() + (top + 1) * s.size(), T(0));
  }
  void begin(int top, bool accumulate) {
    zero(input_bar_, top);
    for (auto& a : adj_) {
      zero(a.out, top);
      zero(a.aux1, top);
      zero(a.aux2, top);
      zero(a.gate_u, top);
      zero(a.gate_s, top);
      zero(a.gate_e, top);
    }
    if (!accumulate) {
      nn::for_each_parameter(grad_, [](auto& p) { p.setZero(); });
      t_bar_ = T(0);
    }
  }
  // The time enters only through its coefficients t_0 = t (every order) and t_1 (fixed): keep t̄_0.
  void add_t_bar(int k, T v) {
    if (k == 0) t_bar_ += v;
  }

  // Adjoint of pass k: layers last to first, each layer's adjoint step of order k.
  void reverse_pass(int k, TimeSeries<T> t) {
    const auto& net = ws_->network();
    for (std::size_t l = net.layers.size(); l-- > 0;) {
      const SeriesType& x = l == 0 ? ws_->input() : ws_->layer_output(l - 1);
      SeriesType& xb = l == 0 ? input_bar_ : adj_[l - 1].out;
      LayerAdjoint& a = adj_[l];
      std::visit(
          [&](const auto& layer) {
            using L = std::remove_cvref_t<decltype(layer)>;
            if constexpr (std::is_same_v<L, nn::Linear<T>>) {
              linear_input_adjoint_step(k, a.out, layer.weight.data(), layer.weight.cols(), xb);
            } else if constexpr (std::is_same_v<L, nn::ConcatLinear<T>>) {
              add_t_bar(k, concat_time_linear_input_adjoint_step(k, a.out, layer.weight.data(), layer.weight.cols(), xb));
            } else if constexpr (std::is_same_v<L, nn::ConcatSquash<T>>) {
              concat_squash_adjoint_step(k, t, l, layer, xb);
            } else if constexpr (std::is_same_v<L, nn::Sigmoid>) {
              sigmoid_adjoint_step(k, x, ws_->layer_output(l), ws_->layer_aux1(l), xb, a.out, a.aux1);
            } else if constexpr (std::is_same_v<L, nn::Tanh>) {
              tanh_adjoint_step(k, x, ws_->layer_output(l), ws_->layer_aux1(l), xb, a.out, a.aux1);
            } else {
              static_assert(std::is_same_v<L, nn::Softplus>);
              softplus_adjoint_step(k, x, ws_->layer_output(l), ws_->layer_aux1(l), ws_->layer_aux2(l), xb, a.out,
                                    a.aux1, a.aux2);
            }
          },
          net.layers[l]);
    }
  }

  // y = (W x + b) ⊙ σ(u) + w_b t,  u = w_g t + b_g  (one row, broadcast over the batch)
  void concat_squash_adjoint_step(int k, TimeSeries<T> t, std::size_t l, const nn::ConcatSquash<T>& layer,
                                  SeriesType& xb) {
    LayerAdjoint& a = adj_[l];
    auto& g = std::get<nn::ConcatSquash<T>>(grad_.layers[l]);
    const T tk = t.coefficient(k);
    const auto yb = a.out.matrix(k);
    if (tk != T(0)) g.time_weight += tk * yb.colwise().sum().transpose();
    add_t_bar(k, (yb * layer.time_weight).sum());
    product_broadcast_row_adjoint_step(k, ws_->layer_aux1(l), ws_->layer_gate_s(l), a.aux1, a.gate_s, a.out);
    sigmoid_adjoint_step(k, ws_->layer_gate_u(l), ws_->layer_gate_s(l), ws_->layer_gate_e(l), a.gate_u, a.gate_s,
                         a.gate_e);
    const auto ub = a.gate_u.matrix(k).row(0).transpose();
    if (tk != T(0)) g.gate_weight += tk * ub;
    if (k == 0) g.gate_bias += ub;
    add_t_bar(k, ub.dot(layer.gate_weight));
    linear_input_adjoint_step(k, a.aux1, layer.weight.data(), layer.weight.cols(), xb);
  }

  // Weight and bias cotangents, one stacked GEMM per layer over orders 0..top.
  void parameters(int top, TimeSeries<T> t) {
    const auto& net = ws_->network();
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      const SeriesType& x = l == 0 ? ws_->input() : ws_->layer_output(l - 1);
      std::visit(
          [&](auto& g) {
            using L = std::remove_cvref_t<decltype(g)>;
            if constexpr (std::is_same_v<L, nn::Linear<T>>) {
              linear_parameter_adjoint(top, x, adj_[l].out, g.weight.data(), g.weight.cols(), g.bias.data());
            } else if constexpr (std::is_same_v<L, nn::ConcatLinear<T>>) {
              concat_time_linear_parameter_adjoint(top, t, x, adj_[l].out, g.weight.data(), g.weight.cols(),
                                                   g.bias.data());
            } else if constexpr (std::is_same_v<L, nn::ConcatSquash<T>>) {
              linear_parameter_adjoint(top, x, adj_[l].aux1, g.weight.data(), g.weight.cols(), g.bias.data());
            }
          },
          grad_.layers[l]);
    }
  }

  const Workspace* ws_;
  nn::Sequential<T> grad_;
  std::vector<LayerAdjoint> adj_;
  SeriesType input_bar_;
  T t_bar_ = T(0);
};

// Forward and backward in one call: the workspace runs the forward pass, adj the reverse.
template <class T, class DZ, class DF>
void vjp_dynamics(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t, const Eigen::MatrixBase<DZ>& z,
                  const Eigen::MatrixBase<DF>& f_bar, bool accumulate = false) {
  ws.evaluate(t, z);
  adj.dynamics(t, f_bar, accumulate);
}
template <class T, class DZ, class DF, class DR>
void vjp_taylor_integrand(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t, const Eigen::MatrixBase<DZ>& z, int K,
                          const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar,
                          bool accumulate = false) {
  if (K < 1 || K > ws.max_order()) throw std::invalid_argument("taynode::ad::vjp_taylor_integrand: 1 <= K <= max_order");
  ws.ode_coefficients(t, z, K);
  adj.taylor_integrand(t, K, f_bar, r_bar, accumulate);
}
template <class T, class DZ, class DF, class DR>
void vjp_kinetic_integrand(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t, const Eigen::MatrixBase<DZ>& z,
                           const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar,
                           bool accumulate = false) {
  ws.evaluate(t, z);
  adj.kinetic_integrand(t, f_bar, r_bar, accumulate);
}
template <class T, class DZ, class DE, class DF, class DR>
void vjp_jacobian_frobenius_integrand(NetworkTaylor<T>& ws, NetworkAdjoint<T>& adj, T t,
                                      const Eigen::MatrixBase<DZ>& z, const Eigen::MatrixBase<DE>& eps,
                                      const Eigen::MatrixBase<DF>& f_bar, const Eigen::MatrixBase<DR>& r_bar,
                                      bool accumulate = false) {
  ws.jvp(t, z, eps);
  adj.jacobian_frobenius_integrand(t, f_bar, r_bar, accumulate);
}

}  // namespace taynode::ad
